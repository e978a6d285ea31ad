// Runtime external on a Patroni cluster the test starts itself (etcd + two members, outside
// pgdrill), with `patronictl switchover --force` as the cutover command: the load goes on
// through the switchover, nothing acknowledged is lost, and the demoted old leader, now a
// standby of the new one, is compared table by table with it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEveryOpAccounted, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';
import { startOwnPatroni, type OwnPatroni } from './support/own-patroni.js';

let cluster: OwnPatroni;

beforeAll(async () => {
  cluster = await startOwnPatroni();
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
  await removeRunFolders();
});

describe('runtime external on Patroni', () => {
  it('rehearses patronictl switchover: exit 0, nothing lost, the old leader a standby compared with the new one', async () => {
    const run = await runInTemp(
      scenarioFrom(`
name: external-patroni
runtime: external
duration: 12s
nodes:
  pg1: { url: "${cluster.url('pg1', 'app')}", version: 15 }
  pg2: { url: "${cluster.url('pg2', 'app')}", version: 15, replicaOf: pg1 }
strategy: { kind: external }
seed: { users: 100, products: 50, orders: 200 }
workload:
  writes: { rate: 100, connections: 4 }
  probe: { interval: 20ms }
timeline:
  - at: 3s
    cutover: { command: "patronictl -c ${cluster.members[0].config} switchover --leader pg1 --candidate pg2 --force", timeout: 60s }
thresholds:
  lostWrites: "== 0"
`),
    );
    const { results } = run;
    expect(results.error).toBeNull();
    const steps = results.cutover!.steps;
    expect(steps.filter((s) => !s.ok)).toEqual([]);
    expect(steps.find((s) => s.name === 'old-primary-read-only')!.detail).toMatch(/pg1 is in recovery/);
    expect(run.exitCode).toBe(0);
    expect(results.integrity?.lostWrites).toBe(0);
    expect(results.integrity?.finalPrimary).toBe('pg2');
    // the old leader follows the new one: every table compared once it caught up
    expect(results.integrity?.comparison).toMatch(/pg2 against its standby pg1/);
    expect(results.integrity?.rowCountMismatches).toBe(0);
    expect(results.integrity?.hashMismatches).toBe(0);
    expect(results.downtime.writes.longestMs).toBeGreaterThan(0);
    expectEveryOpAccounted(run);
    // pgdrill stopped nothing: both members run, pg2 leads
    expect((await cluster.state('pg1')).state).toBe('running');
    expect((await cluster.state('pg2')).state).toBe('running');
    console.log(`patroni switchover: write downtime ${results.downtime.writes.longestMs} ms, ${results.integrity?.acknowledgedWrites} acknowledged, steps ${steps.map((s) => `${s.name} ${Math.round(s.endMs - s.startMs)}ms`).join(', ')}`);
  });
});
