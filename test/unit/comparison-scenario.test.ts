// Comparison files: one base workload merged into each variant (and each matrix entry), every
// run validated as an ordinary scenario, --set routed to the base, problems said once; and the
// comparison's exit code from its runs'.

import { describe, expect, it } from 'vitest';
import { comparisonOverridePaths, isComparisonDocument, parseComparisonText, validateComparison } from '../../harness/scenario/comparison.js';
import { comparisonExitCode } from '../../harness/run/run-comparison.js';
import { InvalidInputError } from '../../harness/errors.js';

const FILE = `
name: cmp
description: Three ways to move.
base:
  duration: 30s
  seed: { users: 100, products: 50, orders: 200 }
  workload: { writes: { rate: 100 } }
  timeline:
    - at: 10s
      cutover: {}
  thresholds: { lostWrites: "== 0" }
variants:
  streaming:
    nodes: { primary: { version: 17 }, replica: { version: 17, replicaOf: primary } }
    strategy: { kind: streaming, from: primary, to: replica }
  logical:
    description: Subscription.
    nodes: { blue: { version: 13 }, green: { version: 17 } }
    strategy: { kind: logical, from: blue, to: green, syncGate: { lagBytes: 1MB } }
    thresholds: { maxReplayLagBytes: "< 64MB" }
`;

function problemsOf(text: string, sets: string[] = []): string[] {
  try {
    parseComparisonText(text, 'cmp.yaml', sets);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as InvalidInputError).problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

describe('comparison files', () => {
  it('recognises a comparison by its variants', () => {
    expect(isComparisonDocument({ name: 'x', variants: {} })).toBe(true);
    expect(isComparisonDocument({ name: 'x', nodes: {} })).toBe(false);
    expect(isComparisonDocument('text')).toBe(false);
  });

  it('resolves each variant to a full scenario that shares the base workload', () => {
    const c = parseComparisonText(FILE, 'cmp.yaml');
    expect(c.name).toBe('cmp');
    expect(c.runs.map((r) => [r.label, r.scenario.name, r.scenario.strategy?.kind])).toEqual([
      ['streaming', 'cmp-streaming', 'streaming'],
      ['logical', 'cmp-logical', 'logical'],
    ]);
    const [streaming, logical] = c.runs.map((r) => r.scenario);
    expect(streaming.seed).toEqual(logical.seed);
    expect(streaming.workload).toEqual(logical.workload);
    expect(streaming.timeline).toEqual(logical.timeline);
    expect(streaming.duration).toBe(30_000);
    expect(logical.strategy?.syncGate.lagBytes).toBe(1024 * 1024);
    // a variant's thresholds add to the base's
    const sources = (t: typeof logical.thresholds) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v?.source]));
    expect(sources(logical.thresholds)).toEqual({ lostWrites: '== 0', maxReplayLagBytes: '< 64MB' });
    expect(sources(streaming.thresholds)).toEqual({ lostWrites: '== 0' });
    expect(streaming.description).toBe('Three ways to move. [streaming]');
    expect(logical.description).toBe('Subscription. [logical]');
  });

  it('runs every variant once per matrix entry, with the entry applied to the base', () => {
    const text = `${FILE}matrix:\n  - { label: small, set: { seed.orders: 200 } }\n  - { label: large, set: { seed.orders: 20000, workload.writes.rate: 300 } }\n`;
    const c = parseComparisonText(text, 'cmp.yaml');
    expect(c.runs.map((r) => [r.label, r.matrix, r.scenario.name, r.scenario.seed.orders, r.scenario.workload.writes.rate])).toEqual([
      ['streaming@small', 'small', 'cmp-streaming-small', 200, 100],
      ['logical@small', 'small', 'cmp-logical-small', 200, 100],
      ['streaming@large', 'large', 'cmp-streaming-large', 20000, 300],
      ['logical@large', 'large', 'cmp-logical-large', 20000, 300],
    ]);
  });

  it('applies --set to the base unless the path names a part of the comparison', () => {
    expect(comparisonOverridePaths(['seed.orders=5', 'variants.logical.strategy.syncGate.lagBytes=2MB', 'name=other', 'duration=20s'])).toEqual([
      'base.seed.orders=5',
      'variants.logical.strategy.syncGate.lagBytes=2MB',
      'name=other',
      'base.duration=20s',
    ]);
    const c = parseComparisonText(FILE, 'cmp.yaml', ['seed.orders=5000', 'variants.logical.strategy.syncGate.lagBytes=2MB']);
    expect(c.runs.map((r) => r.scenario.seed.orders)).toEqual([5000, 5000]);
    expect(c.runs[1].scenario.strategy?.syncGate.lagBytes).toBe(2 * 1024 * 1024);
  });

  it('says a problem of the base once, and a variant\'s problem with the variant named', () => {
    const problems = problemsOf(FILE, ['timeline[0].at=40s', 'variants.logical.strategy.to=purple']);
    expect(problems).toEqual([
      'base (every variant): timeline[0].at: 40s is not inside the load phase (duration 30s); use a time below 30s or raise duration',
      expect.stringMatching(/^variants\.logical: strategy\.to: unknown node "purple"; known nodes: blue, green/),
    ]);
  });

  it('refuses nodes or a strategy in the base, workload fields in a variant, and unknown keys', () => {
    const raw = {
      name: 'cmp',
      base: { nodes: { a: {} }, duration: '10s' },
      variants: { one: { nodes: { a: {} }, seed: { orders: 1 } } },
      extra: 1,
    };
    const { problems } = validateComparison(raw);
    expect(problems.map((p) => p.path)).toEqual(['extra', 'base.nodes']);
    const second = validateComparison({ name: 'cmp', base: { duration: '10s' }, variants: { one: { nodes: { a: {} }, seed: { orders: 1 } } } });
    expect(second.problems).toEqual([
      { path: 'variants.one', message: 'seed belong in base (the variants share them); a variant sets nodes, strategy, description, thresholds, endpoint, patroni' },
    ]);
  });

  it('needs at least one variant and labelled, distinct matrix entries', () => {
    expect(validateComparison({ name: 'cmp', variants: {} }).problems.map((p) => p.path)).toEqual(['variants']);
    const { problems } = validateComparison({
      name: 'cmp',
      variants: { one: { nodes: { a: {} } } },
      matrix: [{ label: 'Big One', set: {} }, { label: 'x', set: [] }, { label: 'y' }, { label: 'y' }],
    });
    expect(problems.map((p) => p.path)).toEqual(['matrix[0].label', 'matrix[1].set', 'matrix[3].label']);
  });
});

describe('comparison exit code', () => {
  it('is 0 when every run passed, 1 when one failed, 3 when the environment failed one, 130 when interrupted', () => {
    expect(comparisonExitCode([0, 0, 0], false)).toBe(0);
    expect(comparisonExitCode([0, 1, 0], false)).toBe(1);
    expect(comparisonExitCode([1, 3, 0], false)).toBe(3);
    expect(comparisonExitCode([0, 1], true)).toBe(130);
    expect(comparisonExitCode([], false)).toBe(0);
  });
});
