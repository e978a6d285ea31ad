// Scenario loading: defaults, every schema and cross-field rule with its path and message,
// all problems reported at once, YAML syntax errors, --set overrides, threshold expressions.
import { describe, it, expect } from 'vitest';
import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { InvalidInputError, type Problem } from '../../harness/errors.js';
import {
  loadScenarioFile,
  parseScenarioText,
  validateScenario,
} from '../../harness/scenario/load-scenario.js';
import { applyOverrides } from '../../harness/scenario/overrides.js';
import { listBundledScenarios, resolveScenarioPath } from '../../harness/scenario/bundled.js';
import { packageRoot } from '../../harness/util/package-info.js';
import { scenarioFileSchema } from '../../harness/scenario/scenario-schema.js';
import type { Scenario } from '../../harness/scenario/scenario.js';
import { tempDir } from '../support/temp-dir.js';

/** The example of product.md, verbatim (comments included). */
const PRODUCT_EXAMPLE = `
name: streaming-cutover
description: Promote a physical streaming replica under a steady write load.
runtime: local                # local | docker ; the CLI's --runtime overrides it
duration: 60s                 # length of the load phase (cutover and faults happen inside it)

nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary }     # a streaming standby built at setup
  # any node may carry settings: { synchronous_commit: "off", wal_keep_size: "64MB" }

strategy:                     # optional when the timeline has no cutover and no failover
  kind: streaming             # streaming | dump-restore | logical | failover | patroni
  from: primary
  to: replica
  syncGate: { lagBytes: 1024, lagSeconds: 1, consecutiveChecks: 3, timeout: 300s }
  promoteTimeout: 30s
  fenceOldPrimary: true       # the old primary becomes read-only after the cutover

seed:                         # the default schema: users, products, orders, order_items, audit_log
  users: 1000
  products: 500
  orders: 2000

workload:
  writes: { rate: 200, connections: 10, mix: { insert: 50, update: 40, delete: 10 } }
  reads:  { rate: 100, connections: 4 }
  probe:  { interval: 20ms }

timeline:                     # times are from the start of the load phase
  # a fault targets a node (node: primary) or a link: client (the endpoint),
  # replication (every replica's link to its primary) or a replica's name
  - at: 10s
    fault: { kind: latency, link: replication, delay: 50ms, jitter: 10ms, for: 10s }
  - at: 20s
    fault: { kind: pause, node: primary, for: 2s }
  - at: 30s
    cutover: {}               # runs the strategy's cutover; dryRun: true only checks it

thresholds:
  writeDowntime: "< 5s"
  lostWrites: "== 0"
  rowCountMismatches: "== 0"
  maxReplayLagBytes: "< 64MB"
`;

const MINIMAL = `
name: minimal
nodes:
  primary: {}
`;

/** A valid two-node streaming scenario as a raw object, for tests to break one field at a time. */
function base(): Record<string, any> {
  return {
    name: 'test',
    duration: '60s',
    nodes: { primary: { version: 17 }, replica: { version: 17, replicaOf: 'primary' } },
    strategy: { kind: 'streaming', from: 'primary', to: 'replica' },
    timeline: [] as unknown[],
  };
}

function problemsOf(raw: unknown): Problem[] {
  const { scenario, problems } = validateScenario(raw);
  if (problems.length === 0) expect(scenario).toBeDefined();
  return problems;
}

function expectProblem(problems: Problem[], path: string, ...fragments: string[]): void {
  const atPath = problems.filter((p) => p.path === path);
  const text = problems.map((p) => `${p.path}: ${p.message}`).join('\n');
  expect(atPath.length, `no problem at ${path}; got:\n${text}`).toBeGreaterThan(0);
  const hit = atPath.find((p) => fragments.every((f) => p.message.includes(f)));
  expect(hit, `no problem at ${path} containing ${JSON.stringify(fragments)}; got:\n${text}`).toBeDefined();
}

function expectValid(raw: unknown): Scenario {
  const { scenario, problems } = validateScenario(raw);
  expect(problems).toEqual([]);
  return scenario!;
}

function thrown(fn: () => unknown): InvalidInputError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return err as InvalidInputError;
  }
  throw new Error('expected an InvalidInputError');
}

const EXPECTED_EXAMPLE: Scenario = {
  name: 'streaming-cutover',
  description: 'Promote a physical streaming replica under a steady write load.',
  runtime: 'local',
  duration: 60_000,
  nodes: {
    primary: { name: 'primary', version: 17, synchronous: false, settings: {} },
    replica: { name: 'replica', version: 17, replicaOf: 'primary', synchronous: false, settings: {} },
  },
  strategy: {
    kind: 'streaming',
    from: 'primary',
    to: 'replica',
    syncGate: { lagBytes: 1024, lagSeconds: 1, consecutiveChecks: 3, timeout: 300_000 },
    promoteTimeout: 30_000,
    fenceOldPrimary: true,
    holdConnections: false,
  },
  seed: { users: 1000, products: 500, orders: 2000, itemsPerOrder: 3 },
  workload: {
    writes: { rate: 200, connections: 10, mix: { insert: 50, update: 40, delete: 10 }, timeout: 5000 },
    reads: { rate: 100, connections: 4, timeout: 5000 },
    probe: { interval: 20, timeout: 2000 },
  },
  timeline: [
    { at: 10_000, fault: { kind: 'latency', link: 'replication', delay: 50, jitter: 10, for: 10_000, direction: 'both' } },
    { at: 20_000, fault: { kind: 'pause', node: 'primary', for: 2000 } },
    { at: 30_000, cutover: { dryRun: false } },
  ],
  thresholds: {
    writeDowntime: { source: '< 5s', op: '<', value: 5000, unit: 'duration' },
    lostWrites: { source: '== 0', op: '==', value: 0, unit: 'count' },
    rowCountMismatches: { source: '== 0', op: '==', value: 0, unit: 'count' },
    maxReplayLagBytes: { source: '< 64MB', op: '<', value: 64 * 1024 * 1024, unit: 'size' },
  },
  monitor: { interval: 500 },
  downtime: { stall: 250, mergeGap: 1000 },
};

describe('the product.md example', () => {
  it('loads into the resolved scenario with durations in ms and every default filled', () => {
    expect(parseScenarioText(PRODUCT_EXAMPLE, 'example.yaml')).toEqual(EXPECTED_EXAMPLE);
  });

  it('is accepted by the whole-file schema as well', () => {
    expect(scenarioFileSchema.safeParse(YAML.parse(PRODUCT_EXAMPLE)).success).toBe(true);
  });
});

describe('defaults', () => {
  it('fills every default when only name and one node are given', () => {
    expect(parseScenarioText(MINIMAL, 'minimal.yaml')).toEqual({
      name: 'minimal',
      description: '',
      runtime: 'local',
      duration: 60_000,
      nodes: { primary: { name: 'primary', version: 17, synchronous: false, settings: {} } },
      seed: { users: 1000, products: 500, orders: 2000, itemsPerOrder: 3 },
      workload: {
        writes: { rate: 200, connections: 10, mix: { insert: 50, update: 40, delete: 10 }, timeout: 5000 },
        reads: { rate: 0, connections: 4, timeout: 5000 },
        probe: { interval: 50, timeout: 2000 },
      },
      timeline: [],
      thresholds: {},
      monitor: { interval: 500 },
      downtime: { stall: 250, mergeGap: 1000 },
    } satisfies Scenario);
  });

  it('fills strategy defaults (sync gate, promote timeout, fencing) when only kind, from and to are given', () => {
    const s = expectValid(base());
    expect(s.strategy).toEqual({
      kind: 'streaming',
      from: 'primary',
      to: 'replica',
      syncGate: { lagBytes: 1024, lagSeconds: 1, consecutiveChecks: 3, timeout: 300_000 },
      promoteTimeout: 30_000,
      fenceOldPrimary: true,
      holdConnections: false,
    holdConnections: false,
    });
  });

  it('treats empty sections written as `seed:` (null) as all defaults', () => {
    const s = parseScenarioText(`${MINIMAL}seed:\nworkload:\n  writes:\nmonitor:\n`, 'x.yaml');
    expect(s.seed.users).toBe(1000);
    expect(s.workload.writes.rate).toBe(200);
    expect(s.monitor.interval).toBe(500);
  });

  it('takes a written mix as the whole mix: missing weights are 0, not the default weights', () => {
    const raw = base();
    raw.workload = { writes: { mix: { insert: 100 } } };
    expect(expectValid(raw).workload.writes.mix).toEqual({ insert: 100, update: 0, delete: 0 });
  });

  it('writes node settings as strings, booleans as on/off', () => {
    const raw = base();
    raw.nodes.primary.settings = { shared_buffers: '256MB', max_connections: 200, fsync: false, 'pg_stat_statements.max': 1000 };
    expect(expectValid(raw).nodes.primary.settings).toEqual({
      shared_buffers: '256MB',
      max_connections: '200',
      fsync: 'off',
      'pg_stat_statements.max': '1000',
    });
  });

  it('fills fault defaults for the kinds they apply to only', () => {
    const raw = base();
    raw.timeline = [
      { at: '1s', fault: { kind: 'partition', link: 'client', for: '1s' } },
      { at: '2s', fault: { kind: 'stop', node: 'replica' } },
      { at: '3s', fault: { kind: 'latency', link: 'replica', delay: '5ms' } },
      { at: '4s', fault: { kind: 'kill', node: 'primary', restartAfter: '0s' } },
    ];
    expect(expectValid(raw).timeline.map((e) => e.fault)).toEqual([
      { kind: 'partition', link: 'client', for: 1000, mode: 'blackhole', direction: 'both' },
      { kind: 'stop', node: 'replica', stopMode: 'fast' },
      { kind: 'latency', link: 'replica', delay: 5, jitter: 0, direction: 'both' },
      { kind: 'kill', node: 'primary', restartAfter: 0 },
    ]);
  });

  it('reads sizes as "64MB"-like strings or numbers of bytes, and lagSeconds as seconds or a duration', () => {
    const raw = base();
    raw.strategy.syncGate = { lagBytes: '16MB', lagSeconds: '500ms' };
    raw.timeline = [{ at: '1s', fault: { kind: 'bandwidth', link: 'replication', bytesPerSecond: 65536 } }];
    const s = expectValid(raw);
    expect(s.strategy!.syncGate).toMatchObject({ lagBytes: 16 * 1024 * 1024, lagSeconds: 0.5 });
    expect(s.timeline[0].fault!.bytesPerSecond).toBe(65536);
  });

  it('accepts `cutover:` with no value as a real cutover', () => {
    const s = parseScenarioText(
      'name: t\nnodes: { a: {}, b: { replicaOf: a } }\nstrategy: { kind: streaming, from: a, to: b }\ntimeline:\n  - at: 1s\n    cutover:\n',
      'x.yaml',
    );
    expect(s.timeline[0]).toEqual({ at: 1000, cutover: { dryRun: false } });
  });
});

describe('schema problems', () => {
  it('rejects an unknown key and suggests the close known key', () => {
    const raw = base();
    raw.workload = { writes: { conections: 5 } };
    const problems = problemsOf(raw);
    expect(problems).toEqual([{ path: 'workload.writes', message: 'unknown key "conections"; did you mean "connections"?' }]);
  });

  it('suggests replicaOf for replica_of (case, "-" and "_" are ignored when matching)', () => {
    const raw = base();
    raw.nodes.replica = { replica_of: 'primary' };
    expectProblem(problemsOf(raw), 'nodes.replica', 'unknown key "replica_of"; did you mean "replicaOf"?');
  });

  it('reports an unknown top-level key with an empty path and a suggestion', () => {
    const raw = base();
    raw.duraton = '10s';
    expectProblem(problemsOf(raw), '', 'unknown key "duraton"; did you mean "duration"?');
  });

  it('lists the allowed keys when no known key is close', () => {
    const raw = base();
    raw.monitor = { frequency: '1s' };
    expectProblem(problemsOf(raw), 'monitor', 'unknown key "frequency"', 'allowed keys: interval');
  });

  it('lists several unknown keys in one problem with the allowed keys', () => {
    const raw = base();
    raw.workload = { writes: { conections: 5, foo: 1 } };
    expectProblem(problemsOf(raw), 'workload.writes', 'unknown keys "conections" (did you mean "connections"?), "foo"; allowed keys: rate, connections, mix, timeout');
  });

  it('says that fault fields written flat on a timeline entry go inside fault:', () => {
    const raw = base();
    raw.timeline = [{ at: '1s', kind: 'kill', node: 'primary' }];
    expectProblem(problemsOf(raw), 'timeline[0]', 'unknown keys "kind", "node"', 'allowed keys: at, fault, cutover', 'fault fields go inside fault:');
  });

  it('refuses a duration without a unit and says how to write it', () => {
    const raw = base();
    raw.duration = 60;
    expectProblem(problemsOf(raw), 'duration', 'a duration needs a unit: write "60s" or "60ms", got 60');
  });

  it('refuses a malformed duration, naming the value and examples', () => {
    const raw = base();
    raw.workload = { writes: { timeout: '5 sec' } };
    expectProblem(problemsOf(raw), 'workload.writes.timeout', 'got "5 sec"', '"500ms", "10s" or "2m"');
  });

  it('bounds durations to more than 0 and at most 24h', () => {
    const raw = base();
    raw.duration = '25h';
    raw.monitor = { interval: '0s' };
    const problems = problemsOf(raw);
    expectProblem(problems, 'duration', 'must be at most 24h', '"25h"');
    expectProblem(problems, 'monitor.interval', 'must be at least 1ms', '"0s"');
  });

  it('allows a probe interval of 0 (off) but not between 0 and 1ms', () => {
    const raw = base();
    raw.workload = { probe: { interval: '0s' } };
    expect(expectValid(raw).workload.probe.interval).toBe(0);
    raw.workload = { probe: { interval: '500us' } };
    expectProblem(problemsOf(raw), 'workload.probe.interval', 'must be 0 (off) or at least 1ms');
  });

  it('refuses unsupported PostgreSQL versions and lists the supported ones', () => {
    const raw = base();
    raw.nodes.primary.version = 12;
    expectProblem(problemsOf(raw), 'nodes.primary.version', 'unsupported PostgreSQL major version 12', 'supported: 13, 14, 15, 16, 17, 18');
  });

  it('rejects an unknown enum value with the allowed values and a suggestion', () => {
    const raw = base();
    raw.strategy.kind = 'dump_restore';
    expectProblem(problemsOf(raw), 'strategy.kind', '"dump_restore"', 'allowed: streaming, dump-restore, logical, failover, patroni', 'did you mean "dump-restore"?');
  });

  it('rejects a name that cannot be a folder name', () => {
    const raw = base();
    raw.name = 'My Scenario';
    expectProblem(problemsOf(raw), 'name', '"My Scenario" is not a valid name', 'a-z, 0-9');
  });

  it('requires a name', () => {
    const raw = base();
    delete raw.name;
    expectProblem(problemsOf(raw), 'name', 'required');
  });

  it('rejects node names that are link keywords or not identifiers', () => {
    const raw = base();
    raw.nodes.client = {};
    raw.nodes['Node 2'] = {};
    const problems = problemsOf(raw);
    expectProblem(problems, 'nodes.client', 'reserved for link targets');
    expectProblem(problems, 'nodes["Node 2"]', 'not a valid node name');
  });

  it('rejects postgresql.conf settings that pgdrill manages', () => {
    const raw = base();
    raw.nodes.primary.settings = { port: 5433 };
    expectProblem(problemsOf(raw), 'nodes.primary.settings.port', 'managed by pgdrill');
  });

  it('explains that yes/no are strings in YAML when a boolean is expected', () => {
    const raw = base();
    raw.nodes.replica.synchronous = 'yes';
    expectProblem(problemsOf(raw), 'nodes.replica.synchronous', 'got "yes"', 'write true or false, unquoted');
  });

  it('bounds rates, connections, seed counts and items per order', () => {
    const raw = base();
    raw.workload = { writes: { rate: 60_000, connections: 0 }, reads: { rate: -1, connections: 501 } };
    raw.seed = { users: 10_000_001, orders: 1.5, itemsPerOrder: 21 };
    const problems = problemsOf(raw);
    expectProblem(problems, 'workload.writes.rate', 'from 0 to 50000', 'got 60000');
    expectProblem(problems, 'workload.writes.connections', 'from 1 to 500', 'got 0');
    expectProblem(problems, 'workload.reads.rate', 'got -1');
    expectProblem(problems, 'workload.reads.connections', 'got 501');
    expectProblem(problems, 'seed.users', 'from 0 to 10000000', 'got 10000001');
    expectProblem(problems, 'seed.orders', 'an integer', 'got 1.5');
    expectProblem(problems, 'seed.itemsPerOrder', 'from 1 to 20', 'got 21');
  });

  it('requires at least one write mix weight above 0', () => {
    const raw = base();
    raw.workload = { writes: { mix: { insert: 0, update: 0, delete: 0 } } };
    expectProblem(problemsOf(raw), 'workload.writes.mix', 'all weights are 0');
  });

  it('rejects unknown threshold names with a suggestion and bad expressions with the expected form', () => {
    const raw = base();
    raw.thresholds = { lostWrite: '== 0', writeDowntime: '< 5', writeErrorRate: 5 };
    const problems = problemsOf(raw);
    expectProblem(problems, 'thresholds', 'unknown key "lostWrite"; did you mean "lostWrites"?');
    expectProblem(problems, 'thresholds.writeDowntime', 'a duration needs a unit', '"< 5s"');
    expectProblem(problems, 'thresholds.writeErrorRate', 'got 5', '"<= 1%"');
  });
});

describe('cross-field checks', () => {
  it('requires at least one node', () => {
    const raw = base();
    raw.nodes = {};
    delete raw.strategy;
    expectProblem(problemsOf(raw), 'nodes', 'at least one node is required');
  });

  it('requires replicaOf to name an existing node, with a suggestion', () => {
    const raw = base();
    raw.nodes.replica.replicaOf = 'primry';
    expectProblem(problemsOf(raw), 'nodes.replica.replicaOf', 'unknown node "primry"; known nodes: primary, replica', 'did you mean "primary"?');
  });

  it('refuses a node that is a replica of itself', () => {
    const raw = base();
    raw.nodes.replica.replicaOf = 'replica';
    expectProblem(problemsOf(raw), 'nodes.replica.replicaOf', 'cannot be a replica of itself');
  });

  it('requires a streaming replica to run the same major version as its primary', () => {
    const raw = base();
    raw.nodes.replica.version = 16;
    expectProblem(problemsOf(raw), 'nodes.replica.replicaOf', 'runs PostgreSQL 16', '"primary" runs 17', 'same major version');
  });

  it('refuses replication cycles', () => {
    const raw = base();
    raw.nodes = { a: { replicaOf: 'c' }, b: { replicaOf: 'a' }, c: { replicaOf: 'b' } };
    delete raw.strategy;
    const problems = problemsOf(raw);
    expectProblem(problems, 'nodes.a.replicaOf', 'replication cycle a -> c -> b -> a');
    expect(problems.filter((p) => p.message.includes('cycle'))).toHaveLength(1);
  });

  it('refuses synchronous on a node that is not a replica', () => {
    const raw = base();
    raw.nodes.primary.synchronous = true;
    expectProblem(problemsOf(raw), 'nodes.primary.synchronous', 'only a replica can be synchronous');
  });

  it('requires strategy.from and strategy.to to be known nodes', () => {
    const raw = base();
    raw.strategy.from = 'old';
    raw.strategy.to = 'new';
    const problems = problemsOf(raw);
    expectProblem(problems, 'strategy.from', 'unknown node "old"; known nodes: primary, replica');
    expectProblem(problems, 'strategy.to', 'unknown node "new"');
  });

  it('requires strategy.to to differ from strategy.from', () => {
    const raw = base();
    raw.strategy.to = 'primary';
    expectProblem(problemsOf(raw), 'strategy.to', 'must differ from strategy.from');
  });

  it('requires strategy.from to be a primary', () => {
    const raw = base();
    raw.nodes.standby2 = { replicaOf: 'primary' };
    raw.strategy = { kind: 'streaming', from: 'replica', to: 'standby2' };
    expectProblem(problemsOf(raw), 'strategy.from', '"replica" is a replica of "primary"');
  });

  it('requires streaming and failover targets to replicate directly from strategy.from', () => {
    for (const kind of ['streaming', 'failover']) {
      const raw = base();
      raw.nodes.green = {};
      raw.strategy = { kind, from: 'primary', to: 'green' };
      expectProblem(problemsOf(raw), 'strategy.to', `kind ${kind} promotes a streaming replica of "primary"`, 'add replicaOf: primary to nodes.green');
    }
  });

  it('requires dump-restore and logical targets not to be replicas', () => {
    for (const kind of ['dump-restore', 'logical']) {
      const raw = base();
      raw.strategy.kind = kind;
      expectProblem(problemsOf(raw), 'strategy.to', `kind ${kind} needs a standalone, writable target`, 'remove replicaOf from nodes.replica');
    }
  });

  it('accepts a logical upgrade between majors to a standalone node', () => {
    const raw = base();
    raw.nodes = { old: { version: 13 }, new: { version: 17 } };
    raw.strategy = { kind: 'logical', from: 'old', to: 'new' };
    expectValid(raw);
  });

  it('takes globals and syncSequences as optional strategy switches, absent from the resolved strategy unless written', () => {
    const raw = base();
    raw.nodes = { old: { version: 13 }, new: { version: 17 } };
    raw.strategy = { kind: 'logical', from: 'old', to: 'new' };
    expect(expectValid(raw).strategy).not.toHaveProperty('globals');
    raw.strategy = { kind: 'logical', from: 'old', to: 'new', globals: true, syncSequences: false };
    expect(expectValid(raw).strategy).toMatchObject({ globals: true, syncSequences: false });
    raw.strategy = { kind: 'dump-restore', from: 'old', to: 'new', globals: 'yes' };
    expectProblem(problemsOf(raw), 'strategy.globals', 'expected true or false', 'write true or false, unquoted');
  });

  it('takes strategy.jobs for dump-restore (absent unless written: the strategy picks by size), 1..64', () => {
    const raw = base();
    raw.nodes = { old: { version: 13 }, new: { version: 17 } };
    raw.strategy = { kind: 'dump-restore', from: 'old', to: 'new' };
    expect(expectValid(raw).strategy).not.toHaveProperty('jobs');
    raw.strategy = { kind: 'dump-restore', from: 'old', to: 'new', jobs: 4 };
    expect(expectValid(raw).strategy).toMatchObject({ jobs: 4 });
    raw.strategy = { kind: 'dump-restore', from: 'old', to: 'new', jobs: 0 };
    expect(problemsOf(raw).map((p) => p.path)).toContain('strategy.jobs');
  });

  it('requires timeline times to fall inside the load phase', () => {
    const raw = base();
    raw.duration = '30s';
    raw.timeline = [{ at: '30s', fault: { kind: 'kill', node: 'primary' } }];
    expectProblem(problemsOf(raw), 'timeline[0].at', '30s is not inside the load phase (duration 30s)');
  });

  it('requires a fault to end inside the load phase (at + for, at + restartAfter)', () => {
    const raw = base();
    raw.duration = '30s';
    raw.timeline = [
      { at: '20s', fault: { kind: 'pause', node: 'primary', for: '15s' } },
      { at: '25s', fault: { kind: 'kill', node: 'replica', restartAfter: '10s' } },
    ];
    const problems = problemsOf(raw);
    expectProblem(problems, 'timeline[0].fault.for', 'ends at 35s', 'use at most 10s');
    expectProblem(problems, 'timeline[1].fault.restartAfter', 'ends at 35s', 'use at most 5s');
  });

  it('reports an unknown fault node with the known nodes', () => {
    const raw = base();
    raw.timeline = [
      { at: '1s', fault: { kind: 'pause', node: 'primary' } },
      { at: '2s', fault: { kind: 'pause', node: 'replica' } },
      { at: '3s', fault: { kind: 'kill', node: 'replica3' } },
    ];
    const problems = problemsOf(raw);
    expect(problems).toHaveLength(1);
    expect(problems[0].path).toBe('timeline[2].fault.node');
    expect(problems[0].message).toMatch(/^unknown node "replica3"; known nodes: primary, replica/);
  });

  it('accepts client, replication and replica names as links, and rejects others', () => {
    const ok = base();
    ok.timeline = ['client', 'replication', 'replica'].map((link, i) => ({ at: `${i + 1}s`, fault: { kind: 'reset-peer', link } }));
    expectValid(ok);

    const raw = base();
    raw.timeline = [
      { at: '1s', fault: { kind: 'partition', link: 'primary' } },
      { at: '2s', fault: { kind: 'partition', link: 'clients' } },
    ];
    const problems = problemsOf(raw);
    expectProblem(problems, 'timeline[0].fault.link', '"primary" is not a replica', 'allowed links: client, replication, replica');
    expectProblem(problems, 'timeline[1].fault.link', 'unknown link "clients"', 'did you mean "client"?');
  });

  it('refuses the replication link when no node is a replica', () => {
    const raw = base();
    raw.nodes = { primary: {} };
    delete raw.strategy;
    raw.timeline = [{ at: '1s', fault: { kind: 'latency', link: 'replication', delay: '10ms' } }];
    expectProblem(problemsOf(raw), 'timeline[0].fault.link', 'no node has replicaOf');
  });

  it('requires node faults to name a node and not a link', () => {
    const raw = base();
    raw.timeline = [
      { at: '1s', fault: { kind: 'kill' } },
      { at: '2s', fault: { kind: 'stop', link: 'client' } },
    ];
    const problems = problemsOf(raw);
    expectProblem(problems, 'timeline[0].fault.node', 'required: kind kill targets a node; known nodes: primary, replica');
    expectProblem(problems, 'timeline[1].fault.link', 'kind stop targets a node, not a link', 'use node: <name>');
    expect(problems).toHaveLength(2);
  });

  it('requires link faults to name a link and not a node, pointing a replica node to its link', () => {
    const raw = base();
    raw.timeline = [
      { at: '1s', fault: { kind: 'partition' } },
      { at: '2s', fault: { kind: 'partition', node: 'replica' } },
    ];
    const problems = problemsOf(raw);
    expectProblem(problems, 'timeline[0].fault.link', 'required: kind partition targets a link; allowed links: client, replication, replica');
    expectProblem(problems, 'timeline[1].fault.node', 'targets a link, not a node', 'use link: replica');
    expect(problems).toHaveLength(2);
  });

  it('requires delay for latency and bytesPerSecond for bandwidth', () => {
    const raw = base();
    raw.timeline = [
      { at: '1s', fault: { kind: 'latency', link: 'client' } },
      { at: '2s', fault: { kind: 'bandwidth', link: 'client' } },
    ];
    const problems = problemsOf(raw);
    expectProblem(problems, 'timeline[0].fault.delay', 'required for kind latency');
    expectProblem(problems, 'timeline[1].fault.bytesPerSecond', 'required for kind bandwidth');
  });

  it('refuses fault fields that do not apply to the kind', () => {
    const raw = base();
    raw.timeline = [{ at: '1s', fault: { kind: 'kill', node: 'primary', delay: '5ms', stopMode: 'fast' } }];
    const problems = problemsOf(raw);
    expectProblem(problems, 'timeline[0].fault.delay', 'does not apply to kind kill', 'applies to latency');
    expectProblem(problems, 'timeline[0].fault.stopMode', 'applies to stop, restart');
  });

  it('requires exactly one of fault and cutover per timeline entry', () => {
    const raw = base();
    raw.timeline = [{ at: '1s' }, { at: '2s', fault: { kind: 'kill', node: 'primary' }, cutover: {} }];
    const problems = problemsOf(raw);
    expectProblem(problems, 'timeline[0]', 'needs either fault');
    expectProblem(problems, 'timeline[1]', 'has both fault and cutover');
  });

  it('requires a strategy for a cutover', () => {
    const raw = base();
    delete raw.strategy;
    raw.timeline = [{ at: '1s', cutover: {} }];
    expectProblem(problemsOf(raw), 'timeline[0].cutover', 'a cutover needs a strategy');
  });

  it('allows one real cutover and any number of dry runs', () => {
    const raw = base();
    raw.timeline = [
      { at: '1s', cutover: { dryRun: true } },
      { at: '2s', cutover: {} },
      { at: '3s', cutover: { dryRun: true } },
    ];
    expectValid(raw);
    raw.timeline.push({ at: '4s', cutover: { dryRun: false } });
    expectProblem(problemsOf(raw), 'timeline[3].cutover', 'a second cutover (the first is timeline[1])');
  });

  it('requires users and products when orders are seeded', () => {
    const raw = base();
    raw.seed = { users: 0, products: 0, orders: 10 };
    const problems = problemsOf(raw);
    expectProblem(problems, 'seed.users', 'at least 1 when seed.orders is 10');
    expectProblem(problems, 'seed.products', 'at least 1 when seed.orders is 10');
    raw.seed.orders = 0;
    expectValid(raw);
  });

  it('refuses thresholds on what the workload does not measure', () => {
    const raw = base();
    raw.workload = { writes: { rate: 0 }, probe: { interval: '0s' } };
    raw.thresholds = { writeDowntime: '< 5s', readDowntime: '< 5s', serverWriteGap: '< 1s', lostWrites: '== 0' };
    const problems = problemsOf(raw);
    expectProblem(problems, 'thresholds.writeDowntime', 'writes are off');
    expectProblem(problems, 'thresholds.readDowntime', 'reads are off');
    expectProblem(problems, 'thresholds.serverWriteGap', 'the probe is off');
    expect(problems).toHaveLength(3);
  });
});

describe('reporting every problem at once', () => {
  const BROKEN = `
name: Broken Name
duraton: 10s
nodes:
  primary: { version: 12 }
  replica: { replicaOf: primry }
strategy: { kind: streaming, from: primary, to: replica }
workload:
  writes: { rate: 60000, conections: 5 }
timeline:
  - at: 10s
    fault: { kind: latency, link: replication, delay: 5ms }
  - at: 20s
    fault: { kind: kill, node: replica3 }
  - at: 90s
    cutover: {}
thresholds:
  writeDowntime: "< 5"
`;

  it('throws one InvalidInputError (exit 2) listing schema and cross-field problems together', () => {
    const err = thrown(() => parseScenarioText(BROKEN, 'broken.yaml'));
    expect(err.exitCode).toBe(2);
    const paths = err.problems.map((p) => p.path);
    expect(paths).toEqual([
      '',
      'name',
      'nodes.primary.version',
      'nodes.replica.replicaOf',
      'workload.writes.rate',
      'workload.writes',
      'timeline[1].fault.node',
      'timeline[2].at',
      'thresholds.writeDowntime',
    ]);
    expect(err.message).toContain('broken.yaml is invalid (9 problems)');
    expect(err.message).toContain('timeline[1].fault.node: unknown node "replica3"; known nodes: primary, replica');
  });

  it('does not call a node unknown when only its settings are invalid', () => {
    const raw = base();
    raw.nodes.replica.version = 'seventeen';
    raw.timeline = [{ at: '1s', fault: { kind: 'kill', node: 'replica' } }];
    const problems = problemsOf(raw);
    expect(problems.map((p) => p.path)).toEqual(['nodes.replica.version']);
  });

  it('still checks a timeline entry whose other fields are invalid', () => {
    const raw = base();
    raw.timeline = [{ at: '1s', fault: { kind: 'pause', node: 'nosuch', for: 'ever' } }];
    const problems = problemsOf(raw);
    expectProblem(problems, 'timeline[0].fault.for', 'got "ever"');
    expectProblem(problems, 'timeline[0].fault.node', 'unknown node "nosuch"');
  });
});

describe('YAML syntax errors', () => {
  it('reports a syntax error with its line and column and the offending line', () => {
    const err = thrown(() => parseScenarioText('name: t\nnodes:\n  primary: { version: 17\n  replica: {}\n', 'bad.yaml'));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0].path).toMatch(/^line \d+, column \d+$/);
    expect(err.problems[0].message).toContain('YAML syntax');
    expect(err.message).toContain('bad.yaml is invalid');
  });

  it('reports duplicate keys at the second occurrence', () => {
    const err = thrown(() => parseScenarioText('name: a\nname: b\nnodes: { p: {} }\n', 'dup.yaml'));
    expect(err.problems[0]).toMatchObject({ path: 'line 2, column 1' });
    expect(err.problems[0].message).toContain('Map keys must be unique');
    expect(err.problems[0].message).toContain('name: b');
  });

  it('reports an empty file and a file that is not a mapping', () => {
    expect(thrown(() => parseScenarioText('', 'empty.yaml')).problems[0].message).toContain('the scenario is empty');
    expect(thrown(() => parseScenarioText('- a\n- b\n', 'list.yaml')).problems[0].message).toContain('expected a mapping at the top level');
  });
});

describe('--set overrides', () => {
  it('sets nested values, reading them as YAML scalars', () => {
    const s = parseScenarioText(MINIMAL, 'x.yaml', [
      'workload.writes.rate=500',
      'duration=20s',
      'nodes.primary.version=16',
      'nodes.primary.settings.fsync=false',
      'description=Cutover: fast',
    ]);
    expect(s.workload.writes.rate).toBe(500);
    expect(s.duration).toBe(20_000);
    expect(s.nodes.primary.version).toBe(16);
    expect(s.nodes.primary.settings.fsync).toBe('off');
    expect(s.description).toBe('Cutover: fast');
  });

  it('sets list entries by index and removes a key with null', () => {
    const raw = { a: [{ at: '1s' }, { at: '2s' }], b: { c: 1 } };
    const { value, problems } = applyOverrides(raw, ['a[1].at=5s', 'a[2].at=9s', 'b.c=null']);
    expect(problems).toEqual([]);
    expect(value).toEqual({ a: [{ at: '1s' }, { at: '5s' }, { at: '9s' }], b: {} });
    expect(raw.a[1].at).toBe('2s');
  });

  it('validates overridden values like values written in the file', () => {
    const err = thrown(() => parseScenarioText(MINIMAL, 'x.yaml', ['workload.writes.rate=fast', 'workload.writes.rat=5']));
    expectProblem(err.problems, 'workload.writes.rate', 'got "fast"');
    expectProblem(err.problems, 'workload.writes', 'unknown key "rat"; did you mean "rate"?');
  });

  it('reports malformed overrides with path --set, together with the scenario problems', () => {
    const err = thrown(() => parseScenarioText(MINIMAL, 'x.yaml', ['duration', 'a..b=1', 'name=', 'timeline[3].at=1s', 'name.x=1', 'seed.users=-1']));
    const setProblems = err.problems.filter((p) => p.path === '--set');
    expect(setProblems.map((p) => p.message)).toEqual([
      expect.stringContaining('expected key=value (e.g. --set workload.writes.rate=500), got "duration"'),
      expect.stringContaining('"a..b" is not a key path'),
      expect.stringContaining('missing value after "="'),
      expect.stringContaining('index 3 is out of range'),
      expect.stringContaining('not a mapping'),
    ]);
    expectProblem(err.problems, 'seed.users', 'got -1');
  });
});

describe('thresholds in a scenario', () => {
  it('parses each limit once, at load, keeping the text as written', () => {
    const raw = base();
    raw.thresholds = { writeErrorRate: '<= 1%', p99WriteLatency: '< 250ms' };
    expect(expectValid(raw).thresholds).toEqual({
      writeErrorRate: { source: '<= 1%', op: '<=', value: 0.01, unit: 'ratio' },
      p99WriteLatency: { source: '< 250ms', op: '<', value: 250, unit: 'duration' },
    });
  });

  it.each([
    ['writeErrorRate', '< 1', 'ambiguous'],
    ['writeErrorRate', '<= 100%', 'can never fail'],
    ['writeDowntime', '>= 0s', 'can never fail'],
    ['lostWrites', '>= 0', 'can never fail'],
    ['writeDowntime', '< 0s', 'can never pass'],
    ['maxReplayLagBytes', '< 5s', 'maxReplayLagBytes takes a size'],
    ['lostWrites', '== 0s', 'lostWrites takes a whole number'],
    ['lostWrites', '=> 1', '"=>" is not an operator; did you mean ">="?'],
  ])('refuses %s %j with its path and what to write', (name, text, fragment) => {
    const raw = base();
    raw.thresholds = { [name]: text };
    expectProblem(validateScenario(raw).problems, `thresholds.${name}`, fragment);
  });
});

describe('scenario files and bundled scenarios', () => {
  it('reports a missing scenario file as invalid input', async () => {
    const err = await loadScenarioFile('/nonexistent/nope.yaml').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as InvalidInputError).message).toContain('scenario file not found: /nonexistent/nope.yaml');
  });

  it('loads a file and applies overrides', async () => {
    const dir = tempDir('scenario');
    const file = path.join(dir, 'x.yaml');
    await writeFile(file, MINIMAL);
    const s = await loadScenarioFile(file, ['seed.users=5']);
    expect(s.seed.users).toBe(5);
  });

  it('lists bundled scenarios with name and description, and resolves a name or a path', async () => {
    const dir = tempDir('bundled');
    await writeFile(path.join(dir, 'b.yaml'), 'name: beta-drill\ndescription: Second.\nnodes: { p: {} }\n');
    await writeFile(path.join(dir, 'a.yaml'), 'name: alpha\ndescription: First.\nnodes: { p: {} }\n');
    await writeFile(path.join(dir, 'notes.txt'), 'ignored');
    await mkdir(path.join(dir, 'sub'));
    const list = await listBundledScenarios(dir);
    expect(list).toEqual([
      { file: path.join(dir, 'a.yaml'), name: 'alpha', description: 'First.' },
      { file: path.join(dir, 'b.yaml'), name: 'beta-drill', description: 'Second.' },
    ]);
    expect(await resolveScenarioPath('beta-drill', dir)).toBe(path.join(dir, 'b.yaml'));
    expect(await resolveScenarioPath('b', dir)).toBe(path.join(dir, 'b.yaml'));
    expect(await resolveScenarioPath(path.join(dir, 'a.yaml'), dir)).toBe(path.join(dir, 'a.yaml'));
    const err = await resolveScenarioPath('alpah', dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as InvalidInputError).message).toContain('"alpah" is neither a file nor a bundled scenario; bundled scenarios: alpha, beta-drill; did you mean "alpha"?');
  });

  it('finds the package root from the source tree', () => {
    expect(packageRoot()).toBe(path.resolve(import.meta.dirname, '../..'));
  });
});

describe('strategy kind failover', () => {
  /** A valid failover scenario: the timeline kills the primary, detection is left to defaults. */
  function failover(): Record<string, any> {
    const raw = base();
    raw.strategy = { kind: 'failover', from: 'primary', to: 'replica' };
    raw.timeline = [{ at: '10s', fault: { kind: 'kill', node: 'primary', restartAfter: '5s' } }];
    return raw;
  }

  it('fills the detection defaults (3 failed checks 200ms apart) for kind failover only', () => {
    expect(expectValid(failover()).strategy!.detection).toEqual({ interval: 200, failures: 3 });
    const streaming = base();
    expect(expectValid(streaming).strategy).not.toHaveProperty('detection');
  });

  it('takes a detection interval as a duration and failures as an integer', () => {
    const raw = failover();
    raw.strategy.detection = { interval: '500ms', failures: 5 };
    expect(expectValid(raw).strategy!.detection).toEqual({ interval: 500, failures: 5 });
    raw.strategy.detection = { interval: 5, failures: 0 };
    const problems = problemsOf(raw);
    expectProblem(problems, 'strategy.detection.interval', 'a duration needs a unit');
    expectProblem(problems, 'strategy.detection.failures', 'from 1 to 100');
  });

  it('refuses detection on a kind other than failover', () => {
    const raw = base();
    raw.strategy.detection = { interval: '200ms' };
    expectProblem(problemsOf(raw), 'strategy.detection', 'applies to kind failover only');
  });

  it('refuses a cutover entry: a failover is triggered by the primary failing', () => {
    const raw = failover();
    raw.timeline.push({ at: '20s', cutover: {} });
    expectProblem(problemsOf(raw), 'timeline[1].cutover', 'kind failover is triggered when pgdrill detects that "primary" failed', 'fault: { kind: kill, node: primary }');
  });

  it('requires a node fault on strategy.from, or nothing would fail over', () => {
    const raw = failover();
    raw.timeline = [{ at: '10s', fault: { kind: 'kill', node: 'replica' } }];
    expectProblem(problemsOf(raw), 'timeline', 'no fault targets "primary"', '{ at: 10s, fault: { kind: kill, node: primary } }');
    raw.timeline = [{ at: '10s', fault: { kind: 'pause', node: 'primary', for: '5s' } }];
    expectValid(raw);
  });
});
