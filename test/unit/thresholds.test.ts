import { describe, it, expect } from 'vitest';
import { evaluateThresholds, meetsLimit, metricValue, verdictOf, type MeasuredResults } from '../../harness/checks/thresholds.js';
import type { Integrity, LoadSummary } from '../../harness/results/results.js';

function load(counts: Partial<LoadSummary> = {}): LoadSummary {
  return {
    intended: 1000,
    ok: 990,
    failed: 5,
    indeterminate: 3,
    dropped: 2,
    achievedRate: 99,
    latencyMs: { p50: 2, p95: 8, p99: 40, max: 900, mean: 3 },
    histogram: null,
    errors: {},
    perSecond: [],
    ...counts,
  };
}

function integrity(overrides: Partial<Integrity> = {}): Integrity {
  return {
    source: 'primary',
    target: 'replica',
    tables: [{ table: 'orders', sourceRows: 10, targetRows: 10, sourceHash: 'a', targetHash: 'a', match: true }],
    rowCountMismatches: 0,
    hashMismatches: 0,
    sequences: [],
    acknowledgedWrites: 990,
    lostWrites: 0,
    recoveredWrites: 2,
    indeterminateWrites: 3,
    writesAfterPromotion: 0,
    lost: [],
    ...overrides,
  };
}

const downtime = (writesMs: number, readsMs = 0): MeasuredResults['downtime'] => ({
  writes: { longestMs: writesMs, totalMs: writesMs, windows: [] },
  reads: { longestMs: readsMs, totalMs: readsMs, windows: [] },
  serverWriteGapMs: 1200,
});

const results: MeasuredResults = {
  load: { writes: load(), reads: load({ intended: 500, ok: 500, failed: 0, indeterminate: 0, dropped: 0 }), probe: load() },
  downtime: downtime(3_200, 150),
  lag: { samples: [], maxReplayBytes: 48 * 1024 * 1024, maxReplayLagMs: 80 },
  integrity: integrity(),
};

describe('meetsLimit', () => {
  it('applies each operator, treating equal values as equal despite float rounding', () => {
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

describe('metricValue', () => {
  it('maps every threshold to its measured value', () => {
    expect(metricValue('writeDowntime', results)).toBe(3_200);
    expect(metricValue('readDowntime', results)).toBe(150);
    expect(metricValue('serverWriteGap', results)).toBe(1_200);
    expect(metricValue('lostWrites', results)).toBe(0);
    expect(metricValue('recoveredWrites', results)).toBe(2);
    expect(metricValue('rowCountMismatches', results)).toBe(0);
    expect(metricValue('maxReplayLagBytes', results)).toBe(48 * 1024 * 1024);
    expect(metricValue('writeErrorRate', results)).toBeCloseTo(0.01, 12);
    expect(metricValue('p99WriteLatency', results)).toBe(40);
  });

  it('has no downtime for a stream that never ran', () => {
    const noReads: MeasuredResults = { ...results, load: { ...results.load!, reads: load({ intended: 0, ok: 0, failed: 0, indeterminate: 0, dropped: 0 }) } };
    expect(metricValue('readDowntime', noReads)).toBeNull();
  });
});

describe('evaluateThresholds', () => {
  it('passes and fails limits of every unit against the measured values', () => {
    const r = evaluateThresholds(
      { writeDowntime: '< 5s', p99WriteLatency: '<= 20ms', maxReplayLagBytes: '< 64MB', writeErrorRate: '<= 1%', lostWrites: '== 0', recoveredWrites: '!= 0' },
      results,
    );
    expect(r.map((t) => [t.name, t.pass, t.actualText])).toEqual([
      ['writeDowntime', true, '3.2s'],
      ['p99WriteLatency', false, '40ms'],
      ['maxReplayLagBytes', true, '48.0MB'],
      ['writeErrorRate', true, '1%'],
      ['lostWrites', true, '0'],
      ['recoveredWrites', true, '2'],
    ]);
    expect(r[0]).toMatchObject({ limit: '< 5s', actual: 3_200 });
  });

  it('fails a threshold whose metric was not measured, never passing by absence', () => {
    const r = evaluateThresholds(
      { lostWrites: '== 0', rowCountMismatches: '== 0', maxReplayLagBytes: '< 64MB', serverWriteGap: '< 5s' },
      { load: results.load, downtime: { ...downtime(0), serverWriteGapMs: null }, lag: { samples: [], maxReplayBytes: null, maxReplayLagMs: null }, integrity: null },
    );
    expect(r.every((t) => !t.pass && t.actual === null && t.actualText === 'not measured')).toBe(true);
  });

  it('fails rowCountMismatches when no table was compared', () => {
    const [t] = evaluateThresholds({ rowCountMismatches: '== 0' }, { ...results, integrity: integrity({ tables: [] }) });
    expect(t).toMatchObject({ pass: false, actualText: 'not measured' });
  });

  it('fails an invalid limit and an unknown threshold, saying why', () => {
    const r = evaluateThresholds({ writeDowntime: '< 5', bogus: '== 0' } as Record<string, string>, results);
    expect(r[0]).toMatchObject({ name: 'writeDowntime', pass: false, actualText: expect.stringMatching(/^invalid limit/) });
    expect(r[1]).toMatchObject({ name: 'bogus', pass: false, actualText: expect.stringMatching(/unknown threshold/) });
  });
});

describe('verdictOf', () => {
  const passing = evaluateThresholds({ writeDowntime: '< 5s' }, results);

  it('passes when every threshold passes and integrity is clean', () => {
    expect(verdictOf(passing, integrity())).toBe('pass');
    expect(verdictOf([], null)).toBe('pass');
  });

  it('fails on a failed threshold', () => {
    expect(verdictOf(evaluateThresholds({ writeDowntime: '< 1s' }, results), integrity())).toBe('fail');
  });

  it('fails on lost writes even without a lostWrites threshold', () => {
    expect(verdictOf(passing, integrity({ lostWrites: 1 }))).toBe('fail');
  });

  it('fails on table mismatches, split-brain writes and a sequence behind its column', () => {
    expect(verdictOf([], integrity({ rowCountMismatches: 1 }))).toBe('fail');
    expect(verdictOf([], integrity({ hashMismatches: 1 }))).toBe('fail');
    expect(verdictOf([], integrity({ writesAfterPromotion: 3 }))).toBe('fail');
    const behind = { sequence: 'orders_id_seq', table: 'orders', column: 'id', lastValue: 1, maxValue: 2000, ok: false };
    expect(verdictOf([], integrity({ sequences: [behind] }))).toBe('fail');
  });
});
