// The pgdrill command as a user runs it (the compiled CLI in dist/, as `npx pgdrill` runs
// it): exit codes, every problem of a broken scenario at once, nothing started on bad
// input, and Ctrl-C in the middle of a run cleaning up everything it started.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRunsDir } from '../../harness/runtime/local/local-runtime.js';
import { leftovers, startCliRun } from './support/runs.js';

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/harness/cli/main.js');
let tmp: string;

function pgdrill(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  // the CLI under test is the compiled one; build it so the test never runs a stale copy
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' });
  expect(build.status, build.stdout + build.stderr).toBe(0);
  tmp = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-cli-'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('pgdrill validate', () => {
  it('lists every problem of a broken scenario with its path and exits 2', async () => {
    const file = path.join(tmp, 'broken.yaml');
    await writeFile(
      file,
      `name: broken
duration: 10s
nodes:
  primary: { version: 17 }
  replica: { version: 16, replicaOf: primary }
strategy: { kind: streaming, from: primary, to: replica3 }
workload:
  writes: { rate: 200, conections: 3 }
timeline:
  - at: 20s
    fault: { kind: pause, node: replica3 }
`,
    );
    const { code, stderr } = pgdrill(['validate', file]);
    expect(code).toBe(2);
    expect(stderr).toContain('nodes.replica.replicaOf');
    expect(stderr).toContain('strategy.to: unknown node "replica3"; known nodes: primary, replica');
    expect(stderr).toContain('workload.writes: unknown key "conections"; did you mean "connections"?');
    expect(stderr).toContain('timeline[0].at');
    expect(stderr).toContain('timeline[0].fault.node: unknown node "replica3"');
  });

  it('accepts the bundled scenario and prints it resolved with --json', () => {
    const { code, stdout } = pgdrill(['validate', path.join(root, 'scenarios/streaming-cutover.yaml'), '--json']);
    expect(code).toBe(0);
    const scenario = JSON.parse(stdout);
    expect(scenario.nodes.replica).toMatchObject({ version: 17, replicaOf: 'primary' });
    expect(scenario.workload.writes.rate).toBe(200);
  });
});

describe('pgdrill run with bad input', () => {
  it('exits 2 on a bad --set and starts nothing', () => {
    const before = existsSync(defaultRunsDir()) ? readdirSync(defaultRunsDir()) : [];
    const { code, stderr } = pgdrill(['run', 'streaming-cutover', '--set', 'workload.writes.rate=-1', '--out', path.join(tmp, 'never')]);
    expect(code).toBe(2);
    expect(stderr).toContain('workload.writes.rate');
    expect(existsSync(path.join(tmp, 'never'))).toBe(false);
    const after = existsSync(defaultRunsDir()) ? readdirSync(defaultRunsDir()) : [];
    expect(after.filter((d) => d.startsWith('streaming-cutover') && !before.includes(d))).toEqual([]);
  });

  it('exits 2 on an unknown option', () => {
    expect(pgdrill(['run', 'streaming-cutover', '--no-such-flag']).code).toBe(2);
  });
});

describe('pgdrill list and doctor', () => {
  it('lists the bundled scenarios with their descriptions', () => {
    const { code, stdout } = pgdrill(['list']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^streaming-cutover\s+Promote a physical streaming replica/m);
  });

  it('doctor names the server binaries per major and where they come from', () => {
    const { code, stdout } = pgdrill(['doctor']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/17 {2}server: 17\.\d+.* from npm/);
    expect(stdout).toMatch(/docker: /);
  });
});

describe('Ctrl-C during a run', () => {
  it('stops the run, cleans up every server and data dir, and exits 130', async () => {
    const out = path.join(tmp, 'interrupted');
    const { child, runId, exited } = await startCliRun(['run', 'streaming-cutover', '--set', 'duration=60s', '--out', out], tmp, out);
    await new Promise((r) => setTimeout(r, 2000));
    expect(leftovers(runId).length).toBeGreaterThan(0); // the servers are up
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(leftovers(runId)).toEqual([]);
    // the record of the interrupted run is kept
    expect(existsSync(path.join(out, 'events.jsonl'))).toBe(true);
    expect(existsSync(path.join(out, 'results.json'))).toBe(true);
  });
});
