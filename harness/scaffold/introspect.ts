// What `pgdrill init` needs to know about a database to write a starting scenario: its server
// version, and for every user table its size, rows, key, columns (type, NOT NULL, default,
// CHECK, UNIQUE) and the single-column foreign keys its columns follow. Read-only queries.

import type pg from 'pg';
import { listUserTables } from '../checks/integrity.js';
import { userRelationCondition } from '../checks/user-objects.js';

export interface ColumnInfo {
  name: string;
  /** format_type(): "bigint", "character varying(40)", "timestamp with time zone" */
  type: string;
  /** the type's category (pg_type.typcategory): N numeric, S string, D date/time, B boolean, U user-defined... */
  category: string;
  /** the base type's name ("int4", "varchar", "uuid", "jsonb"...) */
  baseType: string;
  /** character length limit, when the type has one */
  maxLength: number | null;
  notNull: boolean;
  hasDefault: boolean;
  /** identity or generated columns: the server fills them */
  generated: boolean;
  /** named by a CHECK constraint: a random value would likely break it */
  checked: boolean;
  /** the only column of a UNIQUE constraint or index: a copied value would collide */
  unique: boolean;
  /** the table and column it references, for a single-column foreign key */
  references?: { table: string; column: string };
}

export interface TableInfo {
  /** as listUserTables names it ("notes", "app.notes") */
  name: string;
  /** the primary key (or a NOT NULL unique key) columns; [] when none */
  key: string[];
  primaryKey: boolean;
  rows: number;
  /** pg_total_relation_size: table, indexes, TOAST */
  bytes: number;
  columns: ColumnInfo[];
}

export interface DatabaseInfo {
  /** server_version_num / 10000 */
  major: number;
  version: string;
  bytes: number;
  tables: TableInfo[];
}

/** Exact row counts up to this estimate; above it the planner's estimate (count(*) of a big table takes a while). */
const EXACT_COUNT_LIMIT = 1_000_000;

export async function introspectDatabase(client: pg.ClientBase): Promise<DatabaseInfo> {
  const server = await client.query<{ num: string; version: string; bytes: string }>(
    `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version,
            pg_database_size(current_database())::text AS bytes`,
  );
  const refs = await listUserTables(client);
  const meta = await client.query<{ name: string; oid: string; estimated: string; bytes: string; pk: boolean }>(
    `SELECT c.oid::regclass::text AS name, c.oid::text AS oid, greatest(c.reltuples, 0)::bigint::text AS estimated,
            pg_total_relation_size(c.oid)::text AS bytes,
            EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = c.oid AND p.contype = 'p') AS pk
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND ${userRelationCondition('c', 'n')}`,
  );
  const byName = new Map(meta.rows.map((r) => [r.name, r]));
  const tables: TableInfo[] = [];
  for (const ref of refs) {
    const m = byName.get(ref.table);
    if (!m) continue;
    const estimated = Number(m.estimated);
    let rows = estimated;
    if (estimated <= EXACT_COUNT_LIMIT) {
      const counted = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ONLY ${await relationSql(client, m.oid)}`);
      rows = Number(counted.rows[0].n);
    }
    tables.push({ name: ref.table, key: ref.key, primaryKey: m.pk, rows, bytes: Number(m.bytes), columns: await columnsOf(client, m.oid) });
  }
  return { major: Math.floor(Number(server.rows[0].num) / 10000), version: server.rows[0].version, bytes: Number(server.rows[0].bytes), tables };
}

async function relationSql(client: pg.ClientBase, oid: string): Promise<string> {
  const { rows } = await client.query<{ sql: string }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS sql FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid`,
    [oid],
  );
  return rows[0].sql;
}

async function columnsOf(client: pg.ClientBase, oid: string): Promise<ColumnInfo[]> {
  const { rows } = await client.query<{
    name: string;
    type: string;
    category: string;
    base: string;
    maxlen: number | null;
    notnull: boolean;
    hasdefault: boolean;
    generated: boolean;
    checked: boolean;
    uniq: boolean;
    ref_table: string | null;
    ref_column: string | null;
  }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            bt.typcategory AS category, bt.typname AS base,
            CASE WHEN bt.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 END AS maxlen,
            a.attnotnull AS notnull, a.atthasdef AS hasdefault,
            (a.attidentity <> '' OR a.attgenerated <> '') AS generated,
            EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = a.attrelid AND k.contype = 'c' AND a.attnum = ANY(k.conkey)) AS checked,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisunique AND i.indnkeyatts = 1
                       AND i.indkey[0] = a.attnum AND i.indpred IS NULL) AS uniq,
            (SELECT f.confrelid::regclass::text FROM pg_constraint f
              WHERE f.conrelid = a.attrelid AND f.contype = 'f' AND f.conkey = ARRAY[a.attnum] LIMIT 1) AS ref_table,
            (SELECT r.attname FROM pg_constraint f JOIN pg_attribute r ON r.attrelid = f.confrelid AND r.attnum = f.confkey[1]
              WHERE f.conrelid = a.attrelid AND f.contype = 'f' AND f.conkey = ARRAY[a.attnum] LIMIT 1) AS ref_column
       FROM pg_attribute a
       JOIN pg_type t ON t.oid = a.atttypid
       JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
      WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [oid],
  );
  return rows.map((r) => ({
    name: r.name,
    type: r.type,
    category: r.category,
    baseType: r.base,
    maxLength: r.maxlen,
    notNull: r.notnull,
    hasDefault: r.hasdefault,
    generated: r.generated,
    checked: r.checked,
    unique: r.uniq,
    ...(r.ref_table && r.ref_column ? { references: { table: r.ref_table, column: r.ref_column } } : {}),
  }));
}
