// Downtime as the clients saw it, and the server-side write gap, computed from recorded
// operations. Pure: no server, no clock; the same history always gives the same windows.

import type { OpRecord } from '../record/records.js';
import type { Downtime, DowntimeWindow } from '../results/results.js';

/**
 * How window edges are placed, carried in the result so a reader of results.json does not
 * have to guess. Both edges are *intended* start times: completion order depends on
 * timeouts and connection scheduling (an op intended later can finish before an earlier
 * one that hangs), intended order does not, so windows are reproducible from the record.
 */
export const DOWNTIME_EDGES =
  'opens at the intended start of the first operation not served (failed, indeterminate, dropped, or ok only after ' +
  'more than the stall threshold) after a served one; closes at the intended start of the next served operation, ' +
  'or when the last stalled operation of the window completed if that is later, or at the end of the load';

/**
 * A write that succeeds only after this long was not served during its wait: a paused
 * server or a held connection shows up as stalled writes that succeed late, not as
 * failures. Above ordinary latency (a few ms here, tens under load or link latency).
 */
export const DEFAULT_STALL_MS = 250;

export interface DowntimeOptions {
  /** ms from the start of the run at which the load phase ended: closes a window still open */
  loadEndMs: number;
  /** ms; an ok operation slower than this counts as not served (default DEFAULT_STALL_MS) */
  stallMs?: number;
}

export interface MeasuredDowntime extends Downtime {
  edges: typeof DOWNTIME_EDGES;
  stallMs: number;
}

/**
 * Downtime windows of one stream (pass the writes, or the reads, not both).
 *
 * A window closes at the intended start of the first ok operation after the failure run:
 * that operation was served without error, so service had resumed by the time it was meant
 * to start. An isolated failure (one constraint violation) still opens a window: an
 * intended write failed. Such windows are short (one schedule interval) and carry
 * failedOps so a reader can tell a blip from an outage.
 */
export function downtimeWindows(ops: readonly OpRecord[], options: DowntimeOptions): MeasuredDowntime {
  const stallMs = options.stallMs ?? DEFAULT_STALL_MS;
  const served = (op: OpRecord) => op.outcome === 'ok' && op.endMs - op.intendedMs <= stallMs;
  const ordered = [...ops].sort((a, b) => byIntendedStart(a, b, served));
  const windows: DowntimeWindow[] = [];
  let open: { startMs: number; failedOps: number; lastStallEndMs: number } | null = null;

  for (const op of ordered) {
    if (served(op)) {
      if (open) {
        // writes that stalled (a paused server) were not served until they completed
        windows.push(closeWindow(open, Math.max(op.intendedMs, open.lastStallEndMs), false));
        open = null;
      }
      continue;
    }
    open ??= { startMs: op.intendedMs, failedOps: 0, lastStallEndMs: 0 };
    open.failedOps++;
    if (op.outcome === 'ok') open.lastStallEndMs = Math.max(open.lastStallEndMs, op.endMs);
  }
  // an op intended after the load ended (the last tick) must not yield a negative window
  if (open) windows.push(closeWindow(open, Math.max(options.loadEndMs, open.startMs), true));

  let longestMs = 0;
  let totalMs = 0;
  for (const w of windows) {
    longestMs = Math.max(longestMs, w.durationMs);
    totalMs += w.durationMs;
  }
  return { longestMs, totalMs, windows, edges: DOWNTIME_EDGES, stallMs };
}

/**
 * The largest gap between consecutive committed probe rows by the server's clock (the
 * CloudNativePG e2e method). It sees what the client view cannot separate from client-side
 * stalls: how long the database itself accepted no writes. null with fewer than 2 rows.
 */
export function serverWriteGapMs(probeOps: readonly OpRecord[]): number | null {
  const times = probeOps
    .filter((op) => op.stream === 'probe' && op.outcome === 'ok' && Number.isFinite(op.serverTimeMs))
    .map((op) => op.serverTimeMs as number)
    .sort((a, b) => a - b);
  if (times.length < 2) return null;
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i] - times[i - 1]);
  return gap;
}

// At equal intended starts an op not served sorts before a served one: the served op shows
// the service was up at that instant, so the failure's window closes at once (0 ms,
// failedOps 1) instead of stretching to the next success. The id makes the order total.
function byIntendedStart(a: OpRecord, b: OpRecord, served: (op: OpRecord) => boolean): number {
  if (a.intendedMs !== b.intendedMs) return a.intendedMs - b.intendedMs;
  const aOk = served(a) ? 1 : 0;
  const bOk = served(b) ? 1 : 0;
  if (aOk !== bOk) return aOk - bOk;
  return a.id - b.id;
}

function closeWindow(open: { startMs: number; failedOps: number; lastStallEndMs: number }, endMs: number, openAtEnd: boolean): DowntimeWindow {
  return { startMs: open.startMs, endMs, durationMs: endMs - open.startMs, failedOps: open.failedOps, openAtEnd };
}
