// Threshold limits as written in a scenario ("< 5s", "<= 1%", "== 0", "< 64MB") read into
// an operator and a number in the threshold's own unit. Pure.

import { parseDuration, parseSize } from '../util/units.js';

export const LIMIT_OPS = ['<', '<=', '>', '>=', '==', '!='] as const;
export type LimitOp = (typeof LIMIT_OPS)[number];

/** ms for durations, bytes for sizes, a fraction (0.01 = 1%) for ratios, a plain number for counts */
export type LimitUnit = 'ms' | 'bytes' | 'ratio' | 'count';

export interface Limit {
  op: LimitOp;
  value: number;
  /** what the text said; a bare number reads as 'count' until the metric gives it a unit */
  unit: LimitUnit;
}

export type ParsedLimit = { ok: true; limit: Limit } | { ok: false; error: string };

const EXPRESSION = /^\s*(<=|>=|==|!=|<|>)\s*(\S(?:.*\S)?)\s*$/;
const NUMBER = /^\d+(?:\.\d+)?$/;

export function parseLimit(text: string): ParsedLimit {
  const m = EXPRESSION.exec(String(text));
  if (!m) {
    return fail(`"${text}" is not a limit: write an operator (${LIMIT_OPS.join(' ')}) then a value, e.g. "< 5s", "<= 1%", "== 0"`);
  }
  const op = m[1] as LimitOp;
  const valueText = m[2];

  if (valueText.endsWith('%')) {
    const number = valueText.slice(0, -1).trim();
    if (!NUMBER.test(number)) return fail(`"${valueText}" is not a percentage, e.g. "1%" or "0.5%"`);
    return ok(op, Number(number) / 100, 'ratio');
  }
  if (NUMBER.test(valueText)) return ok(op, Number(valueText), 'count');
  // durations first: "5m" is five minutes; sizes need a B ("5MB")
  const ms = parseDuration(valueText);
  if (ms !== undefined) return ok(op, ms, 'ms');
  const bytes = /b$/i.test(valueText) ? parseSize(valueText) : undefined;
  if (bytes !== undefined) return ok(op, bytes, 'bytes');
  return fail(`"${valueText}" is not a value: use a duration (500ms, 5s, 2m), a size (64MB), a percentage (1%) or a number`);
}

/**
 * Reads `text` as a limit on a metric measured in `unit`. A bare number is taken as that
 * unit where that cannot mislead: a count, bytes, a fraction for ratios (k6's "rate<0.01"),
 * and 0 for anything. A bare non-zero duration is refused: "< 5" could be seconds or ms.
 */
export function parseLimitFor(unit: LimitUnit, text: string): ParsedLimit {
  const parsed = parseLimit(text);
  if (!parsed.ok) return parsed;
  const { op, value } = parsed.limit;
  if (parsed.limit.unit === unit) return parsed;
  if (parsed.limit.unit === 'count' && (unit !== 'ms' || value === 0)) return ok(op, value, unit);
  return fail(`"${text}" ${UNIT_MISMATCH[unit]}`);
}

const UNIT_MISMATCH: Record<LimitUnit, string> = {
  ms: 'needs a duration with its unit, e.g. "< 5s" or "<= 500ms"',
  bytes: 'needs a size, e.g. "< 64MB", or a number of bytes',
  ratio: 'needs a percentage, e.g. "<= 1%", or a fraction such as "<= 0.01"',
  count: 'needs a plain number, e.g. "== 0"',
};

/** Compares with a relative tolerance so that 3/300 meets "<= 1%" despite binary rounding. */
export function meetsLimit(actual: number, limit: Pick<Limit, 'op' | 'value'>): boolean {
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

function ok(op: LimitOp, value: number, unit: LimitUnit): ParsedLimit {
  return { ok: true, limit: { op, value, unit } };
}

function fail(error: string): ParsedLimit {
  return { ok: false, error };
}
