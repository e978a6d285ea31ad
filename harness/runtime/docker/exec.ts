// Running programs inside a container through the Engine API (docker exec): short tools
// whose output is collected, and the long-lived postmaster whose exit is watched. A timeout
// or an abort kills the program's whole process tree inside the container.

import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { InterruptedError } from '../../errors.js';
import type { ToolResult } from '../runtime.js';

export interface ExecOptions {
  /** user inside the container (default root) */
  user?: string;
  env?: Record<string, string>;
  workdir?: string;
  /** ms; on expiry the program's tree is killed and the result has exitCode 124 */
  timeout?: number;
  signal?: AbortSignal;
}

export interface ExecHandle {
  /** resolves when the program exits, with its exit code (128+n when killed by signal n) */
  readonly done: Promise<number>;
  readonly stdout: PassThrough;
  readonly stderr: PassThrough;
}

const MAX_OUTPUT = 32 * 1024 * 1024;

/**
 * Kills a process and every descendant, found by walking /proc inside the container: the
 * images have no procps, and PostgreSQL's children are in process groups of their own.
 * Usage: sh -c KILL_TREE sh SIGNAL PID...
 */
export const KILL_TREE = `sig=$1; shift; pids="$*"; all=""
while [ -n "$pids" ]; do
  all="$all $pids"; next=""
  for f in /proc/[0-9]*/stat; do
    read -r line < "$f" 2>/dev/null || continue
    me=\${line%% *}; rest=\${line##*) }; ppid=\${rest#* }; ppid=\${ppid%% *}
    for p in $pids; do [ "$ppid" = "$p" ] && next="$next $me"; done
  done
  pids=$next
done
kill -"$sig" $all 2>/dev/null; exit 0`;

function toEnv(env: Record<string, string> = {}): string[] {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/** Starts `cmd` and streams its output; the caller reads `done` for the exit code. */
export async function startExec(docker: Docker, container: Docker.Container, cmd: string[], options: ExecOptions = {}): Promise<ExecHandle> {
  const exec = await container.exec({
    Cmd: cmd,
    User: options.user ?? 'root',
    Env: toEnv(options.env),
    WorkingDir: options.workdir,
    AttachStdout: true,
    AttachStderr: true,
    AttachStdin: false,
    Tty: false,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  docker.modem.demuxStream(stream, stdout, stderr);
  const done = new Promise<number>((resolve, reject) => {
    let settled = false;
    const finish = async () => {
      if (settled) return;
      settled = true;
      stdout.end();
      stderr.end();
      // the stream can end a moment before the engine records the exit code
      for (let i = 0; i < 100; i++) {
        try {
          const info = await exec.inspect();
          if (!info.Running) return resolve(info.ExitCode ?? -1);
        } catch (err) {
          return reject(err);
        }
        await new Promise((r) => setTimeout(r, 20 + i * 5));
      }
      resolve(-1);
    };
    stream.on('end', finish);
    stream.on('close', finish);
    stream.on('error', finish);
  });
  return { done, stdout, stderr };
}

function collect(stream: PassThrough): () => string {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    if (size < MAX_OUTPUT) chunks.push(chunk);
    size += chunk.length;
  });
  return () => Buffer.concat(chunks).toString('utf8');
}

/**
 * Runs a program to completion and collects its output. With a timeout or a signal the
 * program runs under a shell that records its own pid, so that the shell and the program's
 * tree below it can be killed (pg_basebackup forks a WAL streamer that must die too).
 */
export async function execIn(docker: Docker, container: Docker.Container, cmd: string[], options: ExecOptions = {}): Promise<ToolResult> {
  if (options.signal?.aborted) throw new InterruptedError(`${cmd[0]} was not started: the run was interrupted`);
  const killable = options.timeout !== undefined || options.signal !== undefined;
  const pidFile = `/tmp/pgdrill-exec-${randomBytes(6).toString('hex')}.pid`;
  const command = killable ? ['/bin/sh', '-c', `echo $$ > ${pidFile}; "$@"; rc=$?; rm -f ${pidFile}; exit $rc`, 'sh', ...cmd] : cmd;
  const handle = await startExec(docker, container, command, options);
  const out = collect(handle.stdout);
  const err = collect(handle.stderr);
  let timedOut = false;
  let aborted = false;
  const killIt = async () => {
    await execIn(docker, container, ['/bin/sh', '-c', `[ -f ${pidFile} ] && sh -c '${KILL_TREE.replace(/'/g, `'\\''`)}' sh KILL $(cat ${pidFile}); rm -f ${pidFile}`], {
      user: options.user,
    }).catch(() => undefined);
  };
  const timer = options.timeout !== undefined ? setTimeout(() => ((timedOut = true), void killIt()), options.timeout) : undefined;
  const onAbort = () => {
    aborted = true;
    void killIt();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const exitCode = await handle.done;
    if (aborted) throw new InterruptedError(`${cmd[0]} was interrupted`);
    return { exitCode: timedOut ? 124 : exitCode, stdout: out(), stderr: err() + (timedOut ? `\n${cmd[0]} killed after ${options.timeout}ms` : '') };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** execIn that throws, with the program's output, when it exits non-zero. */
export async function execOk(docker: Docker, container: Docker.Container, cmd: string[], options: ExecOptions & { what: string }): Promise<string> {
  const r = await execIn(docker, container, cmd, options);
  if (r.exitCode !== 0) throw new Error(`${options.what} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}
