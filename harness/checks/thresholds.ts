// Thresholds and the verdict: each limit in the scenario against the number it names in the
// results, and pass/fail for the run. Pure. A limit whose metric was not measured fails:
// a CI gate must never go green because a check did not run.

import { THRESHOLD_NAMES, type ThresholdName } from '../scenario/scenario.js';
import { THRESHOLD_KINDS, parseThresholdExpression, type ThresholdExpression, type ThresholdKind } from '../scenario/scenario-schema.js';
import type { Integrity, Results, ThresholdResult } from '../results/results.js';
import { formatBytes, formatDuration } from '../util/units.js';

/** The parts of results.json thresholds read; any may be missing while a run is assembled. */
export type MeasuredResults = Partial<Pick<Results, 'load' | 'downtime' | 'lag' | 'integrity'>>;

/** The measured value a threshold is about, in its unit; null when it was not measured. */
export function metricValue(name: ThresholdName, results: MeasuredResults): number | null {
  const writes = results.load?.writes;
  const reads = results.load?.reads;
  // a stream that never ran has no downtime to speak of, not a downtime of 0
  const writesRan = writes === undefined || writes.intended > 0;
  const readsRan = reads === undefined || reads.intended > 0;
  const integrity = results.integrity ?? null;
  switch (name) {
    case 'writeDowntime':
      return writesRan ? nullable(results.downtime?.writes?.longestMs) : null;
    case 'readDowntime':
      return readsRan ? nullable(results.downtime?.reads?.longestMs) : null;
    case 'serverWriteGap':
      return nullable(results.downtime?.serverWriteGapMs);
    case 'lostWrites':
      return integrity ? integrity.lostWrites : null;
    case 'recoveredWrites':
      return integrity ? integrity.recoveredWrites : null;
    case 'rowCountMismatches':
      // no table was compared (no source snapshot): nothing says the counts matched
      return integrity && integrity.tables.length > 0 ? integrity.rowCountMismatches : null;
    case 'maxReplayLagBytes':
      return nullable(results.lag?.maxReplayBytes);
    case 'writeErrorRate':
      if (!writes || writes.intended === 0) return null;
      return (writes.failed + writes.indeterminate + writes.dropped) / writes.intended;
    case 'p99WriteLatency':
      return writes && writes.ok > 0 ? writes.latencyMs.p99 : null;
  }
}

/** One result per threshold, in the order the scenario lists them. */
export function evaluateThresholds(
  thresholds: Partial<Record<ThresholdName, string>>,
  results: MeasuredResults,
): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const [name, limitText] of Object.entries(thresholds)) {
    if (limitText === undefined) continue;
    const limit = String(limitText);
    if (!isThresholdName(name)) {
      out.push({ name, limit, actual: null, actualText: `unknown threshold; known: ${THRESHOLD_NAMES.join(', ')}`, pass: false });
      continue;
    }
    // the same grammar the scenario was validated with, so a limit means one thing everywhere
    const parsed = parseThresholdExpression(name, limit);
    const actual = metricValue(name, results);
    if (typeof parsed === 'string') {
      out.push({ name, limit, actual, actualText: `invalid limit: ${parsed}`, pass: false });
    } else if (actual === null) {
      out.push({ name, limit, actual: null, actualText: 'not measured', pass: false });
    } else {
      out.push({ name, limit, actual, actualText: formatValue(actual, THRESHOLD_KINDS[name]), pass: meetsLimit(actual, parsed) });
    }
  }
  return out;
}

/** Why the integrity check fails the run on its own, with no threshold asking; [] when it does not. */
export function integrityFailures(integrity: Integrity | null | undefined): string[] {
  if (!integrity) return [];
  const reasons: string[] = [];
  if (integrity.lostWrites > 0) reasons.push(`${integrity.lostWrites} acknowledged write(s) lost`);
  if (integrity.rowCountMismatches > 0) reasons.push(`${integrity.rowCountMismatches} table(s) with a different row count`);
  if (integrity.hashMismatches > 0) reasons.push(`${integrity.hashMismatches} table(s) with different content`);
  if (integrity.writesAfterPromotion > 0) {
    reasons.push(`${integrity.writesAfterPromotion} write(s) accepted by the old primary after the promotion (split brain)`);
  }
  for (const s of integrity.sequences) {
    if (!s.ok) reasons.push(`sequence ${s.sequence} is behind ${s.table}.${s.column} (${s.lastValue} < ${s.maxValue})`);
  }
  return reasons;
}

/**
 * Lost or diverging data fails the run even when no threshold mentions it: a scenario
 * without thresholds must not pass a migration that dropped writes.
 */
export function verdictOf(thresholdResults: readonly ThresholdResult[], integrity: Integrity | null | undefined): 'pass' | 'fail' {
  if (thresholdResults.some((t) => !t.pass)) return 'fail';
  return integrityFailures(integrity).length > 0 ? 'fail' : 'pass';
}

/** Compares with a relative tolerance so that 3/300 meets "<= 1%" despite binary rounding. */
export function meetsLimit(actual: number, limit: Pick<ThresholdExpression, 'op' | 'value'>): boolean {
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

export function formatValue(value: number, kind: ThresholdKind): string {
  switch (kind) {
    case 'duration':
      // sub-10ms latencies would all print as "0ms".."9ms" otherwise
      return value > 0 && value < 10 ? `${Number(value.toPrecision(2))}ms` : formatDuration(value);
    case 'size':
      return formatBytes(value);
    case 'ratio':
      return `${Number((value * 100).toPrecision(3))}%`;
    case 'count':
      return String(value);
  }
}

function isThresholdName(name: string): name is ThresholdName {
  return (THRESHOLD_NAMES as readonly string[]).includes(name);
}

function nullable(value: number | null | undefined): number | null {
  return value === undefined || value === null || !Number.isFinite(value) ? null : value;
}
