// A helper server of the run (PgBouncer, HAProxy) as a local process, run the way the nodes'
// postmasters are: as the server user, in a folder of its own inside the run folder (its
// config, unix sockets and log live there, and `pgdrill cleanup` finds a leftover one by its
// working directory), in its own session so a Ctrl-C reaches pgdrill first, stopped at
// teardown and killed if Node exits without one.

import type { ReaperRegistry } from '../reaper/reaper-registry.js';
import type { ChildProcess } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { EnvironmentError, InterruptedError } from '../../errors.js';
import type { RunService, ServiceProgramInfo } from '../runtime.js';
import type { ServerUser } from './pg-binaries.js';
import { isAlive, signal, waitGone } from './proc.js';
import { readLogFrom, spawnLogged } from './spawn-logged.js';

const DEFAULT_START_TIMEOUT = 20_000;
const STOP_GRACE_MS = 5_000;

// Services of this process; if Node exits without dispose(), they are killed (best effort).
const liveServices = new Set<number>();
let exitHookInstalled = false;
function register(pid: number): void {
  liveServices.add(pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const p of liveServices) signal(p, 'SIGKILL');
    });
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface ServiceProcessInit {
  name: string;
  program: ServiceProgramInfo;
  /** <runDir>/<name>, made by the runtime for the server user */
  dir: string;
  /** who runs it (null: the current user) */
  user: ServerUser | null;
  freePort: () => Promise<number>;
  /** the run's reaper: the service's process group is registered, so a kill -9 of pgdrill does not strand it */
  reaper?: ReaperRegistry;
}

export class ServiceProcess implements RunService {
  readonly name: string;
  readonly program: ServiceProgramInfo;
  readonly dir: string;
  readonly logFile: string;
  private readonly user: ServerUser | null;
  private readonly pickPort: () => Promise<number>;
  private readonly reaper?: ReaperRegistry;
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private exit?: { code: number | null; signal: NodeJS.Signals | null };

  constructor(init: ServiceProcessInit) {
    this.name = init.name;
    this.program = init.program;
    this.dir = init.dir;
    this.user = init.user;
    this.pickPort = init.freePort;
    this.reaper = init.reaper;
    this.logFile = path.join(init.dir, `${init.name}.log`);
  }

  freePort(): Promise<number> {
    return this.pickPort();
  }

  get running(): boolean {
    return this.child !== undefined && this.exit === undefined;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  async writeFile(name: string, content: string): Promise<string> {
    if (name.includes('/') || name.startsWith('.')) throw new Error(`service file name ${JSON.stringify(name)}: a plain file name in ${this.dir}`);
    const file = path.join(this.dir, name);
    // written to a temporary name and renamed: a reload never reads half a file
    const temp = `${file}.tmp`;
    await fsp.writeFile(temp, content, { mode: 0o600 });
    if (this.user) await fsp.lchown(temp, this.user.uid, this.user.gid);
    await fsp.rename(temp, file);
    return file;
  }

  async start(args: string[], options: { ready: () => Promise<boolean>; timeout?: number; signal?: AbortSignal }): Promise<void> {
    if (this.running) throw new Error(`service ${this.name} is already running`);
    if (options.signal?.aborted) throw new InterruptedError(`start of ${this.name} interrupted`);
    const timeout = options.timeout ?? DEFAULT_START_TIMEOUT;
    const { child, logOffset, exited } = spawnLogged(this.program.path, args, {
      cwd: this.dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C', HOME: this.dir },
      user: this.user,
      logFile: this.logFile,
    });
    this.child = child;
    this.exit = undefined;
    this.exited = exited.then((exit) => {
      if (child.pid) liveServices.delete(child.pid);
      this.exit = { code: exit.code, signal: exit.signal };
    });
    if (child.pid) register(child.pid);
    this.reaper?.processGroup(child.pid, `${this.name} (${this.program.path})`);

    const deadline = Date.now() + timeout;
    for (;;) {
      const exit = this.exitStatus();
      if (exit) {
        throw new EnvironmentError(
          `${this.name} (${this.program.path}) exited during startup (${exit.signal ?? `exit ${exit.code}`}); its log:\n${await this.logSince(logOffset)}`,
          'PGDRILL_SERVICE_NOT_READY',
        );
      }
      if (options.signal?.aborted) {
        await this.stop();
        throw new InterruptedError(`start of ${this.name} interrupted`);
      }
      if (Date.now() >= deadline) {
        const log = await this.logSince(logOffset);
        await this.stop();
        throw new EnvironmentError(
          `${this.name} (${this.program.path}) did not become ready within ${Math.round(timeout / 1000)}s; its log:\n${log}`,
          'PGDRILL_SERVICE_NOT_READY',
        );
      }
      if (await options.ready().catch(() => false)) return;
      await sleep(50);
    }
  }

  /** set by the exit listener meanwhile (a method, so TypeScript does not narrow it away) */
  private exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exit;
  }

  async logTail(lines = 20): Promise<string> {
    const text = await readLogFrom(this.logFile, 0);
    return text.split('\n').filter((l) => l.length > 0).slice(-lines).join('\n') || '(empty log)';
  }

  async readLog(): Promise<string> {
    try {
      const buffer = await fsp.readFile(this.logFile);
      return buffer.subarray(Math.max(0, buffer.length - 16 * 1024 * 1024)).toString('utf8');
    } catch {
      return '';
    }
  }

  /** The end of what it logged since `offset`, for an error message. */
  private async logSince(offset: number): Promise<string> {
    return (await readLogFrom(this.logFile, offset)).slice(-8192) || '(no log)';
  }

  private async waitExit(ms: number): Promise<boolean> {
    if (!this.exited) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const done = await Promise.race([this.exited.then(() => true as const), timedOut]);
    clearTimeout(timer);
    return done;
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child?.pid || !this.running) return;
    signal(child.pid, 'SIGKILL');
    await this.waitExit(STOP_GRACE_MS);
    await waitGone([child.pid], STOP_GRACE_MS);
  }

  async pause(): Promise<void> {
    if (this.pid) signal(this.pid, 'SIGSTOP');
  }

  async resume(): Promise<void> {
    if (this.pid) signal(this.pid, 'SIGCONT');
  }

  /** SIGTERM (both programs stop at once on it), then SIGKILL; resolves once the process is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child?.pid || !this.running) return;
    const pid = child.pid;
    // a service paused by a test would never see SIGTERM
    signal(pid, 'SIGCONT');
    signal(pid, 'SIGTERM');
    if (await this.waitExit(STOP_GRACE_MS)) return;
    signal(pid, 'SIGKILL');
    await this.waitExit(STOP_GRACE_MS);
    await waitGone([pid], STOP_GRACE_MS);
    if (isAlive(pid)) throw new Error(`${this.name}: process ${pid} survived SIGKILL`);
  }
}
