// The open-loop scheduler: operations are intended at a fixed rate on the run's clock and
// recorded exactly once each, whatever earlier ones take (no coordinated omission).
// It knows nothing of PostgreSQL: an executor runs one operation on one connection slot.

import type { LedgerEntry, OpError, OpKind, OpOutcome, OpRecord, OpStream } from '../record/records.js';

/** Time as the scheduler sees it; tests swap in a virtual clock. */
export interface Clock {
  /** ms since the start of the run (the recorder's clock) */
  now(): number;
  /** resolves after `ms`, or early (never rejects) when `signal` aborts */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** A clock over `now` (e.g. `() => recorder.now()`) and real timers. */
export function realClock(now: () => number): Clock {
  return {
    now,
    sleep(ms, signal) {
      return new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, ms));
        signal?.addEventListener('abort', done, { once: true });
      });
    },
  };
}

/** One operation handed to an executor. */
export interface ScheduledOp {
  id: number;
  kind: OpKind;
  intendedMs: number;
  startMs: number;
  /** the connection slot (0 .. connections-1); a slot runs one operation at a time */
  slot: number;
  /** ms the executor has before the operation counts as indeterminate; it must enforce it */
  timeoutMs: number;
  /** aborts when the scheduler has given up on this operation (timeout + grace) */
  signal: AbortSignal;
}

/** What an executor reports; the scheduler adds the times. */
export interface OpResult {
  outcome: Exclude<OpOutcome, 'dropped'>;
  /** overrides the planned kind (e.g. a delete that had no candidate and inserted instead) */
  kind?: OpKind;
  error?: OpError;
  ledger?: LedgerEntry;
  serverTimeMs?: number;
  /** HTTP executors: the status answered and which request was sent (OpRecord.status, .request) */
  status?: number;
  request?: string;
}

export type OpExecutor = (op: ScheduledOp) => Promise<OpResult>;

export interface OpenLoopOptions {
  stream: OpStream;
  /** intended operations per second; <= 0 schedules nothing */
  rate: number;
  /** slots, i.e. at most this many operations in flight */
  connections: number;
  /** ms an executor has per operation (it must enforce it; the scheduler's watchdog is a backstop) */
  timeoutMs: number;
  /** ms an operation may wait for a free slot after its intended time before it is dropped;
   *  default min(1000, timeoutMs) */
  maxQueueDelayMs?: number;
  /** ms an executor may overrun timeoutMs before the scheduler records its op indeterminate
   *  itself and aborts the op's signal; default 1000 */
  graceMs?: number;
  /** the first intended time; default clock.now() */
  startMs?: number;
  /** nothing is intended at or after startMs + durationMs; default: until aborted */
  durationMs?: number;
  /** stops scheduling: queued operations are dropped, in-flight ones awaited */
  signal?: AbortSignal;
  clock: Clock;
  /** the kind of operation number `index` of this stream, chosen when it is intended */
  plan: (index: number) => OpKind;
  execute: OpExecutor;
  /** receives every operation exactly once */
  record: (record: OpRecord) => void;
  /** run-wide operation ids; default 1, 2, 3... per scheduler */
  nextId?: () => number;
}

export interface OpenLoopSummary {
  intended: number;
  ok: number;
  failed: number;
  indeterminate: number;
  dropped: number;
}

interface Pending {
  id: number;
  kind: OpKind;
  intendedMs: number;
  startMs?: number;
  recorded: boolean;
  slot: number;
}

/** Resolves everyone waiting whenever something finishes; cheaper than a promise per op. */
class Notifier {
  private waiters: Array<() => void> = [];
  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/**
 * Runs one stream until its deadline or until `signal` aborts, then waits for what is in
 * flight (each op at most timeoutMs + graceMs). Resolves when every intended operation has
 * been recorded.
 */
export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopSummary> {
  const { stream, clock, execute, record, plan, signal } = options;
  const summary: OpenLoopSummary = { intended: 0, ok: 0, failed: 0, indeterminate: 0, dropped: 0 };
  if (!(options.rate > 0) || options.connections < 1) return summary;

  const timeoutMs = options.timeoutMs;
  const maxQueueDelayMs = options.maxQueueDelayMs ?? Math.min(1000, timeoutMs);
  const graceMs = options.graceMs ?? 1000;
  let counter = 0;
  const nextId = options.nextId ?? (() => ++counter);

  const queue: Pending[] = []; // intended, waiting for a slot, oldest first
  let queueHead = 0; // index of the oldest entry: shifting a long array per op is O(n)
  const freeSlots: number[] = [];
  for (let s = options.connections - 1; s >= 0; s--) freeSlots.push(s);
  const inflight = new Set<Pending>();
  const settled = new Notifier();

  const finish = (p: Pending, endMs: number, result: OpResult | { outcome: 'dropped' }) => {
    if (p.recorded) return; // a late executor after its watchdog recorded the op
    p.recorded = true;
    const r = result as Partial<OpResult> & { outcome: OpOutcome };
    // built field by field: conditional spreads allocate an object each, per op
    const rec = { id: p.id, stream, kind: r.kind ?? p.kind, intendedMs: p.intendedMs } as OpRecord;
    if (p.startMs !== undefined) rec.startMs = p.startMs;
    rec.endMs = endMs;
    rec.outcome = r.outcome;
    if (r.error) rec.error = r.error;
    if (r.ledger) rec.ledger = r.ledger;
    if (r.serverTimeMs !== undefined) rec.serverTimeMs = r.serverTimeMs;
    if (r.status !== undefined) rec.status = r.status;
    if (r.request !== undefined) rec.request = r.request;
    summary[r.outcome]++;
    record(rec);
  };

  // One AbortController per slot, replaced only when it fires: creating (and aborting) one per
  // op cost ~19 % of the client's CPU at 3,000 ops/s (DOMException stacks, listener churn).
  const slotControllers = Array.from({ length: options.connections }, () => new AbortController());

  // The watchdog: an executor that overruns its timeout by the grace does not keep its op out
  // of the record. One timer for the whole scheduler, not one per op: ops start in order with
  // the same timeout, so the oldest op in flight is always the next to run out of time; the
  // timer sleeps until then, and an op that finished in time costs it nothing. The one timer
  // per op is the executor's own (its query timeout).
  const overrunMs = timeoutMs + graceMs;
  let watchdogArmed = false;
  // ends the watchdog's last sleep when the scheduler returns (a real timer would hold the process)
  const watchdogStop = new AbortController();
  const armWatchdog = () => {
    const oldest = inflight.values().next();
    if (oldest.done) {
      watchdogArmed = false;
      return;
    }
    watchdogArmed = true;
    void clock.sleep(Math.max(0, oldest.value.startMs! + overrunMs - clock.now()), watchdogStop.signal).then(checkOverruns);
  };
  const checkOverruns = () => {
    if (watchdogStop.signal.aborted) return;
    const now = clock.now();
    let gaveUp = false;
    for (const p of inflight) {
      if (p.startMs! + overrunMs > now) break;
      inflight.delete(p);
      finish(p, now, {
        outcome: 'indeterminate',
        error: { class: 'timeout', message: `no verdict within ${timeoutMs}ms (+${graceMs}ms grace); the executor was told to let go` },
      });
      // the slot stays busy until the executor really lets go; its next op gets a fresh signal
      const controller = slotControllers[p.slot];
      slotControllers[p.slot] = new AbortController();
      controller.abort();
      gaveUp = true;
    }
    armWatchdog();
    if (gaveUp) settled.notify();
  };

  const start = (p: Pending, slot: number, now: number) => {
    p.startMs = now;
    p.slot = slot;
    inflight.add(p);
    if (!watchdogArmed) armWatchdog();
    const op: ScheduledOp = {
      id: p.id,
      kind: p.kind,
      intendedMs: p.intendedMs,
      startMs: now,
      slot,
      timeoutMs,
      signal: slotControllers[slot].signal,
    };
    let promise: Promise<OpResult>;
    try {
      promise = execute(op);
    } catch (err) {
      promise = Promise.reject(err);
    }
    promise.then(
      (result) => settle(p, slot, result),
      (err) =>
        settle(p, slot, {
          // an executor that throws broke its contract; the op may have been sent
          outcome: 'indeterminate',
          error: { class: 'internal', message: err instanceof Error ? err.message : String(err) },
        }),
    );
  };

  const settle = (p: Pending, slot: number, result: OpResult) => {
    finish(p, clock.now(), result);
    inflight.delete(p);
    freeSlots.push(slot);
    // start the next queued op now, not at the loop's next wake-up: a freed slot is the
    // only thing that lets a queued op start
    dispatch();
    settled.notify();
  };

  const dispatch = () => {
    const now = clock.now();
    while (queueHead < queue.length) {
      const p = queue[queueHead];
      if (now - p.intendedMs >= maxQueueDelayMs) {
        queueHead++;
        finish(p, now, { outcome: 'dropped' });
        continue;
      }
      const slot = freeSlots.pop();
      if (slot === undefined) break;
      queueHead++;
      start(p, slot, now);
    }
    if (queueHead > 1024 && queueHead * 2 > queue.length) {
      queue.splice(0, queueHead);
      queueHead = 0;
    }
  };

  const dropQueued = () => {
    const now = clock.now();
    while (queueHead < queue.length) finish(queue[queueHead++], now, { outcome: 'dropped' });
    queue.length = 0;
    queueHead = 0;
  };

  const t0 = options.startMs ?? clock.now();
  const intervalMs = 1000 / options.rate;
  const endMs = options.durationMs !== undefined ? t0 + options.durationMs : Infinity;
  let index = 0;

  // The loop sleeps until the next intended time and then issues everything that is due:
  // a late wake-up (timer slack, a busy event loop) becomes a burst, never a drift, because
  // intended times come from the index, not from when the previous op went out.
  while (!signal?.aborted) {
    const now = clock.now();
    for (;;) {
      const intendedMs = t0 + index * intervalMs;
      if (intendedMs > now || intendedMs >= endMs) break;
      queue.push({ id: nextId(), kind: plan(index), intendedMs, startMs: undefined, recorded: false, slot: -1 });
      summary.intended++;
      index++;
    }
    dispatch();
    const next = t0 + index * intervalMs;
    if (next >= endMs) break;
    // also wake when the oldest queued op runs out of grace, so drops are recorded on time
    const wake = queueHead < queue.length ? Math.min(next, queue[queueHead].intendedMs + maxQueueDelayMs) : next;
    // a short sleep goes without the stop signal (an abort then waits at most 2 ms): at
    // thousands of ops/s the loop wakes every millisecond, and a listener per wake adds up
    const sleepMs = Math.max(0, wake - clock.now());
    await clock.sleep(sleepMs, sleepMs > 2 ? signal : undefined);
  }

  if (signal?.aborted) {
    // stopping: what has not started will not start
    dropQueued();
  } else {
    // the deadline: queued ops still get their grace to find a slot
    let drainWakeAt = Infinity;
    while (queueHead < queue.length) {
      dispatch();
      if (queueHead >= queue.length) break;
      // wake when a slot frees or the oldest queued op runs out of grace: one timer per
      // expiry waited for (not an AbortController and a race per freed slot)
      const expiry = queue[queueHead].intendedMs + maxQueueDelayMs;
      if (!(drainWakeAt <= expiry)) {
        drainWakeAt = expiry;
        void clock.sleep(Math.max(0, expiry - clock.now()), watchdogStop.signal).then(() => {
          drainWakeAt = Infinity;
          settled.notify();
        });
      }
      await settled.wait();
      if (signal?.aborted) dropQueued();
    }
  }

  // In flight: each op is recorded by its executor, or by its watchdog at the latest.
  while (inflight.size > 0) await settled.wait();
  watchdogStop.abort();

  return summary;
}
