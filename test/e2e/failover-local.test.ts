// Unplanned failover on real servers, through the bundled scenarios CI must run: with an
// asynchronous standby behind a slow link, killing the primary loses acknowledged writes and
// pgdrill says so (exit 1); with a synchronous standby the same kill loses none (exit 0).

import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mountsLabelled } from '../../harness/runtime/local/disk-volume.js';
import { loadScenarioFile } from '../../harness/scenario/load-scenario.js';
import type { Results } from '../../harness/results/results.js';
import { expectEveryOpAccounted, leftovers, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

const root = path.resolve(import.meta.dirname, '../..');
const bundled = (name: string) => loadScenarioFile(path.join(root, 'scenarios', `${name}.yaml`));

afterAll(removeRunFolders);

function stepsOf(results: Results) {
  return results.cutover?.steps.map((s) => [s.name, s.ok]);
}

const FAILOVER_STEPS = [
  ['detect-failure', true],
  ['choose-standby', true],
  ['promote', true],
  ['repoint-endpoint', true],
  ['fence-old-primary', true],
  ['fence-verified', true],
];

function expectTimings(results: Results) {
  const failover = results.events.find((e) => e.kind === 'failover')!;
  expect(failover).toMatchObject({ from: 'primary', to: 'replica' });
  // 3 failed checks 200 ms apart: detected within a second of the kill
  expect(failover.detectMs as number).toBeGreaterThanOrEqual(400);
  expect(failover.detectMs as number).toBeLessThan(1500);
  expect(failover.promoteMs as number).toBeLessThan(5000);
  const kill = results.events.find((e) => e.kind === 'fault-start' && e.fault === 'kill')!;
  const detect = results.cutover!.steps.find((s) => s.name === 'detect-failure')!;
  // the failure began when the kill was sent (its event is recorded once the process is gone)
  expect(detect.startMs).toBe(kill.t - (kill.injectMs as number));
  // clients were down from the kill until the endpoint pointed at the promoted standby
  expect(results.downtime.writes.longestMs).toBeGreaterThan(failover.detectMs as number);
  expect(results.downtime.writes.longestMs).toBeLessThan(5000);
}

describe('failover', () => {
  it('async-failover-loses-writes: reports the acknowledged writes the promoted standby never got, and exits 1', async () => {
    const run = await runInTemp(await bundled('async-failover-loses-writes'));
    const { results } = run;
    expect(results.error).toBeNull();
    expect(stepsOf(results)).toEqual(FAILOVER_STEPS);
    expectTimings(results);
    expect(results.integrity!.lostWrites).toBeGreaterThan(0);
    expect(results.integrity!.lost.length).toBeGreaterThan(0);
    expect(results.integrity!.lost[0].found).toBeTruthy();
    expect(results.thresholds.find((t) => t.name === 'lostWrites')).toMatchObject({ pass: false });
    expect(results.verdict).toBe('fail');
    expect(run.exitCode).toBe(1);
    // the old primary restarted read-only: nothing it holds counts, the ledger check is on the new one
    expect(results.integrity!.target).toBeNull();
    expectEveryOpAccounted(run);
    expect(leftovers(results.runId)).toEqual([]);
    expect(mountsLabelled(`pgdrill-${results.runId}`)).toEqual([]);
  });

  it('sync-failover: the same kill with a synchronous standby loses no acknowledged write, and exits 0', async () => {
    const run = await runInTemp(await bundled('sync-failover'));
    const { results } = run;
    expect(results.error).toBeNull();
    expect(stepsOf(results)).toEqual(FAILOVER_STEPS);
    expectTimings(results);
    expect(results.integrity!.acknowledgedWrites).toBeGreaterThan(1000);
    expect(results.integrity!.lostWrites).toBe(0);
    expect(results.verdict).toBe('pass');
    expect(run.exitCode).toBe(0);
    expect(leftovers(results.runId)).toEqual([]);
  });

  it('a paused primary is failed over too and fenced once it wakes up, but the statements queued on it commit first: split brain', async () => {
    const run = await runInTemp(
      scenarioFrom(`
name: failover-pause
duration: 10s
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary }
strategy: { kind: failover, from: primary, to: replica }
seed: { users: 300, products: 100, orders: 600 }
workload:
  writes: { rate: 100, connections: 10, timeout: 1s }
  probe: { interval: 20ms }
timeline:
  - at: 3s
    fault: { kind: pause, node: primary, for: 3s }
thresholds:
  lostWrites: "== 0"
`),
    );
    const { results } = run;
    expect(results.error).toBeNull();
    expect(stepsOf(results)).toEqual(FAILOVER_STEPS);
    const fence = results.cutover!.steps.find((s) => s.name === 'fence-old-primary')!;
    expect(fence.detail).toContain('unreachable');
    // the fence went on when the pause ended, not before
    const resumed = results.events.find((e) => e.kind === 'fault-end' && e.fault === 'pause')!;
    const verified = results.cutover!.steps.find((s) => s.name === 'fence-verified')!;
    expect(verified.startMs).toBeGreaterThanOrEqual(resumed.t - 300);
    expect(verified.detail).toContain('refused (25006)');
    expect(results.integrity!.lostWrites).toBe(0);
    // a zombie primary: on SIGCONT its backends run the statements that reached their sockets
    // while it was stopped, before any fence can act; they commit after the promotion, on a
    // timeline nobody follows. No client saw them acknowledged, and the old primary diverged.
    expect(results.integrity!.writesAfterPromotion).toBeGreaterThan(0);
    expect(results.checks.find((c) => c.name === 'split brain')).toMatchObject({ valid: false, detail: expect.stringContaining('by their commit timestamps') });
    expect(results.checks.filter((c) => c.valid !== true).map((c) => c.name)).toEqual(['split brain']);
    expect(run.exitCode).toBe(1);
    expect(leftovers(results.runId)).toEqual([]);
  });
});
