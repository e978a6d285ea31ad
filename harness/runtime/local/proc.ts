// Linux process-tree helpers over /proc. PostgreSQL's children call setsid(), so they are
// not in the postmaster's process group: signalling "the server" means walking the tree.

import fs from 'node:fs';

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** process group id */
  pgrp: number;
  /** controlling terminal (0: none, as for every server pgdrill starts) */
  ttyNr: number;
  /** one-letter state from /proc/<pid>/stat: R, S, D, T (stopped), Z (zombie)... */
  state: string;
  /** clock ticks after boot; with the pid, identifies a process across pid reuse */
  startTicks: number;
}

/** /proc/<pid>/stat parsed; undefined when the process is gone. */
export function procInfo(pid: number): ProcInfo | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses: the fields we want follow the last ')'
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pid, state: rest[0], ppid: Number(rest[1]), pgrp: Number(rest[2]), ttyNr: Number(rest[4]), startTicks: Number(rest[19]) };
}

export function allProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = procInfo(Number(entry));
    if (info) out.push(info);
  }
  return out;
}

/** Every process below `pid` (children, their children...), parents before children. */
export function descendants(pid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const p of allProcesses()) {
    const list = byParent.get(p.ppid);
    if (list) list.push(p.pid);
    else byParent.set(p.ppid, [p.pid]);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const kids = byParent.get(queue.shift()!) ?? [];
    out.push(...kids);
    queue.push(...kids);
  }
  return out;
}

/** Alive means it exists and is not a zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  const info = procInfo(pid);
  return info !== undefined && info.state !== 'Z' && info.state !== 'X';
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves true once every pid is gone, false if some are still alive after timeoutMs. */
export async function waitGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (pids.every((p) => !isAlive(p))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
}

async function waitStopped(pids: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pids.every((p) => { const s = procInfo(p)?.state; return s === undefined || s === 'T' || s === 'Z' || s === 't'; })) return;
    await sleep(5);
  }
}

/**
 * SIGSTOP a process and everything below it. The root is stopped first and observed stopped
 * before its children are listed, so it cannot fork a child that escapes the freeze.
 */
export async function stopTree(root: number): Promise<number[]> {
  signal(root, 'SIGSTOP');
  await waitStopped([root], 2000);
  const stopped = new Set<number>();
  // children may fork while we stop them (archive_command shells): repeat until quiet
  for (let round = 0; round < 5; round++) {
    const fresh = descendants(root).filter((p) => !stopped.has(p));
    if (fresh.length === 0) break;
    for (const p of fresh) {
      signal(p, 'SIGSTOP');
      stopped.add(p);
    }
    await waitStopped(fresh, 2000);
  }
  return [...stopped];
}

/** SIGCONT everything below root, then root. */
export function continueTree(root: number): void {
  for (const p of descendants(root)) signal(p, 'SIGCONT');
  signal(root, 'SIGCONT');
}

/**
 * SIGKILL root and everything below it, synchronously (usable in process.on('exit')). The
 * root is frozen first so that the list of children is final when the kills land.
 */
export function killTreeSync(root: number): number[] {
  signal(root, 'SIGSTOP');
  const kids = descendants(root);
  signal(root, 'SIGKILL');
  for (const p of kids) signal(p, 'SIGKILL');
  return [root, ...kids];
}

/** Working directory of a process (PostgreSQL processes chdir into their data dir). */
export function processCwd(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
}

export function processComm(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}
