// A command step: a user's program run once through /bin/sh -c in the scenario file's folder,
// in a process group of its own, so that a timeout or Ctrl-C stops it and everything it
// started (kill -pgid SIGTERM, then SIGKILL), and nothing it started outlives the step.
// This is the user's program, not a server: the runtime's rule about child processes is
// about PostgreSQL, and this module is the one place a step spawns anything.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { CommandStepConfig } from '../scenario/scenario.js';
import { errorMessage } from '../errors.js';
import { OutputTail } from './output-tail.js';
import { StepLimit, within } from './step-limit.js';
import type { StepOutcome } from './step-outcome.js';
import type { ReaperRegistry } from '../runtime/reaper/reaper-registry.js';

/** How long a process group gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 2000;

export interface CommandRunContext {
  /** the working directory: the scenario file's folder */
  cwd: string;
  /** what pgdrill adds on top of the parent's environment and the step's own env (the URLs) */
  variables: Record<string, string>;
  signal: AbortSignal;
  /** the run's reaper: the command's process group is registered with it */
  reaper?: ReaperRegistry;
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

export async function runCommandStep(config: CommandStepConfig, context: CommandRunContext): Promise<StepOutcome> {
  const notStarted = (error: string): StepOutcome => ({ ok: false, exitCode: null, signal: null, error, outputTail: '' });
  if (context.signal.aborted) return notStarted('not started: the run was aborted before it');
  const folder = await stat(context.cwd).catch(() => undefined);
  if (!folder?.isDirectory()) {
    return notStarted(`not started: its working directory ${context.cwd} (the scenario file's folder) is not a directory`);
  }

  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, config.env ?? {}, context.variables);

  const tail = new OutputTail();
  let child: ChildProcess;
  try {
    child = spawn('/bin/sh', ['-c', config.run], {
      cwd: context.cwd,
      env,
      // detached: a new session and process group led by the shell, so -pid reaches all it starts
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    return notStarted(`could not start /bin/sh in ${context.cwd}: ${errorMessage(err)}`);
  }
  context.reaper?.processGroup(child.pid, `command step: ${config.run.slice(0, 60)}`);
  child.stdout!.on('data', (chunk: Buffer) => tail.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => tail.push(chunk));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const exited = new Promise<Exit | Error>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (err) => resolve(err));
  });

  const limit = new StepLimit(config.timeout, context.signal);
  try {
    const first = await Promise.race([exited, limit.reached]);
    // no pid: the spawn failed, and its 'error' is on the way even if the limit came first
    const startError = first instanceof Error ? first : child.pid === undefined ? await exited : undefined;
    if (startError instanceof Error) {
      return { ok: false, exitCode: null, signal: null, error: `could not start /bin/sh in ${context.cwd}: ${startError.message}`, outputTail: tail.text() };
    }
    const reason = typeof first === 'string' ? first : undefined;
    const pgid = child.pid!;
    // after a normal exit this ends what the command left running in the background, so the
    // run's teardown never meets a process it does not know about
    const escalated = await stopGroup(pgid, exited);
    const exit = (await exited) as Exit;
    // the rest of the output is in the pipes until every writer is gone; a writer that left the
    // group (setsid) may hold them open for ever, so do not wait on it
    if (!(await within(closed, KILL_GRACE_MS))) {
      child.stdout!.destroy();
      child.stderr!.destroy();
    }
    const base = { exitCode: exit.code, signal: exit.signal, outputTail: tail.text() };
    if (reason) {
      const how = escalated ? 'SIGTERM, then SIGKILL' : 'SIGTERM';
      return { ok: false, ...base, error: `the command ${limit.describe(reason)}; pgdrill stopped its process group (${how})` };
    }
    if (exit.signal) return { ok: false, ...base, error: `the command was ended by ${exit.signal}` };
    if (exit.code !== 0) return { ok: false, ...base, error: `the command exited with code ${exit.code}${exitHint(exit.code, context.cwd)}` };
    return { ok: true, ...base };
  } finally {
    limit.dispose();
  }
}

function exitHint(code: number | null, cwd: string): string {
  if (code === 127) return ` (the shell found no such command; relative paths resolve against ${cwd})`;
  if (code === 126) return ' (the shell could not execute it: is the file executable?)';
  return '';
}

/**
 * Whether a live process of the group is left. Zombies do not count: a killed background
 * child is reparented to init, which may reap it only later (or, in some containers, never),
 * and waiting on it would turn every stop into a SIGKILL after the full grace period.
 */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true; // no /proc: the signal test above is all there is
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone
  }
}

/**
 * SIGTERM to the whole group, SIGKILL to what is left after KILL_GRACE_MS. Returns whether
 * SIGKILL was needed. Waits for the shell's own exit too, so its status is known.
 */
async function stopGroup(pgid: number, exited: Promise<unknown>): Promise<boolean> {
  if (!groupAlive(pgid)) return false;
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + KILL_GRACE_MS;
  while (Date.now() < deadline) {
    if (!groupAlive(pgid)) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  let escalated = false;
  if (groupAlive(pgid)) {
    escalated = true;
    signalGroup(pgid, 'SIGKILL');
  }
  await within(exited, KILL_GRACE_MS);
  return escalated;
}
