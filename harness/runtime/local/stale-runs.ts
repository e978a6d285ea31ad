// Run folders and the servers left behind by pgdrill processes that died without cleaning
// up (SIGKILL, OOM, a power cut). Each run folder names its owner; live owners are spared.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { allProcesses, killTreeSync, procInfo, processComm, processCwd, waitGone } from './proc.js';

/** Parent of every run folder unless a runtime is given another. */
export function defaultRunsDir(): string {
  return path.join(os.tmpdir(), 'pgdrill');
}

export const OWNER_FILE = 'pgdrill-run.json';

/** Programs a run starts with their working directory inside its run folder: servers and the endpoint's services. */
const RUN_PROGRAMS = ['postgres', 'pgbouncer', 'haproxy', 'patroni', 'etcd'];

export interface RunOwner {
  runId: string;
  pid: number;
  /** /proc start time of the owner, so that a reused pid is not mistaken for it */
  startTicks: number;
  createdAt: string;
}

export function currentOwner(runId: string): RunOwner {
  return { runId, pid: process.pid, startTicks: procInfo(process.pid)?.startTicks ?? 0, createdAt: new Date().toISOString() };
}

function ownerAlive(runDir: string): boolean | undefined {
  let owner: RunOwner;
  try {
    owner = JSON.parse(fs.readFileSync(path.join(runDir, OWNER_FILE), 'utf8'));
  } catch {
    return undefined;
  }
  const info = procInfo(owner.pid);
  return info !== undefined && info.state !== 'Z' && info.startTicks === owner.startTicks;
}

export interface CleanupResult {
  /** postgres processes killed (postmasters and their children) */
  killedPids: number[];
  removedDirs: string[];
  /** run folders left alone because the pgdrill that owns them still runs */
  activeRuns: string[];
}

/**
 * For `pgdrill cleanup`: kills postgres, pgbouncer and haproxy processes whose working
 * directory (PostgreSQL chdirs into its data dir, services run in their folder) is inside a run folder under `runsDir`, then removes those run folders,
 * unless their owning pgdrill process is still alive (`force` ignores that).
 */
export async function cleanupStaleLocalRuns(options: { runsDir?: string; force?: boolean } = {}): Promise<CleanupResult> {
  const runsDir = path.resolve(options.runsDir ?? defaultRunsDir());
  const result: CleanupResult = { killedPids: [], removedDirs: [], activeRuns: [] };
  let names: string[];
  try {
    names = await fsp.readdir(runsDir);
  } catch {
    names = [];
  }
  const stale = new Set<string>();
  for (const name of names) {
    const runDir = path.join(runsDir, name);
    const alive = ownerAlive(runDir);
    if (alive && !options.force) {
      result.activeRuns.push(runDir);
      continue;
    }
    if (alive === undefined && !options.force) {
      // no owner file yet: a run being created right now writes it within milliseconds
      const age = Date.now() - (await fsp.stat(runDir).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (age < 60_000) {
        result.activeRuns.push(runDir);
        continue;
      }
    }
    stale.add(name);
  }

  // orphaned backends have lost their postmaster but still sit in the data dir: match by cwd
  const victims: number[] = [];
  for (const p of allProcesses()) {
    if (p.pid === process.pid || !RUN_PROGRAMS.includes(processComm(p.pid) ?? '')) continue;
    const cwd = processCwd(p.pid);
    if (!cwd || !cwd.startsWith(runsDir + path.sep)) continue;
    const runName = cwd.slice(runsDir.length + 1).split(path.sep)[0];
    if (stale.has(runName)) victims.push(p.pid);
  }
  for (const pid of victims) {
    for (const killed of killTreeSync(pid)) if (!result.killedPids.includes(killed)) result.killedPids.push(killed);
  }
  await waitGone(result.killedPids, 10_000);

  for (const name of stale) {
    const runDir = path.join(runsDir, name);
    // a disk-full fault mounts a tmpfs under the run folder; rm cannot remove a mount point
    for (const mount of mountsUnder(runDir)) {
      spawnSync('umount', ['-l', mount], { stdio: 'ignore' });
      result.removedDirs.push(`${mount} (unmounted)`);
    }
    await fsp.rm(runDir, { recursive: true, force: true });
    result.removedDirs.push(runDir);
  }
  return result;
}

/** Mount points at or below `dir`, deepest first (so nested mounts come off in order). */
export function mountsUnder(dir: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((m): m is string => Boolean(m))
    // /proc/self/mounts escapes spaces and the like as octal
    .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(dir + path.sep))
    .sort((a, b) => b.length - a.length);
}
