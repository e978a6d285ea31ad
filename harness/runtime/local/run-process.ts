// Runs a short-lived program (initdb, pg_basebackup, psql...) as the server user, with a
// timeout and an abort signal that kill the program's whole process group.

import { spawn, type ChildProcess } from 'node:child_process';
import { InterruptedError } from '../../errors.js';
import type { ToolResult } from '../runtime.js';
import type { ServerUser } from './pg-binaries.js';
import type { ReaperRegistry } from '../reaper/reaper-registry.js';

export interface RunProcessOptions {
  user: ServerUser | null;
  env: Record<string, string>;
  cwd: string;
  input?: string;
  /** ms; on expiry the program is killed and the result has exitCode 124 */
  timeout?: number;
  signal?: AbortSignal;
  /** told about the child while it runs, so that dispose() can kill a stuck one */
  track?: Set<ChildProcess>;
  /** the run's reaper: the program's process group is registered, so a kill -9 of pgdrill does not strand it */
  reaper?: ReaperRegistry;
}

const MAX_OUTPUT = 32 * 1024 * 1024;

export function runProcess(command: string, args: string[], options: RunProcessOptions): Promise<ToolResult> {
  return new Promise<ToolResult>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new InterruptedError(`${command} was not started: the run was interrupted`));
      return;
    }
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      uid: options.user?.uid,
      gid: options.user?.gid,
      // its own process group: pg_basebackup forks a WAL streamer that must die with it
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    options.track?.add(child);
    options.reaper?.processGroup(child.pid, `${command} (process group)`);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout!.on('data', (b: Buffer) => {
      if ((outBytes += b.length) <= MAX_OUTPUT) out.push(b);
    });
    child.stderr!.on('data', (b: Buffer) => {
      if ((errBytes += b.length) <= MAX_OUTPUT) err.push(b);
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(options.input ?? '');

    let timedOut = false;
    let aborted = false;
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = options.timeout
      ? setTimeout(() => {
          timedOut = true;
          killGroup();
        }, options.timeout)
      : undefined;
    const onAbort = () => {
      aborted = true;
      killGroup();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    // 'error' (spawn failed) and 'close' may both come: settle once
    let settled = false;
    const finish = () => {
      if (settled) return false;
      settled = true;
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      options.track?.delete(child);
      return true;
    };
    child.on('error', (e) => {
      if (finish()) reject(e);
    });
    child.on('close', (code, sig) => {
      if (!finish()) return;
      if (aborted) {
        reject(new InterruptedError(`${command} was interrupted`));
        return;
      }
      let stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) stderr += `\npgdrill: ${command} killed after its ${options.timeout}ms timeout`;
      resolve({
        exitCode: timedOut ? 124 : (code ?? 128 + (sig ? signalNumber(sig) : 0)),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr,
      });
    });
  });
}

function signalNumber(sig: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 } as Record<string, number>)[sig] ?? 0;
}
