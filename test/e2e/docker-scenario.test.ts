// The bundled streaming-cutover scenario on the docker runtime, as a user runs it: it
// passes with the same result fields as the local runtime, leaves no container or network
// behind (after a run, after Ctrl-C in the middle), and a missing image is exit 3 with a
// message that says how to build or pull it. Skips loudly when Docker is unusable.

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScenario } from '../../harness/run/run-scenario.js';
import { loadScenarioFile } from '../../harness/scenario/load-scenario.js';
import { resolveScenarioPath } from '../../harness/scenario/bundled.js';
import { dockerAvailability, skipBanner } from '../../harness/runtime/docker/availability.js';
import { LABEL } from '../../harness/runtime/docker/labels.js';
import { startCliRun } from './support/runs.js';

const availability = await dockerAvailability(15);
if (!availability.available) {
  if (process.env.PGDRILL_REQUIRE_DOCKER === '1') throw new Error(`PGDRILL_REQUIRE_DOCKER=1 but Docker is not usable: ${availability.reason}`);
  console.error(skipBanner('docker scenario tests (test/e2e/docker-scenario.test.ts)', availability.reason!));
}
const image = availability.image!;

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/harness/cli/main.js');
/** The shortened run, on PostgreSQL 15 (the major an offline image has here). */
const SHORT = ['duration=15s', 'timeline[0].at=7s', 'nodes.primary.version=15', 'nodes.replica.version=15'];
const withImage = [...SHORT, `nodes.primary.image=${image}`, `nodes.replica.image=${image}`];
let tmp: string;

function labelled(kind: 'ps' | 'network', runId: string): string[] {
  const args = kind === 'ps' ? ['ps', '-a', '--format', '{{.Names}}'] : ['network', 'ls', '--format', '{{.Name}}'];
  const out = execFileSync('docker', [...args, '--filter', `label=${LABEL.runId}=${runId}`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim().length > 0);
}

/** Key paths of an object down to `depth`, arrays by their first element: the results' shape. */
function shape(value: unknown, depth = 3, prefix = ''): string[] {
  if (depth === 0 || value === null || typeof value !== 'object') return [];
  const target = Array.isArray(value) ? value[0] : value;
  if (target === null || typeof target !== 'object') return [];
  return Object.keys(target).flatMap((k) => [prefix + k, ...shape((target as Record<string, unknown>)[k], depth - 1, `${prefix}${k}.`)]);
}

describe.skipIf(!availability.available)(`streaming-cutover on the docker runtime (${image})`, () => {
  beforeAll(async () => {
    const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' });
    expect(build.status, build.stdout + build.stderr).toBe(0);
    tmp = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-docker-'));
  });

  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('passes (exit 0) with the same result fields as the local runtime, and leaves no container or network', async () => {
    const scenario = await loadScenarioFile(await resolveScenarioPath('streaming-cutover'), withImage);
    const docker = await runScenario(scenario, { runtime: 'docker', out: path.join(tmp, 'docker') });
    const errors = docker.results.events.filter((e) => e.kind === 'error');
    expect(errors).toEqual([]);
    expect(docker.exitCode).toBe(0);
    expect(docker.results.runtime).toBe('docker');
    expect(docker.results.integrity?.lostWrites).toBe(0);
    expect(docker.results.load.writes.ok).toBeGreaterThan(1000);
    const ready = docker.results.events.filter((e) => e.kind === 'node-ready');
    expect(ready.map((e) => e.node)).toEqual(['primary', 'replica']);
    expect(labelled('ps', docker.results.runId)).toEqual([]);
    expect(labelled('network', docker.results.runId)).toEqual([]);

    const local = await runScenario(scenario, { runtime: 'local', out: path.join(tmp, 'local') });
    expect(local.exitCode).toBe(0);
    expect(shape(docker.results).sort()).toEqual(shape(local.results).sort());
    // for the note: both runtimes, same settings
    const summary = (r: typeof docker) =>
      `downtime ${r.results.downtime.writes.longestMs} ms, server write gap ${Math.round(r.results.downtime.serverWriteGapMs ?? 0)} ms, ` +
      `run ${Math.round(Math.max(...r.results.phases.map((p) => p.endMs)) / 100) / 10} s (setup ${Math.round(r.results.phases.find((p) => p.name === 'setup')!.endMs - r.results.phases.find((p) => p.name === 'setup')!.startMs)} ms)`;
    console.log(`streaming-cutover 15s, PostgreSQL 15: docker: ${summary(docker)}; local: ${summary(local)}`);
  });

  it('Ctrl-C in the middle of a run (pgdrill run --runtime docker) exits 130 and removes every container and network', async () => {
    const out = path.join(tmp, 'interrupted');
    const args = ['run', 'streaming-cutover', '--runtime', 'docker', '--out', out, ...withImage.flatMap((s) => ['--set', s])];
    // long enough that the interrupt lands in the load phase
    args[args.indexOf('duration=15s')] = 'duration=60s';
    const { child, runId, exited } = await startCliRun(args, tmp, out);
    await new Promise((r) => setTimeout(r, 2000));
    expect(labelled('ps', runId).length).toBe(2); // the servers are up
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(labelled('ps', runId)).toEqual([]);
    expect(labelled('network', runId)).toEqual([]);
  });

  it('after a crash that took the reaper too (both SIGKILLed mid-run) `pgdrill cleanup` removes its containers and network and says so', async () => {
    const out = path.join(tmp, 'crashed');
    const { child, runId, exited } = await startCliRun(
      ['run', 'streaming-cutover', '--runtime', 'docker', '--out', out, ...[...withImage, 'duration=60s'].flatMap((s) => ['--set', s])],
      tmp,
      out,
    );
    const events = readFileSync(path.join(out, 'events.jsonl'), 'utf8');
    // what a reboot does: the reaper dies with pgdrill, so nothing cleans up but `pgdrill cleanup`
    const reaper = Number(/"kind":"reaper-started","pid":(\d+)/.exec(events)![1]);
    process.kill(reaper, 'SIGKILL');
    child.kill('SIGKILL');
    await exited;
    await new Promise((r) => setTimeout(r, 1000));
    expect(labelled('ps', runId).length).toBe(2); // nobody cleaned up
    const r = spawnSync(process.execPath, [cli, 'cleanup'], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`removed docker container pgdrill-${runId}-primary`);
    expect(r.stdout).toContain(`removed docker network pgdrill-${runId}`);
    expect(labelled('ps', runId)).toEqual([]);
    expect(labelled('network', runId)).toEqual([]);
  });

  it('an abort (the run\'s AbortController) during the load tears everything down too', async () => {
    const scenario = await loadScenarioFile(await resolveScenarioPath('streaming-cutover'), [...withImage, 'duration=60s']);
    const controller = new AbortController();
    const run = runScenario(scenario, {
      runtime: 'docker',
      out: path.join(tmp, 'aborted'),
      signal: controller.signal,
      onEvent: (e) => {
        if (e.kind === 'phase-start' && e.phase === 'load') setTimeout(() => controller.abort(), 2000);
      },
    });
    const { results, exitCode } = await run;
    expect(exitCode).toBe(130);
    expect(labelled('ps', results.runId)).toEqual([]);
    expect(labelled('network', results.runId)).toEqual([]);
  });

  it('a scenario naming an image that does not exist fails with exit 3, naming the image and how to build or pull it', () => {
    const r = spawnSync(
      process.execPath,
      [cli, 'run', 'streaming-cutover', '--runtime', 'docker', '--quiet', '--out', path.join(tmp, 'missing'), ...SHORT.flatMap((s) => ['--set', s]), '--set', 'nodes.primary.image=pgdrill/no-such-image:15'],
      { cwd: tmp, encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status).toBe(3);
    // the terminal summary wraps long messages in its table: read it as flowing text
    const said = (r.stdout + r.stderr).replace(/[│├┼┤─]/g, ' ').replace(/\s+/g, ' ');
    expect(said).toContain('pgdrill/no-such-image:15');
    expect(said).toMatch(/docker pull pgdrill\/no-such-image:15/);
    expect(said).toMatch(/pgdrill image build 15/);
  });
});
