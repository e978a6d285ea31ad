// Whole runs without a cutover on real servers: a PostgreSQL 15 pair whose standby is
// built by Debian's pg_basebackup, and a 17 pair built through the low-level backup API
// (no pg_basebackup >= 17 exists here). Each run must seed, drive the load, sample lag,
// find the replica identical, and leave no process or data dir behind.

import { afterAll, describe, expect, it } from 'vitest';
import { findClientTool } from '../../harness/runtime/local/pg-binaries.js';
import { expectEveryOpAccounted, leftovers, opsCount, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

const pair = (version: number) => `
name: pair-${version}
duration: 6s
nodes:
  primary: { version: ${version} }
  replica: { version: ${version}, replicaOf: primary }
seed: { users: 200, products: 100, orders: 400 }
workload:
  writes: { rate: 200, connections: 8 }
  reads: { rate: 50, connections: 2 }
  probe: { interval: 50ms }
thresholds:
  lostWrites: "== 0"
  rowCountMismatches: "== 0"
`;

afterAll(removeRunFolders);

describe.each([
  { version: 15, expected: 'pg_basebackup' },
  { version: 17, expected: findClientTool('pg_basebackup', 17) ? 'pg_basebackup' : 'low-level-api' },
])('a PostgreSQL $version primary with a streaming replica', ({ version, expected }) => {
  let run: Awaited<ReturnType<typeof runInTemp>>;

  it(`builds the standby with ${expected}, loads, samples lag and passes`, async () => {
    run = await runInTemp(scenarioFrom(pair(version)));
    const { results } = run;
    expect(results.error).toBeNull();
    expect(results.verdict).toBe('pass');
    expect(run.exitCode).toBe(0);

    const standby = results.events.find((e) => e.kind === 'node-ready' && e.node === 'replica');
    expect(standby?.baseBackup).toBe(expected);

    expect(results.phases.map((p) => p.name)).toEqual(['setup', 'seed', 'sync', 'load', 'verify', 'teardown']);
    expectEveryOpAccounted(run);
    const { intended } = opsCount(run);
    expect(results.load.writes.ok).toBeGreaterThan(intended * 0.95);
    expect(results.load.reads.ok).toBeGreaterThan(0);

    expect(results.lag.samples.length).toBeGreaterThan(5);
    expect(results.lag.samples.every((s) => s.node === 'replica')).toBe(true);
    expect(results.lag.samples.some((s) => s.state === 'streaming' && s.slotActive === true)).toBe(true);
    expect(results.lag.maxReplayBytes).not.toBeNull();

    expect(results.integrity?.tables.map((t) => t.table).sort()).toEqual(['audit_log', 'order_items', 'orders', 'products', 'users']);
    expect(results.integrity?.tables.every((t) => t.match && (t.sourceRows ?? 0) > 0)).toBe(true);
    expect(results.integrity?.acknowledgedWrites).toBe(results.load.writes.ok);
    expect(results.integrity?.lostWrites).toBe(0);
  });

  it('leaves no postgres process and no data dir', () => {
    expect(leftovers(run.results.runId)).toEqual([]);
  });
});

describe('a run that fails', () => {
  it('on a server that refuses to start: exits 3 with the server log, and leaves nothing', async () => {
    const scenario = scenarioFrom(`
name: broken-setting
duration: 3s
nodes:
  primary: { version: 17, settings: { shared_buffers: "not-a-size" } }
`);
    const run = await runInTemp(scenario);
    expect(run.exitCode).toBe(3);
    expect(run.results.verdict).toBe('fail');
    expect(run.results.error?.message).toMatch(/shared_buffers/);
    expect(leftovers(run.results.runId)).toEqual([]);
  });
});
