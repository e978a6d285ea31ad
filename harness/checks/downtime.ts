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
  const builder = new DowntimeBuilder(options);
  for (const op of ops) builder.add(op);
  return builder.finish(options.loadEndMs);
}

/** What the scan needs of one operation, kept small: a long run buffers thousands of them. */
interface DowntimeOp {
  id: number;
  intendedMs: number;
  served: boolean;
  /** endMs when the op hung on the server (ok, but answered slowly once sent), else -1 */
  hungEndMs: number;
}

export interface DowntimeBuilderOptions extends Omit<DowntimeOptions, 'loadEndMs'> {
  /**
   * ms: an op is scanned once an op intended this much later has arrived. Ops are recorded
   * when they end, so they arrive out of intended order by up to their timeout (plus queue
   * delay and grace); the buffer holds that many ms of ops. Infinity (the default) scans
   * only at finish, i.e. sorts everything, as downtimeWindows() does.
   */
  reorderMs?: number;
}

/**
 * downtimeWindows, one op at a time, for a run too long to keep its operations: ops wait in
 * a small reorder buffer (a heap in the order the scan needs) until no op can still arrive
 * before them, then go through the same scan, and windows merge as they close. If an op
 * does arrive after one that should follow it was scanned (it was later than reorderMs),
 * `outOfOrder` says so and `maxLatenessMs` how late it was: the result is then not exact
 * and must be rebuilt (from operations.jsonl) with reorderMs >= maxLatenessMs, which is
 * exact for the same sequence of records.
 */
export class DowntimeBuilder {
  private readonly stallMs: number;
  private readonly mergeGapMs: number;
  private readonly reorderMs: number;
  private readonly heap: DowntimeOp[] = [];
  private maxIntendedMs = -Infinity;
  private last: DowntimeOp | undefined;
  private open: OpenWindow | null = null;
  private readonly windows: DowntimeWindow[] = [];
  private lateness = 0;
  private disordered = false;

  constructor(options: DowntimeBuilderOptions = {}) {
    this.stallMs = options.stallMs ?? DEFAULT_STALL_MS;
    this.mergeGapMs = options.mergeGapMs ?? DEFAULT_MERGE_GAP_MS;
    this.reorderMs = options.reorderMs ?? Infinity;
  }

  /** true when an op arrived after ops it should precede were scanned: rebuild with reorderMs >= maxLatenessMs */
  get outOfOrder(): boolean {
    return this.disordered;
  }

  /** the most any op arrived behind the latest intended op before it */
  get maxLatenessMs(): number {
    return this.lateness;
  }

  add(record: OpRecord): void {
    const served = record.outcome === 'ok' && record.endMs - record.intendedMs <= this.stallMs;
    // an ok op answered slowly once sent hung on the server; one answered promptly once sent
    // but late overall only waited for one of our connections: the server was serving
    const hung = record.outcome === 'ok' && record.endMs - (record.startMs ?? record.intendedMs) > this.stallMs;
    const op: DowntimeOp = { id: record.id, intendedMs: record.intendedMs, served, hungEndMs: hung ? record.endMs : -1 };
    if (this.maxIntendedMs - op.intendedMs > this.lateness) this.lateness = this.maxIntendedMs - op.intendedMs;
    if (this.last && scanOrder(op, this.last) < 0) this.disordered = true;
    heapPush(this.heap, op);
    if (op.intendedMs > this.maxIntendedMs) this.maxIntendedMs = op.intendedMs;
    while (this.heap.length > 0 && this.heap[0].intendedMs < this.maxIntendedMs - this.reorderMs) this.scan(heapPop(this.heap)!);
  }

  finish(loadEndMs: number): MeasuredDowntime {
    while (this.heap.length > 0) this.scan(heapPop(this.heap)!);
    const windows = [...this.windows];
    // an op intended after the load ended (the last tick) must not yield a negative window
    if (this.open) mergeInto(windows, closeWindow(this.open, Math.max(loadEndMs, this.open.startMs), true), this.mergeGapMs);
    let longestMs = 0;
    let totalMs = 0;
    for (const w of windows) {
      longestMs = Math.max(longestMs, w.durationMs);
      totalMs += w.durationMs;
    }
    return { longestMs, totalMs, windows, openAtEnd: windows.some((w) => w.openAtEnd), edges: DOWNTIME_EDGES, stallMs: this.stallMs, mergeGapMs: this.mergeGapMs };
  }

  private scan(op: DowntimeOp): void {
    this.last = op;
    if (op.served) {
      if (this.open) {
        mergeInto(this.windows, closeWindow(this.open, Math.max(op.intendedMs, this.open.lastHungEndMs), false), this.mergeGapMs);
        this.open = null;
      }
      return;
    }
    this.open ??= { startMs: op.intendedMs, failedOps: 0, lastHungEndMs: 0 };
    this.open.failedOps++;
    if (op.hungEndMs >= 0) this.open.lastHungEndMs = Math.max(this.open.lastHungEndMs, op.hungEndMs);
  }
}

/**
 * Merges windows that overlap or lie less than `gapMs` apart. The result never overlaps, so
 * the sum of its durations counts no instant twice.
 */
export function mergeWindows(windows: readonly DowntimeWindow[], gapMs: number): DowntimeWindow[] {
  const sorted = [...windows].sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
  const out: DowntimeWindow[] = [];
  for (const w of sorted) mergeInto(out, w, gapMs);
  return out;
}

/** Adds `w` to windows sorted by start, merging it into the last one when they overlap or are closer than gapMs. */
function mergeInto(out: DowntimeWindow[], w: DowntimeWindow, gapMs: number): void {
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
  const accumulator = new ServerGapAccumulator();
  for (const op of probeOps) accumulator.add(op);
  return accumulator.gapMs(options);
}

/**
 * serverWriteGapMs, one op at a time. The median clock offset needs every committed probe,
 * so each is kept as two numbers in typed arrays (16 bytes; an hour of a 20 ms probe is
 * 2.9 MB), not as a record.
 */
export class ServerGapAccumulator {
  private probes = 0;
  private committed = 0;
  private serverTimes: Float64Array<ArrayBuffer> = new Float64Array(1024);
  private endTimes: Float64Array<ArrayBuffer> = new Float64Array(1024);

  add(op: OpRecord): void {
    if (op.stream !== 'probe') return;
    this.probes++;
    if (op.outcome !== 'ok' || !Number.isFinite(op.serverTimeMs)) return;
    if (this.committed === this.serverTimes.length) {
      this.serverTimes = grow(this.serverTimes);
      this.endTimes = grow(this.endTimes);
    }
    this.serverTimes[this.committed] = op.serverTimeMs as number;
    this.endTimes[this.committed] = op.endMs;
    this.committed++;
  }

  /** null when no probe was intended */
  gapMs(options: ServerGapOptions): number | null {
    if (this.probes === 0) return null;
    const span = Math.max(0, options.loadEndMs - options.loadStartMs);
    const n = this.committed;
    if (n === 0) return span;
    const offsets = new Float64Array(n);
    for (let i = 0; i < n; i++) offsets[i] = this.serverTimes[i] - this.endTimes[i];
    offsets.sort();
    const offset = offsets[Math.floor(n / 2)];
    const times = new Float64Array(n);
    for (let i = 0; i < n; i++) times[i] = this.serverTimes[i] - offset;
    times.sort();
    let gap = Math.max(0, times[0] - options.loadStartMs, options.loadEndMs - times[n - 1]);
    for (let i = 1; i < n; i++) gap = Math.max(gap, times[i] - times[i - 1]);
    return gap;
  }
}

function grow(array: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const bigger = new Float64Array(array.length * 2);
  bigger.set(array);
  return bigger;
}

// At equal intended starts an op not served sorts before a served one: the served op shows
// the service was up at that instant, so the failure's window closes at once (0 ms,
// failedOps 1) instead of stretching to the next success. The id makes the order total.
function scanOrder(a: DowntimeOp, b: DowntimeOp): number {
  if (a.intendedMs !== b.intendedMs) return a.intendedMs - b.intendedMs;
  const aOk = a.served ? 1 : 0;
  const bOk = b.served ? 1 : 0;
  if (aOk !== bOk) return aOk - bOk;
  return a.id - b.id;
}

function heapPush(heap: DowntimeOp[], op: DowntimeOp): void {
  heap.push(op);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (scanOrder(heap[i], heap[parent]) >= 0) break;
    [heap[i], heap[parent]] = [heap[parent], heap[i]];
    i = parent;
  }
}

function heapPop(heap: DowntimeOp[]): DowntimeOp | undefined {
  if (heap.length === 0) return undefined;
  const top = heap[0];
  const last = heap.pop()!;
  if (heap.length > 0) {
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && scanOrder(heap[l], heap[m]) < 0) m = l;
      if (r < heap.length && scanOrder(heap[r], heap[m]) < 0) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  }
  return top;
}

function closeWindow(open: OpenWindow, endMs: number, openAtEnd: boolean): DowntimeWindow {
  return { startMs: open.startMs, endMs, durationMs: endMs - open.startMs, failedOps: open.failedOps, openAtEnd };
}
