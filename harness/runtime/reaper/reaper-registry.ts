// What a run started that would outlive pgdrill's own process, written down as it is started,
// for the run's reaper (reaper-main.ts): a small JSON-lines file in the run folder
// (reaper.jsonl). When pgdrill's process is gone without having written `done` (kill -9, an
// OOM kill, a second Ctrl-C), the reaper kills and removes everything listed here.
//
// HOW TO REGISTER SOMETHING YOU START (pgbouncer, haproxy, patroni, etcd, an app, a container):
// take the run's registry (`runtime.reaper`, or the `reaper` the run hands you) and call, right
// after starting it,
//   reaper.processGroup(child.pid, 'pgbouncer')    // spawned with detached: true (its own group): the whole group is killed
//   reaper.process(child.pid, 'etcd')              // one process and everything below it
//   reaper.dir('/tmp/pgdrill/<run>/etcd', 'etcd data')  // removed (after what runs in it is killed)
//   reaper.container(container.id, 'haproxy')      // docker: removed with its volumes
// Containers and networks labelled pgdrill.run-id=<run> are removed anyway (reaper.dockerRun).
// Nothing needs unregistering: a pid is matched with its start time, so one that ended and was
// reused by an unrelated process is never touched. Processes pgdrill only talks to (in-process
// proxies, sockets) die with it and need nothing.

import fs from 'node:fs';
import { procInfo } from '../local/proc.js';

export type ReaperEntry =
  /** one process (and, with tree, everything below it); startTicks from /proc tells it from a reused pid */
  | { kind: 'process'; pid: number; startTicks: number; tree: boolean; label: string }
  /** a process group (spawned detached): every member is killed */
  | { kind: 'process-group'; pgid: number; startTicks: number; label: string }
  /** a directory: processes whose cwd is inside are killed, mounts inside unmounted, then it is removed */
  | { kind: 'dir'; path: string; label: string }
  /** a mount point, unmounted (lazily) */
  | { kind: 'mount'; path: string; label: string }
  /** every container, volume and network labelled pgdrill.run-id=<runId> */
  | { kind: 'docker-run'; runId: string; label: string }
  /** one container, removed with its anonymous volumes */
  | { kind: 'container'; id: string; label: string }
  /** the run tore down normally: the reaper has nothing to do and exits */
  | { kind: 'done'; t: number };

export const REAPER_FILE = 'reaper.jsonl';

export class ReaperRegistry {
  /** A registry that writes nothing: for runtimes used without a reaper (tests, benchmarks). */
  static readonly none = new ReaperRegistry(undefined);

  constructor(readonly file: string | undefined) {}

  get enabled(): boolean {
    return this.file !== undefined;
  }

  process(pid: number | undefined, label: string, options: { tree?: boolean } = {}): void {
    if (pid === undefined) return;
    this.append({ kind: 'process', pid, startTicks: procInfo(pid)?.startTicks ?? 0, tree: options.tree ?? true, label });
  }

  processGroup(pgid: number | undefined, label: string): void {
    if (pgid === undefined) return;
    this.append({ kind: 'process-group', pgid, startTicks: procInfo(pgid)?.startTicks ?? 0, label });
  }

  dir(path: string, label: string): void {
    this.append({ kind: 'dir', path, label });
  }

  mount(path: string, label: string): void {
    this.append({ kind: 'mount', path, label });
  }

  dockerRun(runId: string, label = `containers, volumes and networks of docker run ${runId}`): void {
    this.append({ kind: 'docker-run', runId, label });
  }

  container(id: string, label: string): void {
    this.append({ kind: 'container', id, label });
  }

  /** The run's own teardown is over: the reaper exits without touching anything. */
  done(): void {
    this.append({ kind: 'done', t: Date.now() });
  }

  // synchronous: the entry is on disk before whoever registers goes on, so a kill -9 a
  // moment later still finds it
  private append(entry: ReaperEntry): void {
    if (!this.file) return;
    try {
      fs.appendFileSync(this.file, JSON.stringify(entry) + '\n');
    } catch {
      // the run folder went away or filled up: the run's own teardown still removes this
    }
  }
}

/** The entries of a registry file; a cut-short last line (a crash mid-append) is skipped. */
export function readRegistry(file: string): ReaperEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const entries: ReaperEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      entries.push(JSON.parse(line) as ReaperEntry);
    } catch {
      // skipped
    }
  }
  return entries;
}
