// The application in the loop for one run: start it (DATABASE_URL = the endpoint, PORT = a
// free loopback port), wait until ready.path answers, drive its HTTP load alongside the
// database load, run its checks once the cutover has ended (or at the end of the load), and
// stop it before verification and again at teardown. An app that cannot be started, never
// answers or exits before it is ready is an environment error (exit 3) with its log's tail;
// one that dies during the load is not: that is app downtime, and the run goes on.

import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Recorder } from '../record/recorder.js';
import type { AppConfig } from '../scenario/scenario.js';
import { EnvironmentError, InterruptedError, errorMessage } from '../errors.js';
import { exitHint } from '../steps/command-step.js';
import { AppLog } from './app-log.js';
import type { ReaperRegistry } from '../runtime/reaper/reaper-registry.js';
import { AppProcess, describeExit, type AppExit } from './app-process.js';
import { runAppChecks } from './app-checks.js';
import { runAppLoad } from './app-load.js';
import { freeListenPort } from '../util/free-port.js';
import { httpRequest, type AppAddress, type HttpOutcome } from './http-request.js';
import { sampleServiceEntry } from './sample-service.js';
import type { OpenLoopSummary } from '../workload/open-loop.js';

export const APP_LOG_FILE = 'app.log';
const READY_POLL_MS = 100;

export interface AppSessionOptions {
  config: AppConfig;
  /** the endpoint clients use, with the run's credentials: the app's DATABASE_URL */
  databaseUrl: string;
  /** the scenario file's folder: a command runs there */
  baseDir: string;
  /** the run folder: app.log goes there */
  folder: string;
  recorder: Recorder;
  /** the run's signal (Ctrl-C) */
  signal: AbortSignal;
  /** the run's reaper: the app's process group is registered with it (it outlives a kill -9 of pgdrill) */
  reaper?: ReaperRegistry;
}

/** What results.json says about the app, gathered while it ran. */
export interface AppFacts {
  command: string;
  sample: boolean;
  port: number | null;
  readyAfterMs: number | null;
  exited: { t: number; code: number | null; signal: string | null } | null;
  logFile: string;
}

export class AppSession {
  private process?: AppProcess;
  private log?: AppLog;
  private port: number | null = null;
  private readyAfterMs: number | null = null;
  private exitedEarly: AppFacts['exited'] = null;
  private load?: Promise<OpenLoopSummary>;
  private readonly loadController = new AbortController();
  private checks?: Promise<unknown>;
  private stopped?: Promise<void>;
  private readonly unsubscribe: () => void;
  readonly command: string;
  readonly sample: boolean;

  constructor(private readonly options: AppSessionOptions) {
    this.sample = options.config.command === undefined;
    this.command = this.sample ? `node ${sampleServiceEntry()}` : options.config.command!;
    options.signal.addEventListener('abort', () => this.loadController.abort(), { once: true });
    // the checks run once the real cutover (or failover) has ended, while the load goes on
    this.unsubscribe = options.recorder.onEvent((e) => {
      if (e.kind === 'cutover-end' && !e.dryRun && this.readyAfterMs !== null) this.runChecksOnce('after the cutover');
    });
  }

  get address(): AppAddress {
    if (this.port === null) throw new Error('the app has not been started');
    return { host: '127.0.0.1', port: this.port };
  }

  get logFile(): string {
    return path.join(this.options.folder, APP_LOG_FILE);
  }

  /** Starts the app and waits until it is ready; throws EnvironmentError (exit 3) when it cannot be. */
  async start(): Promise<void> {
    const { config, recorder, signal } = this.options;
    try {
      const { argv, cwd } = this.argv();
      this.port = await freeListenPort();
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
      Object.assign(env, config.env, { DATABASE_URL: this.options.databaseUrl, PORT: String(this.port) });
      this.log = new AppLog(this.logFile, () => recorder.now());
      const startedAt = recorder.now();
      this.process = new AppProcess({
        argv,
        cwd,
        env,
        log: this.log,
        onUnexpectedExit: (exit) => this.exitedByItself(exit),
        reaper: this.options.reaper,
      });
      recorder.event('app-start', { command: this.command, sample: this.sample, port: this.port, pid: this.process.pid ?? null, cwd });
      const attempts = await this.waitReady(signal);
      this.readyAfterMs = Math.round(recorder.now() - startedAt);
      recorder.event('app-ready', { port: this.port, afterMs: this.readyAfterMs, attempts });
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Starts the app load at the workload's first intended operation (one clock for both). */
  startLoad(startMs: number, durationMs: number, nextId: () => number): void {
    const { config } = this.options;
    if (config.load.rate <= 0) return;
    this.load = runAppLoad({
      config: config.load,
      address: this.address,
      recorder: this.options.recorder,
      startMs,
      durationMs,
      signal: this.loadController.signal,
      nextId,
    });
    this.load.catch(() => undefined);
  }

  /** Resolves when the app load has recorded every intended request (at once when there is none). */
  async loadDone(): Promise<void> {
    await this.load;
  }

  /**
   * After the load: the checks if no cutover ran them, then the app is stopped, so that nothing
   * it does in the background can change the data while it is verified.
   */
  async finish(): Promise<void> {
    await this.load;
    this.runChecksOnce('at the end of the load');
    await this.checks;
    await this.stop();
  }

  /** Stops the load and the app's whole process group; idempotent (teardown calls it too). */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.unsubscribe();
      this.loadController.abort();
      await this.load?.catch(() => undefined);
      await this.checks?.catch(() => undefined);
      if (this.process) {
        const startMs = this.options.recorder.now();
        const how = await this.process.stop();
        const exit = this.process.exit;
        if (!this.exitedEarly && exit) this.options.recorder.event('app-exited', { code: exit.code, signal: exit.signal, expected: true });
        this.options.recorder.event('app-stop', { how, durationMs: Math.round(this.options.recorder.now() - startMs) });
      }
      await this.log?.close();
    })();
    return this.stopped;
  }

  facts(): AppFacts {
    return { command: this.command, sample: this.sample, port: this.port, readyAfterMs: this.readyAfterMs, exited: this.exitedEarly, logFile: this.logFile };
  }

  /** app.log as written; empty when the app never started. */
  async logText(): Promise<string> {
    return existsSync(this.logFile) ? readFile(this.logFile, 'utf8') : '';
  }

  private runChecksOnce(when: 'after the cutover' | 'at the end of the load'): void {
    const { config, recorder, signal } = this.options;
    if (this.checks || config.checks.length === 0 || this.port === null) return;
    this.checks = runAppChecks(config.checks, this.address, when, recorder, signal).catch((err) =>
      recorder.event('verify-warning', { message: `the app checks could not run: ${errorMessage(err)}` }),
    );
  }

  private exitedByItself(exit: AppExit): void {
    const { recorder } = this.options;
    this.exitedEarly = { t: recorder.now(), code: exit.code, signal: exit.signal };
    recorder.event('app-exited', { code: exit.code, signal: exit.signal, expected: false });
  }

  /** What to spawn and where. A command runs through the shell in the scenario's folder, like a command step. */
  private argv(): { argv: string[]; cwd: string } {
    const cwd = path.resolve(this.options.baseDir);
    let isDir = false;
    try {
      isDir = statSync(cwd).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw new EnvironmentError(`the app cannot be started: its working directory ${cwd} (the scenario file's folder) is not a directory`, 'PGDRILL_APP_NOT_STARTED');
    if (!this.sample) return { argv: ['/bin/sh', '-c', this.options.config.command!], cwd };
    const entry = sampleServiceEntry();
    if (!existsSync(entry)) {
      throw new EnvironmentError(`the bundled sample service is missing (${entry}); reinstall pgdrill, or give app.command`, 'PGDRILL_APP_NOT_STARTED');
    }
    return { argv: [process.execPath, entry], cwd };
  }

  /** Polls ready.path until it answers 2xx; fails fast when the app exits. Returns the attempts made. */
  private async waitReady(signal: AbortSignal): Promise<number> {
    const { ready } = this.options.config;
    const proc = this.process!;
    const deadline = Date.now() + ready.timeout;
    let attempts = 0;
    let last: HttpOutcome | undefined;
    for (;;) {
      if (signal.aborted) throw new InterruptedError('interrupted while waiting for the app to be ready');
      if (proc.spawnError) {
        throw new EnvironmentError(`the app could not be started (${this.command} in ${this.options.baseDir}): ${proc.spawnError.message}`, 'PGDRILL_APP_NOT_STARTED');
      }
      if (proc.exit) throw await this.notReady(`exited (${describeExit(proc.exit)}${exitHint(proc.exit.code, this.options.baseDir)}) before it answered`, 'PGDRILL_APP_EXITED');
      const left = deadline - Date.now();
      if (left <= 0) {
        const why = !last ? '' : last.kind === 'response' ? `; it last answered ${last.status}` : last.kind === 'timeout' ? '; it last did not answer in time' : `; last attempt: ${last.code}`;
        throw await this.notReady(`did not answer 2xx within ${Math.round(ready.timeout / 1000)}s${why} (is it listening on 127.0.0.1:$PORT?)`, 'PGDRILL_APP_NOT_READY');
      }
      attempts++;
      last = await httpRequest(this.address, { method: 'GET', path: ready.path }, { timeoutMs: Math.min(1000, left), signal });
      if (last.kind === 'response' && last.status >= 200 && last.status < 300) return attempts;
      await Promise.race([proc.exited, new Promise((r) => setTimeout(r, READY_POLL_MS))]);
    }
  }

  private async notReady(what: string, code: string): Promise<EnvironmentError> {
    const { ready } = this.options.config;
    // what it printed last may still be in the pipes when its exit is seen
    await Promise.race([this.process?.outputClosed, new Promise((r) => setTimeout(r, 500))]);
    const tail = this.log?.tail() ?? '';
    return new EnvironmentError(
      `the app (${this.command}) ${what} GET ${ready.path} on port ${this.port}; its output is in ${this.logFile}` +
        (tail ? `, ending:\n${tail.split('\n').map((l) => `    ${l}`).join('\n')}` : ' (it printed nothing)'),
      code,
    );
  }
}
