// Where PostgreSQL nodes run. Everything above this folder talks to servers only through
// these interfaces, never to child_process or dockerode directly, so a strategy or a fault
// works the same on local processes and on containers.

import type { RuntimeKind, StopMode } from '../scenario/scenario.js';
import type { ReaperRegistry } from './reaper/reaper-registry.js';

/** Superuser and replication role every node is created with. Passwords are per run. */
export interface NodeCredentials {
  superuser: string;
  superuserPassword: string;
  replicationUser: string;
  replicationPassword: string;
}

export interface NodeSpec {
  name: string;
  /** PostgreSQL major */
  version: number;
  /** docker only */
  image?: string;
}

export interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ToolOptions {
  /** the tool must be of this major or newer (pg_basebackup and pg_dump refuse newer servers) */
  minMajor?: number;
  env?: Record<string, string>;
  signal?: AbortSignal;
  /** ms; the tool is killed after this */
  timeout?: number;
}

/** Client tools pgdrill runs: these come from system installs or images, not from npm. */
export type ClientTool = 'pg_basebackup' | 'pg_dump' | 'pg_dumpall' | 'pg_restore' | 'psql' | 'pg_rewind';

export interface Address {
  host: string;
  port: number;
}

export type NodeState = 'created' | 'running' | 'stopped' | 'paused' | 'killed';

/**
 * One PostgreSQL server. Created empty; `initdb()` makes a fresh cluster, or the topology
 * fills `dataDir` from a base backup; then `start()`.
 */
export interface RuntimeNode {
  readonly name: string;
  readonly version: number;
  readonly credentials: NodeCredentials;
  /** where the harness connects (always loopback) */
  readonly address: Address;
  /** where other nodes of the run connect to this one (loopback locally, a DNS name on docker) */
  readonly peerAddress: Address;
  /** the data directory in the node's own filesystem (the container's, on docker) */
  readonly dataDir: string;
  readonly state: NodeState;
  /** where this node's server came from, for the report ("npm 17.10.0-beta.17 (/path/bin)", an image) */
  readonly origin: string;

  /** initdb with the run's superuser, scram-sha-256 on TCP, and pgdrill's base settings */
  initdb(): Promise<void>;
  /** settings appended to postgresql.conf (later calls win) */
  configure(settings: Record<string, string>): Promise<void>;
  /** write a file relative to dataDir (standby.signal, backup_label...) */
  writeDataFile(relativePath: string, content: string | Buffer): Promise<void>;
  /** start and wait until the server accepts connections */
  start(options?: { signal?: AbortSignal; timeout?: number }): Promise<void>;
  stop(mode?: StopMode): Promise<void>;
  /** SIGKILL the postmaster (children die with it, as on a crashed host) */
  kill(): Promise<void>;
  /** SIGSTOP / docker pause: the server stops answering but keeps its connections */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** the last lines of the server log, for error messages */
  logTail(lines?: number): Promise<string>;
  /** run a client tool as this node's environment sees it (its filesystem, its network) */
  runTool(tool: ClientTool, args: string[], options?: ToolOptions): Promise<ToolResult>;
  /** whether runTool can find `tool` of a major >= minMajor */
  hasTool(tool: ClientTool, minMajor: number): Promise<boolean>;
  /**
   * A real partition (docker only; absent locally): the node leaves the run's network, so
   * its peers and the harness (whose published port forwards into that network) lose it.
   * Connections in flight hang or reset as on a cut cable. Idempotent.
   */
  disconnectNetwork?(): Promise<void>;
  /** Ends disconnectNetwork: back on the run's network under the same DNS name. Idempotent. */
  connectNetwork?(): Promise<void>;
}

export interface Runtime {
  readonly kind: RuntimeKind;
  /** everything this run creates lives under here (local) or carries this id (docker) */
  readonly runId: string;
  /**
   * Where anything this run starts that would outlive pgdrill's process (a server, a pooler,
   * a container) is registered for the run's reaper; see reaper/reaper-registry.ts.
   */
  readonly reaper?: ReaperRegistry;
  /** fail fast, before anything starts, when binaries or the engine are missing (exit 3) */
  preflight(specs: NodeSpec[], signal?: AbortSignal): Promise<void>;
  createNode(spec: NodeSpec): Promise<RuntimeNode>;
  /**
   * Copy source's data directory into target's (used for a low-level base backup, between
   * pg_backup_start and pg_backup_stop). Skips pg_wal contents, postmaster.pid and
   * postmaster.opts, as the PostgreSQL docs say to.
   */
  copyDataDir(source: RuntimeNode, target: RuntimeNode): Promise<void>;
  /** stop every node, remove every data dir and resource this run made; safe to call twice */
  dispose(options?: { keep?: boolean }): Promise<void>;
}
