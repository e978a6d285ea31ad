// The app as a process of the run: spawned in a process group of its own (like a command
// step: the user's program and whatever it starts), its output kept in app.log, stopped as a
// group (SIGTERM, then SIGKILL) at the end, also on an error or Ctrl-C. If Node exits without
// that (an uncaught exception), an exit hook kills the group; a SIGKILLed pgdrill leaves it to
// the run's reaper (runtime/reaper/), which kills its group.

import { spawn, type ChildProcess } from 'node:child_process';
import { AppLog } from './app-log.js';
import { KILL_GRACE_MS, groupAlive, signalGroup, stopGroup } from '../util/process-group.js';
import type { ReaperRegistry } from '../runtime/reaper/reaper-registry.js';

export interface AppProcessSpec {
  /** argv: ['/bin/sh', '-c', command] for a user's command, [node, server.js] for the sample */
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  log: AppLog;
  /** the app ended by itself (not stopped by pgdrill) */
  onUnexpectedExit: (exit: AppExit) => void;
  /** the run's reaper: it kills the app's group if pgdrill dies without stopping it */
  reaper?: ReaperRegistry;
}

export interface AppExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

// Groups of this process's apps; if Node exits without stopping them, they are killed.
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function killOnExit(pgid: number): void {
  liveGroups.add(pgid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const group of liveGroups) signalGroup(group, 'SIGKILL');
  });
}

export class AppProcess {
  /** settles when the leader (the shell, or node for the sample) has exited, or failed to start */
  readonly exited: Promise<AppExit | Error>;
  /** settles when its stdout and stderr have closed (all its output is in the log) */
  readonly outputClosed: Promise<void>;
  /** why it could not be spawned at all (no /bin/sh, say) */
  spawnError?: Error;
  private readonly child: ChildProcess;
  private exitInfo?: AppExit;
  private stopping = false;
  private stopped?: Promise<string>;

  constructor(spec: AppProcessSpec) {
    this.child = spawn(spec.argv[0], spec.argv.slice(1), {
      cwd: spec.cwd,
      env: spec.env,
      // a new session and process group led by the app, so -pid reaches everything it starts
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (chunk: Buffer) => spec.log.write('out', chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => spec.log.write('err', chunk));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        spec.log.note(`the app exited (${describeExit(this.exitInfo)})${this.stopping ? ' after pgdrill stopped it' : ''}`);
        if (!this.stopping) spec.onUnexpectedExit(this.exitInfo);
        resolve(this.exitInfo);
      });
      this.child.once('error', (err) => {
        this.spawnError = err;
        resolve(err);
      });
    });
    this.outputClosed = new Promise((resolve) => this.child.once('close', () => resolve()));
    if (this.child.pid !== undefined) {
      killOnExit(this.child.pid);
      spec.reaper?.processGroup(this.child.pid, 'app');
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** the leader's exit, once it has happened */
  get exit(): AppExit | undefined {
    return this.exitInfo;
  }

  /**
   * Stops the whole group (SIGTERM, SIGKILL after KILL_GRACE_MS) and says how; idempotent.
   * Also after the leader died by itself: what it started may still run.
   */
  stop(): Promise<string> {
    this.stopped ??= this.stopGroup();
    return this.stopped;
  }

  private async stopGroup(): Promise<string> {
    this.stopping = true;
    const pgid = this.child.pid;
    if (pgid === undefined) return 'never started';
    const alive = groupAlive(pgid);
    const escalated = alive ? await stopGroup(pgid, this.exited, KILL_GRACE_MS) : false;
    liveGroups.delete(pgid);
    // the pipes close once every writer is gone; one that left the group may hold them open
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
    if (!alive) return this.exitInfo ? `it had already exited (${describeExit(this.exitInfo)})` : 'it had already exited';
    return escalated ? 'SIGTERM, then SIGKILL' : 'SIGTERM';
  }
}

export function describeExit(exit: AppExit): string {
  return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
}
