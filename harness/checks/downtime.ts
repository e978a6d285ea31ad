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
  'more than the stall threshold) after a served one; closes at the intended start of the next served operation, or ' +
  'when the last operation that hung on the server was answered if that is later (operations that only waited in ' +
  "pgdrill's own queue for a free connection do not hold it open), or at the end of the load (then it is open at the " +
  'end: not recovered); windows less than the merge gap apart are one outage';

/**
 * A write that succeeds only after this long was not served during its wait: a paused
 * server or a held connection shows up as stalled writes that succeed late, not as
 * failures. Above ordinary latency (a few ms here, tens under load or link latency).
 */
export const DEFAULT_STALL_MS = 250;

/** Outages closer than this are one: a flapping service is down, not up 1,500 times. */
export const DEFAULT_MERGE_GAP_MS = 1000;

export interface DowntimeOptions {
  /** ms from the start of the run at which the load's schedule ended: closes a window still open */
  loadEndMs: number;
  /** ms; an ok operation slower than this counts as not served (default DEFAULT_STALL_MS) */
  stallMs?: number;
  /** ms; windows closer than this merge (default DEFAULT_MERGE_GAP_MS; 0 merges only overlaps) */
  mergeGapMs?: number;
}

export interface MeasuredDowntime extends Downtime {
  edges: typeof DOWNTIME_EDGES;
  stallMs: number;
  mergeGapMs: number;
}

interface OpenWindow {
  startMs: number;
  failedOps: number;
  /** when the last op that hung on the server got its answer */
  lastHungEndMs: number;
}

/**
 * Downtime windows of one stream (pass the writes, or the reads, not both).
 *
 * A window closes at the intended start of the first ok operation after the failure run:
 * that operation was served without error, so service had resumed by the time it was meant
 * to start. An isolated failure (one constraint violation) still opens a window: an
 * intended write failed. Such windows are short and carry failedOps so a reader can tell a
 * blip from an outage; near ones merge (DEFAULT_MERGE_GAP_MS).
 */
export function downtimeWindows(ops: readonly OpRecord[], options: DowntimeOptions): MeasuredDowntime {
  const stallMs = options.stallMs ?? DEFAULT_STALL_MS;
  const mergeGapMs = options.mergeGapMs ?? DEFAULT_MERGE_GAP_MS;
  const served = (op: OpRecord) => op.outcome === 'ok' && op.endMs - op.intendedMs <= stallMs;
  // an ok op answered slowly once sent hung on the server; one answered promptly once sent
  // but late overall only waited for one of our connections: the server was serving
  const hungOnServer = (op: OpRecord) => op.outcome === 'ok' && op.endMs - (op.startMs ?? op.intendedMs) > stallMs;
  const ordered = [...ops].sort((a, b) => byIntendedStart(a, b, served));
  const raw: DowntimeWindow[] = [];
  let open: OpenWindow | null = null;

  for (const op of ordered) {
    if (served(op)) {
      if (open) {
        raw.push(closeWindow(open, Math.max(op.intendedMs, open.lastHungEndMs), false));
        open = null;
      }
      continue;
    }
    open ??= { startMs: op.intendedMs, failedOps: 0, lastHungEndMs: 0 };
    open.failedOps++;
    if (hungOnServer(op)) open.lastHungEndMs = Math.max(open.lastHungEndMs, op.endMs);
  }
  // an op intended after the load ended (the last tick) must not yield a negative window
  if (open) raw.push(closeWindow(open, Math.max(options.loadEndMs, open.startMs), true));

  const windows = mergeWindows(raw, mergeGapMs);
  let longestMs = 0;
  let totalMs = 0;
  for (const w of windows) {
    longestMs = Math.max(longestMs, w.durationMs);
    totalMs += w.durationMs;
  }
  return { longestMs, totalMs, windows, openAtEnd: windows.some((w) => w.openAtEnd), edges: DOWNTIME_EDGES, stallMs, mergeGapMs };
}

/**
 * Merges windows that overlap or lie less than `gapMs` apart. The result never overlaps, so
 * the sum of its durations counts no instant twice.
 */
export function mergeWindows(windows: readonly DowntimeWindow[], gapMs: number): DowntimeWindow[] {
  const sorted = [...windows].sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
  const out: DowntimeWindow[] = [];
  for (const w of sorted) {
    const last = out[out.length - 1];
    if (last && (w.startMs <= last.endMs || w.startMs - last.endMs < gapMs)) {
      const endMs = Math.max(last.endMs, w.endMs);
      out[out.length - 1] = {
        startMs: last.startMs,
        endMs,
        durationMs: endMs - last.startMs,
        failedOps: last.failedOps + w.failedOps,
        openAtEnd: last.openAtEnd || w.openAtEnd,
        merged: (last.merged ?? 1) + (w.merged ?? 1),
      };
    } else {
      out.push({ ...w });
    }
  }
  return out;
}

export interface ServerGapOptions {
  /** the load's schedule, ms from the start of the run: the gap counts from its start and to its end */
  loadStartMs: number;
  loadEndMs: number;
}

/**
 * The largest gap between committed probe rows by the server's clock (the CloudNativePG e2e
 * method), counting the edges: from the start of the load to the first committed probe and
 * from the last one to the end, so an outage at either end is not hidden. It sees what the
 * client view cannot separate from client-side stalls: how long the database itself accepted
 * no writes. The server's clock is placed on the run's clock by the median offset between
 * each probe's server time and when its answer arrived. null when no probe was intended.
 */
export function serverWriteGapMs(probeOps: readonly OpRecord[], options: ServerGapOptions): number | null {
  const probes = probeOps.filter((op) => op.stream === 'probe');
  if (probes.length === 0) return null;
  const committed = probes.filter((op) => op.outcome === 'ok' && Number.isFinite(op.serverTimeMs));
  const span = Math.max(0, options.loadEndMs - options.loadStartMs);
  if (committed.length === 0) return span;
  const offsets = committed.map((op) => (op.serverTimeMs as number) - op.endMs).sort((a, b) => a - b);
  const offset = offsets[Math.floor(offsets.length / 2)];
  const times = committed.map((op) => (op.serverTimeMs as number) - offset).sort((a, b) => a - b);
  let gap = Math.max(0, times[0] - options.loadStartMs, options.loadEndMs - times[times.length - 1]);
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

function closeWindow(open: OpenWindow, endMs: number, openAtEnd: boolean): DowntimeWindow {
  return { startMs: open.startMs, endMs, durationMs: endMs - open.startMs, failedOps: open.failedOps, openAtEnd };
}
