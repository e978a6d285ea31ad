// Endpoint kind haproxy on Debian's real HAProxy: reads through the standby frontend and a
// client link reset during a streaming cutover, the blue/green target of a dump-restore kept in
// maintenance until its cutover enables it, and Ctrl-C leaving no HAProxy (nor anything else)
// running. The synchronous failover behind HAProxy is the bundled failover-haproxy.

import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Results } from '../../harness/results/results.js';
import { cutoverStep as step, expectPassedWithNothingLost, PRIMARY_AND_STANDBY, smallLoad } from './support/endpoint-runs.js';
import { expectCutoverDuringLoad, leftovers, removeRunFolders, runInTemp, scenarioFrom, startCliRun } from './support/runs.js';
import { tempDir } from '../support/temp-dir.js';

afterAll(removeRunFolders);

const LOAD = smallLoad({ reads: true });
const statesOf = (r: Results, server: string) => r.endpoint!.serverStates.filter((s) => s.backend === 'pgdrill_write' && s.server === server).map((s) => s.state);

describe('endpoint haproxy', () => {
  it('sends reads to the standby until the cutover, survives a reset of every client session, and times how soon HAProxy noticed the promotion', async () => {
    const run = await runInTemp(
      scenarioFrom(`
name: haproxy-streaming
duration: 8s
${PRIMARY_AND_STANDBY}
strategy: { kind: streaming, from: primary, to: replica }
endpoint: { kind: haproxy, check: { inter: 100ms, fall: 2, rise: 1 }, reads: standbys }
timeline:
  - at: 2s
    fault: { kind: reset-peer, link: client }
  - at: 4s
    cutover: {}
${LOAD}`),
    );
    const r = run.results;
    expectPassedWithNothingLost(run);
    expectCutoverDuringLoad(run);
    expect(r.endpoint?.origin).toMatch(/^HAProxy 2\.\d+.*inter 100ms fall 2 rise 1/);
    const follows = step(r, 'endpoint-follows');
    expect(follows.detail).toMatch(/^HAProxy marked replica UP in pgdrill_write \(check L7OK\/200/);
    // rise 1 x inter 100ms, within a few checks on a busy machine; timed from the promotion
    expect(follows.startMs).toBeGreaterThanOrEqual(step(r, 'promote').startMs);
    expect(follows.startMs).toBeLessThanOrEqual(step(r, 'promote').endMs);
    expect(follows.endMs - follows.startMs).toBeLessThan(3000);
    // the old primary was marked down by its checks after the freeze made it read-only; the
    // standby was down from its first checks (the first poll may already see it so) until promoted
    expect(statesOf(r, 'primary')).toEqual(['UP', 'DOWN']);
    expect(statesOf(r, 'replica').slice(-2)).toEqual(['DOWN', 'UP']);
    expect(r.events.find((e) => e.kind === 'fault-check' && e.fault === 'reset-peer')).toBeDefined();
    // before the cutover the read frontend balanced onto the standby (HAProxy's own log says so)
    const log = readFileSync(path.join(run.folder, 'haproxy.log'), 'utf8');
    expect(log).toMatch(/pgdrill_reads pgdrill_read\/replica /);
    expect(r.load.reads.ok).toBeGreaterThan(0);
  });

  it('keeps the target of a dump-restore out of the write backend until the cutover takes it out of maintenance', async () => {
    const run = await runInTemp(
      scenarioFrom(`
name: haproxy-dump-restore
duration: 8s
nodes:
  blue: { version: 15 }
  green: { version: 17 }
strategy: { kind: dump-restore, from: blue, to: green }
endpoint: { kind: haproxy, check: { inter: 100ms, fall: 2, rise: 1 } }
timeline:
  - at: 3s
    cutover: {}
${LOAD}`),
    );
    const r = run.results;
    expectPassedWithNothingLost(run);
    expectCutoverDuringLoad(run);
    // green is writable all along: a health check alone would have sent writes to both
    expect(statesOf(r, 'green')[0]).toBe('MAINT');
    expect(statesOf(r, 'green')).toContain('UP');
    const firstGreenUp = r.endpoint!.serverStates.find((s) => s.backend === 'pgdrill_write' && s.server === 'green' && s.state === 'UP')!;
    expect(firstGreenUp.t).toBeGreaterThanOrEqual(step(r, 'repoint-endpoint').startMs);
    expect(step(r, 'repoint-endpoint').detail).toMatch(/^enable server pgdrill_write\/green/);
  });

  it('Ctrl-C during the load stops HAProxy, its health agent and the servers, and exits 130', async () => {
    const tmp = tempDir('haproxy-int');
    const file = path.join(tmp, 'scenario.yaml');
    const out = path.join(tmp, 'out');
    await writeFile(
      file,
      `name: haproxy-interrupted
duration: 60s
${PRIMARY_AND_STANDBY}
endpoint: { kind: haproxy, check: { inter: 200ms, fall: 2, rise: 1 } }
${LOAD}`,
    );
    const { child, runId, exited } = await startCliRun(['run', file, '--out', out], tmp, out);
    await new Promise((r) => setTimeout(r, 1500));
    expect(leftovers(runId).some((p) => p.includes('haproxy'))).toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(leftovers(runId)).toEqual([]);
    expect(existsSync(path.join(out, 'haproxy.log'))).toBe(true);
  });
});
