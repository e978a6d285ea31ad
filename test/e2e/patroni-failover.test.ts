// Unplanned failover of a real Patroni cluster (Debian's patroni 3.0, etcd 3.4): the leader's
// host dies under load (its Patroni agent and PostgreSQL SIGKILLed together, ttl 10 s) and
// Patroni elects another member once the leader key expires. pgdrill times detection, election
// and the client write downtime from the kill; behind a slow replication link the failover loses
// acknowledged writes and the ledger says so; with synchronous_mode nothing acknowledged is lost.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Results } from '../../harness/results/results.js';
import { loadScenarioFile } from '../../harness/scenario/load-scenario.js';
import { expectEveryOpAccounted, leftovers, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

const root = path.resolve(import.meta.dirname, '../..');
const bundled = (name: string) => loadScenarioFile(path.join(root, 'scenarios', `${name}.yaml`));

afterAll(removeRunFolders);

/** The failover as pgdrill measured it: one change off pg1, timed from the kill and bounded by the ttl. */
function expectTimedFailover(r: Results) {
  expect(r.error).toBeNull();
  const kill = r.events.find((e) => e.kind === 'fault-start' && e.fault === 'kill' && e.node === 'pg1')!;
  expect(kill).toMatchObject({ host: true });
  expect(r.events.find((e) => e.kind === 'fault-check' && e.node === 'pg1')).toMatchObject({ ok: true });
  expect(r.patroni!.leaderChanges.length).toBeGreaterThanOrEqual(1);
  const change = r.patroni!.leaderChanges[0];
  expect(change.from).toBe('pg1');
  expect(['pg2', 'pg3']).toContain(change.to);
  expect(change.cause).toBe('kill pg1 (host)');
  expect(change.causeMs).toBe(kill.t - (kill.injectMs as number));
  // nobody may take the leader key before it expires: at most ttl (10 s) after the last refresh,
  // which was at most loop_wait (1 s) before the kill
  expect(change.detectedAfterMs!).toBeGreaterThan(7000);
  expect(change.detectedAfterMs!).toBeLessThan(13_000);
  expect(change.electedAfterMs!).toBeGreaterThanOrEqual(change.detectedAfterMs!);
  expect(change.electedAfterMs!).toBeLessThan(change.detectedAfterMs! + 5000);
  expect(change.servedAfterMs!).toBeGreaterThanOrEqual(change.electedAfterMs! - 500);
  // clients saw it: one long write outage from the kill until the new leader served, then recovered
  expect(r.downtime.writes.longestMs).toBeGreaterThan(7000);
  expect(r.downtime.writes.longestMs).toBeLessThan(20_000);
  expect(r.downtime.writes.openAtEnd).toBe(false);
  expect(r.checks.find((c) => c.name === 'leader changes')).toMatchObject({ valid: true });
  expect(leftovers(r.runId)).toEqual([]);
  return change;
}

describe('patroni failover', () => {
  it('patroni-failover: the leader host killed at ttl 10 s; detection, election and client downtime measured, the ledger counts any loss', async () => {
    const run = await runInTemp(await bundled('patroni-failover'));
    const r = run.results;
    expectTimedFailover(r);
    expectEveryOpAccounted(run);
    // asynchronous replication: the ledger says whether the kill cost acknowledged writes, and the verdict follows it
    expect(r.integrity!.lostWrites).toBeGreaterThanOrEqual(0);
    expect(r.integrity!.rowCountMismatches).toBe(0);
    expect(run.exitCode).toBe(r.integrity!.lostWrites > 0 ? 1 : 0);
    expect(r.checks.find((c) => c.name === 'write ledger')!.valid).toBe(r.integrity!.lostWrites === 0);
  });

  it('patroni-async-failover-loses-writes: with the WAL 300 ms behind, the failover loses acknowledged writes, the ledger names them, exit 1', async () => {
    const run = await runInTemp(await bundled('patroni-async-failover-loses-writes'));
    const r = run.results;
    expectTimedFailover(r);
    expectEveryOpAccounted(run);
    // the latency was seen on a replica's stream from the leader before the kill
    expect(r.events.find((e) => e.kind === 'fault-check' && e.fault === 'latency')).toMatchObject({ ok: true, link: 'replication' });
    expect(r.integrity!.lostWrites).toBeGreaterThan(0);
    expect(r.integrity!.lost.length).toBeGreaterThan(0);
    expect(r.checks.find((c) => c.name === 'write ledger')).toMatchObject({ valid: false });
    expect(r.verdict).toBe('fail');
    expect(run.exitCode).toBe(1);
  });

  it("a partition between the leader and etcd: it demotes itself after retry_timeout, another member leads once the key expires", async () => {
    const text = readFileSync(path.join(root, 'scenarios', 'patroni-failover.yaml'), 'utf8')
      .replace('duration: 20s', 'duration: 16s')
      .replace('fault: { kind: kill, node: pg1, host: true }', "fault: { kind: partition, link: 'etcd:pg1', for: 12s }");
    const run = await runInTemp(scenarioFrom(text));
    const r = run.results;
    expect(r.error).toBeNull();
    expect(r.events.find((e) => e.kind === 'fault-check' && e.link === 'etcd:pg1')).toMatchObject({ ok: true, detail: expect.stringMatching(/etcd's GET \/health through pg1's link: no answer/) });
    const change = r.patroni!.leaderChanges[0];
    expect(change).toMatchObject({ from: 'pg1', cause: 'partition etcd:pg1' });
    // the key is not renewed from the partition on: it expires within ttl
    expect(change.electedAfterMs!).toBeGreaterThan(7000);
    expect(change.electedAfterMs!).toBeLessThan(13_000);
    // writes stopped when pg1 demoted itself (it could not renew its key within retry_timeout), not at the partition
    const outage = r.downtime.writes.windows[0];
    expect(outage.startMs - change.causeMs!).toBeGreaterThan(2000);
    expect(outage.endMs).toBeGreaterThan(change.t - 500);
    expect(r.integrity!.lostWrites).toBe(0);
    expect(r.checks.filter((c) => c.valid !== true)).toEqual([]);
    expect(run.exitCode).toBe(0);
    expect(leftovers(r.runId)).toEqual([]);
  });

  it('patroni-sync-failover: with synchronous_mode the synchronous standby takes over and 0 acknowledged writes are lost', async () => {
    const run = await runInTemp(await bundled('patroni-sync-failover'));
    const r = run.results;
    const change = expectTimedFailover(r);
    expectEveryOpAccounted(run);
    // Patroni promoted the member it had made the synchronous standby
    const roles = r.patroni!.members.find((m) => m.name === change.to)!.roles.filter((x) => x.t < change.t).map((x) => x.role);
    expect(roles).toContain('sync_standby');
    expect(r.integrity!.lostWrites).toBe(0);
    expect(r.integrity!.rowCountMismatches).toBe(0);
    expect(r.checks.filter((c) => c.valid !== true)).toEqual([]);
    expect(run.exitCode).toBe(0);
  });
});
