// Starts a run's reaper (reaper-main.ts) as a detached process: a session of its own, no
// terminal, stdin a pipe whose other end only this process holds, so the pipe closes when
// pgdrill's process ends however it ends. The returned handle carries the registry the
// runtime and everything else that starts processes append to, and release() for a normal
// teardown (the reaper then exits without touching anything).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { procInfo } from '../local/proc.js';
import { REAPER_FILE, ReaperRegistry } from './reaper-registry.js';

export interface ReaperOptions {
  /** the run folder: reaper.jsonl goes here, and the reaper's event into its events.jsonl */
  folder: string;
  /** epoch ms of the run's time 0, so the reaper's event carries a run time like every other */
  t0EpochMs: number;
  /** --keep: after a crash, kill processes and stop containers but leave data dirs and containers */
  keep?: boolean;
}

export interface ReaperHandle {
  registry: ReaperRegistry;
  /** the reaper's pid; undefined when it could not be started (then `problem` says why) */
  pid?: number;
  problem?: string;
  /** the run's teardown is over: the reaper exits */
  release(): void;
}

/**
 * The compiled reaper program. From dist/ it sits next to this file; when pgdrill runs from
 * its TypeScript sources (the test runner), the compiled copy in dist/ is used.
 */
export function reaperProgram(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return path.join(path.dirname(here), 'reaper-main.js');
  const root = path.resolve(path.dirname(here), '../../..');
  return path.join(root, 'dist/harness/runtime/reaper/reaper-main.js');
}

export function startReaper(options: ReaperOptions): ReaperHandle {
  const registry = new ReaperRegistry(path.join(options.folder, REAPER_FILE));
  const program = reaperProgram();
  if (!fs.existsSync(program)) {
    return { registry, problem: `the reaper program ${program} is missing (run \`npm run build\`): a kill -9 of this run would leave its servers behind`, release: () => registry.done() };
  }
  const args = [
    program,
    '--registry', registry.file!,
    '--owner', String(process.pid),
    '--owner-ticks', String(procInfo(process.pid)?.startTicks ?? 0),
    '--events', path.join(options.folder, 'events.jsonl'),
    '--t0', String(Math.round(options.t0EpochMs)),
    ...(options.keep ? ['--keep'] : []),
  ];
  let child;
  try {
    child = spawn(process.execPath, args, {
      // its own session and process group: a Ctrl-C reaches pgdrill, not the reaper
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      cwd: '/',
    });
  } catch (err) {
    return { registry, problem: `the reaper could not be started: ${(err as Error).message}`, release: () => registry.done() };
  }
  child.on('error', () => undefined);
  child.stdin!.on('error', () => undefined);
  // neither the process nor its pipe keeps pgdrill's event loop alive
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  return {
    registry,
    pid: child.pid,
    release() {
      registry.done();
      child.stdin?.end();
    },
  };
}
