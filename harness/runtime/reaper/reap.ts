// Removes what a dead run left, from its reaper registry: processes and process groups
// (SIGKILL: nothing is left to shut them down cleanly), processes still working inside its
// directories (PostgreSQL backends orphaned by a killed postmaster), Docker resources by the
// run's label, mounts, then the directories. Every step is attempted whatever failed before.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { allProcesses, descendants, isAlive, procInfo, processCwd, signal, waitGone } from '../local/proc.js';
import { mountsUnder } from '../local/stale-runs.js';
import type { ReaperEntry } from './reaper-registry.js';

export interface ReapResult {
  /** pids killed, with what they were registered as */
  killed: { pid: number; label: string }[];
  containers: string[];
  networks: string[];
  volumes: string[];
  unmounted: string[];
  removedDirs: string[];
  failures: string[];
}

export interface ReapOptions {
  /** --keep: kill the processes and stop the containers, but leave directories and Docker resources */
  keep?: boolean;
  /** pids never to touch (the reaper itself) */
  spare?: number[];
}

export async function reap(entries: readonly ReaperEntry[], options: ReapOptions = {}): Promise<ReapResult> {
  const result: ReapResult = { killed: [], containers: [], networks: [], volumes: [], unmounted: [], removedDirs: [], failures: [] };
  const spare = new Set([process.pid, ...(options.spare ?? [])]);
  const victims = new Map<number, string>();
  const mark = (pid: number, label: string) => {
    if (!spare.has(pid) && !victims.has(pid)) victims.set(pid, label);
  };

  // freeze first, so nothing forks a child we would miss while the list is made
  for (const entry of entries) {
    if (entry.kind === 'process') {
      const info = procInfo(entry.pid);
      if (!info || info.startTicks !== entry.startTicks || info.state === 'Z') continue;
      signal(entry.pid, 'SIGSTOP');
      mark(entry.pid, entry.label);
      if (entry.tree) for (const kid of descendants(entry.pid)) mark(kid, entry.label);
    } else if (entry.kind === 'process-group') {
      const leader = procInfo(entry.pgid);
      // a live leader that is not ours: the group id was reused, so our group is gone
      if (leader && leader.startTicks !== entry.startTicks) continue;
      for (const p of allProcesses()) if (p.pgrp === entry.pgid && p.state !== 'Z') mark(p.pid, entry.label);
    }
  }
  const dirs = entries.filter((e): e is Extract<ReaperEntry, { kind: 'dir' }> => e.kind === 'dir');
  if (dirs.length > 0) {
    for (const p of allProcesses()) {
      // a process with a terminal is a person's shell looking at the files, not the run's
      if (p.state === 'Z' || p.ttyNr !== 0) continue;
      const cwd = processCwd(p.pid);
      const dir = cwd && dirs.find((d) => cwd === d.path || cwd.startsWith(d.path + path.sep));
      if (dir) mark(p.pid, `${dir.label} (working in ${cwd})`);
    }
  }
  for (const [pid, label] of victims) {
    if (signal(pid, 'SIGKILL')) result.killed.push({ pid, label });
  }
  // a killed process holds its files (and a stopped one its SIGKILL) until it is really gone
  for (const [pid] of victims) signal(pid, 'SIGCONT');
  if (!(await waitGone([...victims.keys()], 5_000))) {
    result.failures.push(`still alive after SIGKILL: ${[...victims.keys()].filter(isAlive).join(', ')}`);
  }

  const dockerRuns = entries.filter((e): e is Extract<ReaperEntry, { kind: 'docker-run' }> => e.kind === 'docker-run');
  const containers = entries.filter((e): e is Extract<ReaperEntry, { kind: 'container' }> => e.kind === 'container');
  if (dockerRuns.length > 0 || containers.length > 0) await reapDocker(dockerRuns, containers, options, result);

  const mounts = new Set<string>();
  for (const e of entries) if (e.kind === 'mount') mounts.add(e.path);
  for (const d of dirs) for (const m of mountsUnder(d.path)) mounts.add(m);
  for (const mount of [...mounts].sort((a, b) => b.length - a.length)) {
    // lazily: a process that escaped the kill may still hold it; the memory comes back when it goes
    const r = spawnSync('umount', ['-l', mount], { stdio: 'ignore' });
    if (r.status === 0) result.unmounted.push(mount);
  }
  if (!options.keep) {
    for (const d of dirs) {
      if (!fs.existsSync(d.path)) continue;
      try {
        await fsp.rm(d.path, { recursive: true, force: true });
        result.removedDirs.push(d.path);
      } catch (err) {
        result.failures.push(`removing ${d.path}: ${(err as Error).message}`);
      }
    }
  }
  return result;
}

async function reapDocker(
  runs: Extract<ReaperEntry, { kind: 'docker-run' }>[],
  containers: Extract<ReaperEntry, { kind: 'container' }>[],
  options: ReapOptions,
  result: ReapResult,
): Promise<void> {
  // loaded only when a run used Docker: dockerode costs a reaper that never needs it startup time
  const { dockerClient } = await import('../docker/docker-client.js');
  const { removeRunResources } = await import('../docker/docker-runtime.js');
  const docker = dockerClient();
  if (options.keep) {
    const { LABEL } = await import('../docker/labels.js');
    const ids = new Set(containers.map((c) => c.id));
    for (const run of runs) {
      try {
        const listed = await docker.listContainers({ filters: JSON.stringify({ label: [`${LABEL.runId}=${run.runId}`] }) });
        for (const c of listed) ids.add(c.Id);
      } catch (err) {
        result.failures.push(`listing the containers of docker run ${run.runId}: ${(err as Error).message}`);
      }
    }
    for (const id of ids) {
      try {
        await docker.getContainer(id).kill();
        result.containers.push(`${id} (stopped, kept)`);
      } catch {
        // not running any more
      }
    }
    return;
  }
  const known = containers.map((c) => docker.getContainer(c.id));
  for (const run of runs.length > 0 ? runs : [{ runId: '', label: '' }]) {
    const failures = run.runId
      ? await removeRunResources(docker, run.runId, known, result)
      : await removeContainers(known, result);
    for (const f of failures) result.failures.push(`docker: ${(f as Error).message ?? String(f)}`);
  }
}

async function removeContainers(containers: import('dockerode').Container[], result: ReapResult): Promise<unknown[]> {
  const failures: unknown[] = [];
  for (const c of containers) {
    try {
      await c.remove({ force: true, v: true });
      result.containers.push(c.id);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) failures.push(err);
    }
  }
  return failures;
}
