// Every fault kind on the local runtime against real PostgreSQL (the shared cases of
// support/fault-cases.ts, which faults-docker.test.ts runs on containers): each one is recorded
// with its start and end, checks that it took effect, is healed; and after the run no proxy
// port, paused or stray server process, or filled tmpfs remains. Also a hidden pause's
// downtime and the bundled pause-primary and replication-latency scenarios.

import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Results } from '../../harness/results/results.js';
import { FAULT_CASES, faultRecords } from './support/fault-cases.js';
import { mountsLabelled } from '../../harness/runtime/local/disk-volume.js';
import { loadScenarioFile } from '../../harness/scenario/load-scenario.js';
import { leftovers, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

const root = path.resolve(import.meta.dirname, '../..');

afterAll(removeRunFolders);

function refused(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** What a run must not leave: server processes (paused or not), its folder, its tmpfs, its proxy ports. */
async function expectNothingLeft(results: Results) {
  expect(leftovers(results.runId)).toEqual([]);
  expect(mountsLabelled(`pgdrill-${results.runId}`)).toEqual([]);
  const ports = [
    ...results.events.filter((e) => e.kind === 'endpoint-ready').map((e) => String(e.address)),
    ...results.events.filter((e) => e.kind === 'node-ready' && e.via).map((e) => String(e.via)),
  ];
  expect(ports.length).toBeGreaterThan(0);
  for (const address of ports) expect(await refused(address), `${address} still accepts connections`).toBe(true);
}

// the same cases, with the same assertions, as faults-docker.test.ts
describe('faults on the local runtime (the shared fault cases)', () => {
  for (const c of FAULT_CASES) {
    it(c.name, async () => {
      const run = await runInTemp(scenarioFrom(c.yaml({ runtime: 'local', version: 17 })));
      c.expect(run);
      await expectNothingLeft(run.results);
    });
  }
});

describe('downtime of a hidden pause', () => {
  it("closes when the server serves again, not when pgdrill's own queue has drained", async () => {
    // 200 writes/s on 6 connections with the default 5 s timeout: during a 1.5 s SIGSTOP the
    // ops wait in pgdrill's scheduler, start after the resume and finish late; the window must
    // still end when the server came back (before the fix: 150-250 ms late)
    const run = await runInTemp(
      scenarioFrom(`
name: hidden-pause
duration: 7s
nodes:
  primary: { version: 17 }
seed: { users: 200, products: 100, orders: 400 }
workload:
  writes: { rate: 200, connections: 6 }
  probe: { interval: 20ms, timeout: 5s }
timeline:
  - at: 2500ms
    fault: { kind: pause, node: primary, for: 1500ms }
`),
    );
    const { results } = run;
    const [fault] = faultRecords(results);
    const pauseMs = fault.end!.t - (fault.start.t - (fault.start.injectMs as number));
    expect(results.downtime.writes.windows).toHaveLength(1);
    expect(results.downtime.writes.longestMs).toBeGreaterThan(pauseMs - 60);
    expect(results.downtime.writes.longestMs).toBeLessThan(pauseMs + 120);
    expect(run.exitCode).toBe(0);
    await expectNothingLeft(results);
  });
});

describe('bundled fault scenarios', () => {
  it('pause-primary: the server stops taking writes for the length of the pause, and clients see it as downtime', async () => {
    const run = await runInTemp(await loadScenarioFile(path.join(root, 'scenarios/pause-primary.yaml')));
    const { results } = run;
    expect(results.error).toBeNull();
    const [fault] = faultRecords(results);
    expect(fault.check?.ok).toBe(true);
    // the pause as it happened: from the first SIGSTOP to the SIGCONT
    const pauseMs = fault.end!.t - (fault.start.t - (fault.start.injectMs as number));
    // by the server's clock, committed probe writes stop for the pause and no longer
    expect(Math.abs(results.downtime.serverWriteGapMs! - pauseMs)).toBeLessThan(150);
    // clients see the whole pause as write downtime; with a 100 ms timeout their connections
    // were destroyed, and the reconnects right after the resume fail too for a few hundred ms:
    // outages within the 1 s merge gap are one
    expect(results.downtime.writes.longestMs).toBeGreaterThan(pauseMs - 50);
    expect(results.downtime.writes.longestMs).toBeLessThan(pauseMs + 600);
    expect(results.integrity?.lostWrites).toBe(0);
    expect(run.exitCode).toBe(0);
    await expectNothingLeft(results);
  });

  it('replication-latency: replica lag grows to the added delay during the fault and drains after it', async () => {
    const run = await runInTemp(await loadScenarioFile(path.join(root, 'scenarios/replication-latency.yaml')));
    const { results } = run;
    expect(results.error).toBeNull();
    const [fault] = faultRecords(results);
    expect(fault.check?.ok, String(fault.check?.detail)).toBe(true);
    const during = results.lag.samples.filter((s) => s.t > fault.start.t + 1000 && s.t < fault.end!.t);
    const after = results.lag.samples.filter((s) => s.t > fault.end!.t + 1500);
    expect(during.length).toBeGreaterThan(5);
    expect(after.length).toBeGreaterThan(2);
    const lagDuring = Math.max(...during.map((s) => s.writeLagMs ?? 0));
    expect(lagDuring).toBeGreaterThan(250);
    expect(Math.max(...during.map((s) => s.replayBytes ?? 0))).toBeGreaterThan(1000);
    // drained: the last samples are back near zero
    for (const s of after) expect(s.writeLagMs ?? 0).toBeLessThan(100);
    expect(results.integrity?.tables.every((t) => t.match)).toBe(true);
    expect(run.exitCode).toBe(0);
    await expectNothingLeft(results);
  });
});
