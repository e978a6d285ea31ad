// The ledger check: every write the server acknowledged, held against what the final
// primary holds. Pure: the I/O side (ledger-state.ts) fetches what keysOfInterest() names
// into an ObservedState, and this decides lost / recovered with no server.
//
// Two layers. First, *who wrote it*: every workload write inserts its request id into the
// bookkeeping ledger table in the same statement, so the set of ids on the final primary is
// exactly the set of writes committed there (Jepsen's set-full): an acknowledged id missing
// is a lost write, an indeterminate id present is a recovered one. Keys and versions being
// handed out again after a failover cannot hide a loss here. Second, *the rows*: the final
// row of every key an acknowledged write touched must still show that write (or a later
// write of ours), so a row deleted or replaced behind the workload's back (a runbook step,
// a buggy migration, a key reused after a sequence went back) is a lost write too.

import type { LedgerEntry, OpRecord } from '../record/records.js';
import type { LedgerFinding } from '../results/results.js';

/** What the final primary holds for one key of interest. */
export interface ObservedRow {
  /** the row's version column; null when the table has none */
  version: number | null;
  /** the row's request_id column (the last write of ours to it); null when none */
  requestId: string | null;
}

export interface ObservedTable {
  /** key (as text) -> row, for the keys of interest that exist; a key not here is absent */
  rows: Map<string, ObservedRow>;
  /** request id -> key (as text) of the row carrying it: finds the rows of committed inserts whose answer was lost */
  keysByRequestId: Map<string, string>;
  /** whether rows carry a version column (updates are then checked by version) */
  tracksVersion: boolean;
  /** whether rows carry a request_id column (the last writer of a row is then known) */
  tracksRequestId: boolean;
}

export interface ObservedState {
  /** request ids (normalised) found in the ledger table of the final primary */
  committed: Set<string>;
  /** table -> what was found; a table not listed is taken as holding none of the keys */
  tables: Record<string, ObservedTable>;
}

export interface TableInterest {
  /** keys (as text) to fetch with their version and request id, sorted */
  keys: string[];
  /** request ids of indeterminate inserts, whose key the client never learnt, sorted */
  requestIds: string[];
}

export interface KeysOfInterest {
  /** every request id to look up in the ledger table (ok and indeterminate writes), sorted */
  requestIds: string[];
  tables: Record<string, TableInterest>;
}

export interface LedgerCheck {
  acknowledgedWrites: number;
  lostWrites: number;
  /** indeterminate writes found committed */
  recoveredWrites: number;
  indeterminateWrites: number;
  /** the first MAX_FINDINGS lost writes in intended order, each with the reason */
  lost: LedgerFinding[];
}

export const MAX_FINDINGS = 50;

export type LedgerOp = OpRecord & { ledger: LedgerEntry };

/** What the I/O side must fetch from the final primary to check these operations. */
export function keysOfInterest(ops: readonly OpRecord[]): KeysOfInterest {
  const requestIds = new Set<string>();
  const tables = new Map<string, { keys: Set<string>; requestIds: Set<string> }>();
  for (const op of checkable(ops)) {
    const entry = op.ledger;
    const rid = normalizeRequestId(entry.requestId);
    requestIds.add(rid);
    let table = tables.get(entry.table);
    if (!table) tables.set(entry.table, (table = { keys: new Set(), requestIds: new Set() }));
    if (hasKey(entry)) table.keys.add(keyText(entry.key));
    // the key is unknown (the answer was lost): found by request id, in the row or the ledger
    else table.requestIds.add(rid);
  }
  const out: KeysOfInterest = { requestIds: [...requestIds].sort(), tables: {} };
  for (const name of [...tables.keys()].sort()) {
    const t = tables.get(name)!;
    out.tables[name] = { keys: [...t.keys].sort(), requestIds: [...t.requestIds].sort() };
  }
  return out;
}

/**
 * Decides every acknowledged and indeterminate write. Failed and dropped writes never
 * reached (or were refused by) the server: nothing to check.
 */
export function checkLedger(ops: readonly OpRecord[], observed: ObservedState): LedgerCheck {
  const ledgerOps = checkable(ops).sort((a, b) => a.intendedMs - b.intendedMs || a.id - b.id);
  const committed = (op: LedgerOp) => observed.committed.has(normalizeRequestId(op.ledger.requestId));

  // the writes that applied, per row, in intended order: the history the final rows must agree with
  const applied = new Map<string, LedgerOp[]>();
  for (const op of ledgerOps) {
    if (!committed(op)) continue;
    const key = appliedKey(op, observed);
    if (key === undefined) continue;
    const id = rowId(op.ledger.table, key);
    let list = applied.get(id);
    if (!list) applied.set(id, (list = []));
    list.push(op);
  }

  const result: LedgerCheck = { acknowledgedWrites: 0, lostWrites: 0, recoveredWrites: 0, indeterminateWrites: 0, lost: [] };
  for (const op of ledgerOps) {
    if (op.outcome !== 'ok') {
      result.indeterminateWrites++;
      if (committed(op)) result.recoveredWrites++;
      continue;
    }
    result.acknowledgedWrites++;
    const reason = committed(op) ? rowStateProblem(op, observed, applied) : 'its request id is not in the ledger of the final primary: the transaction is gone';
    if (reason !== undefined) {
      result.lostWrites++;
      if (result.lost.length < MAX_FINDINGS) result.lost.push(finding(op.ledger, observed, reason));
    }
  }
  return result;
}

/**
 * Why the final row does not show an acknowledged, committed write; undefined when it does.
 * `applied` holds, per row, every committed write of ours in intended order.
 */
function rowStateProblem(op: LedgerOp, observed: ObservedState, applied: Map<string, LedgerOp[]>): string | undefined {
  const entry = op.ledger;
  if (!hasKey(entry)) return undefined; // an acknowledged write always learns its key; nothing to look up otherwise
  const table = observed.tables[entry.table];
  const key = keyText(entry.key);
  const row = table?.rows.get(key);
  const history = applied.get(rowId(entry.table, key)) ?? [op];
  const at = history.indexOf(op);
  const later = at >= 0 ? history.slice(at + 1) : [];
  // a write of ours still in flight when this one started may have committed after it, whatever
  // the intended order: two connections do not commit in the order they were scheduled
  const mayFollow = (o: LedgerOp) => later.includes(o) || (o !== op && o.endMs > (op.startMs ?? op.intendedMs));
  const deletedLater = history.some((o) => o.ledger.op === 'delete' && mayFollow(o));

  switch (entry.op) {
    case 'insert':
    case 'update': {
      if (!row) return deletedLater ? undefined : 'the row is missing and no write of ours deleted it';
      // versions order a row's writes by commit, whatever order they were intended in
      const versioned = Boolean(table?.tracksVersion) && row.version !== null && entry.version >= 1;
      if (versioned && row.version! < entry.version) {
        return `the row is at version ${row.version}, behind the acknowledged version ${entry.version}`;
      }
      if (!table?.tracksRequestId) return undefined;
      const writer = row.requestId === null ? undefined : history.find((o) => sameRequestId(o.ledger.requestId, row.requestId!));
      if (!writer) return 'the row was last written by nobody of ours (replaced or re-inserted behind the workload)';
      if (writer === op) {
        return versioned && row.version !== entry.version ? `the row carries this write's request id at version ${row.version}, not ${entry.version}` : undefined;
      }
      const writerAt = history.indexOf(writer);
      // the row carries a later write of ours; a later insert of the same key means the row
      // was deleted in between, and only our own delete explains that
      const between = writerAt > at ? history.slice(at + 1, writerAt + 1) : [];
      const reinsert = between.findIndex((o) => o.ledger.op === 'insert');
      if (reinsert >= 0) {
        return between.slice(0, reinsert).some((o) => o.ledger.op === 'delete')
          ? undefined
          : 'the key was inserted again without a delete of ours: the acknowledged row was removed behind the workload';
      }
      if (versioned && row.version === entry.version) {
        return `another write left the row at version ${entry.version} without seeing this one (the key or version was handed out again)`;
      }
      if (!versioned && writerAt < at) return 'the row shows an earlier write of ours: this one was undone';
      return undefined;
    }
    case 'delete':
      if (!row) return undefined;
      return history.some((o) => o.ledger.op === 'insert' && mayFollow(o)) ? undefined : `the row is back (version ${row.version ?? '?'}) after an acknowledged delete`;
  }
}

/** The key a committed write touched: its own, or (an insert whose answer was lost) the row's carrying its request id. */
function appliedKey(op: LedgerOp, observed: ObservedState): string | undefined {
  if (hasKey(op.ledger)) return keyText(op.ledger.key);
  return observed.tables[op.ledger.table]?.keysByRequestId.get(normalizeRequestId(op.ledger.requestId));
}

function finding(entry: LedgerEntry, observed: ObservedState, reason: string): LedgerFinding {
  const row = hasKey(entry) ? observed.tables[entry.table]?.rows.get(keyText(entry.key)) : undefined;
  let found: string;
  if (!row) found = 'missing';
  else if (row.version !== null) found = `present (version ${row.version})`;
  else found = 'present';
  return { table: entry.table, key: entry.key, op: entry.op, version: entry.version, requestId: entry.requestId, found, reason };
}

function checkable(ops: readonly OpRecord[]): LedgerOp[] {
  return ops.filter(isLedgerCheckable);
}

/** Whether the ledger check looks at this op: a write with a ledger entry, acknowledged or indeterminate. */
export function isLedgerCheckable(op: OpRecord): op is LedgerOp {
  return op.ledger !== undefined && (op.outcome === 'ok' || op.outcome === 'indeterminate');
}

/** Keys are numbers for the built-in schema; 0 (or '') marks an insert whose key the client never learnt. */
export function hasKey(entry: LedgerEntry): boolean {
  return typeof entry.key === 'number' ? entry.key !== 0 && Number.isFinite(entry.key) : entry.key !== '';
}

export function keyText(key: LedgerEntry['key']): string {
  return String(key);
}

function rowId(table: string, key: string): string {
  return `${table}\u0000${key}`;
}

// PostgreSQL prints uuids in lower case; a client may have generated upper case
export function normalizeRequestId(id: string): string {
  return id.toLowerCase();
}

function sameRequestId(a: string, b: string): boolean {
  return normalizeRequestId(a) === normalizeRequestId(b);
}
