// Table integrity: row counts and ordered content hashes read from two nodes, compared by a
// pure function, and sequences checked against the columns they feed (logical replication
// does not carry sequences: a classic way for a migration to break the first insert).

import type pg from 'pg';
import type { SequenceCheck, TableIntegrity } from '../results/results.js';
import { errorMessage } from '../errors.js';
import { byCodeUnits, displayNameSql, qualifiedNameSql, quoteIdentifier, splitRelationName, userRelationCondition } from './user-objects.js';

/**
 * A table to compare and the columns that order its rows. `table` is named as regclass::text
 * prints it with search_path = public ("orders", "sales.invoices"); `key` is its primary key,
 * else the columns of a unique index whose columns are all NOT NULL, else [] (no key: the
 * rows' hashes are sorted instead, which is as exact, only a little dearer).
 */
export interface TableRef {
  table: string;
  key: string[];
}

export interface TableFingerprint {
  rows: number;
  /** md5 over the per-row md5s, in key order (in hash order for a table without a key) */
  hash: string;
}

export interface TableMismatches {
  /** tables whose row counts differ, a table missing on one side included */
  rowCountMismatches: number;
  /** tables with equal row counts but different content: each bad table counts once */
  hashMismatches: number;
}

// Row text must print the same on every major and whatever the server's defaults, or equal
// data would hash differently. extra_float_digits = 1 is the 12+ default (shortest exact);
// search_path decides how reg* values (a regclass column) print.
const PINNED_SETTINGS = [
  `SET LOCAL extra_float_digits = 1`,
  `SET LOCAL DateStyle = 'ISO, YMD'`,
  `SET LOCAL TimeZone = 'UTC'`,
  `SET LOCAL IntervalStyle = 'postgres'`,
  `SET LOCAL bytea_output = 'hex'`,
  `SET LOCAL search_path = public`,
];

/** SQLSTATEs of a table (or its schema) dropped between the listing and the read. */
const GONE = new Set(['42P01', '3F000']);

/**
 * Every ordinary table of the user's, leaf partitions included (they hold the rows; their
 * partitioned parents hold none, and views hold none of their own), sorted by name, each
 * with the key that orders its rows. See userRelationCondition for what is left out.
 */
export async function listUserTables(client: pg.ClientBase): Promise<TableRef[]> {
  const keyColumns = (attnums: string, where = 'true') =>
    `SELECT array_agg(a.attname::text ORDER BY k.ord)
       FROM unnest(${attnums}) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
      WHERE ${where}`;
  const { rows } = await client.query<{ table: string; key: string[] }>(
    `SELECT ${displayNameSql('c', 'n')} AS table,
            coalesce(
              (SELECT (${keyColumns('p.conkey')}) FROM pg_constraint p WHERE p.conrelid = c.oid AND p.contype = 'p'),
              -- a unique index over NOT NULL plain columns is as good a key; the narrowest
              -- one, then the first by name, so that both sides pick the same
              (SELECT (${keyColumns('i.indkey::int2[]', 'k.ord <= i.indnkeyatts')})
                 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid
                  AND i.indpred IS NULL AND i.indexprs IS NULL
                  AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                                    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                                   WHERE k.ord <= i.indnkeyatts AND NOT a.attnotnull)
                ORDER BY i.indnkeyatts, ic.relname COLLATE "C"
                LIMIT 1),
              '{}') AS key
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND ${userRelationCondition('c', 'n')}`,
  );
  return rows.map((r) => ({ table: r.table, key: r.key })).sort((a, b) => byCodeUnits(a.table, b.table));
}

/**
 * Row count and content hash per table, all read in one REPEATABLE READ snapshot so the
 * tables agree with each other; settings are SET LOCAL so a shared client is left as found.
 * Without `tables`, every user table (listUserTables). A table that does not exist is left
 * out of the map (compareTables reports it).
 *
 * The hash aggregates per-row md5s rather than the rows' text: string_agg of every row
 * would hold the whole table in memory.
 */
export async function tableFingerprints(
  client: pg.ClientBase,
  tables?: readonly TableRef[],
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
 * pinned earlier, at a cutover's freeze, after the new primary has moved on. Tables are
 * listed (when not given) and their columns read through that snapshot too, so a table or a
 * column added after it is not part of the fingerprint.
 */
export async function fingerprintsInTransaction(
  client: pg.ClientBase,
  tables?: readonly TableRef[],
): Promise<Map<string, TableFingerprint>> {
  const fingerprints = new Map<string, TableFingerprint>();
  for (const statement of PINNED_SETTINGS) await client.query(statement);
  const refs = tables ?? (await listUserTables(client));
  const recovery = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
  const inRecovery = recovery.rows[0].r;
  for (const ref of refs) {
    const fingerprint = await fingerprintTable(client, ref, inRecovery);
    if (fingerprint) fingerprints.set(ref.table, fingerprint);
  }
  return fingerprints;
}

interface TableShape {
  relkind: string;
  relpersistence: string;
  columns: { name: string; collatable: boolean }[];
}

async function fingerprintTable(client: pg.ClientBase, ref: TableRef, inRecovery: boolean): Promise<TableFingerprint | undefined> {
  const { schema, relation } = splitRelationName(ref.table);
  const shape = await client.query<TableShape>(
    `SELECT c.relkind, c.relpersistence,
            coalesce((SELECT json_agg(json_build_object('name', a.attname, 'collatable', a.attcollation <> 0))
                        FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, relation],
  );
  const table = shape.rows[0];
  if (!table) return undefined;
  // a standby cannot read unlogged tables (it has no data for them): leave the table out, and
  // compareTables reports it missing there, which is the truth about the replica
  if (table.relpersistence === 'u' && inRecovery) return undefined;

  const savepoint = 'pgdrill_fingerprint';
  await client.query(`SAVEPOINT ${savepoint}`);
  try {
    const { rows } = await client.query<{ rows: string; hash: string }>(fingerprintSql(schema, relation, table, ref.key));
    await client.query(`RELEASE SAVEPOINT ${savepoint}`);
    return { rows: Number(rows[0].rows), hash: rows[0].hash };
  } catch (err) {
    await client.query(`ROLLBACK TO SAVEPOINT ${savepoint}`);
    await client.query(`RELEASE SAVEPOINT ${savepoint}`);
    // dropped since it was listed: left out, as if it had not been listed
    const code = (err as { code?: string }).code;
    if (code && GONE.has(code)) return undefined;
    // keep the server's SQLSTATE for whoever handles it
    throw Object.assign(new Error(`fingerprinting table ${ref.table} failed: ${errorMessage(err)}`, { cause: err }), { code });
  }
}

/**
 * Column order: each row is hashed with its columns in name order, not in attnum order.
 * Column order is schema, and the catalog comparison reports it (as the table's column
 * list); hashing by name keeps the row hashes about data only, so a reordered table (one
 * rebuilt by a migration, say) still has its rows checked, and one cause does not show as
 * two unrelated failures. It also lets the pinned snapshot be hashed with the columns it
 * saw, even after the new primary has added a column.
 *
 * Collatable key columns sort with COLLATE "C": source and target may have different
 * collations (or glibc versions), and the order must be the same on both for the hashes to
 * be. The row hash last breaks any tie, so a caller-given key that is not unique still
 * gives an exact answer.
 */
function fingerprintSql(schema: string, relation: string, shape: TableShape, key: readonly string[]): string {
  const columns = [...shape.columns].sort((a, b) => byCodeUnits(a.name, b.name));
  const byName = new Map(columns.map((c) => [c.name, c]));
  const keyColumns = key.every((k) => byName.has(k)) ? key.map((k) => byName.get(k)!) : [];
  const row = `ROW(${columns.map((c) => `t.${quoteIdentifier(c.name)}`).join(', ')})::text`;
  const keys = keyColumns.map((c, i) => `t.${quoteIdentifier(c.name)} AS k${i}`);
  const order = [...keyColumns.map((c, i) => `r.k${i}${c.collatable ? ' COLLATE "C"' : ''}`), 'r.h COLLATE "C"'];
  // ONLY: an inheritance parent's own rows, its children are tables of their own
  const only = shape.relkind === 'r' ? 'ONLY ' : '';
  return `SELECT count(*)::text AS rows, md5(coalesce(string_agg(r.h, '' ORDER BY ${order.join(', ')}), '')) AS hash
            FROM (SELECT md5(${row}) AS h${keys.map((k) => `, ${k}`).join('')}
                    FROM ${only}${quoteIdentifier(schema)}.${quoteIdentifier(relation)} t) r`;
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
 * Every sequence that feeds a table column, in any user schema: owned by it (serial: OWNED BY,
 * dependency 'a'; identity: dependency 'i') or called by its DEFAULT (nextval('seq'), dependency
 * 'n' of the default), its last handed-out value against max(column). After
 * a logical migration a sequence left at its start value makes the next insert collide.
 * Names print as listUserTables prints them; the bookkeeping schema is left out.
 */
export async function sequenceChecks(client: pg.ClientBase): Promise<SequenceCheck[]> {
  const owned = await client.query<OwnedSequence & { sequenceSql: string; tableSql: string }>(
    // a column a sequence feeds: the one it is OWNED BY (serial, identity), or one whose DEFAULT
    // calls nextval() on it (a sequence created on its own, shared or not)
    `SELECT DISTINCT ${displayNameSql('s', 'n')} AS sequence, ${qualifiedNameSql('s', 'n')} AS "sequenceSql",
            ${displayNameSql('t', 'tn')} AS table, ${qualifiedNameSql('t', 'tn')} AS "tableSql",
            a.attname AS column, q.seqincrement::float8 AS increment
       FROM pg_class s
       JOIN pg_sequence q ON q.seqrelid = s.oid
       JOIN pg_namespace n ON n.oid = s.relnamespace
       JOIN (SELECT d.objid AS seq, d.refobjid AS rel, d.refobjsubid AS attnum
               FROM pg_depend d
              WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
             UNION
             SELECT d.refobjid, ad.adrelid, ad.adnum
               FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid
              WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'n') f
         ON f.seq = s.oid
       JOIN pg_class t ON t.oid = f.rel AND t.relkind IN ('r', 'p')
       JOIN pg_namespace tn ON tn.oid = t.relnamespace
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = f.attnum
            -- max() of a text column fed by 'T-' || nextval() says nothing about the sequence
            AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype)
      WHERE s.relkind = 'S' AND ${userRelationCondition('s', 'n')}`,
  );
  const checks: SequenceCheck[] = [];
  for (const seq of owned.rows.sort((a, b) => byCodeUnits(a.sequence, b.sequence))) {
    const state = await client.query<{ last_value: string; is_called: boolean }>(
      `SELECT last_value::text AS last_value, is_called FROM ${seq.sequenceSql}`,
    );
    const max = await client.query<{ max: string | null }>(
      `SELECT max(${quoteIdentifier(seq.column)})::text AS max FROM ${seq.tableSql}`,
    );
    const owner: OwnedSequence = { sequence: seq.sequence, table: seq.table, column: seq.column, increment: seq.increment };
    checks.push(
      sequenceCheck(owner, Number(state.rows[0].last_value), state.rows[0].is_called, max.rows[0].max === null ? null : Number(max.rows[0].max)),
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
