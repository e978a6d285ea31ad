// The docker-specific faults on real containers: a pause is `docker pause` (the node stops
// answering, then answers again), a replication partition is `docker network disconnect` of
// the standby (its acknowledgements stop; it catches up once back). Both are checked, healed,
// and leave no container or network behind. Skips loudly when Docker is unusable.

import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerAvailability, skipBanner } from '../../harness/runtime/docker/availability.js';
import { LABEL } from '../../harness/runtime/docker/labels.js';
import { removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

const availability = await dockerAvailability(15);
if (!availability.available) {
  if (process.env.PGDRILL_REQUIRE_DOCKER === '1') throw new Error(`PGDRILL_REQUIRE_DOCKER=1 but Docker is not usable: ${availability.reason}`);
  console.error(skipBanner('docker fault tests (test/e2e/faults-docker.test.ts)', availability.reason!));
}

function labelled(kind: 'ps' | 'network', runId: string): string[] {
  const args = kind === 'ps' ? ['ps', '-a', '--format', '{{.Names}}'] : ['network', 'ls', '--format', '{{.Name}}'];
  const out = execFileSync('docker', [...args, '--filter', `label=${LABEL.runId}=${runId}`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim().length > 0);
}

afterAll(removeRunFolders);

describe.skipIf(!availability.available)(`faults on the docker runtime (${availability.image})`, () => {
  it('docker pause freezes the primary and a network disconnect partitions the standby; both are checked and healed', async () => {
    const image = availability.image!;
    const run = await runInTemp(
      scenarioFrom(`
name: faults-docker
runtime: docker
duration: 12s
nodes:
  primary: { version: 15, image: "${image}" }
  replica: { version: 15, image: "${image}", replicaOf: primary }
seed: { users: 300, products: 100, orders: 600 }
workload:
  writes: { rate: 100, connections: 8 }
  probe: { interval: 20ms, timeout: 5s }
timeline:
  - at: 2s
    fault: { kind: pause, node: primary, for: 1500ms }
  - at: 5s
    fault: { kind: partition, link: replica, for: 2s }
thresholds:
  lostWrites: "== 0"
`),
      { runtime: 'docker' },
    );
    const { results } = run;
    expect(results.events.filter((e) => e.kind === 'error')).toEqual([]);
    const checks = results.events.filter((e) => e.kind === 'fault-check' || e.kind === 'fault-check-failed');
    expect(checks.map((c) => [c.fault, c.ok])).toEqual([
      ['pause', true],
      ['partition', true],
    ]);
    expect(String(checks[0].detail)).toContain('no answer within');
    expect(String(checks[1].detail)).toContain('off the network');
    expect(results.events.find((e) => e.kind === 'fault-start' && e.fault === 'partition')).toMatchObject({ mechanism: 'network disconnect' });
    const ends = results.events.filter((e) => e.kind === 'fault-end');
    expect(ends.map((e) => e.fault)).toEqual(['pause', 'partition']);
    // the pause stopped the server's writes for its length (1.5 s), no longer
    const pause = results.events.find((e) => e.kind === 'fault-start' && e.fault === 'pause')!;
    const pauseMs = ends[0].t - (pause.t - (pause.injectMs as number));
    expect(Math.abs(results.downtime.serverWriteGapMs! - pauseMs)).toBeLessThan(300);
    // back on the network, the standby caught up: verify compares it with the primary
    expect(results.integrity?.target).toBe('replica');
    expect(results.integrity?.tables.every((t) => t.match)).toBe(true);
    expect(results.integrity?.lostWrites).toBe(0);
    expect(run.exitCode).toBe(0);
    expect(labelled('ps', results.runId)).toEqual([]);
    expect(labelled('network', results.runId)).toEqual([]);
  });
});
