// The ledger check: every write the server acknowledged, held against what the final
// primary holds. Pure: the I/O side (ledger-state.ts) fetches the rows keysOfInterest()
// names into an ObservedRows, and this decides lost / recovered with no server.

import type { LedgerEntry, OpRecord } from '../record/records.js';
import type { LedgerFinding } from '../results/results.js';

/** What the final primary holds for one key of interest. */
export interface ObservedRow {
  version: number;
  requestId: string | null;
}

export interface ObservedTable {
  /** the keys of interest that exist; a key of interest not in this map is absent */
  rows: Map<number, ObservedRow>;
  /** the request ids of interest found in the table's request_id column */
  requestIds: Set<string>;
}

/** table -> what was found. A table not listed is taken as holding none of the keys. */
export type ObservedRows = Record<string, ObservedTable>;

export interface TableInterest {
  /** primary keys to fetch with their version and request_id, ascending */
  keys: number[];
  /** request ids to look up (indeterminate inserts, whose key the client never learnt), sorted */
  requestIds: string[];
}

export type KeysOfInterest = Record<string, TableInterest>;

export interface LedgerCheck {
  acknowledgedWrites: number;
  lostWrites: number;
  recoveredWrites: number;
  indeterminateWrites: number;
  /** the first MAX_FINDINGS lost writes in intended order */
  lost: LedgerFinding[];
}

export const MAX_FINDINGS = 50;

/** What the I/O side must fetch from the final primary to check these operations. */
export function keysOfInterest(ops: readonly OpRecord[]): KeysOfInterest {
  const keys = new Map<string, Set<number>>();
  const requestIds = new Map<string, Set<string>>();
  const tableSet = <T>(map: Map<string, Set<T>>, table: string): Set<T> => {
    let set = map.get(table);
    if (!set) map.set(table, (set = new Set<T>()));
    return set;
  };
  for (const op of checkable(ops)) {
    const entry = op.ledger;
    tableSet(keys, entry.table);
    tableSet(requestIds, entry.table);
    if (op.outcome === 'indeterminate' && entry.op === 'insert') {
      // the client never learnt the key of an unanswered insert: it is found by request id
      if (entry.requestId) tableSet(requestIds, entry.table).add(normalizeRequestId(entry.requestId));
    } else if (Number.isSafeInteger(entry.key)) {
      tableSet(keys, entry.table).add(entry.key);
    }
  }
  const interest: KeysOfInterest = {};
  for (const table of [...keys.keys()].sort()) {
    interest[table] = {
      keys: [...(keys.get(table) ?? [])].sort((a, b) => a - b),
      requestIds: [...(requestIds.get(table) ?? [])].sort(),
    };
  }
  return interest;
}

/**
 * Acknowledged writes must be visible: an insert present, a delete absent, an update at
 * its version or past it. A row missing where a delete of the same key was acknowledged or
 * may have applied (indeterminate) is explained, not lost. Order is not checked: keys come
 * from a sequence and are never reused, so no delete can precede its row's insert, and an
 * update that ran after the delete touched nothing.
 *
 * Indeterminate writes found applied are "recovered": the client must treat them as
 * unknown, the database kept them. Those not found are neither lost nor recovered.
 */
export function checkLedger(ops: readonly OpRecord[], observed: ObservedRows): LedgerCheck {
  const ledgerOps = checkable(ops).sort((a, b) => a.intendedMs - b.intendedMs || a.id - b.id);

  const mayBeDeleted = new Set<string>();
  for (const op of ledgerOps) {
    if (op.ledger.op === 'delete') mayBeDeleted.add(rowId(op.ledger.table, op.ledger.key));
  }

  const result: LedgerCheck = { acknowledgedWrites: 0, lostWrites: 0, recoveredWrites: 0, indeterminateWrites: 0, lost: [] };
  for (const op of ledgerOps) {
    const entry = op.ledger;
    const table = observed[entry.table];
    const row = table?.rows.get(entry.key);
    if (op.outcome === 'ok') {
      result.acknowledgedWrites++;
      const deleted = mayBeDeleted.has(rowId(entry.table, entry.key));
      if (!acknowledgedHolds(entry, row, deleted)) {
        result.lostWrites++;
        if (result.lost.length < MAX_FINDINGS) result.lost.push(finding(entry, row));
      }
    } else {
      result.indeterminateWrites++;
      if (indeterminateApplied(entry, row, table)) result.recoveredWrites++;
    }
  }
  return result;
}

function acknowledgedHolds(entry: LedgerEntry, row: ObservedRow | undefined, deleted: boolean): boolean {
  switch (entry.op) {
    case 'insert':
      return row !== undefined || deleted;
    case 'delete':
      return row === undefined;
    case 'update':
      return row === undefined ? deleted : row.version >= entry.version;
  }
}

function indeterminateApplied(entry: LedgerEntry, row: ObservedRow | undefined, table: ObservedTable | undefined): boolean {
  switch (entry.op) {
    case 'insert':
      return table?.requestIds.has(normalizeRequestId(entry.requestId)) ?? false;
    case 'delete':
      return row === undefined;
    case 'update':
      if (!row) return false;
      if (row.requestId !== null && sameRequestId(row.requestId, entry.requestId)) return true;
      // the client may not know what version an unanswered update would have produced: < 1 = unknown
      return entry.version >= 1 && row.version >= entry.version;
  }
}

function finding(entry: LedgerEntry, row: ObservedRow | undefined): LedgerFinding {
  let found: string;
  if (!row) found = 'missing';
  else if (entry.op === 'update') found = `version ${row.version}`;
  else found = `present (version ${row.version})`;
  return { table: entry.table, key: entry.key, op: entry.op, version: entry.version, requestId: entry.requestId, found };
}

type LedgerOp = OpRecord & { ledger: LedgerEntry };

// failed and dropped writes never reached (or were refused by) the server: nothing to check
function checkable(ops: readonly OpRecord[]): LedgerOp[] {
  return ops.filter((op): op is LedgerOp => op.ledger !== undefined && (op.outcome === 'ok' || op.outcome === 'indeterminate'));
}

function rowId(table: string, key: number): string {
  return `${table}\u0000${key}`;
}

// PostgreSQL prints uuids in lower case; a client may have generated upper case
export function normalizeRequestId(id: string): string {
  return id.toLowerCase();
}

function sameRequestId(a: string, b: string): boolean {
  return normalizeRequestId(a) === normalizeRequestId(b);
}
