import { describe, it, expect } from 'vitest';
import { checkLedger, keysOfInterest, type ObservedRow, type ObservedState } from '../../harness/checks/ledger-check.js';
import type { LedgerEntry, OpOutcome, OpRecord } from '../../harness/record/records.js';

let nextId = 0;
function write(outcome: OpOutcome, ledger: Partial<LedgerEntry> & Pick<LedgerEntry, 'op' | 'key'>): OpRecord {
  const id = nextId++;
  return {
    id,
    stream: 'write',
    kind: ledger.op,
    intendedMs: id * 10,
    endMs: id * 10 + 3,
    outcome,
    ledger: { table: 'orders', version: 1, requestId: `00000000-0000-4000-8000-${String(id).padStart(12, '0')}`, ...ledger },
  };
}

const rid = (op: OpRecord) => op.ledger!.requestId;

/** The final primary: which writes committed (their request ids) and the rows by key. */
function state(committed: OpRecord[], rows: Record<string, Partial<ObservedRow> & { by?: OpRecord }>, opts: { version?: boolean; requestId?: boolean } = {}): ObservedState {
  const map = new Map<string, ObservedRow>();
  for (const [key, row] of Object.entries(rows)) {
    map.set(key, { version: row.version ?? 1, requestId: row.requestId ?? (row.by ? rid(row.by) : null) });
  }
  return {
    committed: new Set(committed.map(rid)),
    tables: { orders: { rows: map, keysByRequestId: new Map(), tracksVersion: opts.version ?? true, tracksRequestId: opts.requestId ?? true } },
  };
}

describe('checkLedger: who wrote it (the request ids committed on the final primary)', () => {
  it('finds nothing lost when every acknowledged write committed and its row shows it', () => {
    const insert = write('ok', { op: 'insert', key: 1, version: 1 });
    const update = write('ok', { op: 'update', key: 1, version: 2 });
    const other = write('ok', { op: 'insert', key: 2, version: 1 });
    const del = write('ok', { op: 'delete', key: 3 });
    const failed = write('failed', { op: 'insert', key: 0 });
    const r = checkLedger([insert, update, other, del, failed], state([insert, update, other, del], { 1: { version: 2, by: update }, 2: { by: other } }));
    expect(r).toEqual({ acknowledgedWrites: 4, lostWrites: 0, recoveredWrites: 0, indeterminateWrites: 0, lost: [] });
  });

  it('reports a lost write when an acknowledged request id is not in the ledger, even though a row with its key exists', () => {
    // the async failover case: the new primary hands out the lost insert's id again
    const lost = write('ok', { op: 'insert', key: 7 });
    const reuse = write('ok', { op: 'insert', key: 7 });
    const r = checkLedger([lost, reuse], state([reuse], { 7: { by: reuse } }));
    expect(r.lostWrites).toBe(1);
    expect(r.lost[0]).toMatchObject({ key: 7, op: 'insert', requestId: rid(lost), found: 'present (version 1)' });
    expect(r.lost[0].reason).toMatch(/not in the ledger/);
  });

  it('reports a lost update at version 2 that another update to version 2 replaced', () => {
    const lost = write('ok', { op: 'update', key: 5, version: 2 });
    const later = write('ok', { op: 'update', key: 5, version: 2 });
    const r = checkLedger([lost, later], state([later], { 5: { version: 2, by: later } }));
    expect(r.lostWrites).toBe(1);
    expect(r.lost[0].requestId).toBe(rid(lost));
  });

  it('counts an indeterminate write as recovered only when its request id committed', () => {
    const applied = write('indeterminate', { op: 'update', key: 4, version: 3 });
    const notApplied = write('indeterminate', { op: 'update', key: 4, version: 0 });
    const r = checkLedger([applied, notApplied], state([applied], { 4: { version: 3, by: applied } }));
    expect(r).toMatchObject({ acknowledgedWrites: 0, lostWrites: 0, recoveredWrites: 1, indeterminateWrites: 2 });
  });

  it('does not count an indeterminate update as recovered because a later update reached its version', () => {
    const unknown = write('indeterminate', { op: 'update', key: 4, version: 2 });
    const later = write('ok', { op: 'update', key: 4, version: 2 });
    const r = checkLedger([unknown, later], state([later], { 4: { version: 2, by: later } }));
    expect(r.recoveredWrites).toBe(0);
    expect(r.lostWrites).toBe(0);
  });

  it('counts an indeterminate insert found committed by its request id as recovered', () => {
    const insert = write('indeterminate', { op: 'insert', key: 0 });
    const r = checkLedger([insert], state([insert], {}));
    expect(r).toMatchObject({ recoveredWrites: 1, indeterminateWrites: 1, lostWrites: 0 });
  });
});

describe('checkLedger: the rows (what the final primary holds for each key)', () => {
  it('reports an acknowledged, committed insert whose row was deleted behind the workload', () => {
    const insert = write('ok', { op: 'insert', key: 9 });
    const r = checkLedger([insert], state([insert], {}));
    expect(r.lostWrites).toBe(1);
    expect(r.lost[0]).toMatchObject({ key: 9, found: 'missing' });
    expect(r.lost[0].reason).toMatch(/missing and no write of ours deleted it/);
  });

  it('does not excuse a missing row with a delete that did not commit', () => {
    const insert = write('ok', { op: 'insert', key: 9 });
    const maybeDelete = write('indeterminate', { op: 'delete', key: 9 });
    const r = checkLedger([insert, maybeDelete], state([insert], {}));
    expect(r.lostWrites).toBe(1);
  });

  it('accepts a missing row when a delete of ours committed after the insert', () => {
    const insert = write('ok', { op: 'insert', key: 9 });
    const del = write('indeterminate', { op: 'delete', key: 9 });
    const r = checkLedger([insert, del], state([insert, del], {}));
    expect(r.lostWrites).toBe(0);
    expect(r.recoveredWrites).toBe(1);
  });

  it('reports inserts whose keys were deleted and handed out again (setval back): the row is someone else\'s', () => {
    const first = write('ok', { op: 'insert', key: 11 });
    const second = write('ok', { op: 'insert', key: 11 });
    const r = checkLedger([first, second], state([first, second], { 11: { by: second } }));
    expect(r.lostWrites).toBe(1);
    expect(r.lost[0].requestId).toBe(rid(first));
  });

  it('still reports the reused key once an update of ours moved the row past version 1', () => {
    const first = write('ok', { op: 'insert', key: 11 });
    const second = write('ok', { op: 'insert', key: 11 });
    const update = write('ok', { op: 'update', key: 11, version: 2 });
    const r = checkLedger([first, second, update], state([first, second, update], { 11: { version: 2, by: update } }));
    expect(r.lostWrites).toBe(1);
    expect(r.lost[0].reason).toMatch(/inserted again without a delete of ours/);
  });

  it('accepts a key inserted again after our own delete', () => {
    const first = write('ok', { op: 'insert', key: 12 });
    const del = write('ok', { op: 'delete', key: 12 });
    const again = write('ok', { op: 'insert', key: 12 });
    const r = checkLedger([first, del, again], state([first, del, again], { 12: { by: again } }));
    expect(r.lostWrites).toBe(0);
  });

  it('reports a row behind the version an acknowledged update produced', () => {
    const update = write('ok', { op: 'update', key: 5, version: 4 });
    const r = checkLedger([update], state([update], { 5: { version: 3, requestId: null } }));
    expect(r.lostWrites).toBe(1);
    expect(r.lost[0].reason).toMatch(/behind the acknowledged version 4/);
  });

  it('accepts concurrent updates committed out of intended order: versions order them', () => {
    const slow = write('ok', { op: 'update', key: 5, version: 7 });
    const fast = write('ok', { op: 'update', key: 5, version: 6 });
    const r = checkLedger([slow, fast], state([slow, fast], { 5: { version: 7, by: slow } }));
    expect(r.lostWrites).toBe(0);
  });

  it('reports a row last written by a request id that is none of ours', () => {
    const insert = write('ok', { op: 'insert', key: 3 });
    const r = checkLedger([insert], state([insert], { 3: { requestId: '11111111-1111-4111-8111-111111111111' } }));
    expect(r.lostWrites).toBe(1);
  });

  it('reports an acknowledged delete whose row is back', () => {
    const del = write('ok', { op: 'delete', key: 9 });
    const r = checkLedger([del], state([del], { 9: { version: 3 } }));
    expect(r.lostWrites).toBe(1);
    expect(r.lost[0]).toMatchObject({ op: 'delete', found: 'present (version 3)' });
  });

  it('checks presence only on a table without version or request_id columns', () => {
    const kept = write('ok', { op: 'insert', key: 1 });
    const gone = write('ok', { op: 'insert', key: 2 });
    const r = checkLedger([kept, gone], state([kept, gone], { 1: { version: undefined } }, { version: false, requestId: false }));
    expect(r.lostWrites).toBe(1);
    expect(r.lost[0].key).toBe(2);
  });

  it('keeps at most 50 examples of lost writes but counts them all', () => {
    const ops = Array.from({ length: 60 }, (_, i) => write('ok', { op: 'insert', key: 100 + i }));
    const r = checkLedger(ops, state([], {}));
    expect(r.lostWrites).toBe(60);
    expect(r.lost).toHaveLength(50);
  });
});

describe('keysOfInterest', () => {
  it('names every request id, the keys to fetch per table and the indeterminate inserts to find by request id', () => {
    const a = write('ok', { op: 'insert', key: 2 });
    const b = write('indeterminate', { op: 'insert', key: 0 });
    const c = write('ok', { op: 'update', key: 1, table: 'users' });
    const d = write('failed', { op: 'update', key: 3 });
    const interest = keysOfInterest([a, b, c, d]);
    expect(interest.requestIds).toEqual([rid(a), rid(b), rid(c)].sort());
    expect(interest.tables).toEqual({ orders: { keys: ['2'], requestIds: [rid(b)] }, users: { keys: ['1'], requestIds: [] } });
  });
});
