// Endpoint kind discovery: no middlebox, each client finds the read-write node itself (like
// libpq target_session_attrs=read-write) through a client link per node. A synchronous failover
// and a streaming cutover with latency on every client link both pass with 0 lost writes; the
// endpoint-follows step times how soon a lookup found the new primary.

import { afterAll, describe, expect, it } from 'vitest';
import { cutoverStep as step, expectPassedWithNothingLost, smallLoad, stepNames } from './support/endpoint-runs.js';
import { expectCutoverDuringLoad, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

afterAll(removeRunFolders);

const NODES = `
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary, synchronous: true }
endpoint: { kind: discovery }
${smallLoad()}`;

describe('endpoint discovery', () => {
  it('fails over with no middlebox: clients find the promoted standby themselves, 0 lost writes', async () => {
    const run = await runInTemp(
      scenarioFrom(`
name: discovery-failover
duration: 9s
strategy: { kind: failover, from: primary, to: replica, detection: { interval: 200ms, failures: 3 } }
timeline:
  - at: 3s
    fault: { kind: kill, node: primary, restartAfter: 3s }
${NODES}`),
    );
    const r = run.results;
    expectPassedWithNothingLost(run);
    expect(r.endpoint?.kind).toBe('discovery');
    // fence-verified follows when the old primary came back before the load ended
    expect(stepNames(r).slice(0, 6)).toEqual(['detect-failure', 'choose-standby', 'promote', 'repoint-endpoint', 'endpoint-follows', 'fence-old-primary']);
    expect(stepNames(r).slice(6)).toEqual(stepNames(r).length > 6 ? ['fence-verified'] : []);
    expect(step(r, 'endpoint-follows').detail).toMatch(/^a lookup over primary, replica finds replica/);
    // writes came back: the downtime window closed
    expect(r.downtime.writes.windows.every((w) => !w.openAtEnd)).toBe(true);
  });

  it('runs a streaming cutover with latency on every client link: old primary read-only, clients look again and land on the new one', async () => {
    const run = await runInTemp(
      scenarioFrom(`
name: discovery-cutover
duration: 8s
strategy: { kind: streaming, from: primary, to: replica }
timeline:
  - at: 1s
    fault: { kind: latency, link: client, delay: 10ms, for: 5s }
  - at: 3s
    cutover: {}
${NODES}`),
    );
    const r = run.results;
    expectPassedWithNothingLost(run);
    expectCutoverDuringLoad(run);
    // one check per node's client link, each slowed
    const check = r.events.find((e) => e.kind === 'fault-check' && e.fault === 'latency');
    expect(check && 'detail' in check ? check.detail : '').toMatch(/through the endpoint .*; connect \+ SELECT 1 through the endpoint/);
    expect(step(r, 'endpoint-follows').ok).toBe(true);
    // sessions left on the read-only old primary dropped and looked again
    expect(r.load.writes.errors['25006 read-only'] ?? 0).toBeLessThan(50);
    expect(r.integrity!.tables.every((t) => t.match)).toBe(true);
  });
});
