import { describe, it, expect } from 'vitest';
import { decodeHistogram, summarizeHistogram, summarizeLoad } from '../../harness/checks/load-summary.js';
import type { OpOutcome, OpRecord } from '../../harness/record/records.js';

const LOAD = { loadStartMs: 1_000, loadEndMs: 11_000 };

function op(id: number, intendedMs: number, latencyMs: number, outcome: OpOutcome = 'ok', error?: OpRecord['error']): OpRecord {
  return { id, stream: 'write', kind: 'insert', intendedMs, startMs: intendedMs, endMs: intendedMs + latencyMs, outcome, error };
}

// A deterministic spread of latencies (ms), for percentiles that can be checked exactly.
function latencies(n: number): number[] {
  return Array.from({ length: n }, (_, i) => 1 + ((i * 7919) % 1000) / 10);
}

function exactPercentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

describe('summarizeLoad', () => {
  it('counts operations by outcome and errors by SQLSTATE and class', () => {
    const ops = [
      op(0, 1_000, 2),
      op(1, 1_010, 3),
      op(2, 1_020, 5_000, 'failed', { sqlstate: '57P01', class: 'admin_shutdown', message: 'terminating connection' }),
      op(3, 1_030, 5_000, 'failed', { sqlstate: '57P01', class: 'admin_shutdown', message: 'terminating connection' }),
      op(4, 1_040, 5_000, 'indeterminate', { class: 'timeout', message: 'no answer in 5s' }),
      op(5, 1_050, 0, 'dropped'),
    ];
    const s = summarizeLoad(ops, LOAD);
    expect(s).toMatchObject({ intended: 6, ok: 2, failed: 2, indeterminate: 1, dropped: 1 });
    expect(s.errors).toEqual({ '57P01 admin_shutdown': 2, timeout: 1, dropped: 1 });
    expect(s.achievedRate).toBeCloseTo(0.2, 12);
  });

  it('measures the acknowledged latency from the intended start, over ok operations only', () => {
    const ops = [{ ...op(0, 1_000, 0), startMs: 1_400, endMs: 1_500 }, op(1, 1_100, 9_000, 'failed')];
    const s = summarizeLoad(ops, LOAD);
    expect(s.okLatencyMs.max).toBe(500);
    expect(s.okLatencyMs.p50).toBe(500);
  });

  it('measures what callers waited over every intended operation: failures until the error, drops for the timeout', () => {
    // 97 fast writes, 3 that time out at 5 s: the acknowledged p99 hides them, the caller's does not
    const ops = [
      ...Array.from({ length: 97 }, (_, i) => op(i, 1_000 + i, 5)),
      ...[0, 1].map((i) => op(97 + i, 2_000 + i, 5_000, 'indeterminate')),
      op(99, 2_500, 0, 'dropped'),
    ];
    const s = summarizeLoad(ops, { ...LOAD, timeoutMs: 5_000 });
    expect(s.okLatencyMs.p99).toBe(5);
    expect(s.latencyMs.p99).toBeGreaterThanOrEqual(4_990);
    expect(s.latencyMs.max).toBe(5_000);
    // without a timeout a drop counts at the time it was given up
    expect(summarizeLoad([op(0, 1_000, 800, 'dropped')], LOAD).latencyMs.max).toBe(800);
  });

  it('reports percentiles within the histogram precision and exact max and mean', () => {
    const values = latencies(5_000);
    const ops = values.map((ms, i) => op(i, 1_000 + i * 2, ms));
    const s = summarizeLoad(ops, LOAD);
    for (const [p, key] of [[50, 'p50'], [95, 'p95'], [99, 'p99']] as const) {
      const exact = exactPercentile(values, p);
      expect(Math.abs(s.latencyMs[key] - exact) / exact).toBeLessThan(0.002);
    }
    expect(s.latencyMs.max).toBeCloseTo(Math.max(...values), 3);
    expect(s.latencyMs.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 3);
  });

  it('buckets operations by the second of their intended start, every second of the load included', () => {
    const ops = [op(0, 1_000, 1), op(1, 1_999, 2, 'failed'), op(2, 2_000, 3), op(3, 4_500, 4, 'indeterminate'), op(4, 4_600, 5, 'dropped')];
    const s = summarizeLoad(ops, LOAD);
    expect(s.perSecond.map((b) => b.second)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(s.perSecond[0]).toMatchObject({ ok: 1, failed: 1, indeterminate: 0, dropped: 0, latencyMs: { max: 1 } });
    expect(s.perSecond[1]).toMatchObject({ ok: 1, failed: 0, latencyMs: { p50: 3 } });
    expect(s.perSecond[2]).toMatchObject({ ok: 0, failed: 0, latencyMs: null, histogram: null });
    expect(s.perSecond[3]).toMatchObject({ ok: 0, indeterminate: 1, dropped: 1, latencyMs: null, histogram: null });
  });

  it('encodes histograms that decode to the same counts and percentiles', () => {
    const values = latencies(2_000);
    const s = summarizeLoad(values.map((ms, i) => op(i, 1_000 + i * 4, ms)), LOAD);
    const run = decodeHistogram(s.histogram!);
    expect(run.totalCount).toBe(2_000);
    const decoded = summarizeHistogram(run);
    expect(Math.abs(decoded.p99 - s.latencyMs.p99) / s.latencyMs.p99).toBeLessThan(0.002);

    const second = s.perSecond[3];
    const h = decodeHistogram(second.histogram!);
    expect(h.totalCount).toBe(second.ok);
    expect(Math.abs(summarizeHistogram(h).p50 - second.latencyMs!.p50) / second.latencyMs!.p50).toBeLessThan(0.01);
  });

  it('reports an empty stream with zero latencies and no histogram', () => {
    const s = summarizeLoad([], LOAD);
    expect(s).toMatchObject({ intended: 0, ok: 0, achievedRate: 0, histogram: null, perSecond: [], errors: {} });
    expect(s.latencyMs).toEqual({ p50: 0, p95: 0, p99: 0, max: 0, mean: 0 });
  });

  it('keeps a 60 s run at 1000 ops/s with a wide latency spread small in results.json', () => {
    const ops: OpRecord[] = [];
    for (let i = 0; i < 60_000; i++) {
      // 0.3 ms .. 3 s, long-tailed, different in every second
      const u = ((i * 2654435761) % 1_000_003) / 1_000_003;
      const ms = 0.3 + 3_000 * u ** 4;
      ops.push(op(i, i, ms));
    }
    const s = summarizeLoad(ops, { loadStartMs: 0, loadEndMs: 60_000 });
    const bytes = JSON.stringify(s).length;
    // three streams of this in one results.json leave ample room under 2 MB
    expect(bytes).toBeLessThan(100_000);
  });
});
