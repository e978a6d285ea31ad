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

  it('closes a window still open at the end of the load at loadEnd', () => {
    const d = downtimeWindows(history('......xxxx'), { loadEndMs: 100 });
    expect(d.windows).toEqual([{ startMs: 60, endMs: 100, durationMs: 40, failedOps: 4, openAtEnd: true }]);
  });

  it('counts indeterminate and dropped operations as down', () => {
    const d = downtimeWindows(history('..?..d..?d.'), { loadEndMs: 110 });
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
    const a = downtimeWindows(ops, { loadEndMs: 130 });
    const b = downtimeWindows([...ops].reverse(), { loadEndMs: 130 });
    expect(b).toEqual(a);
  });

  it('closes at once when a failure and a success were intended at the same instant', () => {
    const ok: OpRecord = { id: 1, stream: 'write', kind: 'update', intendedMs: 10, endMs: 11, outcome: 'ok' };
    const failed: OpRecord = { id: 2, stream: 'write', kind: 'update', intendedMs: 10, endMs: 12, outcome: 'failed' };
    const d = downtimeWindows([ok, failed], { loadEndMs: 20 });
    expect(d.windows).toEqual([{ startMs: 10, endMs: 10, durationMs: 0, failedOps: 1, openAtEnd: false }]);
  });

  it('reports two separate outages, the longest and the total', () => {
    const d = downtimeWindows(history('..xx....xxxxx...'), { loadEndMs: 160 });
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

  it('is the largest gap between committed probe rows by the server clock', () => {
    const base = 1_700_000_000_000;
    const ops = [probe(0, base), probe(1, base + 20), probe(2, undefined, 'failed'), probe(3, undefined, 'indeterminate'), probe(4, base + 1_520), probe(5, base + 1_540)];
    expect(serverWriteGapMs(ops)).toBe(1_500);
  });

  it('sorts by the server clock, not by the order records arrived', () => {
    const ops = [probe(2, 1_000), probe(0, 0), probe(1, 300)];
    expect(serverWriteGapMs(ops)).toBe(700);
  });

  it('is null with fewer than two committed probe rows', () => {
    expect(serverWriteGapMs([])).toBeNull();
    expect(serverWriteGapMs([probe(0, 5), probe(1, undefined, 'failed')])).toBeNull();
  });
});
