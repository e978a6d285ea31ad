// Thresholds: each limit of the scenario against the metric it names, read through the
// metric registry. Pure. A limit whose metric could not be measured is unknown (and fails);
// a downtime limit fails whatever the number when the outage was still open at the end.

import type { ThresholdName } from './metrics.js';
import { METRICS, type MeasuredResults, type MetricUnit } from './metrics.js';
import { meetsLimit, type ThresholdLimit } from './threshold-grammar.js';
import type { ThresholdResult } from '../results/results.js';
import { formatBytes, formatDuration } from '../util/units.js';

export type { MeasuredResults } from './metrics.js';

/** One result per threshold, in the order the scenario lists them. */
export function evaluateThresholds(thresholds: Partial<Record<ThresholdName, ThresholdLimit>>, results: MeasuredResults): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const [name, limit] of Object.entries(thresholds) as [ThresholdName, ThresholdLimit | undefined][]) {
    if (!limit) continue;
    const metric = METRICS[name];
    const reading = metric.read(results);
    if ('unknown' in reading) {
      out.push({ name, limit: limit.source, actual: null, actualText: `not measured: ${reading.unknown}`, valid: 'unknown', pass: false });
      continue;
    }
    const actualText = formatValue(reading.value, metric.unit);
    const blocker = 'blocker' in metric ? metric.blocker?.(results) : undefined;
    const valid = blocker ? false : meetsLimit(reading.value, limit);
    out.push({ name, limit: limit.source, actual: reading.value, actualText: blocker ? `${actualText} and counting: ${blocker}` : actualText, valid, pass: valid === true });
  }
  return out;
}

export function formatValue(value: number, unit: MetricUnit): string {
  switch (unit) {
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
