// Every fault kind on the local runtime against real PostgreSQL: each one is recorded with its
// start and end, checks that it took effect, is healed; and after the run no proxy port,
// paused or stray server process, or filled tmpfs remains. Also the bundled pause-primary and
// replication-latency scenarios and what they must show.

import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Results } from '../../harness/results/results.js';
import { mountsLabelled } from '../../harness/runtime/local/disk-volume.js';
import { loadScenarioFile } from '../../harness/scenario/load-scenario.js';
import { leftovers, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

const root = path.resolve(import.meta.dirname, '../..');

afterAll(removeRunFolders);

/** fault-start / fault-check / fault-end of each fault, in timeline order. */
function faultRecords(results: Results) {
  const starts = results.events.filter((e) => e.kind === 'fault-start');
  return starts.map((start) => {
    const same = (e: (typeof starts)[number]) => e.fault === start.fault && e.node === start.node && e.link === start.link && e.t >= start.t;
    return {
      label: `${String(start.fault)} ${String(start.node ?? start.link)}${start.mode ? ` (${String(start.mode)})` : ''}`,
      start,
      check: results.events.find((e) => (e.kind === 'fault-check' || e.kind === 'fault-check-failed') && same(e)),
      end: results.events.find((e) => e.kind === 'fault-end' && same(e)),
    };
  });
}

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

const everyFault = `
name: faults-local
duration: 18s
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary }
seed: { users: 300, products: 100, orders: 600 }
workload:
  writes: { rate: 100, connections: 8 }
  probe: { interval: 50ms }
monitor: { interval: 250ms }
timeline:
  - at: 1s
    fault: { kind: latency, link: client, delay: 100ms, jitter: 10ms, for: 2s }
  - at: 1s
    fault: { kind: bandwidth, link: replication, bytesPerSecond: 16kB, direction: downstream, for: 2500ms }
  - at: 4s
    fault: { kind: partition, link: replica, mode: blackhole, for: 2s }
  - at: 4s
    fault: { kind: partition, link: client, mode: reject, for: 1s }
  - at: 6500ms
    fault: { kind: reset-peer, link: replication }
  - at: 7s
    fault: { kind: reset-peer, link: client, direction: downstream, for: 500ms }
  - at: 8s
    fault: { kind: pause, node: replica, for: 1s }
  - at: 10s
    fault: { kind: stop, node: replica, stopMode: fast, for: 1s }
  - at: 12s
    fault: { kind: restart, node: replica, stopMode: immediate }
  - at: 14500ms
    fault: { kind: kill, node: replica, restartAfter: 1500ms }
thresholds:
  lostWrites: "== 0"
  rowCountMismatches: "== 0"
`;

describe('faults on the local runtime', () => {
  it('injects, checks and heals every node and link fault, and leaves nothing behind', async () => {
    const run = await runInTemp(scenarioFrom(everyFault));
    const { results } = run;
    expect(results.error).toBeNull();
    const records = faultRecords(results);
    expect(records.map((r) => r.label)).toEqual([
      'latency client',
      'bandwidth replication',
      'partition replica (blackhole)',
      'partition client (reject)',
      'reset-peer replication',
      'reset-peer client',
      'pause replica',
      'stop replica',
      'restart replica',
      'kill replica',
    ]);
    for (const r of records) {
      expect(r.check, `${r.label} has no check`).toBeDefined();
      expect(r.check!.ok, `${r.label}: ${String(r.check!.detail)}`).toBe(true);
      expect(r.end, `${r.label} was never healed`).toBeDefined();
      // the recorded start follows the planned time closely (kill and stop wait for the processes to exit)
      expect(r.start.t - (r.start.plannedMs as number)).toBeLessThan(1000);
    }
    const byLabel = Object.fromEntries(records.map((r) => [r.label, r]));
    // `for` is honoured: the recorded window is the planned length
    expect(byLabel['pause replica'].end!.durationMs).toBeGreaterThanOrEqual(990);
    expect(byLabel['pause replica'].end!.durationMs).toBeLessThan(1300);
    expect(byLabel['partition replica (blackhole)'].check!.observed).toMatchObject({ deliveredBytes: 0 });
    expect(String(byLabel['partition replica (blackhole)'].check!.detail)).toContain('stayed at');
    expect(byLabel['kill replica'].end).toMatchObject({ restarted: true });
    // the clients saw the client-link faults; the replica's faults cost them nothing lasting
    expect(results.load.writes.ok).toBeGreaterThan(1500);
    // after every fault the replica caught up and holds exactly the primary's data
    expect(results.integrity?.target).toBe('replica');
    expect(results.integrity?.tables.every((t) => t.match)).toBe(true);
    expect(results.integrity?.lostWrites).toBe(0);
    expect(run.exitCode).toBe(0);
    await expectNothingLeft(results);
  });

  it('fills the primary\'s own tmpfs: writes are refused with 53100, then flow again once healed', async () => {
    const run = await runInTemp(
      scenarioFrom(`
name: disk-full
duration: 8s
nodes: { primary: { version: 17 } }
seed: { users: 300, products: 100, orders: 600 }
workload:
  writes: { rate: 100, connections: 5, mix: { insert: 100 } }
  probe: { interval: 50ms }
timeline:
  - at: 2s
    fault: { kind: disk-full, node: primary, for: 2s }
thresholds:
  lostWrites: "== 0"
`),
    );
    const { results } = run;
    expect(results.error).toBeNull();
    expect(results.events.find((e) => e.kind === 'node-volume')).toMatchObject({ node: 'primary', filesystem: 'tmpfs' });
    const [fault] = faultRecords(results);
    expect(fault.check, String(fault.check?.detail)).toMatchObject({ ok: true, observed: { freeBytes: 0, sqlstate: '53100' } });
    expect(fault.end).toBeDefined();
    // clients met the full disk as errors, and wrote again after the heal
    expect(Object.entries(results.load.writes.errors).some(([k, n]) => k.startsWith('53100') && n > 0)).toBe(true);
    const after = results.events.find((e) => e.kind === 'fault-end')!.t + 500;
    const load = results.phases.find((p) => p.name === 'load')!;
    const seconds = results.load.writes.perSecond.filter((b) => load.startMs + b.second * 1000 > after && b.second < 7);
    expect(seconds.length).toBeGreaterThan(0);
    for (const b of seconds) expect(b.ok).toBeGreaterThan(80);
    expect(results.integrity?.lostWrites).toBe(0);
    await expectNothingLeft(results);
  });
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
