// The shape of results.json: the source of truth of a run (product.md). Every other
// output (HTML, PNG, JUnit, terminal) is rendered from this and nothing else.

import type { Scenario, RuntimeKind, StrategyKind } from '../scenario/scenario.js';
import type { CutoverStep, LagSample, Phase, RunEvent } from '../record/records.js';
import type { PatroniResults } from '../patroni/patroni-results.js';

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** One second of a stream, for charts: counts by outcome and latency percentiles. */
export interface SecondBucket {
  /** whole seconds from the start of the load phase */
  second: number;
  ok: number;
  failed: number;
  indeterminate: number;
  dropped: number;
  /** latency of the second's ok operations (the chart's line); null with none */
  latencyMs: LatencySummary | null;
  /** HDR histogram of this second's ok latencies (µs), base64 compressed (hdr-histogram-js) */
  histogram: string | null;
}

export interface LoadSummary {
  intended: number;
  ok: number;
  failed: number;
  indeterminate: number;
  dropped: number;
  /** acknowledged operations per second over the load phase */
  achievedRate: number;
  /**
   * what a caller waited, ms from the intended start, over EVERY intended operation: ok ones
   * until their answer, failed and indeterminate ones until the error or the timeout, dropped
   * ones for the whole timeout. p99WriteLatency reads this.
   */
  latencyMs: LatencySummary;
  /** latency from the intended start over ok operations only */
  okLatencyMs: LatencySummary;
  /** HDR histogram of latencyMs (µs), base64 compressed */
  histogram: string | null;
  /** HDR histogram of okLatencyMs (µs) */
  okHistogram: string | null;
  /** count per error class / SQLSTATE, e.g. { "57P01 admin_shutdown": 3, "connection": 12 } */
  errors: Record<string, number>;
  perSecond: SecondBucket[];
}

/** The app stream's summary: a LoadSummary whose indeterminate requests are timeouts, with status codes. */
export interface AppLoadSummary extends LoadSummary {
  /** HTTP status -> answered requests, e.g. { "201": 480, "200": 495, "503": 12 } */
  statusCodes: Record<string, number>;
  /** requests unanswered within app.load.timeout (the stream's indeterminate outcome) */
  timeouts: number;
}

/** Lines of app.log that look like database connection errors, counted after the cutover. */
export interface AppLogScan {
  file: string;
  /** where counting starts: the end of the cutover, or the start of the load when there was none */
  from: 'cutover end' | 'load start';
  /** ms from the start of the run */
  fromMs: number;
  /** counting ends when pgdrill began stopping the app (teardown's own errors do not count) */
  toMs: number;
  /** lines of the log in all */
  lines: number;
  /** matching lines in [fromMs, toMs]: what appLogErrors reads */
  matched: number;
  /** matching lines before fromMs (during the cutover itself, say): shown, not judged */
  before: number;
  /** pattern name -> matching lines in [fromMs, toMs] (a line counts under its first pattern) */
  byPattern: Record<string, number>;
  /** the first few matching lines after fromMs, as logged */
  examples: { t: number; line: string }[];
}

/** One app check as it ran: the request, what it answered, whether that was the expected status. */
export interface AppCheckOutcome {
  index: number;
  method: string;
  path: string;
  expect: number;
  /** the last status answered; null when nothing answered */
  status: number | null;
  ok: boolean;
  attempts: number;
  /** ms from the start of the checks to the expected answer (or to giving up) */
  afterMs: number;
  /** when the checks ran: after the cutover, or at the end of the load */
  when: 'after the cutover' | 'at the end of the load';
  error?: string;
}

/** The application in the loop: what ran, when it was ready, whether it died, its log scan and checks. */
export interface AppResults {
  /** the command as run ("node .../app/sample-service/server.js" for the sample service) */
  command: string;
  sample: boolean;
  /** the loopback port it was given */
  port: number | null;
  /** ms from its start until ready.path answered 2xx; null when it never did */
  readyAfterMs: number | null;
  /** set when the app exited before pgdrill stopped it */
  exited: { t: number; code: number | null; signal: string | null } | null;
  logScan: AppLogScan | null;
  checks: AppCheckOutcome[];
}

/** One script of the workload (your own statements) and how its operations went. */
export interface ScriptLoad {
  stream: 'write' | 'read';
  index: number;
  name: string;
  sql: string;
  weight: number;
  /** "notes (id), insert", when the ledger checks its writes */
  ledger: string | null;
  ok: number;
  failed: number;
  indeterminate: number;
  /** ops that could not run: a pick() found no key left (counted as failed too) */
  noKey: number;
  /** count per "SQLSTATE class" (or class), as load.*.errors */
  errors: Record<string, number>;
  /** the first error it got, for people */
  firstError: string | null;
}

export interface DowntimeWindow {
  startMs: number;
  endMs: number;
  durationMs: number;
  /** operations in the window that did not succeed */
  failedOps: number;
  /** true when the window was still open at the end of the load: not recovered (the run fails) */
  openAtEnd: boolean;
  /** how many separate outages less than the merge gap apart make up this window (absent = 1) */
  merged?: number;
}

export interface Downtime {
  longestMs: number;
  /** the windows' durations added up; windows never overlap, so no instant counts twice */
  totalMs: number;
  windows: DowntimeWindow[];
  /** some window was still open when the load ended: the service had not recovered */
  openAtEnd?: boolean;
  /** ms: windows closer than this were merged into one */
  mergeGapMs?: number;
  /** how window edges are placed, in words */
  edges?: string;
  /** ms: an ok operation slower than this counted as not served */
  stallMs?: number;
}

export interface TableIntegrity {
  table: string;
  sourceRows: number | null;
  targetRows: number | null;
  sourceHash: string | null;
  targetHash: string | null;
  match: boolean;
}

export interface SequenceCheck {
  sequence: string;
  table: string;
  column: string;
  lastValue: number;
  maxValue: number;
  ok: boolean;
}

export interface LedgerFinding {
  table: string;
  key: number | string;
  op: string;
  version: number;
  requestId: string;
  /** what the final primary holds: 'missing', 'present (version 3)', ... */
  found: string;
  /** why this write counts as lost */
  reason: string;
}

/** One difference between the two sides' catalogs (columns, constraints, indexes, triggers, sequences, views). */
export interface SchemaDifference {
  kind: string;
  /** the object, e.g. "public.orders.total" */
  name: string;
  /** its definition on the source; null = missing there */
  source: string | null;
  /** its definition on the target; null = missing there */
  target: string | null;
}

/** The facts integrity rests on; each may be unknown (it could not be established) or not apply to this run. */
export type IntegrityFact = 'ledger' | 'tables' | 'schema' | 'sequences' | 'splitBrain' | 'standbys';

/**
 * A standby of the final primary compared with it once it had replayed everything: a
 * follower re-pointed at the cutover, or the old primary rejoined after pg_rewind.
 */
export interface StandbyIntegrity {
  node: string;
  /** rejoined: the old primary, rewound and started as a standby of the new one */
  role: 'standby' | 'rejoined';
  tables: TableIntegrity[];
  rowCountMismatches: number;
  hashMismatches: number;
  schemaDifferences: SchemaDifference[];
}

export interface Integrity {
  /** the node whose state was taken as the source (old primary at the freeze) */
  source: string | null;
  /** the node compared against it (the new primary as it was at the freeze, or a replica) */
  target: string | null;
  /** the final primary, which the ledger was checked against */
  finalPrimary: string | null;
  /** what was compared with what, in words */
  comparison: string;
  tables: TableIntegrity[];
  /** null when the tables were not compared */
  rowCountMismatches: number | null;
  hashMismatches: number | null;
  /** null when the catalogs were not compared */
  schemaDifferences: SchemaDifference[] | null;
  /** null when the sequences could not be read */
  sequences: SequenceCheck[] | null;
  /** the ledger's verdict; null when the ledger could not be checked */
  acknowledgedWrites: number | null;
  lostWrites: number | null;
  recoveredWrites: number | null;
  indeterminateWrites: number | null;
  /** writes the old primary accepted after the new one was promoted (split brain): must be 0; null = unknown */
  writesAfterPromotion: number | null;
  /** how writesAfterPromotion was established */
  splitBrainDetail: string;
  /** up to 50 examples of lost writes, with the reason, for the report */
  lost: LedgerFinding[];
  /**
   * every other standby of the final primary (followers, the rejoined old primary), each
   * compared with it; absent or empty when there is none (results of older versions lack it)
   */
  standbys?: StandbyIntegrity[];
  /** fact -> why it could not be established: such a fact is unknown, and unknown fails the run */
  unknown: Partial<Record<IntegrityFact, string>>;
  /** fact -> why it does not apply to this run (one node and no cutover: nothing to compare) */
  notApplicable: Partial<Record<IntegrityFact, string>>;
}

/**
 * One check the verdict rests on (Jepsen's checker result): valid, invalid, or unknown
 * because it could not run. The verdict is pass only when every check is valid.
 */
export interface CheckResult {
  /** stable across runs, e.g. "write ledger", "threshold writeDowntime < 5s" */
  name: string;
  valid: true | false | 'unknown';
  /** the evidence, or why it could not be decided */
  detail: string;
}

export interface ThresholdResult {
  name: string;
  /** the limit as written, e.g. "< 5s" */
  limit: string;
  /** the measured value, in the threshold's unit (ms, bytes, count, ratio) */
  actual: number | null;
  /** the measured value as a person reads it ("1.2s", "3.4MB", "0.2%"), or why there is none */
  actualText: string;
  /** true / false, or unknown when the metric could not be measured */
  valid: true | false | 'unknown';
  /** valid === true */
  pass: boolean;
}

/** What clients connected through, and what it did by itself (HAProxy's server states). */
export interface EndpointResults {
  kind: string;
  /** what ran it: "pgdrill TCP proxy", "PgBouncer 1.18.0 (Debian package ...); pool_mode transaction" */
  origin: string;
  /** where clients connected */
  address: string;
  /** every server state change the endpoint reported (HAProxy), in order; empty for the others */
  serverStates: { t: number; backend: string; server: string; state: string; previous: string | null; check: string }[];
}

export interface Results {
  pgdrillVersion: string;
  runId: string;
  /**
   * pass only when every check is valid; computed once, from checks[]. incomplete: the run
   * never finished (pgdrill's process died) and this was rebuilt from its logs by `pgdrill report`.
   */
  verdict: 'pass' | 'fail' | 'incomplete';
  /** every check the verdict rests on, thresholds included */
  checks: CheckResult[];
  /** ISO time the run started */
  startedAt: string;
  durationMs: number;
  runtime: RuntimeKind;
  scenario: Scenario;
  /** where the nodes' binaries came from, per node */
  nodes: { name: string; version: number; role: string; binaries: string }[];
  phases: Phase[];
  events: RunEvent[];
  /** app: present when the scenario has an app: section; scripts: when the workload ran your own statements */
  load: { writes: LoadSummary; reads: LoadSummary; probe: LoadSummary; app?: AppLoadSummary; scripts?: ScriptLoad[] };
  downtime: { writes: Downtime; reads: Downtime; serverWriteGapMs: number | null; app?: Downtime };
  lag: { samples: LagSample[]; maxReplayBytes: number | null; maxReplayLagMs: number | null };
  integrity: Integrity | null;
  cutover: {
    strategy: StrategyKind;
    from: string;
    to: string;
    dryRun: boolean;
    ok: boolean;
    rolledBack: boolean;
    steps: CutoverStep[];
  } | null;
  thresholds: ThresholdResult[];
  /** the application in the loop; absent when the scenario has no app: section */
  app?: AppResults;
  /** which endpoint ran; absent in results from before endpoints had kinds (the proxy), and when the run ended before it started */
  endpoint?: EndpointResults;
  /** a Patroni cluster's members' roles over time and its leader changes; absent without patroni: */
  patroni?: PatroniResults;
  /** set when the run ended on an error rather than finishing */
  error: { message: string; code: string } | null;
  /** only in results rebuilt from a crashed run's logs (verdict incomplete): where it stopped */
  incomplete?: IncompleteRun;
}

/** What a post-mortem could tell of a run that never wrote its results. */
export interface IncompleteRun {
  /** in words: "in the load phase at 12.3s (T+4.50s), during cutover step promote" */
  stoppedAt: string;
  /** the phase that had started and not ended, null before the first */
  phase: string | null;
  /** ms from the start of the run of the last thing recorded */
  lastRecordMs: number;
  /** the files the results were rebuilt from */
  rebuiltFrom: string[];
  /** what the reaper removed after pgdrill's process died, when it did */
  reaped: string | null;
  /** lines of events.jsonl / operations.jsonl that could not be read (a line cut short by the crash) */
  unreadableLines: number;
}
