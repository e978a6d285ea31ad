// The single node -> Patroni migration on real Patroni and etcd (bundled single-to-patroni):
// the members start as a Patroni standby cluster of `legacy`, the cutover freezes legacy, waits
// for the final LSN, promotes the standby cluster through PATCH /config and fences legacy; and
// Ctrl-C in the middle of a Patroni run leaves no patroni, etcd or postgres process behind; nor
// does a kill -9 of pgdrill, once the run's reaper has done its work.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadScenarioFile } from '../../harness/scenario/load-scenario.js';
import { defaultRunsDir } from '../../harness/runtime/local/local-runtime.js';
import { expectCutoverDuringLoad, expectEveryOpAccounted, leftovers, processesOf, reaperOf, removeRunFolders, runInTemp, startCliRun } from './support/runs.js';
import { tempDir } from '../support/temp-dir.js';

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/harness/cli/main.js');
afterAll(removeRunFolders);

describe('single node -> Patroni', () => {
  it('single-to-patroni: exit 0, 0 lost, tables match, legacy fenced, the standby cluster promoted with no leader change', async () => {
    const run = await runInTemp(await loadScenarioFile(path.join(root, 'scenarios', 'single-to-patroni.yaml')));
    const r = run.results;
    expect(r.error).toBeNull();
    expect(r.checks.filter((c) => c.valid !== true)).toEqual([]);
    expect(run.exitCode).toBe(0);
    expectCutoverDuringLoad(run);
    expectEveryOpAccounted(run);
    const steps = r.cutover!.steps;
    expect(steps.every((s) => s.ok)).toBe(true);
    expect(steps.map((s) => s.name)).toEqual(expect.arrayContaining(['freeze-writes', 'final-lsn-check', 'promote', 'repoint-endpoint', 'endpoint-follows', 'fence-old-primary']));
    expect(steps.find((s) => s.name === 'final-lsn-check')!.detail).toMatch(/0 bytes behind/);
    expect(steps.find((s) => s.name === 'promote')!.detail).toMatch(/PATCH \/config \{standby_cluster: null\}/);
    expect(steps.find((s) => s.name === 'fence-old-primary')!.detail).toMatch(/^legacy read-only \(a write was refused with 25006\)/);
    expect(r.integrity!.lostWrites).toBe(0);
    expect(r.integrity!.rowCountMismatches).toBe(0);
    expect(r.integrity!.hashMismatches).toBe(0);
    // pg1 led the standby cluster and leads the promoted one
    const pg1 = r.patroni!.members.find((m) => m.name === 'pg1')!.roles.map((x) => x.role);
    expect(pg1[0]).toBe('standby_leader');
    expect(pg1.at(-1)).toBe('leader');
    expect(r.patroni!.leaderChanges).toEqual([]);
    expect(r.downtime.writes.openAtEnd).toBe(false);
    expect(leftovers(r.runId)).toEqual([]);
  });
});

describe('Ctrl-C', () => {
  it('during the load of a Patroni run stops every agent, etcd and PostgreSQL, and exits 130', async () => {
    const tmp = tempDir('patroni-int');
    const out = path.join(tmp, 'out');
    const { child, runId, exited } = await startCliRun(['run', 'patroni-switchover', '--out', out, '--set', 'duration=60s'], tmp, out);
    await new Promise((r) => setTimeout(r, 1500));
    // an empty id would match every process on the machine
    expect(runId).toMatch(/^patroni-switchover-/);
    const running = processesOf(runId);
    expect(running.filter((p) => /patroni\.yml/.test(p))).toHaveLength(3);
    expect(running.some((p) => /\/etcd /.test(p))).toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(leftovers(runId)).toEqual([]);
    // the record of the interrupted run is kept, with the agents' logs
    expect(existsSync(path.join(out, 'results.json'))).toBe(true);
    expect(existsSync(path.join(out, 'patroni-pg1.log'))).toBe(true);
  });
});

describe('kill -9 of pgdrill', () => {
  it("the run's reaper kills every Patroni agent, etcd and the servers Patroni started, and removes the run folder", async () => {
    const tmp = tempDir('patroni-reap');
    const out = path.join(tmp, 'out');
    const child = spawn(process.execPath, [cli, 'run', 'patroni-switchover', '--out', out, '--set', 'duration=60s'], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const events = path.join(out, 'events.jsonl');
    const deadline = Date.now() + 120_000;
    while (!(existsSync(events) && readFileSync(events, 'utf8').includes('"workload-start"'))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the load never started:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const runId = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')).runId as string;
    expect(runId).toMatch(/^patroni-switchover-/);
    const running = processesOf(runId);
    expect(running.filter((p) => /patroni\.yml/.test(p))).toHaveLength(3);
    expect(running.filter((p) => /postgres -D/.test(p))).toHaveLength(3);
    child.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();
    for (;;) {
      const left = [...leftovers(runId), ...reaperOf(out).map((pid) => `reaper: ${pid}`)];
      if (left.length === 0) break;
      if (Date.now() - killedAt > 15_000) throw new Error(`still there 15 s after the kill:\n${left.join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(existsSync(path.join(defaultRunsDir(), runId))).toBe(false);
  });
});
