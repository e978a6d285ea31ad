// A user's program in a process group of its own (spawned detached: a new session led by its
// shell): whether anything of the group is still alive, and stopping all of it (SIGTERM, then
// SIGKILL after a grace). Shared by the command step and the application in the loop, which
// both run the user's programs; PostgreSQL servers are the runtime's business (runtime/local).

import { readFileSync, readdirSync } from 'node:fs';

/** How long a process group gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 2000;

/**
 * Whether a live process of the group is left. Zombies do not count: a killed background
 * child is reparented to init, which may reap it only later (or, in some containers, never),
 * and waiting on it would turn every stop into a SIGKILL after the full grace period.
 */
export function groupAlive(pgid: number): boolean {
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

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone
  }
}

/**
 * SIGTERM to the whole group, SIGKILL to what is left after `graceMs`. Returns whether
 * SIGKILL was needed. Waits (up to another grace) for `exited`, the leader's own exit, so its
 * status is known.
 */
export async function stopGroup(pgid: number, exited: Promise<unknown>, graceMs = KILL_GRACE_MS): Promise<boolean> {
  if (!groupAlive(pgid)) return false;
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!groupAlive(pgid)) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  let escalated = false;
  if (groupAlive(pgid)) {
    escalated = true;
    signalGroup(pgid, 'SIGKILL');
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  return escalated;
}
