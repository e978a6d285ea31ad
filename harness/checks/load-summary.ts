// What one stream of operations amounted to: counts by outcome, achieved rate, latency from
// the intended start (so a stall is not hidden by coordinated omission), errors by kind and
// per-second buckets for charts, with HDR histograms encoded compactly for results.json.

import * as hdr from 'hdr-histogram-js';
import type { OpRecord, OpOutcome } from '../record/records.js';
import type { LatencySummary, LoadSummary, SecondBucket } from '../results/results.js';

export interface LoadWindow {
  /** ms from the start of the run */
  loadStartMs: number;
  loadEndMs: number;
  /**
   * ms: the stream's operation timeout. A dropped op counts at this latency: its caller would
   * have waited that long for nothing. Without it, at the time it was given up.
   */
  timeoutMs?: number;
}

/** Histograms count microseconds: sub-millisecond latencies on a laptop are common. */
export const HISTOGRAM_UNIT = 'us';

// An hour covers any operation timeout; autoResize keeps a wilder value from throwing.
const HIGHEST_TRACKABLE_US = 3_600_000_000;
// 3 digits (0.1%) for the whole run; 2 digits (1%) per second keeps 60+ encoded seconds
// small, and a per-second chart cannot show finer than that anyway.
const RUN_DIGITS = 3;
const SECOND_DIGITS = 2;

export function summarizeLoad(ops: readonly OpRecord[], window: LoadWindow): LoadSummary {
  const counts = countOutcomes(ops);
  const okLatenciesUs: number[] = [];
  const waitsUs: number[] = [];
  const errors: Record<string, number> = {};
  const seconds = new Map<number, OpRecord[]>();

  for (const op of ops) {
    waitsUs.push(op.outcome === 'dropped' && window.timeoutMs !== undefined ? window.timeoutMs * 1000 : latencyUs(op));
    if (op.outcome === 'ok') okLatenciesUs.push(latencyUs(op));
    else {
      const key = errorKey(op);
      errors[key] = (errors[key] ?? 0) + 1;
    }
    const second = Math.floor((op.intendedMs - window.loadStartMs) / 1000);
    let bucket = seconds.get(second);
    if (!bucket) seconds.set(second, (bucket = []));
    bucket.push(op);
  }

  const loadSeconds = (window.loadEndMs - window.loadStartMs) / 1000;
  const all = histogramOf(waitsUs, RUN_DIGITS);
  const ok = histogramOf(okLatenciesUs, RUN_DIGITS);
  return {
    intended: ops.length,
    ...counts,
    achievedRate: loadSeconds > 0 ? counts.ok / loadSeconds : 0,
    latencyMs: all ? latencySummary(all.histogram, waitsUs) : ZERO_LATENCY,
    okLatencyMs: ok ? latencySummary(ok.histogram, okLatenciesUs) : ZERO_LATENCY,
    histogram: all?.encoded ?? null,
    okHistogram: ok?.encoded ?? null,
    errors,
    perSecond: perSecondBuckets(seconds, loadSeconds),
  };
}

/** The inverse of the encoding in results.json: a histogram of latencies in µs. */
export function decodeHistogram(base64: string): hdr.Histogram {
  return hdr.decodeFromCompressedBase64(base64, 32, false);
}

/** Percentiles of a (decoded or merged) µs histogram, in ms. */
export function summarizeHistogram(histogram: hdr.Histogram): LatencySummary {
  if (histogram.totalCount === 0) return { ...ZERO_LATENCY };
  return {
    p50: usToMs(histogram.getValueAtPercentile(50)),
    p95: usToMs(histogram.getValueAtPercentile(95)),
    p99: usToMs(histogram.getValueAtPercentile(99)),
    max: usToMs(histogram.maxValue),
    mean: usToMs(histogram.mean),
  };
}

const ZERO_LATENCY: LatencySummary = { p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };

function perSecondBuckets(seconds: Map<number, OpRecord[]>, loadSeconds: number): SecondBucket[] {
  if (seconds.size === 0) return [];
  const present = [...seconds.keys()];
  // every second of the load appears, empty ones too: a stream that stalled shows as a gap
  const first = Math.min(0, ...present);
  const last = Math.max(Math.ceil(loadSeconds) - 1, ...present);
  const buckets: SecondBucket[] = [];
  for (let second = first; second <= last; second++) {
    const ops = seconds.get(second) ?? [];
    const latencies = ops.filter((op) => op.outcome === 'ok').map(latencyUs);
    const h = histogramOf(latencies, SECOND_DIGITS);
    buckets.push({
      second,
      ...countOutcomes(ops),
      latencyMs: h ? latencySummary(h.histogram, latencies) : null,
      histogram: h?.encoded ?? null,
    });
  }
  return buckets;
}

function histogramOf(latenciesUs: readonly number[], digits: 2 | 3): { histogram: hdr.Histogram; encoded: string } | null {
  if (latenciesUs.length === 0) return null;
  const histogram = hdr.build({
    useWebAssembly: false,
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_TRACKABLE_US,
    numberOfSignificantValueDigits: digits,
  });
  for (const us of latenciesUs) histogram.recordValue(us);
  return { histogram, encoded: hdr.encodeIntoCompressedBase64(histogram) };
}

// Percentiles come from the histogram (within its precision); max and mean from the raw
// values, which are at hand and exact. A bucket's reported value is its upper edge, so a
// percentile is capped at the true max.
function latencySummary(histogram: hdr.Histogram, latenciesUs: readonly number[]): LatencySummary {
  let max = 0;
  let sum = 0;
  for (const us of latenciesUs) {
    if (us > max) max = us;
    sum += us;
  }
  const at = (p: number) => usToMs(Math.min(histogram.getValueAtPercentile(p), max));
  return { p50: at(50), p95: at(95), p99: at(99), max: usToMs(max), mean: usToMs(sum / latenciesUs.length) };
}

function countOutcomes(ops: readonly OpRecord[]): Record<OpOutcome, number> {
  const counts: Record<OpOutcome, number> = { ok: 0, failed: 0, indeterminate: 0, dropped: 0 };
  for (const op of ops) counts[op.outcome]++;
  return counts;
}

// from the intended start: an op that waited for a free connection was slow for its caller
function latencyUs(op: OpRecord): number {
  return Math.max(0, Math.round((op.endMs - op.intendedMs) * 1000));
}

// a not-ok op without an error (a dropped op, typically) is counted under its outcome
function errorKey(op: OpRecord): string {
  if (!op.error) return op.outcome;
  return op.error.sqlstate ? `${op.error.sqlstate} ${op.error.class}` : op.error.class;
}

function usToMs(us: number): number {
  return Math.round(us) / 1000;
}
