// The fault cases the e2e suite runs on every runtime: one list, the same timeline and the same
// assertions on local processes and on containers (faults-local.test.ts, faults-docker.test.ts).
// Each case is one run; what differs per runtime is only where the servers come from (a major
// and, on docker, an image) and how the files check that nothing was left behind.

import { expect } from 'vitest';
import type { Results } from '../../../harness/results/results.js';
import type { RunResult } from '../../../harness/run/run-scenario.js';

/** Where a case's nodes come from on one runtime. */
export interface NodeSource {
  runtime: 'local' | 'docker';
  version: number;
  image?: string;
}

export interface FaultCase {
  name: string;
  /** the scenario, for this runtime */
  yaml: (source: NodeSource) => string;
  /** what the run must show, whatever the runtime */
  expect: (run: RunResult) => void;
}

/** fault-start / fault-check / fault-end of each fault, in timeline order. */
export function faultRecords(results: Results) {
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

const node = (s: NodeSource, extra = '') => `{ version: ${s.version}${s.image ? `, image: "${s.image}"` : ''}${extra} }`;

export const FAULT_CASES: FaultCase[] = [
  {
    name: 'every node and link fault on a standby and the client link',
    yaml: (s) => `
name: faults-${s.runtime}
runtime: ${s.runtime}
duration: 18s
nodes:
  primary: ${node(s)}
  replica: ${node(s, ', replicaOf: primary')}
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
`,
    expect: ({ results, exitCode }) => {
      expect(results.error).toBeNull();
      const records = faultRecords(results);
      // faults due at the same time (two at 1 s, two at 4 s) start concurrently, in either order
      expect(records.map((r) => r.label).sort()).toEqual([
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
      ].sort());
      for (const r of records) {
        expect(r.check, `${r.label} has no check`).toBeDefined();
        expect(r.check!.ok, `${r.label}: ${String(r.check!.detail)}`).toBe(true);
        expect(r.end, `${r.label} was never healed`).toBeDefined();
        // injecting began when the timeline said; fault-start is recorded once it took (a kill or
        // a stop waits for the server to exit: in a container, through docker exec)
        const began = r.start.t - (r.start.injectMs as number);
        expect(began - (r.start.plannedMs as number), `${r.label} began late`).toBeLessThan(500);
        expect(r.start.injectMs as number, `${r.label} took long to inject`).toBeLessThan(5000);
      }
      const byLabel = Object.fromEntries(records.map((r) => [r.label, r]));
      // `for` is honoured: the recorded window is the planned length
      expect(byLabel['pause replica'].end!.durationMs).toBeGreaterThanOrEqual(990);
      expect(byLabel['pause replica'].end!.durationMs).toBeLessThan(1300);
      // the standby's stream crossed pgdrill's link proxy on this runtime too: the blackhole held every byte
      expect(byLabel['partition replica (blackhole)'].check!.observed).toMatchObject({ deliveredBytes: 0 });
      expect(String(byLabel['partition replica (blackhole)'].check!.detail)).toContain('stayed at');
      expect(byLabel['kill replica'].end).toMatchObject({ restarted: true });
      // the clients saw the client-link faults; the replica's faults cost them nothing lasting
      expect(results.load.writes.ok).toBeGreaterThan(1500);
      // after every fault the replica caught up and holds exactly the primary's data
      expect(results.integrity?.target).toBe('replica');
      expect(results.integrity?.tables.every((t) => t.match)).toBe(true);
      expect(results.integrity?.lostWrites).toBe(0);
      expect(exitCode).toBe(0);
    },
  },
  {
    name: "disk-full on the primary's own filesystem: writes refused with 53100, then flowing again once healed",
    yaml: (s) => `
name: disk-full-${s.runtime}
runtime: ${s.runtime}
duration: 8s
nodes: { primary: ${node(s)} }
seed: { users: 300, products: 100, orders: 600 }
workload:
  writes: { rate: 100, connections: 5, mix: { insert: 100 } }
  probe: { interval: 50ms }
timeline:
  - at: 2s
    fault: { kind: disk-full, node: primary, for: 2s }
thresholds:
  lostWrites: "== 0"
`,
    expect: ({ results }) => {
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
    },
  },
];
