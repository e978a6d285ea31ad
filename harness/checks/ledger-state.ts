// Fetches from the final primary what the ledger check needs: which request ids the ledger
// table holds, the rows of the keys the writes touched, and the rows of indeterminate
// inserts found by request id. The decision is made by the pure checkLedger(); this only
// reads. Any table, any key type: the key column and its type come from the catalog.

import type pg from 'pg';
import { LEDGER_TABLE } from '../seed/schema.js';
import { normalizeRequestId, type KeysOfInterest, type ObservedState, type ObservedTable } from './ledger-check.js';

export interface FetchObservedOptions {
  /** the key column of a table (as the workload's ledger names it); default: its single-column primary key */
  keyColumn?: (table: string) => string | undefined;
  /**
   * the key column(s) of a table, as a script's ledger names them (a composite key names
   * several; its keys are then PostgreSQL's row text, `(1,foo)`); wins over keyColumn
   */
  keyColumns?: (table: string) => readonly string[] | undefined;
  /**
   * whether the table's `version` and `request_id` columns are the workload's own (the shop's
   * statements set them); default true. A script's statement does not set them, so for its
   * tables they would only mislead the check.
   */
  rowVersions?: (table: string) => boolean;
  /** values per query; keeps a long run's 100k keys from becoming one huge parameter */
  batchSize?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Throws when the ledger table cannot be read: the check then cannot say anything. */
export async function fetchObservedState(
  client: pg.ClientBase,
  interest: KeysOfInterest,
  options: FetchObservedOptions = {},
): Promise<ObservedState> {
  const batchSize = options.batchSize ?? 10_000;
  const committed = new Set<string>();
  /** request id -> the key the write touched, as the ledger recorded it (scripts' writes) */
  const ledgerKeys = new Map<string, string>();
  // a malformed id cannot be in a uuid column, and one bad element would fail the cast of the batch
  const ids = interest.requestIds.filter((id) => UUID.test(id));
  const withRowKey = await hasRowKey(client);
  for (const batch of batches(ids, batchSize)) {
    const { rows } = await client.query<{ id: string; row_key: string | null }>(
      `SELECT request_id::text AS id, ${withRowKey ? 'row_key' : 'NULL::text AS row_key'} FROM ${LEDGER_TABLE} WHERE request_id = ANY($1::uuid[])`,
      [batch],
    );
    for (const r of rows) {
      const rid = normalizeRequestId(r.id);
      committed.add(rid);
      if (r.row_key !== null) ledgerKeys.set(rid, r.row_key);
    }
  }

  const tables: Record<string, ObservedTable> = {};
  for (const [table, wanted] of Object.entries(interest.tables)) {
    const found: ObservedTable = { rows: new Map(), keysByRequestId: new Map(), tracksVersion: false, tracksRequestId: false };
    tables[table] = found;
    const keyColumns = options.keyColumns?.(table) ?? (options.keyColumn?.(table) !== undefined ? [options.keyColumn(table)!] : undefined);
    const shape = await tableShape(client, table, keyColumns);
    // a table that is gone holds none of the keys: every acknowledged write to it is missing
    if (!shape) continue;
    const own = options.rowVersions?.(table) ?? true;
    found.tracksVersion = own && shape.hasVersion;
    found.tracksRequestId = own && shape.hasRequestId;
    // a composite key is compared as PostgreSQL's row text, as the scripts' ledger recorded it
    const key = shape.keyColumns.length === 1 ? quoteIdent(shape.keyColumns[0]) : `ROW(${shape.keyColumns.map(quoteIdent).join(', ')})`;
    const columns = [
      `${key}::text AS key`,
      found.tracksVersion ? 'version::bigint::text AS version' : 'NULL::text AS version',
      found.tracksRequestId ? 'request_id::text AS request_id' : 'NULL::text AS request_id',
    ].join(', ');
    const keyMatch = shape.keyColumns.length === 1 ? `${key} = ANY($1::${shape.keyType}[])` : `${key}::text = ANY($1::text[])`;

    // writes whose answer was lost: the ledger says which row a committed one touched
    const wantedKeys = new Set(wanted.keys);
    for (const rid of wanted.requestIds) {
      const k = ledgerKeys.get(normalizeRequestId(rid));
      if (k === undefined) continue;
      found.keysByRequestId.set(normalizeRequestId(rid), k);
      wantedKeys.add(k);
    }

    for (const keys of batches([...wantedKeys].sort(), batchSize)) {
      const { rows } = await client.query<{ key: string; version: string | null; request_id: string | null }>(
        `SELECT ${columns} FROM ${shape.relation} WHERE ${keyMatch}`,
        [keys],
      );
      for (const r of rows) {
        found.rows.set(r.key, {
          version: r.version === null ? null : Number(r.version),
          requestId: r.request_id === null ? null : normalizeRequestId(r.request_id),
        });
      }
    }

    if (!found.tracksRequestId) continue;
    const insertIds = wanted.requestIds.filter((id) => UUID.test(id));
    for (const batch of batches(insertIds, batchSize)) {
      const { rows } = await client.query<{ key: string; version: string | null; request_id: string }>(
        `SELECT ${columns} FROM ${shape.relation} WHERE request_id = ANY($1::uuid[])`,
        [batch],
      );
      for (const r of rows) {
        const rid = normalizeRequestId(r.request_id);
        found.keysByRequestId.set(rid, r.key);
        found.rows.set(r.key, { version: r.version === null ? null : Number(r.version), requestId: rid });
      }
    }
  }
  return { committed, tables };
}

interface TableShape {
  /** the relation as SQL text, quoted where needed */
  relation: string;
  keyColumns: string[];
  /** the key column's type, for casting the array of keys (so its index is used) */
  keyType: string;
  hasVersion: boolean;
  hasRequestId: boolean;
}

async function tableShape(client: pg.ClientBase, table: string, keyColumns: readonly string[] | undefined): Promise<TableShape | undefined> {
  const rel = await client.query<{ oid: string | null; relation: string | null }>(
    'SELECT to_regclass($1)::oid::text AS oid, to_regclass($1)::text AS relation',
    [table],
  );
  const oid = rel.rows[0]?.oid;
  if (!oid) return undefined;
  const cols = await client.query<{ name: string; type: string; pk: boolean }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            coalesce(a.attnum = ANY(i.indkey) AND cardinality(i.indkey::int2[]) = 1, false) AS pk
       FROM pg_attribute a
       LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
      WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped`,
    [oid],
  );
  const byName = new Map(cols.rows.map((c) => [c.name, c]));
  const missing = keyColumns?.find((k) => !byName.has(k));
  if (missing !== undefined) throw new Error(`table ${rel.rows[0].relation} has no column ${JSON.stringify(missing)} (the ledger's key)`);
  const keys = keyColumns ? keyColumns.map((k) => byName.get(k)!) : cols.rows.filter((c) => c.pk).slice(0, 1);
  if (keys.length === 0) throw new Error(`table ${rel.rows[0].relation} has no single-column primary key to find the ledger's rows by`);
  const version = byName.get('version');
  const requestId = byName.get('request_id');
  return {
    relation: rel.rows[0].relation!,
    keyColumns: keys.map((k) => k.name),
    // with its typmod: character(3) without it is character(1), and 'CHF' would be cut to 'C'
    keyType: keys[0].type,
    hasVersion: version !== undefined && /^(smallint|integer|bigint)$/.test(version.type),
    hasRequestId: requestId !== undefined && requestId.type === 'uuid',
  };
}

/** Whether the ledger table records the key each write touched (it does since scripts came; an older database may not). */
async function hasRowKey(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ has: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'row_key' AND NOT attisdropped) AS has`,
    [LEDGER_TABLE],
  );
  return rows[0].has;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function* batches<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
