// The threshold grammar: "< 5s", "<= 1%", "== 0", parsed once when the scenario is loaded,
// against the metric's unit. A limit that is ambiguous (a bare ratio), or that can never
// fail or never pass for any value the metric can take, is refused: a CI gate that cannot
// go red is worse than none.

import { parseDuration, parseSize } from '../util/units.js';
import { METRICS, THRESHOLD_NAMES, isThresholdName, type MetricUnit } from './metrics.js';

export type ThresholdOp = '<' | '<=' | '>' | '>=' | '==' | '!=';
export const THRESHOLD_OPS: readonly ThresholdOp[] = ['<', '<=', '>', '>=', '==', '!='];

/** A parsed limit, kept next to the text it was written as. */
export interface ThresholdLimit {
  /** as written in the scenario, e.g. "< 5s" */
  source: string;
  op: ThresholdOp;
  /** ms for durations, bytes for sizes, 0..1 for ratios, a plain number for counts */
  value: number;
  unit: MetricUnit;
}

const UNIT_HINT: Record<MetricUnit, string> = {
  duration: 'a duration such as "< 5s" or "<= 500ms"',
  size: 'a size such as "< 64MB" or a number of bytes',
  ratio: 'a percentage such as "<= 1%"',
  count: 'a whole number such as "== 0"',
};

/** What a metric of each unit can measure: [min, max], and whether only whole numbers occur. */
const RANGE: Record<MetricUnit, { min: number; max: number; integer: boolean }> = {
  duration: { min: 0, max: Infinity, integer: false },
  size: { min: 0, max: Infinity, integer: false },
  ratio: { min: 0, max: 1, integer: false },
  count: { min: 0, max: Infinity, integer: true },
};

/**
 * Parses a threshold like "< 5s" for the named metric. Returns the limit, or a message saying
 * what is wrong and what to write instead.
 */
export function parseLimit(name: string, text: unknown): ThresholdLimit | string {
  if (!isThresholdName(name)) {
    return `unknown threshold ${JSON.stringify(name)}; known thresholds: ${THRESHOLD_NAMES.join(', ')}`;
  }
  const unit = METRICS[name].unit;
  const hint = `${name} takes ${UNIT_HINT[unit]}`;
  if (typeof text !== 'string') {
    // `lostWrites: 0` is the likeliest slip: YAML read it as a number
    return `expected a quoted expression with an operator (${THRESHOLD_OPS.join(' ')}), got ${JSON.stringify(text)}; ${hint}`;
  }
  const m = /^\s*(<=|>=|==|!=|<|>|=)?\s*(.*?)\s*$/.exec(text)!;
  const [, op, valueText] = m;
  const shown = JSON.stringify(text);
  if (!op) return `${shown} has no operator; write one of ${THRESHOLD_OPS.join(' ')} before the value, e.g. "< ${valueText || '5s'}" (${hint})`;
  if (op === '=') {
    const swapped = /^[<>]/.exec(valueText)?.[0];
    if (swapped) return `${shown}: "=${swapped}" is not an operator; did you mean "${swapped}="? (${hint})`;
    return `${shown}: "=" is not an operator; use "==" (${hint})`;
  }
  if (!valueText) return `${shown} has no value after "${op}" (${hint})`;
  if (/^-/.test(valueText)) return `${shown}: ${name} is never negative; ${hint}`;

  let value: number | undefined;
  switch (unit) {
    case 'duration':
      value = /^0+(\.0+)?$/.test(valueText) ? 0 : parseDuration(valueText);
      if (value === undefined && /^\d+(?:\.\d+)?$/.test(valueText)) {
        return `${shown}: a duration needs a unit, e.g. "${op} ${valueText}s" or "${op} ${valueText}ms" (${hint})`;
      }
      break;
    case 'size':
      value = parseSize(valueText);
      break;
    case 'ratio': {
      const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(valueText);
      if (pct) {
        value = Number(pct[1]) / 100;
        if (value > 1) return `${shown}: a percentage must be from 0% to 100% (${hint})`;
      } else if (/^\d+(?:\.\d+)?$/.test(valueText)) {
        // "< 1" reads as one percent to some and as 100 % to others: make the writer say
        const n = Number(valueText);
        const asRatio = n <= 1 ? `, or "${op} ${Number((n * 100).toPrecision(6))}%" if you meant a ratio of ${valueText}` : '';
        return `${shown} is ambiguous: a bare number could be a ratio or a percentage; write "${op} ${valueText}%" for ${valueText} percent${asRatio} (${hint})`;
      }
      break;
    }
    case 'count':
      value = /^\d+(?:\.\d+)?$/.test(valueText) ? Number(valueText) : undefined;
      break;
  }
  if (value === undefined || !Number.isFinite(value)) return `${shown}: ${JSON.stringify(valueText)} is not a valid value; ${hint}`;
  const limit: ThresholdLimit = { source: text.trim(), op: op as ThresholdOp, value, unit };
  const vacuous = vacuity(limit);
  return vacuous ? `${shown} ${vacuous} for ${name} (${hint})` : limit;
}

/** Why a limit decides nothing ("can never fail" / "can never pass"), undefined when it can go either way. */
function vacuity(limit: ThresholdLimit): string | undefined {
  const { min, max, integer } = RANGE[limit.unit];
  const v = limit.value;
  const reachable = v >= min && v <= max && (!integer || Number.isInteger(v));
  const never = (what: string, fix: string) => `can never ${what}: ${fix}`;
  switch (limit.op) {
    case '>=':
      if (v <= min) return never('fail', `every value is >= ${show(min, limit)}; remove the threshold or pick a bound above ${show(min, limit)}`);
      if (v > max) return never('pass', `nothing exceeds ${show(max, limit)}`);
      return undefined;
    case '>':
      if (v >= max) return never('pass', `nothing exceeds ${show(max, limit)}`);
      return undefined;
    case '<=':
      if (v >= max) return never('fail', `every value is <= ${show(max, limit)}; pick a smaller bound`);
      return undefined;
    case '<':
      if (v <= min) return never('pass', `nothing is below ${show(min, limit)}; did you mean "<= ${show(min, limit)}" or "== ${show(min, limit)}"?`);
      if (v > max) return never('fail', `every value is below ${show(v, limit)}; pick a smaller bound`);
      return undefined;
    case '==':
      return reachable ? undefined : never('pass', `${show(v, limit)} is not a value this metric takes`);
    case '!=':
      return reachable ? undefined : never('fail', `${show(v, limit)} is not a value this metric takes`);
  }
}

function show(v: number, limit: ThresholdLimit): string {
  return limit.unit === 'ratio' ? `${Number((v * 100).toPrecision(6))}%` : limit.unit === 'duration' ? `${v}ms` : String(v);
}

/** Compares with a relative tolerance so that 3/300 meets "<= 1%" despite binary rounding. */
export function meetsLimit(actual: number, limit: Pick<ThresholdLimit, 'op' | 'value'>): boolean {
  const equal = Math.abs(actual - limit.value) <= 1e-9 * Math.max(1, Math.abs(actual), Math.abs(limit.value));
  switch (limit.op) {
    case '<':
      return actual < limit.value && !equal;
    case '<=':
      return actual < limit.value || equal;
    case '>':
      return actual > limit.value && !equal;
    case '>=':
      return actual > limit.value || equal;
    case '==':
      return equal;
    case '!=':
      return !equal;
  }
}
