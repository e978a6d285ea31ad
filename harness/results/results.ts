// The shape of results.json: the source of truth of a run (product.md). Every other
// output (HTML, PNG, JUnit, terminal) is rendered from this and nothing else.

import type { Scenario, RuntimeKind, StrategyKind } from '../scenario/scenario.js';
import type { CutoverStep, LagSample, Phase, RunEvent } from '../record/records.js';

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
  latencyMs: LatencySummary | null;
  /** HDR histogram of this second's latencies (µs), base64 compressed (hdr-histogram-js) */
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
  /** latency from the intended start, ms, over ok operations */
  latencyMs: LatencySummary;
  /** HDR histogram of all ok latencies (µs), base64 compressed */
  histogram: string | null;
  /** count per error class / SQLSTATE, e.g. { "57P01 admin_shutdown": 3, "connection": 12 } */
  errors: Record<string, number>;
  perSecond: SecondBucket[];
}

export interface DowntimeWindow {
  startMs: number;
  endMs: number;
  durationMs: number;
  /** operations in the window that did not succeed */
  failedOps: number;
  /** true when the window was still open at the end of the load */
  openAtEnd: boolean;
}

export interface Downtime {
  longestMs: number;
  totalMs: number;
  windows: DowntimeWindow[];
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
  key: number;
  op: string;
  version: number;
  requestId: string;
  /** what the final primary holds: 'missing', 'present', 'version 3', ... */
  found: string;
}

export interface Integrity {
  /** the node whose state was taken as the source (old primary at the freeze) */
  source: string | null;
  /** the final primary */
  target: string | null;
  tables: TableIntegrity[];
  rowCountMismatches: number;
  hashMismatches: number;
  sequences: SequenceCheck[];
  acknowledgedWrites: number;
  lostWrites: number;
  recoveredWrites: number;
  indeterminateWrites: number;
  /** writes the old primary accepted after the new one was promoted (split brain): must be 0 */
  writesAfterPromotion: number;
  /** up to 50 examples of lost writes, for the report */
  lost: LedgerFinding[];
}

export interface ThresholdResult {
  name: string;
  limit: string;
  /** the measured value, in the threshold's unit (ms, bytes, count, ratio) */
  actual: number | null;
  /** the measured value as a person reads it ("1.2s", "3.4MB", "0.2%") */
  actualText: string;
  pass: boolean;
}

export interface Results {
  pgdrillVersion: string;
  runId: string;
  verdict: 'pass' | 'fail';
  /** ISO time the run started */
  startedAt: string;
  durationMs: number;
  runtime: RuntimeKind;
  scenario: Scenario;
  /** where the nodes' binaries came from, per node */
  nodes: { name: string; version: number; role: string; binaries: string }[];
  phases: Phase[];
  events: RunEvent[];
  load: { writes: LoadSummary; reads: LoadSummary; probe: LoadSummary };
  downtime: { writes: Downtime; reads: Downtime; serverWriteGapMs: number | null };
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
  /** set when the run ended on an error rather than finishing */
  error: { message: string; code: string } | null;
}
