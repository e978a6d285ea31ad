// Endpoint kind pgbouncer on Debian's real PgBouncer: a logical upgrade behind it (the target
// gets the role's SCRAM secret, writes wait through the PAUSE), session pooling where PAUSE
// cannot complete and RESUME rolls the cutover back, and an unplanned failover behind it with a
// latency fault on the client link (re-point, RELOAD, no server connection left on the old primary).
// The streaming cutover itself is the bundled streaming-cutover-pgbouncer (bundled-scenarios).

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cutoverStep as step, expectPassedWithNothingLost, PRIMARY_AND_STANDBY, smallLoad, stepNames } from './support/endpoint-runs.js';
import { expectCutoverDuringLoad, leftovers, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

afterAll(removeRunFolders);

const LOAD = smallLoad();

describe('endpoint pgbouncer', () => {
  it('runs a logical 15 -> 17 upgrade behind PgBouncer: PAUSE, RELOAD onto the target, RESUME, and no write fails', async () => {
    const run = await runInTemp(
      scenarioFrom(`
name: pgbouncer-logical
duration: 10s
nodes:
  blue: { version: 15 }
  green: { version: 17 }
# a subscriber confirms its flush position about once a second: a 1 kB gate would wait for a lull
strategy: { kind: logical, from: blue, to: green, syncGate: { lagBytes: 1MB, lagSeconds: 2 } }
endpoint: { kind: pgbouncer }
timeline:
  - at: 1s
    cutover: { dryRun: true }
  - at: 5s
    cutover: {}
${LOAD}`),
    );
    const r = run.results;
    expectPassedWithNothingLost(run);
    expectCutoverDuringLoad(run);
    expect(r.endpoint).toMatchObject({ kind: 'pgbouncer', origin: expect.stringMatching(/^PgBouncer 1\.\d+.*pool_mode transaction/) });
    expect(stepNames(r)).toEqual(expect.arrayContaining(['pause-endpoint', 'freeze-writes', 'repoint-endpoint', 'drain-old-primary', 'resume']));
    expect(stepNames(r).indexOf('pause-endpoint')).toBe(stepNames(r).indexOf('freeze-writes') - 1);
    // PgBouncer logs into green with the client's SCRAM proof: green was given blue's secret
    expect(step(r, 'repoint-endpoint').detail).toMatch(/blue -> green .*RELOAD/);
    // clients were held in PgBouncer, and went on to green
    expect(step(r, 'resume').detail).toMatch(/^RESUME: [1-9]\d* clients? waiting went on to green/);
    expect(r.load.writes.failed + r.load.writes.indeterminate).toBe(0);
    expect(existsSync(path.join(run.folder, 'pgbouncer.log'))).toBe(true);
  });

  it('under session pooling PAUSE waits for clients that never leave: on its timeout RESUME rolls the cutover back, nothing is lost', async () => {
    const run = await runInTemp(
      scenarioFrom(`
name: pgbouncer-session
duration: 7s
${PRIMARY_AND_STANDBY}
strategy: { kind: streaming, from: primary, to: replica }
endpoint: { kind: pgbouncer, pool: session, pauseTimeout: 1s }
timeline:
  - at: 3s
    cutover: {}
${LOAD}`),
    );
    const r = run.results;
    expect(r.error).toBeNull();
    expect(run.exitCode).toBe(1);
    expectCutoverDuringLoad(run);
    expect(r.cutover).toMatchObject({ ok: false, rolledBack: true });
    expect(stepNames(r)).toEqual(['prerequisites', 'wait-for-sync', 'pause-endpoint FAILED', 'rollback']);
    expect(step(r, 'pause-endpoint').detail).toMatch(/PAUSE did not complete within 1000ms: server connections still in use .*pool_mode session/);
    expect(step(r, 'pause-endpoint').endMs - step(r, 'pause-endpoint').startMs).toBeGreaterThanOrEqual(1000);
    expect(step(r, 'rollback').detail).toContain('RESUME');
    expect(r.checks.find((c) => c.name === 'cutover')?.valid).toBe(false);
    // clients kept their sessions on the old primary, which never froze: writes went on
    expect(r.load.writes.failed + r.load.writes.indeterminate).toBe(0);
    expect(r.integrity!.lostWrites).toBe(0);
    expect(leftovers(r.runId)).toEqual([]);
  });

  it('fails over behind PgBouncer with the client link slowed: RELOAD onto the promoted standby, no server connection left on the dead primary', async () => {
    const run = await runInTemp(
      scenarioFrom(`
name: pgbouncer-failover
duration: 9s
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary, synchronous: true }
strategy: { kind: failover, from: primary, to: replica, detection: { interval: 200ms, failures: 3 } }
endpoint: { kind: pgbouncer }
timeline:
  - at: 1s
    fault: { kind: latency, link: client, delay: 20ms, for: 2s }
  - at: 4s
    fault: { kind: kill, node: primary, restartAfter: 2s }
${LOAD}`),
    );
    const r = run.results;
    expectPassedWithNothingLost(run);
    // fence-verified follows when the old primary came back before the load ended
    expect(stepNames(r).slice(0, 6)).toEqual(['detect-failure', 'choose-standby', 'promote', 'repoint-endpoint', 'drain-old-primary', 'fence-old-primary']);
    expect(stepNames(r).slice(6)).toEqual(stepNames(r).length > 6 ? ['fence-verified'] : []);
    expect(step(r, 'repoint-endpoint').detail).toMatch(/primary -> replica .*RELOAD/);
    expect(step(r, 'drain-old-primary').detail).toMatch(/^no server connection to primary/);
    // the latency fault acted between the clients and PgBouncer
    const check = r.events.find((e) => e.kind === 'fault-check' && e.fault === 'latency');
    expect(check, JSON.stringify(r.events.filter((e) => e.kind.startsWith('fault')))).toBeDefined();
    expect(readFileSync(path.join(run.folder, 'pgbouncer.log'), 'utf8')).toMatch(/RELOAD command issued/);
  });
});
