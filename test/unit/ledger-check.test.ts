import { describe, it, expect } from 'vitest';
import { checkLedger, keysOfInterest, type ObservedRow, type ObservedRows } from '../../harness/checks/ledger-check.js';
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

function observed(rows: Record<number, ObservedRow>, requestIds: string[] = []): ObservedRows {
  return { orders: { rows: new Map(Object.entries(rows).map(([k, v]) => [Number(k), v])), requestIds: new Set(requestIds) } };
}

describe('checkLedger', () => {
  it('finds nothing lost when every acknowledged write is on the final primary', () => {
    const ops = [
      write('ok', { op: 'insert', key: 1, version: 1 }),
      write('ok', { op: 'update', key: 1, version: 2 }),
      write('ok', { op: 'insert', key: 2, version: 1 }),
      write('ok', { op: 'delete', key: 3 }),
      write('failed', { op: 'insert', key: 4 }),
    ];
    const r = checkLedger(ops, observed({ 1: { version: 2, requestId: null }, 2: { version: 1, requestId: null } }));
    expect(r).toEqual({ acknowledgedWrites: 4, lostWrites: 0, recoveredWrites: 0, indeterminateWrites: 0, lost: [] });
  });

  it('reports a lost write when an acknowledged insert is missing on the new primary', () => {
    const insert = write('ok', { op: 'insert', key: 7 });
    const r = checkLedger([insert], observed({}));
    expect(r.lostWrites).toBe(1);
    expect(r.lost).toEqual([{ table: 'orders', key: 7, op: 'insert', version: 1, requestId: insert.ledger!.requestId, found: 'missing' }]);
  });

  it('reports a lost write when an acknowledged delete is still present', () => {
    const r = checkLedger([write('ok', { op: 'delete', key: 9 })], observed({ 9: { version: 3, requestId: null } }));
    expect(r.lostWrites).toBe(1);
    expect(r.lost[0]).toMatchObject({ op: 'delete', key: 9, found: 'present (version 3)' });
  });

  it('reports a lost write when a row is behind the version an acknowledged update produced', () => {
    const r = checkLedger([write('ok', { op: 'update', key: 5, version: 4 })], observed({ 5: { version: 3, requestId: null } }));
    expect(r.lostWrites).toBe(1);
    expect(r.lost[0]).toMatchObject({ op: 'update', key: 5, version: 4, found: 'version 3' });
  });

  it('accepts a row past the acknowledged version: a later update landed too', () => {
    const r = checkLedger([write('ok', { op: 'update', key: 5, version: 4 })], observed({ 5: { version: 6, requestId: null } }));
    expect(r.lostWrites).toBe(0);
  });

  it('does not count an update as lost when an acknowledged delete later removed the row', () => {
    const ops = [write('ok', { op: 'update', key: 5, version: 2 }), write('ok', { op: 'delete', key: 5 })];
    const r = checkLedger(ops, observed({}));
    expect(r).toMatchObject({ acknowledgedWrites: 2, lostWrites: 0 });
  });

  it('does not count an insert as lost when a delete of the row may have applied', () => {
    const ops = [write('ok', { op: 'insert', key: 5 }), write('indeterminate', { op: 'delete', key: 5 })];
    const r = checkLedger(ops, observed({}));
    expect(r).toMatchObject({ acknowledgedWrites: 1, lostWrites: 0, indeterminateWrites: 1, recoveredWrites: 1 });
  });

  it('counts an indeterminate insert found by its request id as recovered', () => {
    const insert = write('indeterminate', { op: 'insert', key: 0 });
    const r = checkLedger([insert], observed({}, [insert.ledger!.requestId]));
    expect(r).toMatchObject({ acknowledgedWrites: 0, lostWrites: 0, indeterminateWrites: 1, recoveredWrites: 1 });
  });

  it('counts an indeterminate update as recovered when the row carries its request id', () => {
    const update = write('indeterminate', { op: 'update', key: 3, version: 0 });
    const r = checkLedger([update], observed({ 3: { version: 2, requestId: update.ledger!.requestId.toUpperCase() } }));
    expect(r.recoveredWrites).toBe(1);
  });

  it('counts an indeterminate write that did not apply as neither lost nor recovered', () => {
    const ops = [
      write('indeterminate', { op: 'insert', key: 0 }),
      write('indeterminate', { op: 'update', key: 3, version: 0 }),
      write('indeterminate', { op: 'delete', key: 4 }),
    ];
    const r = checkLedger(ops, observed({ 3: { version: 1, requestId: null }, 4: { version: 1, requestId: null } }));
    expect(r).toEqual({ acknowledgedWrites: 0, lostWrites: 0, recoveredWrites: 0, indeterminateWrites: 3, lost: [] });
  });

  it('keeps at most 50 examples of lost writes but counts them all', () => {
    const ops = Array.from({ length: 80 }, (_, i) => write('ok', { op: 'insert', key: 1000 + i }));
    const r = checkLedger(ops, observed({}));
    expect(r.lostWrites).toBe(80);
    expect(r.lost).toHaveLength(50);
    expect(r.lost[0].key).toBe(1000);
  });
});

describe('keysOfInterest', () => {
  it('names the keys to fetch per table and the request ids of indeterminate inserts', () => {
    const ops = [
      write('ok', { op: 'insert', key: 12, table: 'users' }),
      write('ok', { op: 'update', key: 3 }),
      write('ok', { op: 'update', key: 3 }),
      write('indeterminate', { op: 'insert', key: 0, requestId: 'AAAAAAAA-0000-4000-8000-000000000001' }),
      write('failed', { op: 'insert', key: 99 }),
      write('dropped', { op: 'delete', key: 98 }),
    ];
    expect(keysOfInterest(ops)).toEqual({
      orders: { keys: [3], requestIds: ['aaaaaaaa-0000-4000-8000-000000000001'] },
      users: { keys: [12], requestIds: [] },
    });
  });
});
