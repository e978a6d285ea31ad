// One PostgreSQL server as a local process: initdb, configure, start/stop/kill/pause of the
// postmaster we spawned ourselves (so we hold its pid), and client tools run beside it.

import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { EnvironmentError, InterruptedError } from '../../errors.js';
import type { StopMode } from '../../scenario/scenario.js';
import type { Address, ClientTool, DataVolume, NodeCredentials, NodeState, RuntimeNode, StagedFile, ToolOptions, ToolResult } from '../runtime.js';
import { clientToolHint, findClientTool, serverEnv, type ServerBinaries, type ServerUser } from './pg-binaries.js';
import { continueTree, isAlive, killTreeSync, signal, stopTree, waitGone } from './proc.js';
import { runProcess } from './run-process.js';
import { readLogFrom, spawnLogged } from './spawn-logged.js';
import { ReaperRegistry } from '../reaper/reaper-registry.js';
import { STOP_SIGNALS, STOP_TIMEOUTS } from '../server-conventions.js';

export interface LocalNodeInit {
  name: string;
  version: number;
  credentials: NodeCredentials;
  binaries: ServerBinaries;
  /** who runs the server (null: the current user) */
  user: ServerUser | null;
  /** the run folder: unix sockets live here */
  runDir: string;
  /** <runDir>/<name>: data dir, log, scratch files */
  nodeDir: string;
  port: number;
  /** a fresh free port, when the first one turned out to be taken */
  pickPort: () => Promise<number>;
  /** the data directory's own filesystem, mounted before the node was made */
  volume?: DataVolume;
  /** the run's reaper: every postmaster and tool started here is registered with it */
  reaper?: ReaperRegistry;
}

const DEFAULT_START_TIMEOUT = 60_000;

// Postmasters of this process; if Node exits without dispose(), they are killed (best effort).
const livePostmasters = new Set<number>();
let exitHookInstalled = false;
function registerPostmaster(pid: number): void {
  livePostmasters.add(pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const p of livePostmasters) killTreeSync(p);
    });
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** SQL literal / identifier quoting for the few statements run in single-user mode. */
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
const hbaName = (s: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? s : `"${s.replace(/"/g, '')}"`);

/** Settings value as postgresql.conf wants it: every GUC type accepts a quoted string. */
function confValue(value: string): string {
  if (/^'.*'$/.test(value)) return value;
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

export class LocalNode implements RuntimeNode {
  readonly name: string;
  readonly version: number;
  readonly credentials: NodeCredentials;
  readonly dataDir: string;
  readonly nodeDir: string;
  readonly logFile: string;
  readonly binaries: ServerBinaries;
  readonly volume?: DataVolume;

  get serverBinDir(): string {
    return this.binaries.binDir;
  }

  get origin(): string {
    return `${this.binaries.source} ${this.binaries.version} (${this.binaries.binDir})`;
  }
  /** ms the last start() took until the server accepted connections */
  lastStartMs?: number;

  private readonly user: ServerUser | null;
  private readonly runDir: string;
  private readonly pickPort: () => Promise<number>;
  private port: number;
  private _state: NodeState = 'created';
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private exitInfo?: { code: number | null; signal: NodeJS.Signals | null };
  /** the state an exit we caused should leave behind */
  private intendedExit?: NodeState;
  private everStarted = false;
  private readonly tools = new Set<ChildProcess>();
  private readonly reaper: ReaperRegistry;

  constructor(init: LocalNodeInit) {
    this.reaper = init.reaper ?? ReaperRegistry.none;
    this.name = init.name;
    this.version = init.version;
    this.credentials = init.credentials;
    this.binaries = init.binaries;
    this.user = init.user;
    this.runDir = init.runDir;
    this.nodeDir = init.nodeDir;
    this.dataDir = path.join(init.nodeDir, 'data');
    this.logFile = path.join(init.nodeDir, 'server.log');
    this.port = init.port;
    this.pickPort = init.pickPort;
    this.volume = init.volume;
  }

  get address(): Address {
    return { host: '127.0.0.1', port: this.port };
  }

  /** Local peers reach each other on loopback too. */
  get peerAddress(): Address {
    return this.address;
  }

  get state(): NodeState {
    return this._state;
  }

  /** The postmaster's pid while it runs. */
  get pid(): number | undefined {
    return this._state === 'running' || this._state === 'paused' ? this.child?.pid : undefined;
  }

  private async chown(file: string): Promise<void> {
    if (this.user) await fsp.lchown(file, this.user.uid, this.user.gid);
  }

  private run(command: string, args: string[], options: { input?: string; timeout?: number; signal?: AbortSignal; env?: Record<string, string> } = {}) {
    return runProcess(command, args, {
      user: this.user,
      env: serverEnv(this.binaries, options.env),
      cwd: this.nodeDir,
      input: options.input,
      timeout: options.timeout,
      signal: options.signal,
      track: this.tools,
      reaper: this.reaper,
    });
  }

  private bin(name: string): string {
    return path.join(this.binaries.binDir, name);
  }

  async initdb(): Promise<void> {
    if (fs.existsSync(path.join(this.dataDir, 'PG_VERSION'))) {
      throw new Error(`node "${this.name}" already has a cluster in ${this.dataDir}`);
    }
    const { superuser, superuserPassword, replicationUser, replicationPassword } = this.credentials;
    // initdb reads the password from a file so that it never shows in `ps`
    const pwfile = path.join(this.nodeDir, 'initdb.pw');
    await fsp.writeFile(pwfile, superuserPassword + '\n', { mode: 0o600 });
    await this.chown(pwfile);
    let result: ToolResult;
    try {
      result = await this.run(
        this.bin('initdb'),
        [
          '-D', this.dataDir,
          '-U', superuser,
          `--pwfile=${pwfile}`,
          '-E', 'UTF8',
          '--locale=C',
          '--auth-local=trust',
          '--auth-host=scram-sha-256',
          // faults kill processes, not the machine: the page cache survives, fsync here only costs time
          '--no-sync',
        ],
        { timeout: 180_000 },
      );
    } finally {
      await fsp.rm(pwfile, { force: true });
    }
    if (result.exitCode !== 0) {
      throw new EnvironmentError(
        `initdb for node "${this.name}" (PostgreSQL ${this.version}, ${this.bin('initdb')}) failed (exit ${result.exitCode}):\n${(result.stderr || result.stdout).trim()}`,
        'PGDRILL_INITDB_FAILED',
      );
    }

    // trust only on the unix socket, which sits in the run folder with mode 0700; TCP
    // always asks for a password, as a production server would
    const repl = hbaName(replicationUser);
    const su = hbaName(superuser);
    await fsp.writeFile(
      path.join(this.dataDir, 'pg_hba.conf'),
      [
        '# written by pgdrill',
        'local   all          all                    trust',
        'local   replication  all                    trust',
        `host    replication  ${repl}  127.0.0.1/32  scram-sha-256`,
        ...(su !== repl ? [`host    replication  ${su}  127.0.0.1/32  scram-sha-256`] : []),
        'host    all          all     127.0.0.1/32  scram-sha-256',
        '',
      ].join('\n'),
    );
    await fsp.appendFile(
      path.join(this.dataDir, 'postgresql.conf'),
      [
        '',
        '# pgdrill base settings (listen address, port and socket dir are also passed on the',
        '# command line at start, so a data dir copied from another node still binds its own)',
        "listen_addresses = '127.0.0.1'",
        `port = ${this.port}`,
        `unix_socket_directories = ${confValue(this.runDir)}`,
        'unix_socket_permissions = 0700',
        'wal_level = logical',
        'max_wal_senders = 10',
        'max_replication_slots = 10',
        'hot_standby = on',
        'logging_collector = off',
        "password_encryption = 'scram-sha-256'",
        "log_line_prefix = '%m [%p] %q%u@%d '",
        '',
      ].join('\n'),
    );

    // The replication role (and the superuser's password, re-set so that it is stored as
    // SCRAM on 13 whose default is md5) are made in single-user mode: initdb() then leaves a
    // complete cluster, and the first start needs no SQL that a synchronous_standby_names
    // setting could block.
    const statements = [`ALTER ROLE ${ident(superuser)} PASSWORD ${literal(superuserPassword)};`];
    statements.push(
      replicationUser === superuser
        ? `ALTER ROLE ${ident(superuser)} WITH REPLICATION;`
        : `CREATE ROLE ${ident(replicationUser)} WITH REPLICATION LOGIN PASSWORD ${literal(replicationPassword)};`,
    );
    const single = await this.run(this.bin('postgres'), ['--single', '-D', this.dataDir, '-c', 'exit_on_error=on', 'postgres'], {
      input: statements.join('\n') + '\n',
      timeout: 60_000,
    });
    const output = `${single.stdout}\n${single.stderr}`;
    if (single.exitCode !== 0 || /\b(ERROR|FATAL|PANIC):/.test(output)) {
      throw new EnvironmentError(
        `creating the roles of node "${this.name}" in single-user mode failed (exit ${single.exitCode}):\n${output.replace(/PASSWORD '[^']*'/g, "PASSWORD '***'").trim()}`,
        'PGDRILL_INITDB_FAILED',
      );
    }
  }

  async configure(settings: Record<string, string>): Promise<void> {
    const conf = path.join(this.dataDir, 'postgresql.conf');
    if (!fs.existsSync(conf)) throw new Error(`node "${this.name}" has no postgresql.conf yet: initdb() or fill ${this.dataDir} first`);
    const lines = ['', '# pgdrill configure()'];
    for (const [key, value] of Object.entries(settings)) {
      if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key)) throw new Error(`invalid setting name ${JSON.stringify(key)}`);
      if (/[\r\n]/.test(value)) throw new Error(`setting ${key}: value must be on one line`);
      lines.push(`${key} = ${confValue(value)}`);
    }
    await fsp.appendFile(conf, lines.join('\n') + '\n');
  }

  async writeDataFile(relativePath: string, content: string | Buffer): Promise<void> {
    const target = path.resolve(this.dataDir, relativePath);
    if (!target.startsWith(this.dataDir + path.sep)) throw new Error(`${relativePath} is outside the data directory`);
    // create missing parents one by one so that each is owned by the server user
    const missing: string[] = [];
    for (let dir = path.dirname(target); !fs.existsSync(dir); dir = path.dirname(dir)) missing.unshift(dir);
    for (const dir of missing) {
      await fsp.mkdir(dir, { mode: 0o700 });
      await this.chown(dir);
    }
    await fsp.writeFile(target, content, { mode: 0o600 });
    await this.chown(target);
  }

  async writeNodeFile(name: string, content: string | Buffer): Promise<string> {
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(name) || name.split('/').includes('..')) throw new Error(`${name}: a plain relative file name is needed`);
    const target = path.join(this.nodeDir, name);
    for (let dir = path.dirname(target); dir !== this.nodeDir && !fs.existsSync(dir); dir = path.dirname(dir)) {
      await fsp.mkdir(dir, { mode: 0o700 });
      await this.chown(dir);
    }
    await fsp.writeFile(target, content, { mode: 0o600 });
    await this.chown(target);
    return target;
  }

  async start(options: { signal?: AbortSignal; timeout?: number } = {}): Promise<void> {
    if (this._state === 'running') return;
    if (this._state === 'paused') throw new Error(`node "${this.name}" is paused: resume() it instead of start()`);
    if (!fs.existsSync(path.join(this.dataDir, 'PG_VERSION'))) {
      throw new Error(`node "${this.name}" has no cluster in ${this.dataDir}: initdb() or fill it first`);
    }
    // the first port was only free when we looked: if someone took it since, take another
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.startOnce(options);
      if (outcome === 'ready') return;
      if (this.everStarted || attempt >= 2) break;
      this.port = await this.pickPort();
    }
    throw new EnvironmentError(
      `node "${this.name}" (PostgreSQL ${this.version}) could not bind a TCP port on 127.0.0.1:\n${await this.logTail(20)}`,
      'PGDRILL_NODE_NOT_READY',
    );
  }

  private async startOnce(options: { signal?: AbortSignal; timeout?: number }): Promise<'ready' | 'port-taken'> {
    if (options.signal?.aborted) throw new InterruptedError(`start of node "${this.name}" interrupted`);
    const timeout = options.timeout ?? DEFAULT_START_TIMEOUT;
    const started = Date.now();
    await fsp.chmod(this.dataDir, 0o700).catch(() => undefined);
    const { child, logOffset, exited } = spawnLogged(
      this.bin('postgres'),
      [
        '-D', this.dataDir,
        '-p', String(this.port),
        '-c', 'listen_addresses=127.0.0.1',
        '-c', `unix_socket_directories=${this.runDir}`,
        '-c', 'unix_socket_permissions=0700',
      ],
      { cwd: this.dataDir, env: serverEnv(this.binaries), user: this.user, logFile: this.logFile },
    );
    this.child = child;
    this.exitInfo = undefined;
    this.intendedExit = undefined;
    this.exited = exited.then((exit) => {
      if (child.pid) livePostmasters.delete(child.pid);
      this.exitInfo = { code: exit.code, signal: exit.signal };
      if (this.child === child) this._state = exit.spawnFailed ? 'stopped' : this.intendedExit ?? (exit.code === 0 ? 'stopped' : 'killed');
    });
    if (child.pid) registerPostmaster(child.pid);
    this.reaper.process(child.pid, `postgres ${this.name} (postmaster and its children)`);
    this._state = 'running';

    const deadline = started + timeout;
    for (;;) {
      // set by the exit listener meanwhile (a getter, so TypeScript does not narrow it away)
      const exit = this.exitStatus();
      if (exit) {
        const newLog = await readLogFrom(this.logFile, logOffset);
        if (!this.everStarted && /could not bind|Address already in use|could not create any TCP\/IP sockets/.test(newLog)) return 'port-taken';
        throw new EnvironmentError(
          `node "${this.name}" (PostgreSQL ${this.version}) exited during startup (${exit.signal ?? 'exit ' + exit.code}); last log lines:\n${await this.logTail(20)}`,
          'PGDRILL_NODE_NOT_READY',
        );
      }
      if (options.signal?.aborted) {
        await this.kill();
        throw new InterruptedError(`start of node "${this.name}" interrupted`);
      }
      if (Date.now() >= deadline) {
        const tail = await this.logTail(20);
        await this.kill();
        throw new EnvironmentError(
          `node "${this.name}" (PostgreSQL ${this.version}) did not accept connections within ${Math.round(timeout / 1000)}s; last log lines:\n${tail}`,
          'PGDRILL_NODE_NOT_READY',
        );
      }
      if (await this.acceptsConnections()) break;
      await sleep(50);
    }
    this.everStarted = true;
    this.lastStartMs = Date.now() - started;
    return 'ready';
  }

  private exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exitInfo;
  }

  /** Like pg_isready, but a full SELECT 1 over the unix socket (trust, so no password). */
  private async acceptsConnections(): Promise<boolean> {
    if (!fs.existsSync(path.join(this.runDir, `.s.PGSQL.${this.port}`))) return false;
    const client = new pg.Client({
      host: this.runDir,
      port: this.port,
      user: this.credentials.superuser,
      database: 'postgres',
      connectionTimeoutMillis: 2000,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private async waitExit(timeoutMs: number): Promise<boolean> {
    if (!this.exited) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const result = await Promise.race([this.exited.then(() => true as const), timedOut]);
    clearTimeout(timer);
    return result;
  }

  private get alive(): boolean {
    return this.child !== undefined && this.exitInfo === undefined && (this._state === 'running' || this._state === 'paused');
  }

  /** smart waits for clients to leave, fast disconnects them, immediate skips the shutdown checkpoint. */
  async stop(mode: StopMode = 'fast', options: { timeout?: number } = {}): Promise<void> {
    if (!this.alive) return;
    const pid = this.child!.pid!;
    // a stopped process would never see the shutdown signal
    if (this._state === 'paused') continueTree(pid);
    this.intendedExit = 'stopped';
    this._state = 'running';
    signal(pid, STOP_SIGNALS[mode]);
    const timeout = options.timeout ?? STOP_TIMEOUTS[mode];
    if (!(await this.waitExit(timeout))) {
      this.intendedExit = undefined;
      throw new EnvironmentError(
        `node "${this.name}" did not stop (${mode}) within ${Math.round(timeout / 1000)}s; last log lines:\n${await this.logTail(20)}`,
        'PGDRILL_NODE_STOP_TIMEOUT',
      );
    }
    this._state = 'stopped';
  }

  /** SIGKILL the postmaster and every child at once, like a host that lost power. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.intendedExit = 'killed';
    const pids = killTreeSync(this.child!.pid!);
    await this.waitExit(10_000);
    await waitGone(pids, 10_000);
    this._state = 'killed';
  }

  /**
   * SIGSTOP the postmaster and all its children: stopping the postmaster alone would leave
   * the backends answering on their existing connections.
   */
  async pause(): Promise<void> {
    if (this._state !== 'running' || !this.alive) throw new Error(`node "${this.name}" is ${this._state}: only a running node can be paused`);
    await stopTree(this.child!.pid!);
    this._state = 'paused';
  }

  async resume(): Promise<void> {
    if (this._state !== 'paused') return;
    continueTree(this.child!.pid!);
    this._state = 'running';
  }

  async logTail(lines = 20): Promise<string> {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(this.logFile, 'r');
    } catch {
      return '(no server log yet)';
    }
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 256 * 1024);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString('utf8').split('\n').filter((l) => l.length > 0).slice(-lines).join('\n');
    } finally {
      await handle.close();
    }
  }

  /**
   * Which major a tool must have when the caller does not say: psql talks to any server;
   * pg_dump, pg_dumpall, pg_basebackup and pg_restore must be at least the server's major;
   * pg_rewind exactly the server's (findClientTool enforces that).
   */
  private defaultMinMajor(tool: ClientTool): number {
    return tool === 'psql' ? 0 : this.version;
  }

  /**
   * Runs a client tool as the server user (files it writes into a data dir get the right
   * owner). PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE point at this node unless options.env
   * or the arguments say otherwise. A timeout gives exit code 124.
   */
  async runTool(tool: ClientTool, args: string[], options: ToolOptions = {}): Promise<ToolResult> {
    const minMajor = options.minMajor ?? this.defaultMinMajor(tool);
    const found = findClientTool(tool, minMajor);
    if (!found) throw new EnvironmentError(clientToolHint(tool, minMajor), 'PGDRILL_CLIENT_TOOL_MISSING');
    return runProcess(found.path, args, {
      user: this.user,
      cwd: this.nodeDir,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        LANG: 'C',
        LC_ALL: 'C',
        // the server user cannot read root's home; psql and friends look there for rc files
        HOME: this.nodeDir,
        PGHOST: '127.0.0.1',
        PGPORT: String(this.port),
        PGUSER: this.credentials.superuser,
        PGPASSWORD: this.credentials.superuserPassword,
        PGDATABASE: 'postgres',
        ...options.env,
      },
      timeout: options.timeout,
      signal: options.signal,
      track: this.tools,
      reaper: this.reaper,
    });
  }

  async hasTool(tool: ClientTool, minMajor: number): Promise<boolean> {
    return findClientTool(tool, minMajor) !== undefined;
  }

  /**
   * A copy in the node's folder, owned by the server user: the original may sit under a home
   * directory that user cannot traverse (root's, a 0700 one).
   */
  async stageFile(hostPath: string, name: string): Promise<StagedFile> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`stageFile: ${JSON.stringify(name)} is not a plain file name`);
    const target = path.join(this.nodeDir, name);
    await fsp.rm(target, { recursive: true, force: true });
    await fsp.cp(hostPath, target, { recursive: true, dereference: true });
    const own = async (file: string): Promise<void> => {
      await this.chown(file);
      const stat = await fsp.lstat(file);
      if (stat.isDirectory()) for (const entry of await fsp.readdir(file)) await own(path.join(file, entry));
    };
    await own(target);
    return { path: target, remove: () => fsp.rm(target, { recursive: true, force: true }) };
  }

  /**
   * Teardown: whatever state the node is in, leave no process behind. Fast shutdown, then
   * immediate, then SIGKILL of the whole tree; running tools are killed too.
   */
  async shutdown(): Promise<void> {
    for (const tool of this.tools) {
      try {
        process.kill(-tool.pid!, 'SIGKILL');
      } catch {
        tool.kill('SIGKILL');
      }
    }
    if (!this.alive) return;
    const pid = this.child!.pid!;
    continueTree(pid);
    this._state = 'running';
    this.intendedExit = 'stopped';
    signal(pid, 'SIGINT');
    if (await this.waitExit(10_000)) return;
    signal(pid, 'SIGQUIT');
    if (await this.waitExit(5_000)) return;
    const pids = killTreeSync(pid);
    await this.waitExit(5_000);
    await waitGone(pids, 5_000);
    if (isAlive(pid)) throw new Error(`node "${this.name}": postmaster ${pid} survived SIGKILL`);
  }
}
