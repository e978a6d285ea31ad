// The run's timeline as one typed log: every event kind with its payload, so checks and
// reporters narrow on `kind` and read fields the compiler knows, instead of guessing from
// names (a successful `failover` is not a failure because its name contains "fail").

import type { OpError, OpStream, Phase } from './records.js';
import type { FaultKind } from '../scenario/scenario.js';
import type { AppCheckOutcome, ScriptLoad } from '../results/results.js';

interface Counts {
  intended: number;
  ok: number;
  failed: number;
  indeterminate: number;
  dropped: number;
}

/** Where a fault acts: a node or a link. */
interface FaultTarget {
  fault: FaultKind;
  node?: string;
  link?: string;
}

/** Each event's payload by kind; `t` (ms from the start of the run) is added by the recorder. */
export interface EventPayloads {
  'run-start': { scenario: string; runtime: string; runId: string; folder: string };
  'phase-start': { phase: Phase['name'] };
  'phase-end': { phase: Phase['name']; durationMs: number };
  'node-binaries': { node: string; source: string };
  'node-volume': { node: string; filesystem: string; bytes: number; mount: string };
  'node-ready': { node: string; role: 'primary' | 'standby'; version?: number; of?: string; baseBackup?: string; via?: string };
  /** rows per table; source and detail for a seed from your own file (seed.sql, seed.dump) */
  seeded: { node: string; rows: Record<string, number>; source?: 'shop' | 'sql' | 'dump'; detail?: string };
  /** the workload's scripts were checked against the seeded database (tables, keys, each statement prepared) */
  'scripts-checked': { scripts: number; pools: { table: string; column: string; keys: number }[] };
  /** how each of your statements went, at the end of the load */
  'workload-scripts': { scripts: ScriptLoad[] };
  /** tls: the run's throwaway CA was made and every node serves with it */
  'tls-ready': { mode: string; clientCerts: boolean; ca: string; caFingerprint: string; serverNames: string[] };
  /** tls: what pg_stat_ssl said of a standby's replication connection once it streamed (at setup, after a re-point or a rejoin) */
  'replication-tls': { node: string; upstream: string; ssl: boolean; version: string | null; cipher: string | null; clientDn: string | null };
  /** endpoint (its kind) and origin: which endpoint ran (absent in records from before endpoints had kinds: the proxy) */
  'endpoint-ready': { address: string; target: string; endpoint?: string; origin?: string };
  /** HAProxy marked a server of a backend UP, DOWN or MAINT (previous null: first seen), as its stats socket said */
  'endpoint-server-state': { backend: string; server: string; state: string; previous: string | null; check: string };
  /** patroni: etcd is up (members, client URLs, its version) */
  'patroni-etcd-ready': { members: number; clients: string[]; program: string };
  /** patroni: a member's role or state changed, as GET /cluster said (role 'absent': not listed) */
  'patroni-member': { member: string; role: string; state: string; timeline: number | null; lag: number | string | null };
  /** patroni: the leader /cluster names changed (null: no leader) */
  'patroni-leader': { leader: string | null; previous: string | null; role: string | null };
  /** patroni: GET /cluster could not be read from any member */
  'patroni-unreachable': { error: string };
  /** patroni: the first write begun after a leader change was acknowledged (t: then); startMs, endMs: that write's */
  'patroni-first-write': { leader: string; opId: number; startMs: number; endMs: number };
  /** startMs: the schedules' first intended time (ms from the start of the run), what per-second buckets count from */
  'workload-start': { writes: number; reads: number; probeIntervalMs: number; durationMs: number; startMs?: number };
  'workload-end': { writes: Counts; reads: Counts; probe: Counts };
  'workload-retarget': { host: string; port: number };
  'workload-connection-lost': { stream: OpStream; slot: number; error: OpError };
  'workload-connection-restored': { stream: OpStream; slot: number; downMs: number; attempts: number };
  'cutover-start': { strategy: string; dryRun: boolean; trigger?: string };
  'cutover-step-start': { step: string };
  'cutover-step': { step: string; ok: boolean; durationMs: number; detail: string };
  'cutover-end': { ok: boolean; dryRun: boolean; rolledBack: boolean; error?: string };
  failover: { from: string; to: string | null; detectMs: number; promoteMs: number | null; failoverMs: number | null };
  'failover-health-check-failed': { node: string; error: string };
  'failover-health-recovered': { node: string; failedChecks: number };
  'failover-not-triggered': { node: string; reason: string };
  /** the old primary answered again after a failover: its next transaction id from then on */
  'old-primary-returned': { node: string; nextXid: string | null };
  'fault-start': FaultTarget & { injectMs: number; plannedMs?: number; [parameter: string]: unknown };
  'fault-check': FaultTarget & { ok: true; afterMs: number; detail: string; observed?: unknown };
  'fault-check-failed': FaultTarget & { ok: false; afterMs: number; detail: string; observed?: unknown };
  'fault-end': FaultTarget & { durationMs: number; [detail: string]: unknown };
  'fault-failed': FaultTarget & { error: string };
  'fault-heal-failed': FaultTarget & { error: string };
  'step-start': { step: 'sql' | 'command'; index: number; label: string };
  'step-end': {
    step: 'sql' | 'command';
    index: number;
    label: string;
    ok: boolean;
    allowFailure: boolean;
    durationMs: number;
    exitCode?: number | null;
    signal?: string | null;
    rowCount?: number | null;
    sqlstate?: string;
    error?: string;
    outputTail: string;
  };
  'verify-warning': { message: string };
  integrity: { source: string | null; target: string | null; lostWrites: number | null; rowCountMismatches: number | null; hashMismatches: number | null };
  'teardown-failed': { step: string; error: string };
  'report-failed': { reporter: string; error: string };
  /** the run's reaper is watching pgdrill's process (runtime/reaper) */
  'reaper-started': { pid: number; registry: string };
  /** no reaper: a kill -9 of pgdrill would leave this run's servers behind */
  'reaper-unavailable': { reason: string };
  /** written by the reaper itself, after pgdrill's process died without tearing down */
  'reaper-reaped': {
    owner: number;
    tookMs: number;
    killed: string[];
    containers: string[];
    networks: string[];
    volumes: string[];
    unmounted: string[];
    removedDirs: string[];
    failures: string[];
    keep: boolean;
  };
  error: { message: string; code: string };
  /** the application in the loop was started (app:) */
  'app-start': { command: string; sample: boolean; port: number; pid: number | null; cwd: string };
  'app-ready': { port: number; afterMs: number; attempts: number };
  /** the app process ended; expected = pgdrill stopped it */
  'app-exited': { code: number | null; signal: string | null; expected: boolean };
  'app-load-start': { rate: number; connections: number; requests: string[] };
  'app-load-end': { app: Counts };
  /** one app check (app.checks[index]) after the cutover or at the end of the load: the outcome results.json keeps */
  'app-check': AppCheckOutcome;
  'app-stop': { how: string; durationMs: number };
  /** runtime external: pgdrill's bookkeeping schema at the end (dropped on the final primary unless --keep; leftOn: nodes that keep a copy) */
  bookkeeping: { node: string; schema: string; dropped: boolean; leftOn: string[]; detail: string };
}

export type EventKind = keyof EventPayloads;

/** One recorded event, narrowed by `kind`. */
export type RunEvent = { [K in EventKind]: { t: number; kind: K } & EventPayloads[K] }[EventKind];

export type EventOf<K extends EventKind> = Extract<RunEvent, { kind: K }>;

/** Narrows a list of events to one kind. */
export function eventsOf<K extends EventKind>(events: readonly RunEvent[], kind: K): EventOf<K>[] {
  return events.filter((e): e is EventOf<K> => e.kind === kind);
}

/**
 * Whether an event reports something that went wrong, decided per kind (exhaustively, so a
 * new kind must say). Reporters use it to flag timeline rows; it does not decide the verdict:
 * the checks do.
 */
export function isTroubleEvent(e: RunEvent): boolean {
  switch (e.kind) {
    case 'cutover-step':
    case 'cutover-end':
    case 'step-end':
    case 'app-check':
      return !e.ok;
    case 'app-exited':
      return !e.expected;
    case 'replication-tls':
      return !e.ssl;
    case 'fault-check-failed':
    case 'fault-failed':
    case 'fault-heal-failed':
    case 'failover-health-check-failed':
    case 'failover-not-triggered':
    case 'verify-warning':
    case 'teardown-failed':
    case 'report-failed':
    case 'reaper-unavailable':
    case 'reaper-reaped':
    case 'error':
    case 'workload-connection-lost':
      return true;
    case 'run-start':
    case 'phase-start':
    case 'phase-end':
    case 'node-binaries':
    case 'node-volume':
    case 'node-ready':
    case 'seeded':
    case 'tls-ready':
    case 'scripts-checked':
    case 'workload-scripts':
    case 'endpoint-ready':
    case 'endpoint-server-state':
    case 'patroni-etcd-ready':
    case 'patroni-member':
    case 'patroni-leader':
    case 'patroni-unreachable':
    case 'patroni-first-write':
    case 'workload-start':
    case 'workload-end':
    case 'workload-retarget':
    case 'workload-connection-restored':
    case 'cutover-start':
    case 'cutover-step-start':
    case 'failover':
    case 'failover-health-recovered':
    case 'old-primary-returned':
    case 'fault-start':
    case 'fault-check':
    case 'fault-end':
    case 'step-start':
    case 'integrity':
    case 'app-start':
    case 'app-ready':
    case 'app-load-start':
    case 'app-load-end':
    case 'app-stop':
    case 'bookkeeping':
    case 'reaper-started':
      return false;
  }
}
