// After the resume, pgdrill's own follow-up waits for the clients' first writes on the new
// primary: a row of acknowledged writes intended after the re-point, any failure restarting it.

import { describe, expect, it } from 'vitest';
import type { OpRecord } from '../../harness/record/records.js';
import { describeFirstWrites, writeRowCounter } from '../../harness/strategies/first-writes.js';

const op = (stream: OpRecord['stream'], intendedMs: number, outcome: OpRecord['outcome']): OpRecord =>
  ({ id: intendedMs, stream, kind: 'insert', intendedMs, startMs: intendedMs, endMs: intendedMs + 1, outcome }) as OpRecord;

describe('first writes after the resume', () => {
  it('counts only writes and probes intended after the re-point, and a failure starts the row again', () => {
    const counter = writeRowCounter(100, 3);
    expect(counter.add(op('write', 99, 'ok'))).toBe(false); // intended before: the old primary's
    expect(counter.add(op('read', 101, 'ok'))).toBe(false); // a read is no write
    expect(counter.add(op('write', 101, 'ok'))).toBe(false);
    expect(counter.add(op('probe', 102, 'ok'))).toBe(false);
    expect(counter.add(op('write', 103, 'failed'))).toBe(false); // a slot still reconnecting
    expect(counter.add(op('write', 104, 'ok'))).toBe(false);
    expect(counter.add(op('write', 105, 'indeterminate'))).toBe(false);
    expect(counter.add(op('write', 106, 'ok'))).toBe(false);
    expect(counter.add(op('write', 107, 'ok'))).toBe(false);
    expect(counter.add(op('probe', 108, 'ok'))).toBe(true);
    expect([counter.acknowledged, counter.notServed]).toEqual([6, 2]);
  });

  it('says whether the wait ended on the writes or on its cap', () => {
    const options = { inARow: 16, maxMs: 1000 };
    expect(describeFirstWrites({ served: true, waitedMs: 84.4, acknowledged: 16, notServed: 2 }, 'replica', options)).toBe(
      '16 writes in a row acknowledged on replica 84 ms after the resume (2 not served before them); the fence proof and the fingerprint follow',
    );
    expect(describeFirstWrites({ served: false, waitedMs: 1000, acknowledged: 0, notServed: 0 }, 'replica', options)).toContain(
      'not 16 writes in a row within 1000 ms of the resume (0 acknowledged, 0 not served)',
    );
  });
});
