// How the local runtime starts a long-lived server process (a postmaster, PgBouncer, HAProxy,
// Patroni, etcd): as the server user, stdout and stderr appended to its log file, in a session
// of its own (a Ctrl-C in the terminal reaches pgdrill, which tears down in order), and not
// holding Node's event loop (the owner's exit hook, and the reaper, keep it from outliving us).

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { ServerUser } from './pg-binaries.js';

/** How a spawned process ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** spawning itself failed (no such program, no permission): there never was a process */
  spawnFailed: boolean;
}

export interface LoggedChild {
  child: ChildProcess;
  /** the log file's size before this process wrote to it: what it logged starts here */
  logOffset: number;
  /** resolves once, when the process exits or could not be spawned */
  exited: Promise<ChildExit>;
}

export interface SpawnLoggedOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** who runs it (null: the current user) */
  user: ServerUser | null | undefined;
  logFile: string;
}

export function spawnLogged(program: string, args: string[], options: SpawnLoggedOptions): LoggedChild {
  const logOffset = fs.existsSync(options.logFile) ? fs.statSync(options.logFile).size : 0;
  const logFd = fs.openSync(options.logFile, 'a', 0o640);
  let child: ChildProcess;
  try {
    child = spawn(program, args, {
      cwd: options.cwd,
      env: options.env,
      uid: options.user?.uid,
      gid: options.user?.gid,
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    // the child holds its own copy of the descriptor
    fs.closeSync(logFd);
  }
  child.unref();
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, spawnFailed: false }));
    child.once('error', () => resolve({ code: null, signal: null, spawnFailed: true }));
  });
  return { child, logOffset, exited };
}

/** What the log file holds from `offset` on ('' when there is no log). */
export async function readLogFrom(logFile: string, offset: number): Promise<string> {
  try {
    return (await fsp.readFile(logFile)).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}
