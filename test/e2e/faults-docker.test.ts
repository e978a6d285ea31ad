// The fault e2e suite on the docker runtime: the same cases as faults-local.test.ts (one list,
// support/fault-cases.ts), now that docker standbys stream through pgdrill's link proxies and a
// disk-full node keeps its data directory on a tmpfs of its own; and the failover drill with a
// rejoin (kill, detect, promote, pg_rewind, stream again) in containers. Each run leaves no
// container, network or proxy port behind. Skips loudly when Docker is unusable.

import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerAvailability, skipBanner } from '../../harness/runtime/docker/availability.js';
import { LABEL } from '../../harness/runtime/docker/labels.js';
import { loadScenarioFile } from '../../harness/scenario/load-scenario.js';
import type { Results } from '../../harness/results/results.js';
import { FAULT_CASES } from './support/fault-cases.js';
import { removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

const availability = await dockerAvailability(15);
if (!availability.available) {
  if (process.env.PGDRILL_REQUIRE_DOCKER === '1') throw new Error(`PGDRILL_REQUIRE_DOCKER=1 but Docker is not usable: ${availability.reason}`);
  console.error(skipBanner('docker fault tests (test/e2e/faults-docker.test.ts)', availability.reason!));
}
const root = path.resolve(import.meta.dirname, '../..');

function labelled(kind: 'ps' | 'network', runId: string): string[] {
  const args = kind === 'ps' ? ['ps', '-a', '--format', '{{.Names}}'] : ['network', 'ls', '--format', '{{.Name}}'];
  const out = execFileSync('docker', [...args, '--filter', `label=${LABEL.runId}=${runId}`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim().length > 0);
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

async function expectNothingLeft(results: Results) {
  expect(labelled('ps', results.runId)).toEqual([]);
  expect(labelled('network', results.runId)).toEqual([]);
  for (const e of results.events) {
    if (e.kind === 'node-ready' && e.via) expect(await refused(e.via), `link proxy ${e.via} still accepts connections`).toBe(true);
  }
}

afterAll(removeRunFolders);

describe.skipIf(!availability.available)(`faults on the docker runtime (${availability.image}), the shared fault cases`, () => {
  for (const c of FAULT_CASES) {
    it(c.name, async () => {
      const run = await runInTemp(scenarioFrom(c.yaml({ runtime: 'docker', version: 15, image: availability.image! })), { runtime: 'docker' });
      c.expect(run);
      // the standby streamed through a proxy on the run network's gateway, not straight to its primary
      const via = run.results.events.find((e) => e.kind === 'node-ready' && e.role === 'standby');
      if (via) expect(String(via.via)).not.toMatch(/^127\./);
      await expectNothingLeft(run.results);
    });
  }
});

describe.skipIf(!availability.available)(`failover and rejoin on the docker runtime (${availability.image})`, () => {
  it('failover-rejoin: the killed primary is detected, its standby promoted, and the old primary rewound and streaming again, with matching tables', async () => {
    const image = availability.image!;
    const scenario = await loadScenarioFile(path.join(root, 'scenarios/failover-rejoin.yaml'), [
      'runtime=docker',
      `nodes.primary.image=${image}`,
      `nodes.replica.image=${image}`,
    ]);
    const run = await runInTemp(scenario, { runtime: 'docker' });
    const { results } = run;
    expect(results.error).toBeNull();
    expect(results.cutover?.steps.map((s) => [s.name, s.ok])).toEqual([
      ['detect-failure', true],
      ['choose-standby', true],
      ['promote', true],
      ['repoint-endpoint', true],
      ['fence-old-primary', true],
      ['fence-verified', true],
      ['rejoin-capture', true],
      ['rejoin-stop', true],
      ['rejoin-rewind', true],
      ['rejoin-start-standby', true],
      ['rejoin-streaming', true],
    ]);
    expect(results.cutover?.steps.find((s) => s.name === 'rejoin-rewind')?.detail).toContain('servers diverged');
    // the rejoined old primary streams from the new one, and holds exactly its tables
    const last = results.lag.samples.filter((s) => s.node === 'primary').at(-1);
    expect(last).toMatchObject({ upstream: 'replica', state: 'streaming' });
    expect(results.integrity?.target).toBe('primary');
    expect(results.integrity?.tables.length).toBeGreaterThan(0);
    expect(results.integrity?.tables.every((t) => t.match)).toBe(true);
    expect(results.integrity?.lostWrites).toBe(0);
    expect(run.exitCode).toBe(0);
    await expectNothingLeft(results);
  });
});
