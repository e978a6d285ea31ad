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
  /**
   * bytes: the node's data directory lives on a filesystem of its own of this size (made
   * with the node), so a disk-full fault fills that and nothing else
   */
  dataVolumeBytes?: number;
}

/**
 * A node's data directory on a small filesystem of its own (a tmpfs, on either runtime): a
 * disk-full fault fills it with one file until the kernel says ENOSPC, and heals by deleting
 * it. The runtime that made it detaches it at dispose.
 */
export interface DataVolume {
  /** names the filesystem so a leftover can be traced to its run: pgdrill-<runId>-<node> */
  readonly label: string;
  readonly filesystem: string;
  readonly sizeBytes: number;
  /** where it is mounted, in the node's own filesystem (the container's, on docker) */
  readonly mount: string;
  /** writes one file until the filesystem refuses; returns the bytes written */
  fill(): Promise<number>;
  /** deletes that file; the space is free again at once */
  unfill(): Promise<void>;
  /** bytes the server user could still write */
  freeBytes(): Promise<number>;
  /** removes a file a check made on the volume (nothing outside it) */
  removeFile(file: string): Promise<void>;
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

/** A file staged into a node's environment by stageFile. */
export interface StagedFile {
  /** the path as the node's tools see it */
  path: string;
  remove(): Promise<void>;
}

export interface Address {
  host: string;
  port: number;
}

export type NodeState = 'created' | 'running' | 'stopped' | 'paused' | 'killed';

/**
 * How the harness reaches a server pgdrill did not start (runtime external): from its URL,
 * with the password resolved. Every harness connection to it goes to this one database.
 */
export interface ExternalConnection {
  host: string;
  port: number;
  user: string;
  /** undefined: none given (libpq's ~/.pgpass or trust) */
  password?: string;
  database: string;
  /** TLS as the URL's sslmode/sslrootcert/sslcert/sslkey say (libpq semantics); absent = plain TCP */
  ssl?: import('node:tls').ConnectionOptions;
  /** the URL as given, with the resolved password in it (a command's PGDRILL_<NODE>_URL) */
  url: string;
  /** the URL with its password masked, for messages and results */
  redacted: string;
}

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
  /** the data directory's own filesystem, when the spec asked for one (dataVolumeBytes) */
  readonly volume?: DataVolume;
  /** the folder of its server binaries on this machine (local nodes): an HA agent's bin_dir */
  readonly serverBinDir?: string;
  /** runtime external: the server is not pgdrill's; connections go where and as its URL says */
  readonly external?: ExternalConnection;

  /** initdb with the run's superuser, scram-sha-256 on TCP, and pgdrill's base settings */
  initdb(): Promise<void>;
  /** settings appended to postgresql.conf (later calls win) */
  configure(settings: Record<string, string>): Promise<void>;
  /** write a file relative to dataDir (standby.signal, backup_label...) */
  writeDataFile(relativePath: string, content: string | Buffer): Promise<void>;
  /**
   * Write a file into the node's own space beside its data directory (its run folder or
   * container), owned by the server user, mode 0600; returns its path as the server sees it.
   * For what must outlive or precede the data directory: TLS certificates a standby's
   * pg_basebackup needs before its data directory exists.
   */
  writeNodeFile(name: string, content: string | Buffer): Promise<string>;
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
   * Copies a file or a directory of this machine (a seed file, a dump) into the node's scratch
   * space beside its data dir, readable by its server user, where runTool's tools find it.
   * Returns its path as those tools see it, and how to remove it again.
   */
  stageFile(hostPath: string, name: string): Promise<StagedFile>;
  /**
   * A real partition (docker only; absent locally): the node leaves the run's network, so
   * its peers and the harness (whose published port forwards into that network) lose it.
   * Connections in flight hang or reset as on a cut cable. Idempotent.
   */
  disconnectNetwork?(): Promise<void>;
  /** Ends disconnectNetwork: back on the run's network under the same DNS name. Idempotent. */
  connectNetwork?(): Promise<void>;
  /**
   * A node whose server an HA agent (Patroni) starts and stops: the host it runs on, agent and
   * server together, for faults that take the whole host. Absent on nodes pgdrill runs itself.
   */
  readonly host?: MemberHost;
}

/** The host of a managed node: its HA agent (Patroni) and the PostgreSQL server it runs. */
export interface MemberHost {
  /** 'running' while the agent runs; what the last fault left otherwise */
  readonly state: 'running' | 'stopped' | 'paused' | 'killed';
  /** SIGKILL the agent and the server together, as a host that loses power */
  kill(): Promise<void>;
  /** stop the agent as its service manager would (SIGTERM: it shuts its server down first) */
  stop(): Promise<void>;
  /** SIGSTOP the agent and the server's processes: the host freezes */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** start the agent again (it starts its server by itself) */
  start(): Promise<void>;
}

/** Helper servers a run may start beside its nodes (the endpoint's middleboxes). */
export type ServiceProgram = 'pgbouncer' | 'haproxy' | 'patroni' | 'etcd';

/** Where a service's program comes from, for the report and `pgdrill doctor`. */
export interface ServiceProgramInfo {
  program: ServiceProgram;
  path: string;
  /** what the program says of itself: "1.18.0", "2.6.12-1+deb12u3" */
  version: string;
  /** "Debian package pgbouncer 1.18.0-1+deb12u1", or "not from a package" */
  packageOrigin: string;
}

/**
 * A helper server of the run (PgBouncer, HAProxy), run like the nodes are: as the server user,
 * its configuration, sockets and log in a folder of its own that the run removes, stopped at
 * dispose (also after an error or Ctrl-C). The endpoint writes its files and starts it.
 */
export interface RunService {
  readonly name: string;
  readonly program: ServiceProgramInfo;
  /** the service's own folder (config files, unix sockets, its log) */
  readonly dir: string;
  /** a TCP port free on 127.0.0.1 that no node or service of this run was given */
  freePort(): Promise<number>;
  /** writes a file into dir, readable by the service only (0600, owned by the server user); returns its path */
  writeFile(name: string, content: string): Promise<string>;
  /** starts the program with these arguments and waits until `ready()` says it serves */
  start(args: string[], options: { ready: () => Promise<boolean>; timeout?: number; signal?: AbortSignal }): Promise<void>;
  readonly running: boolean;
  /** the last lines of its log (stdout and stderr), for error messages */
  logTail(lines?: number): Promise<string>;
  /** its whole log (up to the last 16 MB), to keep with the run's report */
  readLog(): Promise<string>;
  /** stops it (SIGTERM, then SIGKILL); safe to call twice */
  stop(): Promise<void>;
  /** SIGKILL, no grace (a host losing power); resolves once it is gone */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT the process */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

export interface Runtime {
  readonly kind: RuntimeKind;
  /** everything this run creates lives under here (local) or carries this id (docker) */
  readonly runId: string;
  /**
   * The address of this machine as the runtime's nodes reach it (loopback locally, the run
   * network's gateway on docker): pgdrill's replication link proxies listen there, so every
   * standby streams through a proxy of ours, and link faults act on replication alike on
   * every runtime.
   */
  linkHost(): Promise<string>;

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
  /**
   * Where `program` would come from; throws an EnvironmentError (exit 3) saying what to install
   * when it is missing. Absent on runtimes that cannot run services yet.
   */
  serviceProgram?(program: ServiceProgram): Promise<ServiceProgramInfo>;
  /** Makes the folder of a new service of the run; absent on runtimes that cannot run services yet. */
  createService?(name: string, program: ServiceProgram): Promise<RunService>;
  /**
   * `node` (made by createNode, never started by pgdrill) as its HA agent runs it: `agent` is the
   * service that starts its server, `startAgent` (re)starts that service. The returned node's
   * stop, kill and pause act on the server the agent started; its `host` on both. Absent on
   * runtimes that cannot run HA agents yet.
   */
  manageNode?(node: RuntimeNode, agent: RunService, startAgent: () => Promise<void>): RuntimeNode;
  /** stop every node and service, remove every data dir and resource this run made; safe to call twice */
  dispose(options?: { keep?: boolean }): Promise<void>;
}
