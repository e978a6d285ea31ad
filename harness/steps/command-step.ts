// A command step: a user's program run once through /bin/sh -c in the scenario file's folder,
// in a process group of its own, so that a timeout or Ctrl-C stops it and everything it
// started (kill -pgid SIGTERM, then SIGKILL), and nothing it started outlives the step.
// This is the user's program, not a server: the runtime's rule about child processes is
// about PostgreSQL, and this module is the one place a step spawns anything.

import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type { CommandStepConfig } from '../scenario/scenario.js';
import { errorMessage } from '../errors.js';
import { OutputTail } from './output-tail.js';
import { StepLimit, within } from './step-limit.js';
import type { StepOutcome } from './step-outcome.js';
import { KILL_GRACE_MS, stopGroup } from '../util/process-group.js';
import type { ReaperRegistry } from '../runtime/reaper/reaper-registry.js';

export { KILL_GRACE_MS } from '../util/process-group.js';

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
      return { ok: false, exitCode: null, signal: null, error: `could not start /bin/sh in ${context.cwd}: ${startError.message}`, outputTail: hideSecrets(tail.text(), context.variables) };
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
    const base = { exitCode: exit.code, signal: exit.signal, outputTail: hideSecrets(tail.text(), context.variables) };
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

/**
 * The output with the passwords the command was given replaced by ***: a runbook that echoes
 * $PGDRILL_ENDPOINT_URL must not put the user's password into results.json and the report.
 * The secrets are the passwords of the URL variables (as written and decoded) and the values
 * of variables whose name says PASSWORD.
 */
export function hideSecrets(text: string, variables: Record<string, string>): string {
  const secrets = new Set<string>();
  for (const [name, value] of Object.entries(variables)) {
    if (/PASSWORD/i.test(name) && value) secrets.add(value);
    if (!/^postgres(ql)?:\/\//i.test(value)) continue;
    try {
      const password = new URL(value).password;
      if (password) {
        secrets.add(password);
        secrets.add(decodeURIComponent(password));
      }
    } catch {
      // not a URL after all: nothing to hide in it
    }
  }
  let out = text;
  // longest first, so a secret that contains another is hidden whole
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join('***');
  return out;
}

/** Why a shell exits 127 or 126, in words; empty for other codes. */
export function exitHint(code: number | null, cwd: string): string {
  if (code === 127) return ` (the shell found no such command; relative paths resolve against ${cwd})`;
  if (code === 126) return ' (the shell could not execute it: is the file executable?)';
  return '';
}
