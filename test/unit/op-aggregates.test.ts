import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OpAggregates } from '../../harness/checks/op-aggregates.js';
import { LoadAccumulator, summarizeLoad } from '../../harness/checks/load-summary.js';
import { DowntimeBuilder, downtimeWindows, serverWriteGapMs } from '../../harness/checks/downtime.js';
import type { OpOutcome, OpRecord, OpStream } from '../../harness/record/records.js';

/** A deterministic pseudo-random sequence, so a failing history can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * Ops of a 60 s load at 200/s starting at run time 1234.5 ms, with an outage (failures and
 * stalls) from 20 s to 23 s and a pause (ops that hang 2.5 s then succeed) at 40 s, recorded
 * in the order they end, as the scheduler records them.
 */
function history(seed: number, options: { lateMs?: number } = {}): OpRecord[] {
  const random = rng(seed);
  const start = 1234.5;
  const ops: OpRecord[] = [];
  let id = 0;
  const add = (stream: OpStream, intendedMs: number, latency: number, outcome: OpOutcome, extra: Partial<OpRecord> = {}) =>
    ops.push({ id: ++id, stream, kind: stream === 'write' ? 'insert' : stream === 'read' ? 'select' : 'probe', intendedMs, startMs: intendedMs, endMs: intendedMs + latency, outcome, ...extra });
  for (let i = 0; i < 60 * 200; i++) {
    const t = start + i * 5;
    const at = (t - start) / 1000;
    if (at >= 20 && at < 23) {
      const r = random();
      if (r < 0.5) add('write', t, 1 + random() * 3, 'failed', { error: { sqlstate: '57P01', class: 'admin_shutdown', message: 'x' } });
      else if (r < 0.7) add('write', t, 5000, 'indeterminate', { error: { class: 'timeout', message: 'x' } });
      else if (r < 0.8) add('write', t, 1000, 'dropped', { startMs: undefined });
      else add('write', t, 300 + random() * 400, 'ok');
    } else if (at >= 40 && at < 42.5) {
      add('write', t, 42_500 - (t - start) + random() * 5, 'ok');
    } else {
      add('write', t, 0.5 + random() * random() * 40, 'ok', { ledger: { table: 'orders', key: i + 1, op: 'insert', version: 1, requestId: `r${i}` } });
    }
    if (i % 2 === 0) add('read', t + 1, 0.3 + random() * 5, at >= 20 && at < 22 ? 'failed' : 'ok');
    if (i % 4 === 0) {
      const ok = !(at >= 20 && at < 22.5);
      add('probe', t + 2, 1 + random(), ok ? 'ok' : 'failed', ok ? { serverTimeMs: 1.7e12 + t + 2 + 0.7 + random() * 0.2 } : {});
    }
  }
  if (options.lateMs) add('write', start + 30_000, options.lateMs, 'ok');
  return ops.sort((a, b) => a.endMs - b.endMs || a.id - b.id);
}

const OPTIONS = { loadStartMs: 1234.5, timeoutMs: { write: 5000, read: 5000, probe: 2000 }, stallMs: 250, mergeGapMs: 1000 };
const WINDOW = { startMs: 1234.5, endMs: 61_234.5 };

function pure(ops: OpRecord[]) {
  const of = (s: OpStream) => ops.filter((o) => o.stream === s);
  const window = { loadStartMs: WINDOW.startMs, loadEndMs: WINDOW.endMs };
  const downtime = { loadEndMs: WINDOW.endMs, stallMs: 250, mergeGapMs: 1000 };
  return {
    load: {
      writes: summarizeLoad(of('write'), { ...window, timeoutMs: 5000 }),
      reads: summarizeLoad(of('read'), { ...window, timeoutMs: 5000 }),
      probe: summarizeLoad(of('probe'), { ...window, timeoutMs: 2000 }),
    },
    downtime: { writes: downtimeWindows(of('write'), downtime), reads: downtimeWindows(of('read'), downtime), serverWriteGapMs: serverWriteGapMs(of('probe'), window) },
  };
}

const tmp: string[] = [];
afterAll(() => Promise.all(tmp.map((d) => rm(d, { recursive: true, force: true }))));

describe('OpAggregates: the run summaries built op by op', () => {
  it('gives exactly what the pure functions give over the whole history, histograms included', () => {
    for (const seed of [1, 2, 3]) {
      const ops = history(seed);
      const aggregates = new OpAggregates(OPTIONS);
      for (const op of ops) aggregates.add(op);
      expect(aggregates.rebuildNeeded).toBeUndefined();
      const recorded = aggregates.finish(WINDOW);
      const expected = pure(ops);
      expect(recorded.load).toEqual(expected.load);
      expect(recorded.downtime).toEqual(expected.downtime);
      expect(recorded.downtime.writes.windows.length).toBe(2);
      expect(recorded.accounting.write).toEqual({ recorded: 12_000, duplicates: 0 });
    }
  });

  it('counts every op of a stream and the ids recorded twice', () => {
    const ops = history(4).filter((o) => o.stream === 'read').slice(0, 100);
    const aggregates = new OpAggregates(OPTIONS);
    for (const op of [...ops, ops[3], ops[50]]) aggregates.add(op);
    expect(aggregates.finish(WINDOW).accounting.read).toEqual({ recorded: 102, duplicates: 2 });
  });

  it('says when an op arrived later than the reorder buffer allows, and a rebuild from the file is exact', async () => {
    // one write answered 40 s after it was intended: later than timeout + slack
    const ops = history(5, { lateMs: 40_000 });
    const live = new OpAggregates(OPTIONS);
    for (const op of ops) live.add(op);
    const needed = live.rebuildNeeded;
    expect(needed?.reorderMs).toBeGreaterThan(10_000);

    const dir = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-agg-'));
    tmp.push(dir);
    const file = path.join(dir, 'operations.jsonl');
    await writeFile(file, ops.map((o) => JSON.stringify(o)).join('\n') + '\n');
    const { aggregates, read } = await OpAggregates.fromFile(file, { ...OPTIONS, reorderMs: needed!.reorderMs });
    expect(read.records).toBe(ops.length);
    expect(aggregates.rebuildNeeded).toBeUndefined();
    expect(aggregates.finish(WINDOW).downtime).toEqual(pure(ops).downtime);
    // the per-second buckets reopen a sealed second for the late op, so they were exact live
    expect(live.finish(WINDOW).load).toEqual(pure(ops).load);
  });
});

describe('LoadAccumulator', () => {
  it('reopens a sealed second exactly when an op of it arrives late', () => {
    const op = (id: number, intendedMs: number, latency: number): OpRecord => ({ id, stream: 'write', kind: 'insert', intendedMs, startMs: intendedMs, endMs: intendedMs + latency, outcome: 'ok' });
    const ops = [op(1, 100, 2), op(2, 200, 3), ...Array.from({ length: 50 }, (_, i) => op(3 + i, 1_000 + i * 100, 1 + i)), op(99, 300, 7.5)];
    const streaming = new LoadAccumulator({ loadStartMs: 0 }, { sealAfterMs: 1_000 });
    for (const o of ops) streaming.add(o);
    expect(streaming.summary(6_000)).toEqual(summarizeLoad(ops, { loadStartMs: 0, loadEndMs: 6_000 }));
  });
});

describe('DowntimeBuilder', () => {
  it('scans in intended order within its reorder buffer and flags an op that arrived later', () => {
    const op = (id: number, intendedMs: number, outcome: OpOutcome): OpRecord => ({ id, stream: 'write', kind: 'insert', intendedMs, startMs: intendedMs, endMs: intendedMs + 1, outcome });
    const inOrder = new DowntimeBuilder({ reorderMs: 100 });
    for (const o of [op(1, 0, 'ok'), op(3, 20, 'ok'), op(2, 10, 'failed'), op(4, 500, 'ok')]) inOrder.add(o);
    expect(inOrder.outOfOrder).toBe(false);
    expect(inOrder.finish(600).windows).toEqual([{ startMs: 10, endMs: 20, durationMs: 10, failedOps: 1, openAtEnd: false }]);

    const late = new DowntimeBuilder({ reorderMs: 100 });
    for (const o of [op(1, 0, 'ok'), op(3, 20, 'ok'), op(4, 500, 'ok'), op(2, 10, 'failed')]) late.add(o);
    expect(late.outOfOrder).toBe(true);
    expect(late.maxLatenessMs).toBe(490);
  });
});
