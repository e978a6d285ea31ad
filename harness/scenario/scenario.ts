// The resolved scenario: what a scenario file means once it has been validated and every
// default filled in. Key names are the file's; durations are milliseconds and sizes bytes.
// This is what runs and what results.json records as `scenario`.

export const SUPPORTED_MAJORS = [13, 14, 15, 16, 17, 18] as const;
export const DEFAULT_MAJOR = 17;

export type RuntimeKind = 'local' | 'docker' | 'external';
export type StrategyKind = 'streaming' | 'dump-restore' | 'logical' | 'failover' | 'patroni' | 'external';

export interface NodeConfig {
  name: string;
  /** PostgreSQL major version, 13..18. */
  version: number;
  /** Makes this node a physical streaming standby of the named node, built at setup. */
  replicaOf?: string;
  /** Lists this standby in the primary's synchronous_standby_names. */
  synchronous: boolean;
  /** postgresql.conf settings, written verbatim (values as strings). */
  settings: Record<string, string>;
  /** Docker image; default postgres:<version>. Ignored by the local runtime. */
  image?: string;
  /** runtime external: the server's postgres:// URL (TLS parameters such as sslmode pass through) */
  url?: string;
  /** runtime external: a file holding the password (when the URL has none) */
  passwordFile?: string;
  /** runtime external: the environment variable holding the password (when the URL has none) */
  passwordEnv?: string;
}

export interface SyncGate {
  lagBytes: number;
  /** seconds */
  lagSeconds: number;
  consecutiveChecks: number;
  /** ms */
  timeout: number;
}

/** How kind failover decides that the primary is dead. */
export interface FailoverDetection {
  /** ms between health checks; a check unanswered within it fails */
  interval: number;
  /** consecutive failed checks that declare the primary dead */
  failures: number;
}

export interface StrategyConfig {
  kind: StrategyKind;
  from: string;
  to: string;
  syncGate: SyncGate;
  /** ms */
  promoteTimeout: number;
  fenceOldPrimary: boolean;
  /**
   * During the write freeze, hold new client connections at the endpoint (they wait, as
   * behind PgBouncer PAUSE) instead of letting them reach the read-only old primary and fail.
   * Holding turns downtime into latency; off by default so client downtime shows the freeze.
   */
  holdConnections: boolean;
  /**
   * dump-restore and logical: also copy roles, their passwords and memberships (pg_dumpall
   * --globals-only) before the data, and check roles and table grants match at the cutover.
   */
  globals?: boolean;
  /**
   * logical: set every sequence on the target from the source's value (plus a margin) inside
   * the freeze. Default true; false only shows what happens without it (inserts collide).
   */
  syncSequences?: boolean;
  /**
   * dump-restore: parallel jobs for both copies (pg_dump -Fd -j N, pg_restore -j N; 1 = the
   * custom format, one process each); absent, the strategy picks by the database's size.
   */
  jobs?: number;
  /** kind failover only (filled with its defaults there): when the primary counts as dead */
  detection?: FailoverDetection;
  /**
   * streaming and failover: after the cutover the old primary is stopped, rewound with
   * pg_rewind against the new primary and started as its standby (the second half of a
   * failover drill, as Patroni and CloudNativePG do it). wal_log_hints is on from setup.
   */
  rejoinOldPrimary?: boolean;
}

export interface SeedConfig {
  users: number;
  products: number;
  orders: number;
  /** order_items rows per order (1..n, uniform) */
  itemsPerOrder: number;
  /**
   * Your own schema and data instead of the shop: a SQL file run with psql (stopping at the
   * first error), as written in the file (relative to baseDir). The shop's counts are then 0.
   */
  sql?: string;
  /** psql variables for `sql` (psql -v name=value), e.g. a scale the file reads as :scale */
  variables?: Record<string, string>;
  /** or a pg_dump archive (custom -Fc, directory -Fd or tar -Ft) restored with pg_restore */
  dump?: string;
  /** pg_restore --jobs for a custom or directory dump (tar is restored with one) */
  jobs?: number;
  /**
   * runtime external: use the tables already in the database (nothing is created but
   * pgdrill's bookkeeping schema). Without it a seed into a database with tables is refused.
   */
  existing?: boolean;
}

/** What a script's statement writes, for the exact ledger: the key comes from its RETURNING. */
export interface ScriptLedger {
  /** the table written, as the statement names it ("notes", "app.notes") */
  table: string;
  /** the key column(s) the statement RETURNs (a composite key names several) */
  key: string[];
  op: 'insert' | 'update' | 'delete';
}

/** One weighted statement of a write or read workload, with its `:name` variables. */
export interface ScriptConfig {
  /** a label for messages and the report; default "writes[0]" / "reads[1]" */
  name: string;
  weight: number;
  /** one SQL statement; `:name` marks a variable */
  sql: string;
  /** variable name -> generator: random(a, b), text(n), uuid(), now(), pick(table.column) */
  vars: Record<string, string>;
  /** writes: what goes into the exact ledger; false = not checked (said so explicitly) */
  ledger?: ScriptLedger | false;
}

export interface WriteMix {
  insert: number;
  update: number;
  delete: number;
}

export interface WriteLoadConfig {
  /** intended operations per second; 0 turns writes off */
  rate: number;
  connections: number;
  mix: WriteMix;
  /** ms: an operation still unanswered after this is indeterminate */
  timeout: number;
  /** your own statements instead of the built-in mix */
  scripts?: ScriptConfig[];
}

export interface ReadLoadConfig {
  /** intended reads per second; 0 turns reads off */
  rate: number;
  connections: number;
  /** ms */
  timeout: number;
  /** your own statements instead of the built-in lookups */
  scripts?: ScriptConfig[];
}

export interface ProbeConfig {
  /** ms between probe writes; 0 turns the probe off */
  interval: number;
  /** ms */
  timeout: number;
}

export interface WorkloadConfig {
  writes: WriteLoadConfig;
  reads: ReadLoadConfig;
  probe: ProbeConfig;
}

export type FaultKind =
  | 'kill'
  | 'stop'
  | 'restart'
  | 'pause'
  | 'disk-full'
  | 'latency'
  | 'bandwidth'
  | 'partition'
  | 'reset-peer';

export const NODE_FAULTS: readonly FaultKind[] = ['kill', 'stop', 'restart', 'pause', 'disk-full'];
export const LINK_FAULTS: readonly FaultKind[] = ['latency', 'bandwidth', 'partition', 'reset-peer'];

export type StopMode = 'smart' | 'fast' | 'immediate';

export interface FaultConfig {
  kind: FaultKind;
  /** target node (node faults) */
  node?: string;
  /** target link (link faults): "client", "replication" or a replica's name */
  link?: string;
  /** ms the fault lasts before it is healed; absent = until the end of the load phase */
  for?: number;
  /** latency: ms added per packet burst */
  delay?: number;
  /** latency: ms of uniform jitter around delay */
  jitter?: number;
  /** bandwidth: bytes per second */
  bytesPerSecond?: number;
  /** partition: blackhole (connections hang) or reject (connections reset) */
  mode?: 'blackhole' | 'reject';
  /** link faults: which direction is affected */
  direction?: 'both' | 'upstream' | 'downstream';
  /** stop: shutdown mode */
  stopMode?: StopMode;
  /** kill: restart the node this many ms after the kill; absent = stays down */
  restartAfter?: number;
  /** Patroni members: kill, stop or pause the whole host (the Patroni agent and PostgreSQL), not PostgreSQL alone */
  host?: boolean;
}

export interface CutoverConfig {
  /** run the checks only, stop before the write freeze */
  dryRun: boolean;
  /** strategy external: the user's own cutover command (through /bin/sh -c, in the scenario file's folder) */
  command?: string;
  /** strategy external: ms from the command's start within which a new primary must accept writes */
  timeout?: number;
}

/** A statement run once on a node, as superuser, as one simple query (several statements allowed). */
export interface SqlStepConfig {
  node: string;
  statement: string;
  /** default: the scenario's database */
  database?: string;
  /** ms; the statement is cancelled on the server after this */
  timeout: number;
  /** a failing statement is recorded but does not fail the run */
  allowFailure: boolean;
}

/** A program run once through /bin/sh -c in the scenario file's folder, with every node's URL in its environment. */
export interface CommandStepConfig {
  run: string;
  /** ms; the command's whole process group is stopped after this */
  timeout: number;
  /** a non-zero exit, a signal or a timeout is recorded but does not fail the run */
  allowFailure: boolean;
  /** added to the environment pgdrill runs it with */
  env?: Record<string, string>;
}

export interface TimelineEntry {
  /** ms from the start of the load phase */
  at: number;
  fault?: FaultConfig;
  cutover?: CutoverConfig;
  sql?: SqlStepConfig;
  command?: CommandStepConfig;
}

export { THRESHOLD_NAMES, type ThresholdName } from '../checks/metrics.js';
import type { ThresholdName } from '../checks/metrics.js';
import type { ThresholdLimit } from '../checks/threshold-grammar.js';

/** How downtime windows are drawn (the same rules for every stream). */
export interface DowntimeConfig {
  /** ms: an operation answered only after this long was not served */
  stall: number;
  /** ms: outages closer than this are one */
  mergeGap: number;
}

export interface MonitorConfig {
  /** ms between lag samples */
  interval: number;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';

/** One HTTP request to the application: a request of the load, or a check. */
export interface AppRequestConfig {
  method: HttpMethod;
  /** starts with "/", sent to 127.0.0.1:PORT */
  path: string;
  /** the request body as sent (a mapping in the file is sent as JSON) */
  body?: string;
  headers?: Record<string, string>;
}

/** What a request of the load writes, so its acknowledged writes join the exact ledger (stream 'app'). */
export interface AppLedgerConfig {
  table: string;
  /** the field of the JSON response that holds the row's key, e.g. "id" */
  key: string;
  op: 'insert' | 'update' | 'delete';
}

export interface AppLoadRequest extends AppRequestConfig {
  /** relative share of the load (weighted round robin) */
  weight: number;
  ledger?: AppLedgerConfig;
}

export interface AppLoadConfig {
  /** intended requests per second; 0 turns the app load off */
  rate: number;
  /** at most this many requests in flight (keep-alive connections) */
  connections: number;
  /** ms: a request unanswered after this is a timeout */
  timeout: number;
  requests: AppLoadRequest[];
}

export interface AppCheckConfig extends AppRequestConfig {
  /** the HTTP status the request must answer */
  expect: number;
  /** ms after the cutover (or the end of the load) within which it must answer `expect` */
  within: number;
}

/**
 * The application in the loop: started as a child process of the run with DATABASE_URL (the
 * endpoint) and PORT, driven with HTTP load, checked after the cutover, its log scanned.
 */
export interface AppConfig {
  /** run through /bin/sh -c in the scenario file's folder; absent = the bundled sample service */
  command?: string;
  /** added to the app's environment (DATABASE_URL and PORT are pgdrill's) */
  env: Record<string, string>;
  ready: {
    /** GET this until it answers 2xx */
    path: string;
    /** ms */
    timeout: number;
  };
  load: AppLoadConfig;
  checks: AppCheckConfig[];
}

/**
 * TLS for replication and the workload: a throwaway CA, server and client certificates per
 * run; standbys stream and clients connect with sslmode `mode`; replication over plain TCP is
 * refused by pg_hba.
 */
export interface TlsConfig {
  /** libpq's sslmode for replication and the workload: verify-full checks the host name too */
  mode: 'verify-full' | 'verify-ca' | 'require';
  /** the server requires a client certificate whose CN is the user (clientcert=verify-full) */
  clientCerts: boolean;
}

export type EndpointKind = 'proxy' | 'pgbouncer' | 'haproxy' | 'discovery' | 'url';
export type PoolMode = 'session' | 'transaction';

/** HAProxy's health check timing: a check every `inter`, `fall` failures mark a server down, `rise` passes up. */
export interface HealthCheckTiming {
  /** ms */
  inter: number;
  fall: number;
  rise: number;
}

/**
 * What clients connect through. Only the fields of its kind are filled: proxy (pgdrill's TCP
 * proxy, the default), pgbouncer (Debian's PgBouncer, PAUSE/RESUME at a cutover), haproxy
 * (Debian's HAProxy with health checks that pick the writable node), discovery (no middlebox:
 * each client finds the writable node itself, like libpq's target_session_attrs=read-write).
 */
export interface EndpointConfig {
  kind: EndpointKind;
  /** pgbouncer: pool_mode */
  pool?: PoolMode;
  /** pgbouncer: ms PAUSE may wait for server connections to be released; on expiry RESUME rolls the cutover back */
  pauseTimeout?: number;
  /** pgbouncer: query_wait_timeout, ms a client may wait for a server (paused clients wait this long) */
  queryWaitTimeout?: number;
  /** pgbouncer: more [pgbouncer] settings, written verbatim */
  settings?: Record<string, string>;
  /** haproxy: health check timing */
  check?: HealthCheckTiming;
  /** haproxy: where the workload's reads go: the primary (write frontend) or the standbys (read frontend) */
  reads?: 'primary' | 'standbys';
  /** url (runtime external): the user's own endpoint (a Service, PgBouncer, a DNS name); pgdrill only connects through it */
  url?: string;
}

/**
 * A Patroni cluster: Debian's patroni runs each member (it starts, promotes and re-points
 * PostgreSQL itself) with an etcd of 1 or 3 members as its DCS, all as processes of the run.
 */
export interface PatroniConfig {
  /** the nodes Patroni manages; the first one bootstraps the cluster */
  members: string[];
  /** etcd members */
  etcd: 1 | 3;
  /** ms, whole seconds (Patroni takes seconds): the leader key's time to live */
  ttl: number;
  /** ms, whole seconds: the HA loop's period */
  loopWait: number;
  /** ms, whole seconds: how long DCS and PostgreSQL operations are retried */
  retryTimeout: number;
  synchronousMode: boolean;
  /** the members form a standby cluster replicating from this node (the single node -> Patroni migration) */
  standbyOf?: string;
  /** more of Patroni's dynamic configuration, written into bootstrap.dcs as given */
  dcs: Record<string, unknown>;
  /** postgresql.conf parameters every member gets */
  postgresql: Record<string, string>;
}

export interface Scenario {
  name: string;
  description: string;
  runtime: RuntimeKind;
  /** ms: length of the load phase */
  duration: number;
  nodes: Record<string, NodeConfig>;
  strategy?: StrategyConfig;
  seed: SeedConfig;
  workload: WorkloadConfig;
  timeline: TimelineEntry[];
  /** threshold name -> its limit, parsed once at load, with the text as written ("< 5s", "<= 1%") */
  thresholds: Partial<Record<ThresholdName, ThresholdLimit>>;
  monitor: MonitorConfig;
  downtime: DowntimeConfig;
  /** the application in the loop; absent = none */
  app?: AppConfig;
  /** absent: plain TCP with scram, as before */
  tls?: TlsConfig;
  /** what clients connect through; absent = pgdrill's TCP proxy (endpointOf fills it in) */
  endpoint?: EndpointConfig;
  /** a Patroni cluster over some of the nodes; absent = none */
  patroni?: PatroniConfig;
  /**
   * The folder the scenario file is in: relative paths in it (a command step's run) resolve
   * against it. Set by loadScenarioFile; absent for text parsed without a file, which
   * resolves against process.cwd().
   */
  baseDir?: string;
}

/** The node with no replicaOf that the workload writes to first. */
export function initialPrimary(scenario: Scenario): NodeConfig {
  if (scenario.strategy) return scenario.nodes[scenario.strategy.from];
  // a Patroni cluster starts on the member that bootstraps it (or the node a standby cluster follows)
  if (scenario.patroni) return scenario.nodes[scenario.patroni.standbyOf ?? scenario.patroni.members[0]];
  const roots = Object.values(scenario.nodes).filter((n) => !n.replicaOf);
  return roots[0];
}

export function replicasOf(scenario: Scenario, primary: string): NodeConfig[] {
  return Object.values(scenario.nodes).filter((n) => n.replicaOf === primary);
}

/** The scenario's endpoint, with the default (pgdrill's TCP proxy) when the file has none. */
export function endpointOf(scenario: Pick<Scenario, 'endpoint'>): EndpointConfig {
  return scenario.endpoint ?? { kind: 'proxy' };
}
