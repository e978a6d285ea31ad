// kill -9 of pgdrill in the middle of a run: the run's reaper removes its servers (local
// processes, or Docker containers and network), a command step still running, and its data
// dirs within seconds, with nothing run by hand; then `pgdrill report` on the run folder
// rebuilds a report marked incomplete from the logs. And after a normal run the reaper is gone.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRunsDir } from '../../harness/runtime/local/local-runtime.js';
import { dockerAvailability } from '../../harness/runtime/docker/availability.js';
import { LABEL } from '../../harness/runtime/docker/labels.js';
import { pidsMatching, processesOf, reaperOf } from './support/runs.js';

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/harness/cli/main.js');
let tmp: string;

beforeAll(async () => {
  // the CLI and the reaper under test are the compiled ones
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' });
  expect(build.status, build.stdout + build.stderr).toBe(0);
  tmp = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-reaper-'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The first event of `kind` in the run folder's events.jsonl (the reaper's own are written there too). */
function firstEvent(out: string, kind: 'reaper-started' | 'reaper-reaped') {
  return JSON.parse(readFileSync(path.join(out, 'events.jsonl'), 'utf8').split('\n').find((l) => l.includes(`"${kind}"`))!);
}

function labelled(runId: string): string[] {
  const filter = ['--filter', `label=${LABEL.runId}=${runId}`];
  const out = (args: string[]) => execFileSync('docker', [...args, ...filter], { encoding: 'utf8' }).split('\n').filter((l) => l.trim());
  return [...out(['ps', '-a', '--format', 'container {{.Names}}']), ...out(['network', 'ls', '--format', 'network {{.Name}}'])];
}

/**
 * Starts `pgdrill run` on a scenario, waits until its load has run for `loadMs`, kills it
 * with SIGKILL and returns the run id and when it died.
 */
async function runAndKill(name: string, yaml: string, args: string[] = [], loadMs = 2500) {
  const file = path.join(tmp, `${name}.yaml`);
  const out = path.join(tmp, name);
  await writeFile(file, yaml);
  const child = spawn(process.execPath, [cli, 'run', file, '--out', out, ...args], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const deadline = Date.now() + 120_000;
  while (!(existsSync(path.join(out, 'events.jsonl')) && readFileSync(path.join(out, 'events.jsonl'), 'utf8').includes('"workload-start"'))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the load never started:\n${stderr}`);
    await sleep(100);
  }
  await sleep(loadMs);
  const runId = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')).runId as string;
  const reaper = firstEvent(out, 'reaper-started').pid as number;
  child.kill('SIGKILL');
  await exited;
  return { out, runId, reaper, killedAt: Date.now() };
}

/** Polls until `left()` is empty; returns how long it took (or throws with what is left after 10 s). */
async function goneWithin10s(left: () => string[], since: number): Promise<number> {
  for (;;) {
    const now = left();
    if (now.length === 0) return Date.now() - since;
    if (Date.now() - since > 10_000) throw new Error(`still there 10 s after the kill:\n${now.join('\n')}`);
    await sleep(200);
  }
}

const LOCAL = `name: reaper-local
duration: 60s
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary }
seed: { users: 100, products: 50, orders: 200 }
workload:
  writes: { rate: 100, connections: 4 }
timeline:
  - at: 500ms
    command: { run: "sleep 377.5", timeout: 600s }
  - at: 1s
    fault: { kind: latency, link: replication, delay: 20ms, for: 30s }
`;

describe('the reaper after kill -9 of pgdrill', () => {
  it('removes a local run: both servers, the command step still running, the data dirs; then report rebuilds it as incomplete', async () => {
    const { out, runId, reaper, killedAt } = await runAndKill('local', LOCAL);
    const runDir = path.join(defaultRunsDir(), runId);
    const tookMs = await goneWithin10s(
      () => [
        ...processesOf(runId).map((p) => `server: ${p}`),
        ...pidsMatching('sleep 377.5').map((p) => `command step: ${p}`),
        ...(existsSync(runDir) ? [`data dirs: ${runDir}`] : []),
        ...(reaperOf(out).length ? [`reaper ${reaper} still running`] : []),
      ],
      killedAt,
    );
    console.log(`local run ${runId}: everything gone ${tookMs} ms after kill -9`);
    const reaped = firstEvent(out, 'reaper-reaped');
    expect(reaped.failures).toEqual([]);
    expect(reaped.removedDirs).toEqual([runDir]);
    expect(reaped.killed.join(' ')).toMatch(/postgres primary .*postgres replica|postgres replica .*postgres primary/);
    expect(reaped.killed.join(' ')).toMatch(/command step: sleep 377\.5/);

    // the post-mortem: no results.json, so it is rebuilt from the logs
    expect(existsSync(path.join(out, 'results.json'))).toBe(false);
    const report = spawnSync(process.execPath, [cli, 'report', out], { cwd: tmp, encoding: 'utf8', timeout: 60_000 });
    expect(report.status, report.stderr).toBe(1);
    expect(report.stdout).toMatch(/reaper-local {2}INCOMPLETE/);
    const results = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(results.verdict).toBe('incomplete');
    expect(results.incomplete.phase).toBe('load');
    expect(results.incomplete.stoppedAt).toMatch(/^in the load phase at .* \(T\+\d+\.\d+s of the load\), with fault latency replication active/);
    expect(results.incomplete.reaped).toMatch(/The run's reaper killed postgres/);
    expect(results.load.writes.ok).toBeGreaterThan(150);
    expect(results.checks.find((c: { name: string }) => c.name === 'run finished').valid).toBe(false);
    expect(results.checks.find((c: { name: string }) => c.name === 'write ledger').valid).toBe('unknown');
    expect(results.checks.find((c: { name: string }) => c.name === 'step timeline[0] (command)').valid).toBe('unknown');
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('id="incomplete-banner"');
    expect(html).toContain('data-verdict="incomplete"');
    expect(readFileSync(path.join(out, 'summary.md'), 'utf8')).toMatch(/^## ⚠️ INCOMPLETE/);
  });

  it('exits by itself after a normal run, having touched nothing', async () => {
    const file = path.join(tmp, 'normal.yaml');
    const out = path.join(tmp, 'normal');
    await writeFile(file, LOCAL.replace('duration: 60s', 'duration: 3s').replace(/timeline:[\s\S]*$/, ''));
    const run = spawnSync(process.execPath, [cli, 'run', file, '--out', out, '--quiet'], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    await sleep(500);
    expect(reaperOf(out)).toEqual([]);
    const registry = readFileSync(path.join(out, 'reaper.jsonl'), 'utf8');
    expect(registry).toMatch(/"kind":"done"/);
    expect(readFileSync(path.join(out, 'events.jsonl'), 'utf8')).not.toContain('reaper-reaped');
  });
});

const availability = await dockerAvailability(15);
describe.skipIf(!availability.available)(`the reaper after kill -9 of a docker run (${availability.image})`, () => {
  it('removes the run\'s containers and network', async () => {
    const image = availability.image!;
    const yaml = LOCAL.replace(/version: 17/g, `version: 15, image: "${image}"`).replace('name: reaper-local', 'name: reaper-docker').replace(/timeline:[\s\S]*$/, '');
    const { out, runId, reaper, killedAt } = await runAndKill('docker', yaml, ['--runtime', 'docker']);
    // the reaper too: it writes its event into the run folder after the last container is
    // gone, so a test that stopped at the containers raced it (afterAll's rm got ENOTEMPTY)
    const tookMs = await goneWithin10s(
      () => [...labelled(runId), ...(reaperOf(out).length ? [`reaper ${reaper} still running`] : [])],
      killedAt,
    );
    console.log(`docker run ${runId}: containers, network and reaper gone ${tookMs} ms after kill -9`);
    const reaped = firstEvent(out, 'reaper-reaped');
    expect(reaped.failures).toEqual([]);
    expect(reaped.containers.length, reaped.containers.join('\n')).toBeGreaterThanOrEqual(2);
    expect(reaped.networks.length, reaped.networks.join('\n')).toBeGreaterThanOrEqual(1);
  });
});
