// One PostgreSQL server in a container: the container's main process only keeps it alive;
// initdb, the postmaster and client tools are exec'd as the container's postgres user, so
// the server can be stopped, SIGKILLed and started again while the container (its data dir,
// its DNS name, its published port) stays. Pause is `docker pause` (the cgroup freezer).

import { spawn } from 'node:child_process';
import path from 'node:path';
import type Docker from 'dockerode';
import pg from 'pg';
import { EnvironmentError, InterruptedError, errorMessage } from '../../errors.js';
import type { StopMode } from '../../scenario/scenario.js';
import type { Address, ClientTool, DataVolume, NodeCredentials, NodeState, RuntimeNode, StagedFile, ToolOptions, ToolResult } from '../runtime.js';
import { DATA_DIR, LOG_FILE, PG_PORT, ROOT, SOCKET_DIR, pickProgram, type ProbedProgram } from './container-layout.js';
import { KILL_TREE, execIn, execOk, startExec, type ExecHandle } from './exec.js';
import type { ImageChoice } from './images.js';
import { STOP_SIGNALS, STOP_TIMEOUTS } from '../server-conventions.js';

export interface DockerNodeInit {
  docker: Docker;
  container: Docker.Container;
  containerName: string;
  name: string;
  version: number;
  credentials: NodeCredentials;
  image: ImageChoice;
  /** the run's network: the node is reachable there as `name` */
  network: Docker.Network;
  hostPort: number;
  programs: ProbedProgram[];
  /** the data directory's own tmpfs, when the spec asked for one */
  volume?: DataVolume;
}

const DEFAULT_START_TIMEOUT = 60_000;
const PG_USER = 'postgres';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
const hbaName = (s: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? s : `"${s.replace(/"/g, '')}"`);

/** Settings value as postgresql.conf wants it: every GUC type accepts a quoted string. */
function confValue(value: string): string {
  if (/^'.*'$/.test(value)) return value;
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** Resolves true when the promise settles within ms. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const result = await Promise.race([promise.then(() => true as const, () => true as const), timedOut]);
  clearTimeout(timer);
  return result;
}

export class DockerNode implements RuntimeNode {
  readonly name: string;
  readonly version: number;
  readonly credentials: NodeCredentials;
  readonly dataDir = DATA_DIR;
  readonly containerName: string;
  readonly image: ImageChoice;
  readonly volume?: DataVolume;
  /** ms the last start() took until the server accepted connections */
  lastStartMs?: number;

  private readonly docker: Docker;
  private readonly container: Docker.Container;
  private readonly network: Docker.Network;
  private readonly programs: ProbedProgram[];
  private readonly server: ProbedProgram;
  private hostPort: number;
  private _state: NodeState = 'created';
  private disconnected = false;
  private postmaster?: { handle: ExecHandle; pid: Promise<number>; exit?: number };
  /** the state an exit we caused should leave behind */
  private intendedExit?: NodeState;

  constructor(init: DockerNodeInit) {
    this.docker = init.docker;
    this.container = init.container;
    this.containerName = init.containerName;
    this.name = init.name;
    this.version = init.version;
    this.credentials = init.credentials;
    this.image = init.image;
    this.network = init.network;
    this.hostPort = init.hostPort;
    this.programs = init.programs;
    this.volume = init.volume;
    const server = pickProgram(init.programs, 'postgres', init.version);
    if (!server || server.major !== init.version || !pickProgram(init.programs, 'initdb', init.version)) {
      const majors = [...new Set(init.programs.filter((p) => p.name === 'postgres').map((p) => p.major))];
      throw new EnvironmentError(
        `image "${init.image.image}" for node "${init.name}" has no PostgreSQL ${init.version} server ` +
          `(${majors.length ? `it has ${majors.join(', ')}` : 'no postgres binary found under /usr/lib/postgresql/*/bin, /usr/local/bin, /usr/bin'}). ` +
          `Use an image of major ${init.version} (postgres:${init.version}, or \`pgdrill image build ${init.version}\`) or change the node's version.`,
        'PGDRILL_DOCKER_IMAGE_MISMATCH',
      );
    }
    this.server = server;
  }

  get address(): Address {
    return { host: '127.0.0.1', port: this.hostPort };
  }

  /** Other containers of the run reach this one by its name on the run's network. */
  get peerAddress(): Address {
    return { host: this.name, port: PG_PORT };
  }

  get state(): NodeState {
    return this._state;
  }

  get origin(): string {
    return `docker image ${this.image.image} (${this.image.id.replace(/^sha256:/, '').slice(0, 12)}), PostgreSQL ${this.server.version} (${this.server.path.replace(/\/postgres$/, '')})`;
  }

  get containerId(): string {
    return this.container.id;
  }

  private binDir(): string {
    return this.server.path.replace(/\/postgres$/, '');
  }

  /** A shell script run as the container's postgres user; throws with its output on failure. */
  private sh(script: string, what: string, env: Record<string, string> = {}, timeout = 60_000): Promise<string> {
    return execOk(this.docker, this.container, ['/bin/sh', '-c', script], { user: PG_USER, env: { LANG: 'C', LC_ALL: 'C', ...env }, workdir: ROOT, timeout, what });
  }

  async initdb(): Promise<void> {
    const { superuser, superuserPassword, replicationUser, replicationPassword } = this.credentials;
    const repl = hbaName(replicationUser);
    const su = hbaName(superuser);
    // TCP always asks for a password: peers and the harness (through the published port)
    // arrive from the run's network, whose addresses Docker picks
    const hba = [
      '# written by pgdrill (docker runtime)',
      'local   all          all             trust',
      'local   replication  all             trust',
      `host    replication  ${repl}  all  scram-sha-256`,
      ...(su !== repl ? [`host    replication  ${su}  all  scram-sha-256`] : []),
      'host    all          all     all  scram-sha-256',
      '',
    ].join('\n');
    const conf = [
      '',
      '# pgdrill base settings (docker runtime)',
      "listen_addresses = '*'",
      `port = ${PG_PORT}`,
      `unix_socket_directories = ${confValue(SOCKET_DIR)}`,
      'unix_socket_permissions = 0700',
      'wal_level = logical',
      'max_wal_senders = 10',
      'max_replication_slots = 10',
      'hot_standby = on',
      'logging_collector = off',
      "password_encryption = 'scram-sha-256'",
      "log_line_prefix = '%m [%p] %q%u@%d '",
      '',
    ].join('\n');
    // the replication role and the superuser's SCRAM password are made in single-user mode,
    // as the local runtime does: the first start needs no SQL a sync setting could block
    const sql = [
      `ALTER ROLE ${ident(superuser)} PASSWORD ${literal(superuserPassword)};`,
      replicationUser === superuser
        ? `ALTER ROLE ${ident(superuser)} WITH REPLICATION;`
        : `CREATE ROLE ${ident(replicationUser)} WITH REPLICATION LOGIN PASSWORD ${literal(replicationPassword)};`,
    ].join('\n');
    const script = `
set -e
[ ! -f "$D/PG_VERSION" ] || { echo "node already has a cluster in $D" >&2; exit 1; }
umask 077
printf '%s\\n' "$PGDRILL_PW" > ${ROOT}/initdb.pw
trap 'rm -f ${ROOT}/initdb.pw' EXIT
# faults kill processes, not the machine: fsync at initdb only costs time
"$B/initdb" -D "$D" -U "$PGDRILL_SU" --pwfile=${ROOT}/initdb.pw -E UTF8 --locale=C --auth-local=trust --auth-host=scram-sha-256 --no-sync >${ROOT}/initdb.log 2>&1 || { cat ${ROOT}/initdb.log >&2; exit 1; }
printf '%s' "$PGDRILL_HBA" > "$D/pg_hba.conf"
printf '%s' "$PGDRILL_CONF" >> "$D/postgresql.conf"
out=$(printf '%s\\n' "$PGDRILL_SQL" | "$B/postgres" --single -D "$D" -c exit_on_error=on postgres 2>&1) || { echo "single-user mode failed: $out" >&2; exit 1; }
case "$out" in *ERROR:*|*FATAL:*|*PANIC:*) echo "single-user mode: $out" >&2; exit 1 ;; esac
`;
    try {
      await this.sh(
        script,
        `initdb for node "${this.name}"`,
        { D: DATA_DIR, B: this.binDir(), PGDRILL_PW: superuserPassword, PGDRILL_SU: superuser, PGDRILL_HBA: hba, PGDRILL_CONF: conf, PGDRILL_SQL: sql },
        180_000,
      );
    } catch (err) {
      throw new EnvironmentError(
        `${errorMessage(err).replace(/PASSWORD '[^']*'/g, "PASSWORD '***'")} (image ${this.image.image}, ${this.binDir()})`,
        'PGDRILL_INITDB_FAILED',
      );
    }
  }

  async configure(settings: Record<string, string>): Promise<void> {
    const lines = ['', '# pgdrill configure()'];
    for (const [key, value] of Object.entries(settings)) {
      if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key)) throw new Error(`invalid setting name ${JSON.stringify(key)}`);
      if (/[\r\n]/.test(value)) throw new Error(`setting ${key}: value must be on one line`);
      lines.push(`${key} = ${confValue(value)}`);
    }
    this.assertReachable('configure');
    await this.sh(
      `[ -f "$D/postgresql.conf" ] || { echo "no postgresql.conf yet in $D: initdb() or fill it first" >&2; exit 1; }; printf '%s\\n' "$C" >> "$D/postgresql.conf"`,
      `configuring node "${this.name}"`,
      { D: DATA_DIR, C: lines.join('\n') },
    );
  }

  async writeDataFile(relativePath: string, content: string | Buffer): Promise<void> {
    const parts = relativePath.split('/');
    if (relativePath.startsWith('/') || parts.some((p) => p === '..' || p === '') ) throw new Error(`${relativePath} is outside the data directory`);
    this.assertReachable('writeDataFile');
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
    // files go as base64 in the environment: exec has no simple stdin, and env stays out of `ps`
    await this.sh(
      `umask 077; mkdir -p "$(dirname "$F")" && printf '%s' "$C" | base64 -d > "$F"`,
      `writing ${relativePath} on node "${this.name}"`,
      { F: `${DATA_DIR}/${relativePath}`, C: data.toString('base64') },
    );
  }

  async writeNodeFile(name: string, content: string | Buffer): Promise<string> {
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(name) || name.split('/').includes('..')) throw new Error(`${name}: a plain relative file name is needed`);
    this.assertReachable('writeNodeFile');
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
    const file = `${ROOT}/${name}`;
    await this.sh(`umask 077; mkdir -p "$(dirname "$F")" && printf '%s' "$C" | base64 -d > "$F"`, `writing ${name} on node "${this.name}"`, { F: file, C: data.toString('base64') });
    return file;
  }

  /** Exec needs a running (not frozen) container. */
  private assertReachable(what: string): void {
    if (this._state === 'paused') throw new Error(`node "${this.name}" is paused: ${what} needs its container running (resume() first)`);
  }

  private get alive(): boolean {
    return this.postmaster !== undefined && this.postmaster.exit === undefined && (this._state === 'running' || this._state === 'paused');
  }

  async start(options: { signal?: AbortSignal; timeout?: number } = {}): Promise<void> {
    if (this._state === 'running' && this.alive) return;
    if (this._state === 'paused') throw new Error(`node "${this.name}" is paused: resume() it instead of start()`);
    if (options.signal?.aborted) throw new InterruptedError(`start of node "${this.name}" interrupted`);
    const timeout = options.timeout ?? DEFAULT_START_TIMEOUT;
    const started = Date.now();
    // the shell reports its pid, then becomes the postmaster (exec keeps the pid)
    const script = `
[ -f "$D/PG_VERSION" ] || { echo "no cluster in $D: initdb() or fill it first" >&2; exit 90; }
chmod 700 "$D"
echo "pid $$"
exec "$B/postgres" -D "$D" -p ${PG_PORT} -c listen_addresses='*' -c unix_socket_directories=${SOCKET_DIR} -c unix_socket_permissions=0700 >>${LOG_FILE} 2>&1`;
    const handle = await startExec(this.docker, this.container, ['/bin/sh', '-c', script], {
      user: PG_USER,
      env: { D: DATA_DIR, B: this.binDir(), LANG: 'C', LC_ALL: 'C' },
      workdir: ROOT,
    });
    let stderr = '';
    handle.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const pid = new Promise<number>((resolve, reject) => {
      let buffered = '';
      handle.stdout.on('data', (c: Buffer) => {
        buffered += c.toString('utf8');
        const m = /pid (\d+)/.exec(buffered);
        if (m) resolve(Number(m[1]));
      });
      handle.stdout.on('end', () => reject(new Error('the server exited before reporting its pid')));
    });
    pid.catch(() => undefined);
    const postmaster: { handle: ExecHandle; pid: Promise<number>; exit?: number } = { handle, pid };
    this.postmaster = postmaster;
    this.intendedExit = undefined;
    this._state = 'running';
    void handle.done.then(
      (code) => {
        postmaster.exit = code;
        if (this.postmaster === postmaster && (this._state === 'running' || this._state === 'paused')) {
          this._state = this.intendedExit ?? (code === 0 ? 'stopped' : 'killed');
        }
      },
      () => {
        postmaster.exit = -1;
        if (this.postmaster === postmaster) this._state = 'stopped';
      },
    );

    const deadline = started + timeout;
    for (;;) {
      if (postmaster.exit !== undefined) {
        if (postmaster.exit === 90) throw new Error(`node "${this.name}": ${stderr.trim()}`);
        throw new EnvironmentError(
          `node "${this.name}" (PostgreSQL ${this.version}, image ${this.image.image}) exited during startup (exit ${postmaster.exit}); last log lines:\n${await this.logTail(20)}`,
          'PGDRILL_NODE_NOT_READY',
        );
      }
      if (options.signal?.aborted) {
        await this.kill().catch(() => undefined);
        throw new InterruptedError(`start of node "${this.name}" interrupted`);
      }
      if (Date.now() >= deadline) {
        const tail = await this.logTail(20);
        await this.kill().catch(() => undefined);
        throw new EnvironmentError(
          `node "${this.name}" (PostgreSQL ${this.version}, image ${this.image.image}) did not accept connections on ${this.address.host}:${this.address.port} within ${Math.round(timeout / 1000)}s; last log lines:\n${tail}`,
          'PGDRILL_NODE_NOT_READY',
        );
      }
      if (await this.acceptsConnections()) break;
      await sleep(100);
    }
    this.lastStartMs = Date.now() - started;
  }

  /** A full SELECT 1 through the published port, the way the harness will connect. */
  private async acceptsConnections(): Promise<boolean> {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: this.hostPort,
      user: this.credentials.superuser,
      password: this.credentials.superuserPassword,
      database: 'postgres',
      connectionTimeoutMillis: 2000,
      application_name: 'pgdrill-readiness',
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

  /** Sends a signal to the postmaster (and with `tree`, to all its children) from inside the container. */
  private async signalPostmaster(sig: string, tree: boolean): Promise<void> {
    const pid = await this.postmaster!.pid;
    // the shell's kill builtin: minimal images have no /bin/kill (procps)
    const cmd = tree ? ['/bin/sh', '-c', KILL_TREE, 'sh', sig, String(pid)] : ['/bin/sh', '-c', 'kill -"$1" "$2"', 'sh', sig, String(pid)];
    const r = await execIn(this.docker, this.container, cmd, { user: PG_USER, timeout: 15_000 });
    if (r.exitCode !== 0 && this.postmaster?.exit === undefined) {
      throw new Error(`sending SIG${sig} to the postmaster of node "${this.name}" failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
    }
  }

  private async unfreeze(): Promise<void> {
    if (this._state !== 'paused') return;
    await this.container.unpause();
    this._state = 'running';
  }

  /** smart waits for clients to leave, fast disconnects them, immediate skips the shutdown checkpoint. */
  async stop(mode: StopMode = 'fast', options: { timeout?: number } = {}): Promise<void> {
    if (!this.alive) return;
    // a frozen container would never see the shutdown signal (nor run the exec that sends it)
    await this.unfreeze();
    this.intendedExit = 'stopped';
    // kill(1) in the container takes the signal's name without the SIG prefix
    await this.signalPostmaster(STOP_SIGNALS[mode].slice(3), false);
    const timeout = options.timeout ?? STOP_TIMEOUTS[mode];
    if (!(await settlesWithin(this.postmaster!.handle.done, timeout))) {
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
    // the freezer holds signals until thaw; the thaw-to-kill window is one exec long
    await this.unfreeze();
    this.intendedExit = 'killed';
    await this.signalPostmaster('KILL', true);
    await settlesWithin(this.postmaster!.handle.done, 10_000);
    this._state = 'killed';
  }

  /** docker pause: every process of the container is frozen; connections stay open, unanswered. */
  async pause(): Promise<void> {
    if (this._state !== 'running' || !this.alive) throw new Error(`node "${this.name}" is ${this._state}: only a running node can be paused`);
    await this.container.pause();
    this._state = 'paused';
  }

  async resume(): Promise<void> {
    if (this._state !== 'paused') return;
    await this.container.unpause();
    this._state = 'running';
  }

  /**
   * A real partition: the container leaves the run's network, so peers and the harness
   * (whose published port forwards into that network) lose it. Idempotent.
   */
  async disconnectNetwork(): Promise<void> {
    if (this.disconnected) return;
    await this.network.disconnect({ Container: this.container.id, Force: true });
    this.disconnected = true;
  }

  /** Rejoins the run's network under the same DNS name; the published port may change. */
  async connectNetwork(): Promise<void> {
    if (!this.disconnected) return;
    await this.network.connect({ Container: this.container.id, EndpointConfig: { Aliases: [this.name] } });
    this.disconnected = false;
    const port = await publishedPort(this.container);
    if (port) this.hostPort = port;
  }

  async logTail(lines = 20): Promise<string> {
    if (this._state === 'paused') return '(the container is paused: its log cannot be read until it is resumed)';
    try {
      const r = await execIn(this.docker, this.container, ['tail', '-n', String(lines), LOG_FILE], { user: PG_USER, timeout: 10_000 });
      if (r.exitCode !== 0) return '(no server log yet)';
      return r.stdout.split('\n').filter((l) => l.length > 0).join('\n');
    } catch (err) {
      return `(server log unreadable: ${errorMessage(err)})`;
    }
  }

  private defaultMinMajor(tool: ClientTool): number {
    return tool === 'psql' ? 0 : this.version;
  }

  /**
   * Runs a client tool inside this node's container as its postgres user (files it writes
   * into the data dir get the right owner; DNS names of the run resolve). PGHOST etc. point
   * at this node's own server unless options.env or the arguments say otherwise.
   */
  async runTool(tool: ClientTool, args: string[], options: ToolOptions = {}): Promise<ToolResult> {
    this.assertReachable(tool);
    const minMajor = options.minMajor ?? this.defaultMinMajor(tool);
    const found = pickProgram(this.programs, tool, minMajor);
    if (!found) {
      const have = this.programs.filter((p) => p.name === tool).map((p) => p.major);
      throw new EnvironmentError(
        `image "${this.image.image}" of node "${this.name}" has no ${tool} ${tool === 'pg_rewind' ? `of major ${minMajor}` : `of major ${minMajor} or newer`}` +
          ` (${have.length ? `it has ${have.join(', ')}` : 'none found'}). Use an image that carries it (the official postgres:${Math.max(minMajor, this.version)} does).`,
        'PGDRILL_CLIENT_TOOL_MISSING',
      );
    }
    const dir = found.path.replace(/\/[^/]+$/, '');
    return execIn(this.docker, this.container, [found.path, ...args], {
      user: PG_USER,
      workdir: ROOT,
      env: {
        PATH: `${dir}:/usr/local/bin:/usr/bin:/bin`,
        LANG: 'C',
        LC_ALL: 'C',
        HOME: ROOT,
        PGHOST: '127.0.0.1',
        PGPORT: String(PG_PORT),
        PGUSER: this.credentials.superuser,
        PGPASSWORD: this.credentials.superuserPassword,
        PGDATABASE: 'postgres',
        ...options.env,
      },
      timeout: options.timeout,
      signal: options.signal,
    });
  }

  async hasTool(tool: ClientTool, minMajor: number): Promise<boolean> {
    return pickProgram(this.programs, tool, minMajor) !== undefined;
  }

  /**
   * Streams the file (or directory) into the container as a tar archive made by the host's tar
   * (the Engine API takes archives only), unpacked beside the data dir and given to the
   * container's postgres user.
   */
  async stageFile(hostPath: string, name: string): Promise<StagedFile> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`stageFile: ${JSON.stringify(name)} is not a plain file name`);
    this.assertReachable('stageFile');
    const target = `${ROOT}/${name}`;
    const inbox = `${ROOT}/.stage-${name}`;
    const env = { T: target, S: inbox, B: path.basename(hostPath) };
    await this.execRoot(`rm -rf "$T" "$S" && mkdir -p "$S"`, `preparing to copy ${hostPath} into node "${this.name}"`, env);
    const tar = spawn('tar', ['-h', '-C', path.dirname(path.resolve(hostPath)), '-cf', '-', path.basename(hostPath)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    tar.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve, reject) => {
      tar.on('error', reject);
      tar.on('close', resolve);
    });
    try {
      await this.container.putArchive(tar.stdout, { path: inbox });
    } finally {
      const code = await exited.catch((err: Error) => {
        stderr ||= err.message;
        return 1;
      });
      if (code !== 0) throw new Error(`archiving ${hostPath} for node "${this.name}" failed (tar exit ${code}): ${stderr.trim()}`);
    }
    await this.execRoot(
      `mv "$S/$B" "$T" && rmdir "$S" && chown -R "postgres:$(id -g postgres)" "$T"`,
      `unpacking ${path.basename(hostPath)} in node "${this.name}"`,
      env,
    );
    return { path: target, remove: () => this.execRoot(`rm -rf "$T"`, `removing ${name} from node "${this.name}"`, env).then(() => undefined) };
  }

  /** Runs a shell script in this node's container as root (the runtime's data copy uses it). */
  execRoot(script: string, what: string, env: Record<string, string> = {}, timeout = 600_000): Promise<string> {
    return execOk(this.docker, this.container, ['/bin/sh', '-c', script], { user: 'root', env, workdir: '/', timeout, what });
  }

  get dockerContainer(): Docker.Container {
    return this.container;
  }

  /** For --keep: leave a consistent data dir, then stop the container (kept for inspection). */
  async shutdownForKeep(): Promise<void> {
    if (this.alive) await this.stop('fast', { timeout: 15_000 }).catch(() => this.kill().catch(() => undefined));
    await this.container.stop({ t: 5 }).catch(() => undefined);
  }
}

/** The host port Docker published the container's 5432 on (127.0.0.1 only). */
export async function publishedPort(container: Docker.Container): Promise<number | undefined> {
  const info = await container.inspect();
  const bindings = info.NetworkSettings?.Ports?.[`${PG_PORT}/tcp`];
  const port = bindings?.find((b) => b.HostIp === '127.0.0.1')?.HostPort ?? bindings?.[0]?.HostPort;
  return port ? Number(port) : undefined;
}
