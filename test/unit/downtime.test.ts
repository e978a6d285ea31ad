import { describe, it, expect } from 'vitest';
import { downtimeWindows, serverWriteGapMs } from '../../harness/checks/downtime.js';
import type { OpOutcome, OpRecord } from '../../harness/record/records.js';

// A write stream at 100/s: op i is intended at 10*i ms and answered 2 ms later unless told otherwise.
function history(outcomes: string, { interval = 10, latency = 2 } = {}): OpRecord[] {
  const codes: Record<string, OpOutcome> = { '.': 'ok', x: 'failed', '?': 'indeterminate', d: 'dropped' };
  return [...outcomes].map((c, i) => ({
    id: i,
    stream: 'write',
    kind: 'insert',
    intendedMs: i * interval,
    startMs: i * interval,
    endMs: i * interval + latency,
    outcome: codes[c],
  }));
}

describe('downtimeWindows', () => {
  it('reports no window when every operation succeeded', () => {
    const d = downtimeWindows(history('..........'), { loadEndMs: 100 });
    expect(d).toMatchObject({ longestMs: 0, totalMs: 0, windows: [] });
  });

  it('opens at the first failure and closes at the intended start of the next success', () => {
    const d = downtimeWindows(history('...xxxx...'), { loadEndMs: 100 });
    expect(d.windows).toEqual([{ startMs: 30, endMs: 70, durationMs: 40, failedOps: 4, openAtEnd: false }]);
    expect(d.longestMs).toBe(40);
    expect(d.totalMs).toBe(40);
  });

  it('closes a window still open at the end of the load at loadEnd and marks it not recovered', () => {
    const d = downtimeWindows(history('......xxxx'), { loadEndMs: 100 });
    expect(d.windows).toEqual([{ startMs: 60, endMs: 100, durationMs: 40, failedOps: 4, openAtEnd: true }]);
    expect(d.openAtEnd).toBe(true);
  });

  it('is not open at the end when the service came back before the load ended', () => {
    expect(downtimeWindows(history('...xxxx...'), { loadEndMs: 100 }).openAtEnd).toBe(false);
  });

  it('merges flapping into one outage: 50 % of writes failing for 30 s is a 30 s outage, not 1,500 blips', () => {
    // 100/s for 40 s; from 5 s to 35 s every other write fails
    const codes = Array.from({ length: 4000 }, (_, i) => (i >= 500 && i < 3500 && i % 2 === 1 ? 'x' : '.')).join('');
    const d = downtimeWindows(history(codes), { loadEndMs: 40_000 });
    expect(d.windows).toHaveLength(1);
    expect(d.windows[0]).toMatchObject({ startMs: 5_010, failedOps: 1500, merged: 1500 });
    expect(d.longestMs).toBe(35_000 - 5_010);
    // with merging off, each blip is its own 10 ms window
    expect(downtimeWindows(history(codes), { loadEndMs: 40_000, mergeGapMs: 0 }).longestMs).toBe(10);
  });

  it('merges windows closer than the merge gap and keeps farther ones apart', () => {
    const ops = history('.x' + '.'.repeat(49) + 'x' + '.'.repeat(200) + 'x.');
    const d = downtimeWindows(ops, { loadEndMs: 2540, mergeGapMs: 1000 });
    expect(d.windows.map((w) => [w.startMs, w.endMs, w.failedOps])).toEqual([
      [10, 520, 2],
      [2520, 2530, 1],
    ]);
  });

  it('never counts an instant twice in the total: overlapping windows merge', () => {
    // op 1 hangs on the server until 500 ms; a second run of failures starts at 300 ms
    const ops = history('.x.........xx' + '.'.repeat(20));
    ops[1] = { ...ops[1], outcome: 'ok', endMs: 500 };
    const d = downtimeWindows(ops, { loadEndMs: 330, mergeGapMs: 0 });
    expect(d.windows).toHaveLength(1);
    expect(d.totalMs).toBe(d.windows[0].endMs - d.windows[0].startMs);
    expect(d.totalMs).toBe(490);
  });

  it('counts indeterminate and dropped operations as down', () => {
    const d = downtimeWindows(history('..?..d..?d.'), { loadEndMs: 110, mergeGapMs: 0 });
    expect(d.windows.map((w) => [w.startMs, w.endMs, w.failedOps])).toEqual([
      [20, 30, 1],
      [50, 60, 1],
      [80, 100, 2],
    ]);
  });

  it('counts a single isolated failure as a short window with one failed op', () => {
    const d = downtimeWindows(history('....x.....'), { loadEndMs: 100 });
    expect(d.windows).toEqual([{ startMs: 40, endMs: 50, durationMs: 10, failedOps: 1, openAtEnd: false }]);
  });

  it('orders by intended start, not completion: a later op that succeeded first does not split the outage', () => {
    const ops = history('..xxx...');
    // op 2 hangs until its timeout; ops 3 and 4 fail fast; op 5 succeeds long before op 2 is given up
    ops[2].outcome = 'indeterminate';
    ops[2].endMs = 5_000;
    const shuffled = [ops[5], ops[3], ops[7], ops[0], ops[4], ops[6], ops[1], ops[2]];
    const d = downtimeWindows(shuffled, { loadEndMs: 80 });
    expect(d.windows).toEqual([{ startMs: 20, endMs: 50, durationMs: 30, failedOps: 3, openAtEnd: false }]);
  });

  it('gives the same windows whatever the order of the records', () => {
    const ops = history('.xx..x...xxx.');
    const a = downtimeWindows(ops, { loadEndMs: 130, mergeGapMs: 0 });
    const b = downtimeWindows([...ops].reverse(), { loadEndMs: 130, mergeGapMs: 0 });
    expect(b).toEqual(a);
  });

  it('closes at once when a failure and a success were intended at the same instant', () => {
    const ok: OpRecord = { id: 1, stream: 'write', kind: 'update', intendedMs: 10, endMs: 11, outcome: 'ok' };
    const failed: OpRecord = { id: 2, stream: 'write', kind: 'update', intendedMs: 10, endMs: 12, outcome: 'failed' };
    const d = downtimeWindows([ok, failed], { loadEndMs: 20 });
    expect(d.windows).toEqual([{ startMs: 10, endMs: 10, durationMs: 0, failedOps: 1, openAtEnd: false }]);
  });

  it('reports two separate outages, the longest and the total', () => {
    const d = downtimeWindows(history('..xx....xxxxx...'), { loadEndMs: 160, mergeGapMs: 0 });
    expect(d.windows.map((w) => [w.startMs, w.endMs])).toEqual([
      [20, 40],
      [80, 130],
    ]);
    expect(d.longestMs).toBe(50);
    expect(d.totalMs).toBe(70);
  });

  it('opens a window at the very first operation when the load starts in an outage', () => {
    const d = downtimeWindows(history('xxx...'), { loadEndMs: 60 });
    expect(d.windows).toEqual([{ startMs: 0, endMs: 30, durationMs: 30, failedOps: 3, openAtEnd: false }]);
  });

  it('counts writes that stalled and then succeeded (a paused server) as down until they completed', () => {
    // a 2 s pause from 1000 ms: ops intended during it are answered when it ends, at 3000 ms
    const ops = history('.'.repeat(400), { interval: 10 }).map((op) =>
      op.intendedMs >= 1000 && op.intendedMs < 3000 ? { ...op, endMs: 3000 + (op.id % 3) } : op,
    );
    const d = downtimeWindows(ops, { loadEndMs: 4000 });
    expect(d.windows).toHaveLength(1);
    expect(d.windows[0].startMs).toBe(1000);
    // closes when the stalled writes completed, not when the first of them got under the stall threshold
    expect(d.windows[0].endMs).toBe(3002);
    expect(d.longestMs).toBe(2002);
    // ops intended in the pause's last 250 ms waited less than the stall threshold
    expect(d.windows[0].failedOps).toBe(176);
  });

  it("closes when the server serves again, not when pgdrill's own queue has drained", () => {
    // a 1.5 s pause from 1000 ms at 100/s on 6 connections: the six in flight hang until it
    // ends; the rest wait for a free connection, start after 2500 ms and are answered in 2 ms
    const ops = history('.'.repeat(400)).map((op) => {
      if (op.intendedMs < 1000 || op.intendedMs >= 2500) return op;
      if (op.id < 106) return { ...op, endMs: 2501 };
      const startMs = 2501 + (op.id - 106) * 2;
      return { ...op, startMs, endMs: startMs + 2 };
    });
    const d = downtimeWindows(ops, { loadEndMs: 4000 });
    expect(d.windows).toHaveLength(1);
    expect(d.windows[0].startMs).toBe(1000);
    // the queued ops finished up to 290 ms after the pause; the window does not wait for them
    expect(d.windows[0].endMs).toBeLessThanOrEqual(2501 + 40);
  });

  it('does not count ordinary latency below the stall threshold as downtime', () => {
    const d = downtimeWindows(history('..........', { latency: 200 }), { loadEndMs: 100 });
    expect(d.windows).toEqual([]);
    expect(d.stallMs).toBe(250);
  });

  it('takes the stall threshold from the options', () => {
    const d = downtimeWindows(history('.....', { latency: 60 }), { loadEndMs: 50, stallMs: 50 });
    expect(d.windows[0]).toMatchObject({ startMs: 0, openAtEnd: true, failedOps: 5 });
  });

  it('states how window edges are placed', () => {
    expect(downtimeWindows([], { loadEndMs: 0 }).edges).toMatch(/intended start/);
  });
});

describe('serverWriteGapMs', () => {
  const probe = (id: number, serverTimeMs: number | undefined, outcome: OpOutcome = 'ok'): OpRecord => ({
    id,
    stream: 'probe',
    kind: 'probe',
    intendedMs: id * 20,
    endMs: id * 20 + 1,
    outcome,
    serverTimeMs,
  });

  // the server's clock runs at an offset from the run's: each probe's answer arrives 1 ms after its commit
  const base = 1_700_000_000_000;
  const at = (id: number) => base + id * 20;

  it('is the largest gap between committed probe rows by the server clock', () => {
    const ops = [probe(0, at(0)), probe(1, at(1)), probe(2, undefined, 'failed'), probe(3, undefined, 'indeterminate'), probe(4, at(1) + 1_500), probe(5, at(1) + 1_520)];
    expect(serverWriteGapMs(ops, { loadStartMs: 0, loadEndMs: 120 })).toBe(1_500);
  });

  it('sorts by the server clock, not by the order records arrived', () => {
    const ops = [probe(2, at(2)), probe(0, at(0)), probe(1, at(1))];
    expect(serverWriteGapMs(ops, { loadStartMs: 0, loadEndMs: 60 })).toBe(20);
  });

  it('counts from the last committed probe to the end of the load: an outage at the end is not hidden', () => {
    // probes every 20 ms: ok until 30 s, then failing until 60 s
    const ops = Array.from({ length: 3000 }, (_, i) => (i * 20 < 30_000 ? probe(i, at(i)) : probe(i, undefined, 'failed')));
    const gap = serverWriteGapMs(ops, { loadStartMs: 0, loadEndMs: 60_000 })!;
    expect(gap).toBeGreaterThan(29_900);
    expect(gap).toBeLessThanOrEqual(30_020);
  });

  it('counts from the start of the load to the first committed probe', () => {
    const ops = Array.from({ length: 100 }, (_, i) => (i < 50 ? probe(i, undefined, 'failed') : probe(i, at(i))));
    expect(serverWriteGapMs(ops, { loadStartMs: 0, loadEndMs: 2000 })).toBe(1001);
  });

  it('is the whole load when no probe committed, and null when the probe was off', () => {
    expect(serverWriteGapMs([probe(0, undefined, 'failed'), probe(1, undefined, 'failed')], { loadStartMs: 100, loadEndMs: 900 })).toBe(800);
    expect(serverWriteGapMs([], { loadStartMs: 0, loadEndMs: 1000 })).toBeNull();
  });
});
