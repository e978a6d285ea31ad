// Table integrity: row counts and ordered content hashes read from two nodes, compared by a
// pure function, and sequences checked against the columns they feed (logical replication
// does not carry sequences: a classic way for a migration to break the first insert).

import type pg from 'pg';
import type { SequenceCheck, TableIntegrity } from '../results/results.js';
import { quoteIdent } from './ledger-state.js';

export interface TableFingerprint {
  rows: number;
  /** md5 over the per-row md5s in primary key order */
  hash: string;
}

export interface TableMismatches {
  /** tables whose row counts differ, a table missing on one side included */
  rowCountMismatches: number;
  /** tables with equal row counts but different content: each bad table counts once */
  hashMismatches: number;
}

// Row text must print the same on every major and whatever the server's defaults, or equal
// data would hash differently. extra_float_digits = 1 is the 12+ default (shortest exact).
const PINNED_SETTINGS = [
  `SET LOCAL extra_float_digits = 1`,
  `SET LOCAL DateStyle = 'ISO, YMD'`,
  `SET LOCAL TimeZone = 'UTC'`,
  `SET LOCAL IntervalStyle = 'postgres'`,
  `SET LOCAL bytea_output = 'hex'`,
];

/**
 * Row count and content hash per table, all read in one REPEATABLE READ snapshot so the
 * tables agree with each other; settings are SET LOCAL so a shared client is left as found.
 * A table that does not exist is left out of the map (compareTables reports it).
 *
 * The hash aggregates per-row md5s rather than the rows' text: string_agg of every row
 * would hold the whole table in memory. It assumes both sides have the same column order.
 */
export async function tableFingerprints(
  client: pg.ClientBase,
  tables: readonly { table: string; key: string }[],
): Promise<Map<string, TableFingerprint>> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const fingerprints = await fingerprintsInTransaction(client, tables);
    await client.query('COMMIT');
    return fingerprints;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * The same, inside a transaction the caller has open (and ends): used to hash a snapshot
 * pinned earlier, at a cutover's freeze, after the new primary has moved on.
 */
export async function fingerprintsInTransaction(
  client: pg.ClientBase,
  tables: readonly { table: string; key: string }[],
): Promise<Map<string, TableFingerprint>> {
  const fingerprints = new Map<string, TableFingerprint>();
  for (const statement of PINNED_SETTINGS) await client.query(statement);
  for (const { table, key } of tables) {
    const exists = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [quoteIdent(table)]);
    if (exists.rows[0]?.oid == null) continue;
    const { rows } = await client.query<{ rows: string; hash: string }>(
      `SELECT count(*)::text AS rows,
              md5(coalesce(string_agg(md5(t::text), '' ORDER BY t.${quoteIdent(key)}), '')) AS hash
         FROM ${quoteIdent(table)} t`,
    );
    fingerprints.set(table, { rows: Number(rows[0].rows), hash: rows[0].hash });
  }
  return fingerprints;
}

/**
 * Source against target, table by table: `tables` lists what must exist (so a table absent
 * on both sides is still reported); tables found on only one side are added after them.
 */
export function compareTables(
  source: ReadonlyMap<string, TableFingerprint>,
  target: ReadonlyMap<string, TableFingerprint>,
  tables?: readonly string[],
): TableIntegrity[] {
  const names = [...new Set([...(tables ?? []), ...source.keys(), ...target.keys()])];
  return names.map((table) => {
    const s = source.get(table);
    const t = target.get(table);
    return {
      table,
      sourceRows: s?.rows ?? null,
      targetRows: t?.rows ?? null,
      sourceHash: s?.hash ?? null,
      targetHash: t?.hash ?? null,
      match: s !== undefined && t !== undefined && s.rows === t.rows && s.hash === t.hash,
    };
  });
}

export function countMismatches(tables: readonly TableIntegrity[]): TableMismatches {
  const counts: TableMismatches = { rowCountMismatches: 0, hashMismatches: 0 };
  for (const t of tables) {
    if (t.sourceRows === null || t.targetRows === null || t.sourceRows !== t.targetRows) counts.rowCountMismatches++;
    else if (!t.match) counts.hashMismatches++;
  }
  return counts;
}

export interface OwnedSequence {
  sequence: string;
  table: string;
  column: string;
  increment: number;
}

/**
 * Every sequence owned by a table column (serial: OWNED BY, dependency 'a'; identity:
 * dependency 'i'), its last handed-out value against max(column). After a logical
 * migration a sequence left at its start value makes the next insert collide.
 */
export async function sequenceChecks(client: pg.ClientBase): Promise<SequenceCheck[]> {
  const owned = await client.query<OwnedSequence>(
    `SELECT s.oid::regclass::text AS sequence, t.oid::regclass::text AS table, a.attname AS column,
            q.seqincrement::float8 AS increment
       FROM pg_class s
       JOIN pg_sequence q ON q.seqrelid = s.oid
       JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
                       AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
       JOIN pg_class t ON t.oid = d.refobjid AND t.relkind IN ('r', 'p')
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
       JOIN pg_namespace n ON n.oid = s.relnamespace
      WHERE s.relkind = 'S'
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      ORDER BY 1`,
  );
  const checks: SequenceCheck[] = [];
  for (const seq of owned.rows) {
    // regclass::text comes back quoted where needed, so it can be used as written
    const state = await client.query<{ last_value: string; is_called: boolean }>(
      `SELECT last_value::text AS last_value, is_called FROM ${seq.sequence}`,
    );
    const max = await client.query<{ max: string | null }>(
      `SELECT max(${quoteIdent(seq.column)})::text AS max FROM ${seq.table}`,
    );
    checks.push(
      sequenceCheck(seq, Number(state.rows[0].last_value), state.rows[0].is_called, max.rows[0].max === null ? null : Number(max.rows[0].max)),
    );
  }
  return checks;
}

/**
 * Pure: a sequence that was set but never called (setval(..., false), or a fresh one) has
 * handed out nothing up to last_value - increment. Only ascending sequences are expected
 * (serial and identity columns); an empty column is always ok.
 */
export function sequenceCheck(
  seq: OwnedSequence,
  lastValue: number,
  isCalled: boolean,
  maxValue: number | null,
): SequenceCheck {
  const handedOut = isCalled ? lastValue : lastValue - seq.increment;
  return {
    sequence: seq.sequence,
    table: seq.table,
    column: seq.column,
    lastValue: handedOut,
    maxValue: maxValue ?? 0,
    ok: maxValue === null || handedOut >= maxValue,
  };
}
