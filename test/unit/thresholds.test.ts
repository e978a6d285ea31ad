import { describe, it, expect } from 'vitest';
import { evaluateThresholds, type MeasuredResults } from '../../harness/checks/thresholds.js';
import { METRICS, THRESHOLD_NAMES, type ThresholdName } from '../../harness/checks/metrics.js';
import { meetsLimit, parseLimit, type ThresholdLimit } from '../../harness/checks/threshold-grammar.js';
import type { LoadSummary } from '../../harness/results/results.js';
import { integrity } from '../fixtures/integrity.js';

function load(counts: Partial<LoadSummary> = {}): LoadSummary {
  const latency = { p50: 2, p95: 8, p99: 40, max: 900, mean: 3 };
  return {
    intended: 1000,
    ok: 990,
    failed: 5,
    indeterminate: 3,
    dropped: 2,
    achievedRate: 99,
    latencyMs: latency,
    okLatencyMs: { ...latency, p99: 12 },
    histogram: null,
    okHistogram: null,
    errors: {},
    perSecond: [],
    ...counts,
  };
}

const downtime = (writesMs: number, readsMs = 0, openAtEnd = false): MeasuredResults['downtime'] => ({
  writes: { longestMs: writesMs, totalMs: writesMs, windows: writesMs ? [{ startMs: 1000, endMs: 1000 + writesMs, durationMs: writesMs, failedOps: 3, openAtEnd }] : [] },
  reads: { longestMs: readsMs, totalMs: readsMs, windows: [] },
  serverWriteGapMs: 1200,
});

const results: MeasuredResults = {
  load: { writes: load(), reads: load({ intended: 500, ok: 500, failed: 0, indeterminate: 0, dropped: 0 }), probe: load() },
  downtime: downtime(3_200, 150),
  lag: { samples: [], maxReplayBytes: 48 * 1024 * 1024, maxReplayLagMs: 80 },
  integrity: integrity(),
};

/** Limits as the scenario loader parses them. */
function limits(texts: Partial<Record<ThresholdName, string>>): Partial<Record<ThresholdName, ThresholdLimit>> {
  const out: Partial<Record<ThresholdName, ThresholdLimit>> = {};
  for (const [name, text] of Object.entries(texts) as [ThresholdName, string][]) {
    const parsed = parseLimit(name, text);
    if (typeof parsed === 'string') throw new Error(parsed);
    out[name] = parsed;
  }
  return out;
}

const read = (name: ThresholdName, r: MeasuredResults) => METRICS[name].read(r);

describe('the metric registry', () => {
  it('reads every threshold metric from the results', () => {
    expect(read('writeDowntime', results)).toEqual({ value: 3_200 });
    expect(read('readDowntime', results)).toEqual({ value: 150 });
    expect(read('serverWriteGap', results)).toEqual({ value: 1_200 });
    expect(read('lostWrites', results)).toEqual({ value: 0 });
    expect(read('recoveredWrites', results)).toEqual({ value: 2 });
    expect(read('rowCountMismatches', results)).toEqual({ value: 0 });
    expect(read('maxReplayLagBytes', results)).toEqual({ value: 48 * 1024 * 1024 });
    expect((read('writeErrorRate', results) as { value: number }).value).toBeCloseTo(0.01, 12);
    expect(read('p99WriteLatency', results)).toEqual({ value: 40 });
  });

  it('gives every metric a unit and a description', () => {
    for (const name of THRESHOLD_NAMES) {
      expect(['duration', 'size', 'ratio', 'count']).toContain(METRICS[name].unit);
      expect(METRICS[name].description.length).toBeGreaterThan(10);
    }
  });

  it('reads p99 write latency over every intended write, not the acknowledged ones only', () => {
    // 3 % of writes timing out at 5 s: the acknowledged p99 is 12 ms, what callers waited is not
    const slow: MeasuredResults = { ...results, load: { ...results.load!, writes: load({ latencyMs: { p50: 2, p95: 9, p99: 5_000, max: 5_000, mean: 150 } }) } };
    expect(read('p99WriteLatency', slow)).toEqual({ value: 5_000 });
  });

  it('has no reading for a stream that never ran, saying why', () => {
    const noReads: MeasuredResults = { ...results, load: { ...results.load!, reads: load({ intended: 0, ok: 0, failed: 0, indeterminate: 0, dropped: 0 }) } };
    expect(read('readDowntime', noReads)).toEqual({ unknown: 'no read load ran' });
  });

  it('has no reading for the ledger when it could not be checked, with the reason', () => {
    const r = { ...results, integrity: integrity({ lostWrites: null, unknown: { ledger: 'the final primary could not be reached' } }) };
    expect(read('lostWrites', r)).toEqual({ unknown: 'the final primary could not be reached' });
  });
});

describe('evaluateThresholds', () => {
  it('passes and fails limits of every unit against the measured values', () => {
    const r = evaluateThresholds(
      limits({ writeDowntime: '< 5s', p99WriteLatency: '<= 20ms', maxReplayLagBytes: '< 64MB', writeErrorRate: '<= 1%', lostWrites: '== 0', recoveredWrites: '!= 0' }),
      results,
    );
    expect(r.map((t) => [t.name, t.valid, t.actualText])).toEqual([
      ['writeDowntime', true, '3.2s'],
      ['p99WriteLatency', false, '40ms'],
      ['maxReplayLagBytes', true, '48.0MB'],
      ['writeErrorRate', true, '1%'],
      ['lostWrites', true, '0'],
      ['recoveredWrites', true, '2'],
    ]);
    expect(r[0]).toMatchObject({ limit: '< 5s', actual: 3_200, pass: true });
  });

  it('makes a threshold whose metric was not measured unknown, never passing by absence', () => {
    const r = evaluateThresholds(limits({ lostWrites: '== 0', rowCountMismatches: '== 0', maxReplayLagBytes: '< 64MB', serverWriteGap: '< 5s' }), {
      load: results.load,
      downtime: { ...downtime(0), serverWriteGapMs: null },
      lag: { samples: [], maxReplayBytes: null, maxReplayLagMs: null },
      integrity: null,
    });
    expect(r).toHaveLength(4);
    for (const t of r) {
      expect(t).toMatchObject({ valid: 'unknown', pass: false, actual: null });
      expect(t.actualText).toMatch(/^not measured: /);
    }
  });

  it('makes rowCountMismatches unknown when no table was compared', () => {
    const [t] = evaluateThresholds(limits({ rowCountMismatches: '== 0' }), { ...results, integrity: integrity({ tables: [] }) });
    expect(t).toMatchObject({ valid: 'unknown', pass: false });
  });

  it('fails a downtime limit whatever the number when the outage was still open at the end', () => {
    // writes failing from 57 s to the end of a 60 s run: 3 s, under the limit, and not recovered
    const open = { ...results, downtime: downtime(3_000, 0, true) };
    const [t] = evaluateThresholds(limits({ writeDowntime: '< 5s' }), open);
    expect(t).toMatchObject({ valid: false, pass: false, actual: 3_000 });
    expect(t.actualText).toMatch(/not recovered/);
    const [closed] = evaluateThresholds(limits({ writeDowntime: '< 5s' }), { ...results, downtime: downtime(3_000, 0, false) });
    expect(closed.valid).toBe(true);
  });
});

describe('the threshold grammar', () => {
  it.each([
    ['writeDowntime', '< 5s', { op: '<', value: 5000, unit: 'duration' }],
    ['p99WriteLatency', '<=250ms', { op: '<=', value: 250, unit: 'duration' }],
    ['readDowntime', '< 2m', { op: '<', value: 120_000, unit: 'duration' }],
    ['maxReplayLagBytes', '< 64MB', { op: '<', value: 64 * 1024 * 1024, unit: 'size' }],
    ['maxReplayLagBytes', '<= 4096', { op: '<=', value: 4096, unit: 'size' }],
    ['writeErrorRate', '<= 1%', { op: '<=', value: 0.01, unit: 'ratio' }],
    ['lostWrites', '== 0', { op: '==', value: 0, unit: 'count' }],
    ['recoveredWrites', '!= 3', { op: '!=', value: 3, unit: 'count' }],
    ['rowCountMismatches', ' >= 1 ', { op: '>=', value: 1, unit: 'count' }],
    ['serverWriteGap', '> 0', { op: '>', value: 0, unit: 'duration' }],
  ])('parses %s "%s"', (name, text, expected) => {
    expect(parseLimit(name, text)).toEqual({ source: text.trim(), ...expected });
  });

  it('refuses a bare ratio as ambiguous and shows both readings', () => {
    const message = parseLimit('writeErrorRate', '< 1');
    expect(message).toMatch(/ambiguous/);
    expect(message).toMatch(/"< 1%"/);
    expect(message).toMatch(/"< 100%"/);
    expect(parseLimit('writeErrorRate', '< 0.5')).toMatch(/"< 50%" if you meant a ratio/);
  });

  it.each([
    ['writeDowntime', '>= 0s', /can never fail/],
    ['writeErrorRate', '<= 100%', /can never fail/],
    ['lostWrites', '>= 0', /can never fail/],
    ['lostWrites', '!= 0.5', /can never fail/],
    ['writeDowntime', '< 0s', /can never pass/],
    ['lostWrites', '== 1.5', /can never pass/],
    ['writeErrorRate', '> 100%', /can never pass/],
    ['lostWrites', '< 0', /can never pass/],
  ])('refuses %s "%s", which decides nothing', (name, text, message) => {
    expect(parseLimit(name, text)).toMatch(message);
  });

  it.each([
    ['lostWrites', '<= 0'],
    ['lostWrites', '< 1'],
    ['writeErrorRate', '< 100%'],
    ['writeErrorRate', '== 0%'],
    ['writeDowntime', '<= 0s'],
  ])('accepts %s "%s", which can go either way', (name, text) => {
    expect(typeof parseLimit(name, text)).toBe('object');
  });

  it('says how to write what it refuses', () => {
    expect(parseLimit('writeDowntime', '< 5')).toMatch(/needs a unit, e.g. "< 5s"/);
    expect(parseLimit('writeDowntime', '5s')).toMatch(/no operator/);
    expect(parseLimit('writeDowntime', '=< 5s')).toMatch(/did you mean "<="/);
    expect(parseLimit('lostWrites', 0)).toMatch(/quoted expression/);
    expect(parseLimit('lostWrites', '== -1')).toMatch(/never negative/);
    expect(parseLimit('bogus', '== 0')).toMatch(/unknown threshold "bogus"; known thresholds: writeDowntime/);
  });
});

describe('meetsLimit', () => {
  it('applies each operator, with a relative tolerance for binary rounding', () => {
    expect(meetsLimit(4, { op: '<', value: 5 })).toBe(true);
    expect(meetsLimit(5, { op: '<', value: 5 })).toBe(false);
    expect(meetsLimit(5, { op: '<=', value: 5 })).toBe(true);
    expect(meetsLimit(6, { op: '>', value: 5 })).toBe(true);
    expect(meetsLimit(5, { op: '>', value: 5 })).toBe(false);
    expect(meetsLimit(5, { op: '>=', value: 5 })).toBe(true);
    expect(meetsLimit(0, { op: '==', value: 0 })).toBe(true);
    expect(meetsLimit(1, { op: '==', value: 0 })).toBe(false);
    expect(meetsLimit(1, { op: '!=', value: 0 })).toBe(true);
    expect(meetsLimit(0.1 + 0.2, { op: '<=', value: 0.3 })).toBe(true);
  });
});
