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
  const accumulator = new LoadAccumulator(window);
  for (const op of ops) accumulator.add(op);
  return accumulator.summary(window.loadEndMs);
}

/** Latencies of a set of operations: a histogram plus the exact max and sum (µs). */
class LatencyTally {
  histogram: hdr.Histogram | null = null;
  count = 0;
  maxUs = 0;
  sumUs = 0;

  constructor(private readonly digits: 2 | 3) {}

  record(us: number): void {
    this.histogram ??= newHistogram(this.digits);
    this.histogram.recordValue(us);
    this.count++;
    if (us > this.maxUs) this.maxUs = us;
    this.sumUs += us;
  }

  summary(): LatencySummary | null {
    return this.histogram ? latencySummary(this.histogram, this.maxUs, this.sumUs, this.count) : null;
  }

  encoded(): string | null {
    return this.histogram ? hdr.encodeIntoCompressedBase64(this.histogram) : null;
  }
}

/** One second of a stream while ops of it may still arrive. */
interface LiveSecond {
  counts: Record<OpOutcome, number>;
  ok: LatencyTally;
}

/** A second no op is expected for any more: kept encoded, with what reopening it needs. */
interface SealedSecond {
  bucket: SecondBucket;
  maxUs: number;
  sumUs: number;
  okCount: number;
}

export interface AccumulatorOptions {
  /**
   * ms behind the latest intended op after which a second is sealed (encoded, its histogram
   * let go). An op that still arrives for a sealed second reopens it, so this only trades
   * memory for work; Infinity keeps every second open until the summary.
   */
  sealAfterMs?: number;
}

/**
 * summarizeLoad, one op at a time: what a long run needs to summarise its load without
 * keeping its operations. Memory is a whole-run histogram pair plus one small encoded
 * bucket per second; only the last few seconds are kept open, because an op is recorded
 * when it ends and so arrives after ops intended later than it.
 */
export class LoadAccumulator {
  private readonly counts: Record<OpOutcome, number> = { ok: 0, failed: 0, indeterminate: 0, dropped: 0 };
  private intended = 0;
  private readonly all = new LatencyTally(RUN_DIGITS);
  private readonly ok = new LatencyTally(RUN_DIGITS);
  private readonly errors: Record<string, number> = {};
  private readonly live = new Map<number, LiveSecond>();
  private readonly sealed = new Map<number, SealedSecond>();
  private minSecond = Infinity;
  private maxSecond = -Infinity;
  private readonly sealAfterMs: number;
  private sealedThrough = -Infinity;

  constructor(
    private readonly window: Pick<LoadWindow, 'loadStartMs' | 'timeoutMs'>,
    options: AccumulatorOptions = {},
  ) {
    this.sealAfterMs = options.sealAfterMs ?? Infinity;
  }

  add(op: OpRecord): void {
    this.intended++;
    this.counts[op.outcome]++;
    const timeoutMs = this.window.timeoutMs;
    this.all.record(op.outcome === 'dropped' && timeoutMs !== undefined ? timeoutMs * 1000 : latencyUs(op));
    if (op.outcome === 'ok') this.ok.record(latencyUs(op));
    else {
      const key = errorKey(op);
      this.errors[key] = (this.errors[key] ?? 0) + 1;
    }
    const second = Math.floor((op.intendedMs - this.window.loadStartMs) / 1000);
    if (second < this.minSecond) this.minSecond = second;
    const advanced = second > this.maxSecond;
    if (advanced) this.maxSecond = second;
    const bucket = this.open(second);
    bucket.counts[op.outcome]++;
    if (op.outcome === 'ok') bucket.ok.record(latencyUs(op));
    if (advanced && Number.isFinite(this.sealAfterMs)) this.sealOld(op.intendedMs);
  }

  summary(loadEndMs: number): LoadSummary {
    const loadSeconds = (loadEndMs - this.window.loadStartMs) / 1000;
    return {
      intended: this.intended,
      ...this.counts,
      achievedRate: loadSeconds > 0 ? this.counts.ok / loadSeconds : 0,
      latencyMs: this.all.summary() ?? { ...ZERO_LATENCY },
      okLatencyMs: this.ok.summary() ?? { ...ZERO_LATENCY },
      histogram: this.all.encoded(),
      okHistogram: this.ok.encoded(),
      errors: { ...this.errors },
      perSecond: this.perSecond(loadSeconds),
    };
  }

  private open(second: number): LiveSecond {
    let bucket = this.live.get(second);
    if (bucket) return bucket;
    const sealed = this.sealed.get(second);
    bucket = { counts: { ok: 0, failed: 0, indeterminate: 0, dropped: 0 }, ok: new LatencyTally(SECOND_DIGITS) };
    if (sealed) {
      // a late op for a sealed second (an op that hung past the horizon): reopen it exactly
      this.sealed.delete(second);
      const { ok, failed, indeterminate, dropped } = sealed.bucket;
      bucket.counts = { ok, failed, indeterminate, dropped };
      if (sealed.bucket.histogram) {
        bucket.ok.histogram = decodeHistogram(sealed.bucket.histogram);
        bucket.ok.count = sealed.okCount;
        bucket.ok.maxUs = sealed.maxUs;
        bucket.ok.sumUs = sealed.sumUs;
      }
    }
    this.live.set(second, bucket);
    return bucket;
  }

  private sealOld(latestIntendedMs: number): void {
    const through = Math.floor((latestIntendedMs - this.sealAfterMs - this.window.loadStartMs) / 1000) - 1;
    if (through <= this.sealedThrough) return;
    this.sealedThrough = through;
    for (const [second, bucket] of this.live) {
      if (second > through) continue;
      this.live.delete(second);
      this.sealed.set(second, sealSecond(second, bucket));
    }
  }

  private perSecond(loadSeconds: number): SecondBucket[] {
    if (this.intended === 0) return [];
    // every second of the load appears, empty ones too: a stream that stalled shows as a gap
    const first = Math.min(0, this.minSecond);
    const last = Math.max(Math.ceil(loadSeconds) - 1, this.maxSecond);
    const buckets: SecondBucket[] = [];
    for (let second = first; second <= last; second++) {
      const live = this.live.get(second);
      const sealed = this.sealed.get(second);
      if (live) buckets.push(sealSecond(second, live).bucket);
      else if (sealed) buckets.push(sealed.bucket);
      else buckets.push({ second, ok: 0, failed: 0, indeterminate: 0, dropped: 0, latencyMs: null, histogram: null });
    }
    return buckets;
  }
}

function sealSecond(second: number, live: LiveSecond): SealedSecond {
  return {
    bucket: { second, ...live.counts, latencyMs: live.ok.summary(), histogram: live.ok.encoded() },
    maxUs: live.ok.maxUs,
    sumUs: live.ok.sumUs,
    okCount: live.ok.count,
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

function newHistogram(digits: 2 | 3): hdr.Histogram {
  return hdr.build({
    useWebAssembly: false,
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_TRACKABLE_US,
    numberOfSignificantValueDigits: digits,
  });
}

// Percentiles come from the histogram (within its precision); max and mean from the raw
// values, which are counted exactly as they come. A bucket's reported value is its upper
// edge, so a percentile is capped at the true max.
function latencySummary(histogram: hdr.Histogram, maxUs: number, sumUs: number, count: number): LatencySummary {
  const at = (p: number) => usToMs(Math.min(histogram.getValueAtPercentile(p), maxUs));
  return { p50: at(50), p95: at(95), p99: at(99), max: usToMs(maxUs), mean: usToMs(sumUs / count) };
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
