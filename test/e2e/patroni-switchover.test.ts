// Planned switchover of a real Patroni cluster (Debian's patroni 3.0 and etcd 3.4, three
// members, one etcd) under load: through HAProxy's REST /primary checks (the bundled
// patroni-switchover) and, in a second run, through discovery over REST /cluster; and a run that
// fails once the cluster is up, which leaves no patroni, etcd or postgres process nor data dir.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Results } from '../../harness/results/results.js';
import { loadScenarioFile } from '../../harness/scenario/load-scenario.js';
import { expectCutoverDuringLoad, expectEveryOpAccounted, leftovers, processesOf, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

const root = path.resolve(import.meta.dirname, '../..');
const bundledFile = path.join(root, 'scenarios', 'patroni-switchover.yaml');

afterAll(removeRunFolders);

const SWITCHOVER_STEPS = ['prerequisites', 'wait-for-sync', 'switchover-requested', 'old-leader-demoted', 'candidate-promoted', 'repoint-endpoint', 'endpoint-follows', 'first-write-served'];

function expectCleanSwitchover(r: Results, exitCode: number, folder: string): void {
  expect(r.error).toBeNull();
  expect(r.checks.filter((c) => c.valid !== true)).toEqual([]);
  expect(exitCode).toBe(0);
  expect(r.cutover!.steps.map((s) => [s.name, s.ok])).toEqual(SWITCHOVER_STEPS.map((s) => [s, true]));
  expect(r.integrity!.lostWrites).toBe(0);
  expect(r.integrity!.rowCountMismatches).toBe(0);
  expect(r.integrity!.hashMismatches).toBe(0);
  // exactly one leader change, to the candidate, timed from the request
  expect(r.patroni!.leaderChanges).toHaveLength(1);
  const change = r.patroni!.leaderChanges[0];
  expect(change).toMatchObject({ from: 'pg1', to: 'pg2', cause: 'switchover requested' });
  expect(change.detectedAfterMs!).toBeGreaterThanOrEqual(0);
  expect(change.electedAfterMs!).toBeGreaterThanOrEqual(change.detectedAfterMs!);
  expect(change.servedAfterMs!).toBeGreaterThan(0);
  expect(r.patroni!.finalLeader).toBe('pg2');
  // pg1 came back as a replica of pg2 (Patroni restarted it), every member's roles are recorded
  const roles = Object.fromEntries(r.patroni!.members.map((m) => [m.name, m.roles.map((x) => x.role)]));
  expect(roles.pg1[0]).toBe('leader');
  expect(roles.pg1.at(-1)).toBe('replica');
  expect(roles.pg2).toContain('leader');
  // the client write downtime was measured (the demotion takes writes away for a moment)
  expect(r.downtime.writes.windows.length).toBeGreaterThan(0);
  expect(r.downtime.writes.longestMs).toBeGreaterThan(0);
  expect(r.downtime.writes.longestMs).toBeLessThan(15_000);
  expect(r.downtime.writes.openAtEnd).toBe(false);
  for (const log of ['patroni-pg1.log', 'patroni-pg2.log', 'patroni-pg3.log', 'etcd1.log']) expect(existsSync(path.join(folder, log)), log).toBe(true);
  expect(leftovers(r.runId)).toEqual([]);
}

describe('patroni switchover', () => {
  it('patroni-switchover through HAProxy: exit 0, 0 lost, tables match, one leader change to the candidate', async () => {
    const run = await runInTemp(await loadScenarioFile(bundledFile));
    expectCutoverDuringLoad(run);
    expectEveryOpAccounted(run);
    expectCleanSwitchover(run.results, run.exitCode, run.folder);
    const follows = run.results.cutover!.steps.find((s) => s.name === 'endpoint-follows')!;
    expect(follows.detail).toMatch(/HAProxy marked pg2 UP in pgdrill_write \(check L7OK\/200/);
    // HAProxy asked Patroni: pg1's /primary went 503 and pg2's 200
    const states = run.results.endpoint!.serverStates.filter((s) => s.backend === 'pgdrill_write');
    expect(states.some((s) => s.server === 'pg2' && s.state === 'UP')).toBe(true);
  });

  it('the same switchover through discovery: clients ask REST /cluster for the leader', async () => {
    const text = readFileSync(bundledFile, 'utf8').replace(/endpoint:\n  kind: haproxy\n  check: \{[^}]*\}\n/, 'endpoint:\n  kind: discovery\n');
    expect(text).toContain('kind: discovery');
    const run = await runInTemp(scenarioFrom(text));
    expectCutoverDuringLoad(run);
    expectEveryOpAccounted(run);
    expectCleanSwitchover(run.results, run.exitCode, run.folder);
    expect(run.results.endpoint!.kind).toBe('discovery');
    expect(run.results.cutover!.steps.find((s) => s.name === 'endpoint-follows')!.detail).toMatch(/finds pg2/);
  });

  it('a run that fails once the cluster is up leaves no patroni, etcd or postgres process and no data dir', async () => {
    let seen: { runId: string; processes: string[]; dataDirs: string[]; existed: boolean } | undefined;
    const scenario = scenarioFrom(readFileSync(bundledFile, 'utf8'), ['duration=5s']);
    const run = await runInTemp(scenario, {
      afterSeed: async ({ topology }) => {
        const dataDirs = [...topology.patroni!.members.values()].map((m) => m.node.dataDir);
        const runId = path.basename(path.dirname(path.dirname(dataDirs[0])));
        seen = { runId, processes: processesOf(runId), dataDirs, existed: dataDirs.every((d) => existsSync(path.join(d, 'PG_VERSION'))) };
        throw new Error('the test stops this run after the seed');
      },
    });
    expect(seen).toBeDefined();
    // the whole cluster was running: three agents, their servers, etcd
    expect(seen!.processes.filter((p) => /patroni\.yml/.test(p))).toHaveLength(3);
    expect(seen!.processes.some((p) => /etcd/.test(p) && /--data-dir/.test(p))).toBe(true);
    expect(seen!.existed).toBe(true);
    expect(run.results.error?.message).toMatch(/the test stops this run after the seed/);
    expect(run.exitCode).not.toBe(0);
    expect(run.results.runId).toBe(seen!.runId);
    expect(leftovers(seen!.runId)).toEqual([]);
    expect(seen!.dataDirs.filter((d) => existsSync(d))).toEqual([]);
  });
});
