// The pure side of table integrity: comparing fingerprints, counting mismatches, checking a
// sequence, and reading back the table names listUserTables prints.

import { describe, expect, it } from 'vitest';
import { compareTables, countMismatches, sequenceCheck, type TableFingerprint } from '../../harness/checks/integrity.js';
import { splitRelationName } from '../../harness/checks/user-objects.js';

const fp = (entries: Record<string, TableFingerprint>) => new Map(Object.entries(entries));

describe('compareTables', () => {
  const source = fp({
    orders: { rows: 3, hash: 'a1' },
    'sales.invoices': { rows: 2, hash: 'b1' },
    nokey: { rows: 3, hash: 'c1' },
  });

  it('matches every table whose rows and hash agree', () => {
    const tables = compareTables(source, fp({ nokey: { rows: 3, hash: 'c1' }, orders: { rows: 3, hash: 'a1' }, 'sales.invoices': { rows: 2, hash: 'b1' } }));
    expect(tables.every((t) => t.match)).toBe(true);
    expect(countMismatches(tables)).toEqual({ rowCountMismatches: 0, hashMismatches: 0 });
  });

  it('reports a table with the same row count but one row changed as a hash mismatch', () => {
    const tables = compareTables(source, fp({ orders: { rows: 3, hash: 'a1' }, 'sales.invoices': { rows: 2, hash: 'b1' }, nokey: { rows: 3, hash: 'c2' } }));
    expect(tables.find((t) => t.table === 'nokey')).toEqual({ table: 'nokey', sourceRows: 3, targetRows: 3, sourceHash: 'c1', targetHash: 'c2', match: false });
    expect(countMismatches(tables)).toEqual({ rowCountMismatches: 0, hashMismatches: 1 });
  });

  it('reports an extra row as a row count mismatch, not also as a hash mismatch', () => {
    const tables = compareTables(source, fp({ orders: { rows: 3, hash: 'a1' }, 'sales.invoices': { rows: 2, hash: 'b1' }, nokey: { rows: 4, hash: 'c3' } }));
    expect(countMismatches(tables)).toEqual({ rowCountMismatches: 1, hashMismatches: 0 });
  });

  it('reports a table found on one side only, either side', () => {
    const target = fp({ orders: { rows: 3, hash: 'a1' }, nokey: { rows: 3, hash: 'c1' }, 'sales.extra': { rows: 0, hash: 'd41d' } });
    const tables = compareTables(source, target);
    expect(tables.filter((t) => !t.match).map((t) => [t.table, t.sourceRows, t.targetRows])).toEqual([
      ['sales.invoices', 2, null],
      ['sales.extra', null, 0],
    ]);
    expect(countMismatches(tables)).toEqual({ rowCountMismatches: 2, hashMismatches: 0 });
  });

  it('reports a table that must exist but is missing on both sides', () => {
    const tables = compareTables(fp({}), fp({}), ['orders']);
    expect(tables).toEqual([{ table: 'orders', sourceRows: null, targetRows: null, sourceHash: null, targetHash: null, match: false }]);
    expect(countMismatches(tables).rowCountMismatches).toBe(1);
  });

  it('lists the required tables first, in their order, then the others found', () => {
    expect(compareTables(source, source, ['nokey', 'orders']).map((t) => t.table)).toEqual(['nokey', 'orders', 'sales.invoices']);
  });
});

describe('sequenceCheck', () => {
  const seq = { sequence: 'sales.invoices_id_seq', table: 'sales.invoices', column: 'id', increment: 1 };

  it('passes a sequence at or past the column it feeds', () => {
    expect(sequenceCheck(seq, 10, true, 10).ok).toBe(true);
    expect(sequenceCheck(seq, 1, false, null)).toMatchObject({ ok: true, maxValue: 0 });
  });

  it('fails a sequence behind its column, counting a never-called value as not handed out', () => {
    expect(sequenceCheck(seq, 9, true, 10).ok).toBe(false);
    expect(sequenceCheck(seq, 10, false, 10)).toMatchObject({ ok: false, lastValue: 9 });
  });
});

describe('splitRelationName', () => {
  it('reads an unqualified name as public, as search_path = public does', () => {
    expect(splitRelationName('orders')).toEqual({ schema: 'public', relation: 'orders' });
  });

  it('reads schema-qualified and quoted names, dots and doubled quotes inside quotes included', () => {
    expect(splitRelationName('sales.invoices')).toEqual({ schema: 'sales', relation: 'invoices' });
    expect(splitRelationName('sales."Odd ""name"".x"')).toEqual({ schema: 'sales', relation: 'Odd "name".x' });
    expect(splitRelationName('"My Schema"."select"')).toEqual({ schema: 'My Schema', relation: 'select' });
  });

  it('folds unquoted names to lower case as SQL does', () => {
    expect(splitRelationName('Sales.Invoices')).toEqual({ schema: 'sales', relation: 'invoices' });
  });

  it('refuses what is no relation name, saying which', () => {
    expect(() => splitRelationName('a.b.c')).toThrow(/"a\.b\.c": expected \[schema\.\]relation, got 3 parts/);
    expect(() => splitRelationName('"open')).toThrow(/unterminated quoted identifier/);
    expect(() => splitRelationName('sales.')).toThrow(/empty part/);
  });
});
