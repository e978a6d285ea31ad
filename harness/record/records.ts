// What a run records. Checks and reports are pure functions over these, so they can be
// tested on synthetic histories with no server. Times are ms from the start of the run.

/** A timeline event: phases, cutover steps, faults, errors. Goes to events.jsonl and results.events. */
export type { RunEvent, EventKind, EventPayloads, EventOf } from './events.js';

/** 'app': HTTP requests to the application under test (scenario `app:`), one per intended request. */
export type OpStream = 'write' | 'read' | 'probe' | 'app';
export type OpKind = 'insert' | 'update' | 'delete' | 'select' | 'probe' | 'request';

/**
 * ok: the server acknowledged it. failed: the server (or the connection, before the
 * operation was sent) said no. indeterminate: sent, outcome unknown (connection lost while
 * waiting, timeout). dropped: it could not start on time (all connections busy).
 */
export type OpOutcome = 'ok' | 'failed' | 'indeterminate' | 'dropped';

export interface OpError {
  /** SQLSTATE when the server sent one */
  sqlstate?: string;
  /** a short class: 'connection', 'timeout', 'read-only', 'server', ... */
  class: string;
  message: string;
}

/** What a write did, precisely enough to check it later against the final primary. */
export interface LedgerEntry {
  table: string;
  /** primary key value; 0 (or '') for an insert whose key the client never learnt */
  key: number | string;
  op: 'insert' | 'update' | 'delete';
  /** the row's `version` after an update (1 after an insert); 0 = not known */
  version: number;
  /**
   * client-generated uuid, inserted into the server's ledger table in the same statement as
   * the write (and into the row's request_id column where the table has one): present on the
   * final primary = committed there
   */
  requestId: string;
}

/** One intended operation, recorded exactly once. */
export interface OpRecord {
  id: number;
  stream: OpStream;
  kind: OpKind;
  /** when the open-loop schedule intended it to start */
  intendedMs: number;
  /** when it actually started (absent when dropped) */
  startMs?: number;
  /** when its outcome was known (for dropped: when it was given up) */
  endMs: number;
  outcome: OpOutcome;
  error?: OpError;
  /** write ops: what was (or may have been, when indeterminate) written */
  ledger?: LedgerEntry;
  /** probe ops: the server's clock_timestamp() of the committed row, ms since epoch */
  serverTimeMs?: number;
  /** app ops: the HTTP status the app answered with (absent: no answer) */
  status?: number;
  /** app ops: which request of app.load.requests was sent, "POST /orders" (absent when dropped) */
  request?: string;
}

export interface LagSample {
  t: number;
  node: string;
  /** the node this standby streamed from at that moment, as pgdrill had it pointed (absent in results of older versions) */
  upstream?: string;
  /** bytes behind the upstream's pg_current_wal_lsn() (its received WAL, for a cascading upstream) */
  sentBytes: number | null;
  writeBytes: number | null;
  flushBytes: number | null;
  replayBytes: number | null;
  writeLagMs: number | null;
  flushLagMs: number | null;
  replayLagMs: number | null;
  /** the replica's own view */
  receiveLsn: string | null;
  replayLsn: string | null;
  state: string | null;
  slotActive: boolean | null;
}

export interface CutoverStep {
  name: string;
  startMs: number;
  endMs: number;
  ok: boolean;
  detail: string;
  /** clients waited on this step (between taking writes away and giving them back); see strategies/critical-path.ts */
  criticalPath?: boolean;
}

export interface Phase {
  name: 'setup' | 'seed' | 'sync' | 'load' | 'cutover' | 'verify' | 'teardown';
  startMs: number;
  endMs: number;
}

/**
 * One sql or command step of the timeline, from start to end. Whether a failing step fails the
 * run is the verdict's business (allowFailure is kept for it); the record only says what happened.
 */
export interface TimelineStepRecord {
  step: 'sql' | 'command';
  /** the entry's index in scenario.timeline */
  index: number;
  /** "sql on replica: DELETE FROM orders WHERE id % 97 = 0" or "command: ./my-runbook-step.sh", shortened */
  label: string;
  startMs: number;
  endMs: number;
  ok: boolean;
  allowFailure: boolean;
  /** command: the shell's exit code; null when a signal ended it or it never started */
  exitCode?: number | null;
  /** command: the signal that ended the shell (SIGTERM after a timeout or an abort) */
  signal?: string | null;
  /** sql: rows affected or returned, summed over the statements that report a count; null when none does */
  rowCount?: number | null;
  /** sql: the server's SQLSTATE when a statement failed (57014 when pgdrill cancelled it) */
  sqlstate?: string;
  /** what went wrong, when ok is false */
  error?: string;
  /** command: the last ~4 kB of stdout and stderr, interleaved; sql: tags, first rows, notices, the error */
  outputTail: string;
}
