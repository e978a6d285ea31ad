// Helpers for end-to-end tests that run whole scenarios against real PostgreSQL: build a
// scenario from YAML, run it into a temporary folder, and check that nothing was left.

import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseScenarioText } from '../../../harness/scenario/load-scenario.js';
import { runScenario, type RunOptions, type RunResult } from '../../../harness/run/run-scenario.js';
import { defaultRunsDir } from '../../../harness/runtime/local/local-runtime.js';
import type { Scenario } from '../../../harness/scenario/scenario.js';

export function scenarioFrom(yaml: string, overrides: string[] = []): Scenario {
  return parseScenarioText(yaml, 'test scenario', overrides);
}

const outFolders: string[] = [];

/** ms after which a run still going prints where it is (before vitest's 180 s timeout hides it) */
const SLOW_RUN_MS = 120_000;

/**
 * Runs a scenario into a fresh temporary folder (removed by removeRunFolders). A run still
 * going after SLOW_RUN_MS prints its last events to stderr: a test that then times out
 * says which phase or step the run was stuck in, not only that it took too long.
 */
export async function runInTemp(scenario: Scenario, options: RunOptions = {}): Promise<RunResult> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-test-'));
  outFolders.push(out);
  const slow = setTimeout(() => {
    let tail = '(no events.jsonl yet)';
    try {
      tail = readFileSync(path.join(out, 'events.jsonl'), 'utf8').trimEnd().split('\n').slice(-25).join('\n');
    } catch {
      // the run has not written its first event
    }
    process.stderr.write(`\n[runInTemp] ${scenario.name} still running after ${SLOW_RUN_MS / 1000}s; its last events:\n${tail}\n`);
  }, SLOW_RUN_MS);
  slow.unref();
  try {
    return await runScenario(scenario, { out, ...options });
  } finally {
    clearTimeout(slow);
  }
}

export async function removeRunFolders(): Promise<void> {
  await Promise.all(outFolders.splice(0).map((f) => rm(f, { recursive: true, force: true })));
}

/** Server and service processes whose command line names this run (their data dirs and configs live under the run folder). */
export function processesOf(runId: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', runId], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => /postgres|pgbouncer|haproxy|patroni|etcd/.test(line) && !line.includes('pgrep'));
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/**
 * Why a run did not pass, for an assertion's message: each check that is not valid, and each
 * cutover step with when it ran (ms of the run) and its detail, so a cutover that came too
 * late on a loaded machine says which step it waited in.
 */
export function whyNotPassed(result: RunResult): string {
  const { results } = result;
  const checks = results.checks.filter((c) => c.valid !== true).map((c) => `check ${c.name} (${String(c.valid)}): ${c.detail}`);
  const steps = (results.cutover?.steps ?? []).map(
    (s) => `step ${s.name} ${Math.round(s.startMs)}-${Math.round(s.endMs)} ms${s.ok ? '' : ' FAILED'}: ${(s.detail ?? '').replace(/\s+/g, ' ').slice(0, 400)}`,
  );
  const load = results.phases.find((p) => p.name === 'load');
  return [`exit ${result.exitCode}, load ${load ? `${Math.round(load.startMs)}-${Math.round(load.endMs)} ms` : 'never ran'}`, ...checks, ...steps].join('\n');
}

/** pids of the processes whose command line matches `pattern` (pgrep -f, which never lists itself). */
export function pidsMatching(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/**
 * The pids of the reaper watching the run written to `out` (its command line names the
 * run folder's registry). A test that killed pgdrill waits for this to be empty too: the
 * reaper writes its event into `out` after everything else is gone.
 */
export function reaperOf(out: string): number[] {
  return pidsMatching(`reaper-main.js --registry ${out}`);
}

/** What a run left behind: live server processes and its run folder. Empty when clean. */
export function leftovers(runId: string): string[] {
  // an empty id would match every process on the machine
  if (!runId) throw new Error('leftovers(): no run id (the test did not find it in the output)');
  const left = processesOf(runId).map((p) => `process: ${p}`);
  const dir = path.join(defaultRunsDir(), runId);
  if (existsSync(dir)) left.push(`run folder: ${dir}`);
  return left;
}

/**
 * How the write stream was accounted for: `intended` as the scheduler counted it (the
 * workload-end event), `sum` the records by outcome, `expected` what the rate and the
 * duration call for. A scheduler that lost operations fails `sum === intended` or
 * `intended === expected` (within one for rounding at the edge).
 */
export function opsCount(result: RunResult): { intended: number; sum: number; expected: number } {
  const w = result.results.load.writes;
  const scheduled = result.results.events.find((e) => e.kind === 'workload-end');
  const intended = scheduled && scheduled.kind === 'workload-end' ? scheduled.writes.intended : -1;
  const { rate } = result.results.scenario.workload.writes;
  const expected = Math.ceil((result.results.scenario.duration * rate) / 1000 - 1e-9);
  return { intended, sum: w.ok + w.failed + w.indeterminate + w.dropped, expected };
}

/** Every intended write recorded once, and as many intended as rate x duration: asserted. */
export function expectEveryOpAccounted(result: RunResult): void {
  const { intended, sum, expected } = opsCount(result);
  if (sum !== intended) throw new Error(`writes: ${intended} intended by the scheduler, ${sum} recorded`);
  if (Math.abs(intended - expected) > 1) throw new Error(`writes: ${intended} intended, rate x duration is ${expected}`);
  const check = result.results.checks.find((c) => c.name === 'operations accounted for');
  if (check?.valid !== true) throw new Error(`the accounting check is not valid: ${check?.detail ?? 'missing'}`);
}

/**
 * The cutover's freeze (or, without one, its re-point) began while the load was still being
 * scheduled, with time to spare: otherwise a run measures no client downtime at all and its
 * "0 failed writes" says nothing.
 */
export function expectCutoverDuringLoad(result: RunResult, marginMs = 1000): void {
  const { results } = result;
  const steps = results.cutover?.steps ?? [];
  const first = steps.find((s) => s.name === 'pause-endpoint' || s.name === 'freeze-writes') ?? steps.find((s) => s.name === 'repoint-endpoint');
  if (!first) throw new Error(`the cutover has no freeze or re-point step: ${steps.map((s) => s.name).join(', ')}`);
  const load = results.phases.find((p) => p.name === 'load');
  const scheduleEnd = (load?.startMs ?? 0) + results.scenario.duration;
  if (!load || first.startMs > scheduleEnd - marginMs) {
    throw new Error(`the cutover's ${first.name} began at ${Math.round(first.startMs)}ms, after (or within ${marginMs}ms of) the end of the load at ${Math.round(scheduleEnd)}ms`);
  }
}

/** The run id in pgdrill's output: the progress line "run <id> started", or a JSON event with it (--verbose). */
export function runIdIn(output: string): string {
  return /\brun (\S+) started \(/.exec(output)?.[1] ?? /"runId":"([^"]+)"/.exec(output)?.[1] ?? '';
}

/** The CLI the tests run, as a user would: the built one. */
export const CLI = path.resolve(import.meta.dirname, '../../../dist/harness/cli/main.js');

export interface CliRun {
  child: ChildProcess;
  /** the run's id, from its output (or, when the output had none yet, from events.jsonl) */
  runId: string;
  /** everything it wrote to stderr so far */
  stderr: () => string;
  /** its exit code (null when a signal ended it) */
  exited: Promise<number | null>;
}

/**
 * Starts `pgdrill <args>` in `cwd` and resolves once the run reports its load phase: the
 * moment the Ctrl-C and kill -9 tests interrupt it, with every server up. `out` is the run's
 * --out folder, read for the run id when the progress line had none.
 */
export async function startCliRun(args: string[], cwd: string, out: string): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('phase load')) resolve();
    });
    void exited.then(() => reject(new Error(`pgdrill exited before the load phase:\n${stderr}`)));
  });
  let runId = runIdIn(stderr);
  if (!runId) {
    const events = path.join(out, 'events.jsonl');
    runId = existsSync(events) ? runIdIn(readFileSync(events, 'utf8')) : '';
  }
  if (!runId) throw new Error(`no run id in pgdrill's output or ${out}/events.jsonl:\n${stderr}`);
  return { child, runId, stderr: () => stderr, exited };
}
