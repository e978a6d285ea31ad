// The open-loop scheduler on virtual time: a fake executor and a clock that jumps from timer
// to timer, so seconds of load run in milliseconds and every time is exact.

import { describe, expect, it } from 'vitest';
import type { OpRecord } from '../../harness/record/records.js';
import { runOpenLoop, type Clock, type OpExecutor, type OpenLoopOptions, type ScheduledOp } from '../../harness/workload/open-loop.js';
import type { QueryOutcome, QueryRequest } from '../../harness/workload/reconnecting-client.js';
import { mixPlanner, WriteOps, type StatementRunner } from '../../harness/workload/write-ops.js';

/** Virtual time: nothing moves until every promise is idle, then the clock jumps to the next timer. */
class VirtualClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers: Array<{ at: number; seq: number; fire: () => void }> = [];

  /** `slack(ms)` adds oversleep to every sleep, like a busy event loop */
  constructor(private readonly slack: (ms: number) => number = () => 0) {}

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = {
        at: this.t + Math.max(0, ms) + this.slack(ms),
        seq: this.seq++,
        fire: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.timers = this.timers.filter((x) => x !== timer);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.timers.push(timer);
    });
  }

  /** Runs virtual time until `work` settles. */
  async run<T>(work: Promise<T>): Promise<T> {
    let settled = false;
    work.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let steps = 0; ; steps++) {
      // every promise chain that can move without time moves now
      await new Promise((r) => setImmediate(r));
      if (settled) return work;
      if (this.timers.length === 0) throw new Error(`deadlock at t=${this.t}: nothing settles and no timer is pending`);
      if (steps > 1_000_000) throw new Error('virtual time ran away');
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift()!;
      this.t = Math.max(this.t, next.at);
      next.fire();
    }
  }
}

interface Harness {
  clock: VirtualClock;
  records: OpRecord[];
  maxInFlight: number;
}

function harness(slack?: (ms: number) => number): Harness & { options: (o: Partial<OpenLoopOptions> & { execute: OpExecutor }) => OpenLoopOptions } {
  const h: Harness = { clock: new VirtualClock(slack), records: [], maxInFlight: 0 };
  return {
    ...h,
    options: (o) => ({
      stream: 'write',
      rate: 100,
      connections: 4,
      timeoutMs: 1000,
      clock: h.clock,
      plan: () => 'insert',
      record: (r) => h.records.push(r),
      ...o,
    }),
    get maxInFlight() {
      return h.maxInFlight;
    },
  };
}

/** An executor taking `serviceMs(op)` of virtual time, tracking concurrency. */
function fakeExecutor(clock: Clock, serviceMs: (op: ScheduledOp) => number, onConcurrency?: (n: number) => void): OpExecutor {
  let inFlight = 0;
  return async (op) => {
    inFlight++;
    onConcurrency?.(inFlight);
    await clock.sleep(serviceMs(op));
    inFlight--;
    return { outcome: 'ok' };
  };
}

function countByOutcome(records: OpRecord[]) {
  const c = { ok: 0, failed: 0, indeterminate: 0, dropped: 0 };
  for (const r of records) c[r.outcome]++;
  return c;
}

function expectRecordedExactlyOnce(records: OpRecord[], intended: number) {
  expect(records.length).toBe(intended);
  expect(new Set(records.map((r) => r.id)).size).toBe(intended);
  const c = countByOutcome(records);
  expect(c.ok + c.failed + c.indeterminate + c.dropped).toBe(intended);
}

describe('open-loop scheduler', () => {
  it('keeps every op on its intended time when the executor slows down (no coordinated omission)', async () => {
    const h = harness();
    // 100/s on 4 connections; ops intended in [500ms, 1000ms) hit a stalled server (400ms each)
    const execute = fakeExecutor(h.clock, (op) => (op.intendedMs >= 500 && op.intendedMs < 1000 ? 400 : 5));
    const summary = await h.clock.run(runOpenLoop(h.options({ rate: 100, durationMs: 2000, maxQueueDelayMs: 1000, execute })));

    expect(summary.intended).toBe(200);
    expectRecordedExactlyOnce(h.records, 200);
    const sorted = [...h.records].sort((a, b) => a.intendedMs - b.intendedMs);
    // the schedule is the grid, whatever the executor did
    sorted.forEach((r, i) => expect(r.intendedMs).toBeCloseTo(i * 10, 6));
    // ops behind the stall waited for a connection, and their latency includes that wait
    const queued = h.records.filter((r) => r.outcome === 'ok' && r.startMs! > r.intendedMs);
    expect(queued.length).toBeGreaterThan(10);
    for (const r of queued) expect(r.endMs - r.intendedMs).toBeGreaterThan(r.endMs - r.startMs!);
    // a closed loop would have issued fewer ops during the stall; open loop issued them all
    const duringStall = h.records.filter((r) => r.intendedMs >= 500 && r.intendedMs < 1000);
    expect(duringStall.length).toBe(50);
  });

  it('measures latency from the intended start, not from when the op got a connection', async () => {
    const h = harness();
    // one connection, 20ms per op at 100/s: the queue grows by 1 op every 20ms
    const execute = fakeExecutor(h.clock, () => 20);
    await h.clock.run(runOpenLoop(h.options({ rate: 100, connections: 1, durationMs: 200, maxQueueDelayMs: 10_000, execute })));
    const ok = h.records.filter((r) => r.outcome === 'ok').sort((a, b) => a.id - b.id);
    expect(ok.length).toBe(20);
    // op i starts at 20*i (the connection is busy until then) and ends 20ms later
    ok.forEach((r, i) => {
      expect(r.intendedMs).toBeCloseTo(i * 10, 6);
      expect(r.startMs).toBeCloseTo(i * 20, 6);
      expect(r.endMs - r.intendedMs).toBeCloseTo(i * 10 + 20, 6);
    });
  });

  it('caps in-flight ops at `connections` and records ops that cannot start in time as dropped', async () => {
    const h = harness();
    let max = 0;
    const execute = fakeExecutor(h.clock, () => 100, (n) => (max = Math.max(max, n)));
    // 200/s on 2 connections of 100ms: capacity is 20/s
    const summary = await h.clock.run(
      runOpenLoop(h.options({ rate: 200, connections: 2, durationMs: 1000, maxQueueDelayMs: 50, execute })),
    );
    expect(max).toBe(2);
    expect(summary.intended).toBe(200);
    expectRecordedExactlyOnce(h.records, 200);
    expect(summary.ok).toBeGreaterThanOrEqual(18);
    expect(summary.ok).toBeLessThanOrEqual(22);
    expect(summary.dropped).toBe(200 - summary.ok);
    for (const r of h.records.filter((x) => x.outcome === 'dropped')) {
      expect(r.startMs).toBeUndefined();
      // given up once its grace ran out (the loop wakes for that), not silently later
      expect(r.endMs - r.intendedMs).toBeGreaterThanOrEqual(50);
      expect(r.endMs - r.intendedMs).toBeLessThanOrEqual(60);
    }
    // the summary the scheduler returns agrees with what it recorded
    expect(countByOutcome(h.records)).toEqual({ ok: summary.ok, failed: 0, indeterminate: 0, dropped: summary.dropped });
  });

  it('catches up in bursts when timers fire late, without drifting', async () => {
    // every sleep oversleeps by 7ms: a 1000/s schedule gets its ops in bursts of ~8
    const h = harness(() => 7);
    const starts: number[] = [];
    const execute: OpExecutor = async (op) => {
      starts.push(op.startMs);
      return { outcome: 'ok' };
    };
    const summary = await h.clock.run(runOpenLoop(h.options({ rate: 1000, connections: 50, durationMs: 1000, execute })));
    expect(summary.intended).toBe(1000);
    expectRecordedExactlyOnce(h.records, 1000);
    const sorted = [...h.records].sort((a, b) => a.id - b.id);
    sorted.forEach((r, i) => expect(r.intendedMs).toBeCloseTo(i, 6));
    // bursts: many ops share a start time, and none starts before it was intended
    expect(new Set(starts).size).toBeLessThan(200);
    for (const r of h.records) expect(r.startMs!).toBeGreaterThanOrEqual(r.intendedMs);
    for (const r of h.records) expect(r.startMs! - r.intendedMs).toBeLessThanOrEqual(8);
  });

  it('records every intended op exactly once when aborted with ops queued and in flight', async () => {
    const h = harness();
    const controller = new AbortController();
    // 4 connections of 300ms at 100/s: the queue is full when the abort lands
    const execute = fakeExecutor(h.clock, () => 300);
    void h.clock.sleep(1005).then(() => controller.abort());
    const summary = await h.clock.run(
      runOpenLoop(h.options({ rate: 100, connections: 4, durationMs: 10_000, maxQueueDelayMs: 500, signal: controller.signal, execute })),
    );
    // intended: ops at 0, 10, ... 1000 ms, none after the abort
    expect(summary.intended).toBe(101);
    expectRecordedExactlyOnce(h.records, 101);
    expect(Math.max(...h.records.map((r) => r.intendedMs))).toBeLessThanOrEqual(1005);
    // in-flight ops were awaited and finished ok; queued ones were dropped at the stop
    const c = countByOutcome(h.records);
    expect(c.ok).toBeGreaterThan(0);
    expect(c.dropped).toBeGreaterThan(0);
    expect(c).toEqual({ ok: summary.ok, failed: 0, indeterminate: 0, dropped: summary.dropped });
    const lastEnd = Math.max(...h.records.map((r) => r.endMs));
    expect(lastEnd).toBeLessThanOrEqual(1005 + 300);
  });

  it('records an op whose executor overruns its timeout as indeterminate, once, even if it answers later', async () => {
    const h = harness();
    const controller = new AbortController();
    const letGo: number[] = [];
    // a hung executor: no verdict until the scheduler lets go of the op, then a late "ok"
    const execute: OpExecutor = async (op) => {
      await new Promise<void>((resolve) => op.signal.addEventListener('abort', () => resolve(), { once: true }));
      letGo.push(op.id);
      await h.clock.sleep(1);
      return { outcome: 'ok' };
    };
    void h.clock.sleep(505).then(() => controller.abort());
    const summary = await h.clock.run(
      runOpenLoop(h.options({ rate: 100, connections: 3, timeoutMs: 200, graceMs: 50, signal: controller.signal, execute })),
    );
    expect(summary.intended).toBe(51);
    expectRecordedExactlyOnce(h.records, 51);
    const indeterminate = h.records.filter((r) => r.outcome === 'indeterminate');
    expect(indeterminate.length).toBeGreaterThanOrEqual(3);
    expect(summary.ok).toBe(0); // the late answers did not overwrite the record
    expect(indeterminate.map((r) => r.id).sort()).toEqual([...letGo].sort());
    for (const r of indeterminate) {
      expect(r.error?.class).toBe('timeout');
      // recorded when timeout + grace ran out, during the load and after the stop alike
      expect(r.endMs).toBeCloseTo(r.startMs! + 250, 6);
    }
    // the stop at 505 waited for the ops in flight to run out their time
    expect(Math.max(...h.records.map((r) => r.endMs))).toBeGreaterThan(505);
    await h.clock.run(h.clock.sleep(10));
    expectRecordedExactlyOnce(h.records, 51);
  });

  it('stops scheduling at the deadline and still gives queued ops their grace', async () => {
    const h = harness();
    const execute = fakeExecutor(h.clock, () => 40);
    // 1 connection, 25ms spacing, 40ms service: at the deadline a few ops are queued
    const summary = await h.clock.run(
      runOpenLoop(h.options({ rate: 40, connections: 1, durationMs: 500, maxQueueDelayMs: 100, execute })),
    );
    expect(summary.intended).toBe(20);
    expectRecordedExactlyOnce(h.records, 20);
    expect(Math.max(...h.records.map((r) => r.intendedMs))).toBeLessThan(500);
    // the op intended at 475 could still start after the deadline, within its grace
    const late = h.records.filter((r) => r.outcome === 'ok' && r.startMs! >= 500);
    expect(late.length + summary.dropped).toBeGreaterThan(0);
  });

  it('turns an executor that throws into an indeterminate op instead of losing it', async () => {
    const h = harness();
    const execute: OpExecutor = async (op) => {
      if (op.id % 2 === 0) throw new Error('bug in executor');
      return { outcome: 'failed', error: { class: 'server', message: 'no' } };
    };
    const summary = await h.clock.run(runOpenLoop(h.options({ rate: 100, durationMs: 100, execute })));
    expectRecordedExactlyOnce(h.records, 10);
    expect(summary).toEqual({ intended: 10, ok: 0, failed: 5, indeterminate: 5, dropped: 0 });
    expect(h.records.find((r) => r.outcome === 'indeterminate')?.error?.class).toBe('internal');
  });

  it('schedules nothing at rate 0', async () => {
    const h = harness();
    const summary = await h.clock.run(runOpenLoop(h.options({ rate: 0, durationMs: 1000, execute: async () => ({ outcome: 'ok' }) })));
    expect(summary.intended).toBe(0);
    expect(h.records).toEqual([]);
  });
});

/** A fake orders table behind the write statements, taking virtual time per statement. */
class FakeShop implements StatementRunner {
  readonly orders = new Map<number, number>(); // id -> version
  private nextId: number;
  readonly deleting = new Set<number>();
  overlappingDeletes = 0;

  constructor(
    private readonly clock: Clock,
    seedOrders: number,
    /** the verdict for a delete of `id`, before it touches the table */
    private readonly deleteVerdict: (id: number) => 'ok' | 'failed' | 'indeterminate',
  ) {
    for (let id = 1; id <= seedOrders; id++) this.orders.set(id, 1);
    this.nextId = seedOrders + 1;
  }

  async query(request: QueryRequest): Promise<QueryOutcome> {
    const values = request.values ?? [];
    if (request.name === 'pgdrill_delete_order') {
      const id = values[0] as number;
      if (this.deleting.has(id)) this.overlappingDeletes++;
      this.deleting.add(id);
      await this.clock.sleep(30);
      this.deleting.delete(id);
      const verdict = this.deleteVerdict(id);
      if (verdict === 'failed') return { outcome: 'failed', error: { sqlstate: '25006', class: 'read-only', message: 'read-only' } };
      const version = this.orders.get(id);
      this.orders.delete(id);
      if (verdict === 'indeterminate') return { outcome: 'indeterminate', error: { class: 'connection-lost', message: 'reset' } };
      return { outcome: 'ok', rows: version === undefined ? [] : [{ id, version }], rowCount: version === undefined ? 0 : 1 };
    }
    await this.clock.sleep(10);
    if (request.name === 'pgdrill_insert_order') {
      const id = this.nextId++;
      this.orders.set(id, 1);
      return { outcome: 'ok', rows: [{ id: String(id), version: 1 }], rowCount: 1 };
    }
    if (request.name === 'pgdrill_update_order') {
      const id = values[0] as number;
      const version = this.orders.get(id);
      if (version === undefined) return { outcome: 'ok', rows: [], rowCount: 0 };
      this.orders.set(id, version + 1);
      return { outcome: 'ok', rows: [{ id, version: version + 1 }], rowCount: 1 };
    }
    // products and users: always there, version not tracked here
    return { outcome: 'ok', rows: [{ id: values[0], version: 2 }], rowCount: 1 };
  }
}

describe('write ops on the open loop', () => {
  const seed = { users: 10, products: 10, orders: 20, itemsPerOrder: 2 };

  it('never lets two deletes in flight target the same order, and keeps the pool to known rows', async () => {
    const clock = new VirtualClock();
    // deletes of ids divisible by 3 are refused; of ids divisible by 5 lost in flight
    const shop = new FakeShop(clock, seed.orders, (id) => (id % 3 === 0 ? 'failed' : id % 5 === 0 ? 'indeterminate' : 'ok'));
    const writes = new WriteOps({ seed, runners: Array.from({ length: 8 }, () => shop) });
    const records: OpRecord[] = [];
    const summary = await clock.run(
      runOpenLoop({
        stream: 'write',
        rate: 200,
        connections: 8,
        timeoutMs: 1000,
        durationMs: 2000,
        clock,
        plan: mixPlanner({ insert: 20, update: 30, delete: 50 }),
        execute: writes.execute,
        record: (r) => records.push(r),
      }),
    );
    expectRecordedExactlyOnce(records, summary.intended);
    expect(shop.overlappingDeletes).toBe(0);

    const deletes = records.filter((r) => r.kind === 'delete' && r.ledger);
    // a refused delete put its order back: it exists and is still a candidate
    for (const r of deletes.filter((d) => d.outcome === 'failed')) {
      expect(shop.orders.has(r.ledger!.key)).toBe(true);
    }
    // an acknowledged delete is final, and an unanswered one is never retried: the pool
    // holds exactly the orders that exist, minus those whose delete was indeterminate
    const indeterminate = new Set(deletes.filter((d) => d.outcome === 'indeterminate').map((d) => d.ledger!.key));
    expect(indeterminate.size).toBeGreaterThan(0);
    for (const id of indeterminate) expect(writes.orders.has(id)).toBe(false);
    for (const id of shop.orders.keys()) expect(writes.orders.has(id)).toBe(true);
    expect(writes.orders.size).toBe(shop.orders.size);
    const deletedOk = deletes.filter((d) => d.outcome === 'ok').map((d) => d.ledger!.key);
    expect(new Set(deletedOk).size).toBe(deletedOk.length);

    // ledger: acknowledged inserts carry the server's key; updates the version the server returned
    for (const r of records.filter((x) => x.kind === 'insert' && x.outcome === 'ok')) {
      expect(r.ledger).toMatchObject({ table: 'orders', op: 'insert', version: 1 });
      expect(r.ledger!.key).toBeGreaterThan(seed.orders);
    }
    const orderUpdates = records.filter((x) => x.kind === 'update' && x.ledger?.table === 'orders' && x.outcome === 'ok');
    expect(orderUpdates.length).toBeGreaterThan(0);
    const last = new Map<number, number>();
    for (const r of orderUpdates.sort((a, b) => a.endMs - b.endMs)) last.set(r.ledger!.key, r.ledger!.version);
    for (const [id, version] of last) if (shop.orders.has(id)) expect(shop.orders.get(id)).toBeGreaterThanOrEqual(version);
  });
});
