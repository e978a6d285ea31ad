// The schema as data: the user's tables, columns, constraints, indexes, triggers, sequences
// and views read from one node (catalogSnapshot), and a pure comparison of two such reads
// (compareCatalogs) that names every difference, for a migration that must carry the schema
// across unchanged (pg_dump/pg_restore, logical replication, 13 -> 17).

import type pg from 'pg';
import { byCodeUnits, qualifiedNameSql, userRelationCondition } from './user-objects.js';

export interface CatalogTable {
  /** schema-qualified, each part quoted where needed: public.orders */
  table: string;
  kind: 'table' | 'partitioned table';
  unlogged: boolean;
  /** pg_get_partkeydef of a partitioned table: "RANGE (created_at)" */
  partitionKey: string | null;
  /** a partition's bound: "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')" */
  partitionBound: string | null;
  /** the partitioned parent, or the parents it inherits from, in order */
  parents: string[];
  /** "default" unless changed: "full", "nothing", "index <name>" */
  replicaIdentity: string;
}

export interface CatalogColumn {
  table: string;
  name: string;
  /** 1-based among the live columns (attnum keeps gaps where columns were dropped; a restore does not) */
  position: number;
  /** format_type: "numeric(12,2)", "timestamp with time zone", "public.mood" */
  type: string;
  notNull: boolean;
  /** the default expression, or the generation expression of a generated column */
  default: string | null;
  identity: 'always' | 'by default' | null;
  generated: 'stored' | 'virtual' | null;
  /** only when it is not the type's own collation */
  collation: string | null;
}

export interface CatalogConstraint {
  table: string;
  name: string;
  /** check, foreign key, primary key, unique, exclusion, trigger (or the server's letter for a kind not known here) */
  type: string;
  /** pg_get_constraintdef: "CHECK ((price >= (0)::numeric))" */
  definition: string;
}

export interface CatalogIndex {
  table: string;
  name: string;
  /** pg_get_indexdef, printed with search_path = pg_catalog: every relation schema-qualified */
  definition: string;
  /** false for an index left behind by a failed CREATE INDEX CONCURRENTLY */
  valid: boolean;
}

export interface CatalogTrigger {
  table: string;
  name: string;
  /** pg_get_triggerdef */
  definition: string;
  enabled: 'enabled' | 'disabled' | 'enabled replica' | 'enabled always';
}

export interface CatalogSequence {
  name: string;
  /** "bigint", "integer", "smallint" */
  dataType: string;
  start: string;
  increment: string;
  min: string;
  max: string;
  cycle: boolean;
  /** the column it belongs to (serial or identity): public.orders.id */
  ownedBy: string | null;
}

export interface CatalogView {
  name: string;
  materialized: boolean;
  /** pg_get_viewdef, whitespace collapsed */
  definition: string;
  /** the relations and columns the view reads (its rule's dependencies): public.orders.total */
  reads: string[];
}

/**
 * Every name is as quote_ident prints it (bare, or in double quotes where SQL needs them),
 * and relations are schema-qualified: public.orders, sales."Odd name".
 */
export interface Catalog {
  tables: CatalogTable[];
  columns: CatalogColumn[];
  constraints: CatalogConstraint[];
  indexes: CatalogIndex[];
  triggers: CatalogTrigger[];
  sequences: CatalogSequence[];
  views: CatalogView[];
}

export type CatalogObjectKind = 'table' | 'column' | 'constraint' | 'index' | 'trigger' | 'sequence' | 'view';

export interface CatalogDifference {
  kind: CatalogObjectKind;
  /** "public.orders" for a table, sequence or view; "public.orders.total" for what belongs to a table */
  name: string;
  /** the definition on the source; null = missing there */
  source: string | null;
  /** the definition on the target; null = missing there */
  target: string | null;
}

// ---------------------------------------------------------------------------------------
// reading

/**
 * The catalog of the user's objects (the same ones table integrity compares, see
 * userRelationCondition), read in one REPEATABLE READ transaction with search_path pinned to
 * pg_catalog, so that every definition names relations, functions and types schema-qualified
 * whatever the session's search_path: the same schema prints the same on both nodes.
 * Partitioned parents are included: they hold no rows, but their keys, indexes and triggers
 * are schema. Opens and ends its own transaction.
 */
export async function catalogSnapshot(client: pg.ClientBase): Promise<Catalog> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    await client.query('SET LOCAL search_path = pg_catalog');
    const catalog = await readCatalog(client);
    await client.query('COMMIT');
    return catalog;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * The same, inside a transaction the caller has open (and ends): the catalog of a snapshot
 * pinned at a cutover's freeze. search_path is pinned only while reading, then given back.
 */
export async function catalogInTransaction(client: pg.ClientBase): Promise<Catalog> {
  await client.query('SET LOCAL search_path = pg_catalog');
  try {
    return await readCatalog(client);
  } finally {
    await client.query('SET LOCAL search_path TO DEFAULT');
  }
}

const TABLES = `SELECT c.oid, ${qualifiedNameSql('c', 'n')} AS name, c.relkind, c.relpersistence, c.relreplident, c.relispartition,
                       c.relpartbound
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p') AND ${userRelationCondition('c', 'n')}`;

const RELATIONS = (kinds: string) => `SELECT c.oid, ${qualifiedNameSql('c', 'n')} AS name, c.relkind
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN (${kinds}) AND ${userRelationCondition('c', 'n')}`;

const IDENTITY = { a: 'always', d: 'by default' } as const;
const GENERATED = { s: 'stored', v: 'virtual' } as const;
const CONSTRAINT_TYPES: Record<string, string> = { c: 'check', f: 'foreign key', p: 'primary key', u: 'unique', x: 'exclusion', t: 'trigger' };
const TRIGGER_STATES = { O: 'enabled', D: 'disabled', R: 'enabled replica', A: 'enabled always' } as const;

async function readCatalog(client: pg.ClientBase): Promise<Catalog> {
  const tables = await client.query<{
    name: string;
    relkind: string;
    relpersistence: string;
    relreplident: string;
    partition_key: string | null;
    partition_bound: string | null;
    parents: string[] | null;
    identity_index: string | null;
  }>(
    `WITH t AS (${TABLES})
     SELECT t.name, t.relkind, t.relpersistence, t.relreplident,
            CASE WHEN t.relkind = 'p' THEN pg_get_partkeydef(t.oid) END AS partition_key,
            CASE WHEN t.relispartition THEN pg_get_expr(t.relpartbound, t.oid) END AS partition_bound,
            (SELECT array_agg(${qualifiedNameSql('p', 'pn')} ORDER BY i.inhseqno)
               FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
              WHERE i.inhrelid = t.oid) AS parents,
            (SELECT quote_ident(ic.relname) FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
              WHERE x.indrelid = t.oid AND x.indisreplident) AS identity_index
       FROM t`,
  );

  // attnum order gives positions; the window runs after dropped columns are filtered out
  const columns = await client.query<{
    table: string;
    name: string;
    position: string;
    type: string;
    not_null: boolean;
    default: string | null;
    identity: string;
    generated: string;
    collation: string | null;
  }>(
    `WITH t AS (${TABLES})
     SELECT t.name AS table, quote_ident(a.attname) AS name,
            row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS position,
            format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
            pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity AS identity, a.attgenerated AS generated,
            CASE WHEN a.attcollation <> ty.typcollation THEN
              (SELECT CASE WHEN cn.nspname = 'pg_catalog' THEN '' ELSE quote_ident(cn.nspname) || '.' END || quote_ident(co.collname)
                 FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation)
            END AS collation
       FROM t JOIN pg_attribute a ON a.attrelid = t.oid
       JOIN pg_type ty ON ty.oid = a.atttypid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attnum > 0 AND NOT a.attisdropped`,
  );

  // conparentid <> 0: a partition's copy of its parent's constraint, made by the server (the
  // parent's row already says it; the copies' names are the server's choice, not the
  // user's). contype 'n': NOT NULL, catalogued as a constraint from 18 on; columns carry it.
  const constraints = await client.query<{ table: string; name: string; type: string; definition: string }>(
    `WITH t AS (${TABLES})
     SELECT t.name AS table, quote_ident(k.conname) AS name, k.contype AS type, pg_get_constraintdef(k.oid) AS definition
       FROM t JOIN pg_constraint k ON k.conrelid = t.oid
      WHERE k.contype <> 'n' AND k.conparentid = 0`,
  );

  const indexes = await client.query<{ table: string; name: string; definition: string; valid: boolean }>(
    `WITH t AS (${TABLES})
     SELECT t.name AS table, quote_ident(ic.relname) AS name, pg_get_indexdef(x.indexrelid) AS definition, x.indisvalid AS valid
       FROM t JOIN pg_index x ON x.indrelid = t.oid JOIN pg_class ic ON ic.oid = x.indexrelid`,
  );

  // the user's own triggers: not the internal ones (foreign keys' RI triggers, named after
  // oids), and not a partition's clone of its parent's trigger (tgparentid), which 13 and 14
  // mark internal and 15+ do not
  const triggers = await client.query<{ table: string; name: string; definition: string; enabled: string }>(
    `WITH t AS (${TABLES})
     SELECT t.name AS table, quote_ident(g.tgname) AS name, pg_get_triggerdef(g.oid) AS definition, g.tgenabled AS enabled
       FROM t JOIN pg_trigger g ON g.tgrelid = t.oid
      WHERE NOT g.tgisinternal AND g.tgparentid = 0`,
  );

  const sequences = await client.query<{
    name: string;
    data_type: string;
    start: string;
    increment: string;
    min: string;
    max: string;
    cycle: boolean;
    owned_by: string | null;
  }>(
    `WITH s AS (${RELATIONS(`'S'`)})
     SELECT s.name, format_type(q.seqtypid, NULL) AS data_type, q.seqstart::text AS start, q.seqincrement::text AS increment,
            q.seqmin::text AS min, q.seqmax::text AS max, q.seqcycle AS cycle,
            (SELECT ${qualifiedNameSql('o', 'on_')} || '.' || quote_ident(a.attname)
               FROM pg_depend d JOIN pg_class o ON o.oid = d.refobjid JOIN pg_namespace on_ ON on_.oid = o.relnamespace
               JOIN pg_attribute a ON a.attrelid = o.oid AND a.attnum = d.refobjsubid
              WHERE d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.refclassid = 'pg_class'::regclass
                AND d.deptype IN ('a', 'i')
              LIMIT 1) AS owned_by
       FROM s JOIN pg_sequence q ON q.seqrelid = s.oid`,
  );

  // what a view reads, from its rule's dependencies, less the rule's tie to the view itself
  const views = await client.query<{ name: string; relkind: string; definition: string | null; reads: string[] | null }>(
    `WITH v AS (${RELATIONS(`'v', 'm'`)})
     SELECT v.name, v.relkind, pg_get_viewdef(v.oid) AS definition,
            (SELECT array_agg(DISTINCT ${qualifiedNameSql('r', 'rn')} || coalesce('.' || quote_ident(a.attname), ''))
               FROM pg_rewrite w
               JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid AND d.refclassid = 'pg_class'::regclass
               JOIN pg_class r ON r.oid = d.refobjid JOIN pg_namespace rn ON rn.oid = r.relnamespace
               LEFT JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = d.refobjsubid AND d.refobjsubid > 0
              WHERE w.ev_class = v.oid AND d.refobjid <> v.oid) AS reads
       FROM v`,
  );

  const byTable = <T extends { table: string; name: string }>(a: T, b: T) => byCodeUnits(a.table, b.table) || byCodeUnits(a.name, b.name);
  const byName = <T extends { name: string }>(a: T, b: T) => byCodeUnits(a.name, b.name);
  return {
    tables: tables.rows
      .map(
        (r): CatalogTable => ({
          table: r.name,
          kind: r.relkind === 'p' ? 'partitioned table' : 'table',
          unlogged: r.relpersistence === 'u',
          partitionKey: r.partition_key,
          partitionBound: r.partition_bound,
          parents: r.parents ?? [],
          replicaIdentity: replicaIdentity(r.relreplident, r.identity_index),
        }),
      )
      .sort((a, b) => byCodeUnits(a.table, b.table)),
    columns: columns.rows
      .map(
        (r): CatalogColumn => ({
          table: r.table,
          name: r.name,
          position: Number(r.position),
          type: r.type,
          notNull: r.not_null,
          default: r.default,
          identity: IDENTITY[r.identity as keyof typeof IDENTITY] ?? null,
          generated: GENERATED[r.generated as keyof typeof GENERATED] ?? null,
          collation: r.collation,
        }),
      )
      .sort((a, b) => byCodeUnits(a.table, b.table) || a.position - b.position),
    constraints: constraints.rows
      .map((r): CatalogConstraint => ({ table: r.table, name: r.name, type: CONSTRAINT_TYPES[r.type] ?? r.type, definition: r.definition }))
      .sort(byTable),
    indexes: indexes.rows.map((r): CatalogIndex => ({ ...r })).sort(byTable),
    triggers: triggers.rows
      .map(
        (r): CatalogTrigger => ({
          table: r.table,
          name: r.name,
          definition: r.definition,
          enabled: TRIGGER_STATES[r.enabled as keyof typeof TRIGGER_STATES] ?? 'enabled',
        }),
      )
      .sort(byTable),
    sequences: sequences.rows
      .map(
        (r): CatalogSequence => ({
          name: r.name,
          dataType: r.data_type,
          start: r.start,
          increment: r.increment,
          min: r.min,
          max: r.max,
          cycle: r.cycle,
          ownedBy: r.owned_by,
        }),
      )
      .sort(byName),
    views: views.rows
      .map(
        (r): CatalogView => ({
          name: r.name,
          materialized: r.relkind === 'm',
          definition: (r.definition ?? '').replace(/\s+/g, ' ').trim(),
          reads: (r.reads ?? []).sort(byCodeUnits),
        }),
      )
      .sort(byName),
  };
}

function replicaIdentity(relreplident: string, index: string | null): string {
  if (relreplident === 'f') return 'full';
  if (relreplident === 'n') return 'nothing';
  if (relreplident === 'i') return `index ${index ?? '?'}`;
  return 'default';
}

/**
 * Pure: a view's query text with every qualifier dropped ("public.orders" -> "orders",
 * "o.total" -> "total"), string literals and the rest left as they are. PostgreSQL 16 stopped
 * qualifying the columns of a query over a single relation ("SELECT user_id FROM
 * public.orders" where 15 printed "SELECT orders.user_id ..."), so the same view prints two
 * ways across 13 -> 17. Compared without qualifiers, plus the list of columns the view reads
 * (schema-qualified, from its dependencies), which says what the qualifiers said.
 */
export function unqualifiedQuery(sql: string): string {
  const text = sql.replace(/\s+/g, ' ').trim();
  let out = '';
  let i = 0;
  const identifierStart = (ch: string | undefined) => ch !== undefined && /[A-Za-z_\u0080-\uffff"*]/.test(ch);
  while (i < text.length) {
    const ch = text[i];
    if (ch === "'") {
      // a literal: '' is a quote inside it; E'...' strings also escape with a backslash
      const escaped = /[Ee]$/.test(out) && !/[A-Za-z0-9_$][Ee]$/.test(out);
      let j = i + 1;
      for (; j < text.length; j++) {
        if (escaped && text[j] === '\\') j++;
        else if (text[j] === "'") {
          if (text[j + 1] === "'") j++;
          else break;
        }
      }
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (ch === '"' || /[A-Za-z_\u0080-\uffff]/.test(ch)) {
      let j = i;
      if (ch === '"') {
        for (j = i + 1; j < text.length; j++) {
          if (text[j] === '"') {
            if (text[j + 1] === '"') j++;
            else break;
          }
        }
        j++;
      } else {
        while (j < text.length && /[A-Za-z0-9_$\u0080-\uffff]/.test(text[j])) j++;
      }
      // a qualifier is an identifier followed by a dot and another name: drop both
      if (text[j] === '.' && identifierStart(text[j + 1])) i = j + 1;
      else {
        out += text.slice(i, j);
        i = j;
      }
    } else if (/[0-9]/.test(ch)) {
      // a number, 1.5e3 included: its dot is no qualifier
      let j = i;
      while (j < text.length && /[0-9.]/.test(text[j])) j++;
      if (/[eE]/.test(text[j] ?? '') && /[0-9+-]/.test(text[j + 1] ?? '')) {
        j += 2;
        while (j < text.length && /[0-9]/.test(text[j])) j++;
      }
      out += text.slice(i, j);
      i = j;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// comparing (pure)

const KIND_ORDER: readonly CatalogObjectKind[] = ['table', 'column', 'constraint', 'index', 'trigger', 'sequence', 'view'];

interface Entry {
  kind: CatalogObjectKind;
  name: string;
  /** the table it belongs to, for objects that go with a table */
  table?: string;
  definition: string;
}

/** The text each object is compared by: what a person reading the difference needs to see. */
export function catalogEntries(catalog: Catalog): Entry[] {
  const entries: Entry[] = [];
  const columnsOf = new Map<string, CatalogColumn[]>();
  for (const c of catalog.columns) columnsOf.set(c.table, [...(columnsOf.get(c.table) ?? []), c]);

  for (const t of catalog.tables) {
    // the column order is the table's: one difference when it changes, not one per column
    const columns = (columnsOf.get(t.table) ?? []).sort((a, b) => a.position - b.position).map((c) => c.name);
    const parts = [`${t.unlogged ? 'unlogged ' : ''}${t.kind} (${columns.join(', ')})`];
    if (t.partitionKey) parts.push(`PARTITION BY ${t.partitionKey}`);
    if (t.partitionBound) parts.push(`PARTITION OF ${t.parents.join(', ')} ${t.partitionBound}`);
    else if (t.parents.length) parts.push(`INHERITS (${t.parents.join(', ')})`);
    if (t.replicaIdentity !== 'default') parts.push(`REPLICA IDENTITY ${t.replicaIdentity.toUpperCase().replace(/^INDEX /, 'USING INDEX ')}`);
    entries.push({ kind: 'table', name: t.table, definition: parts.join(' ') });
  }
  for (const c of catalog.columns) {
    let definition = c.type;
    if (c.collation) definition += ` COLLATE ${c.collation}`;
    if (c.notNull) definition += ' NOT NULL';
    if (c.identity) definition += ` GENERATED ${c.identity.toUpperCase()} AS IDENTITY`;
    if (c.generated && c.default !== null) definition += ` GENERATED ALWAYS AS (${c.default}) ${c.generated.toUpperCase()}`;
    else if (c.default !== null) definition += ` DEFAULT ${c.default}`;
    entries.push({ kind: 'column', name: `${c.table}.${c.name}`, table: c.table, definition });
  }
  for (const k of catalog.constraints) {
    entries.push({ kind: 'constraint', name: `${k.table}.${k.name}`, table: k.table, definition: k.definition });
  }
  for (const i of catalog.indexes) {
    entries.push({ kind: 'index', name: `${i.table}.${i.name}`, table: i.table, definition: i.definition + (i.valid ? '' : ' (INVALID)') });
  }
  for (const g of catalog.triggers) {
    const state = g.enabled === 'enabled' ? '' : ` (${g.enabled.toUpperCase()})`;
    entries.push({ kind: 'trigger', name: `${g.table}.${g.name}`, table: g.table, definition: g.definition + state });
  }
  for (const s of catalog.sequences) {
    const definition =
      `AS ${s.dataType} START ${s.start} INCREMENT ${s.increment} MINVALUE ${s.min} MAXVALUE ${s.max} ${s.cycle ? 'CYCLE' : 'NO CYCLE'}` +
      (s.ownedBy ? ` OWNED BY ${s.ownedBy}` : '');
    entries.push({ kind: 'sequence', name: s.name, definition });
  }
  for (const v of catalog.views) {
    // see unqualifiedQuery: the text pins the query's shape, the columns what it reads
    const definition = `${v.materialized ? 'MATERIALIZED ' : ''}${unqualifiedQuery(v.definition)} -- reads ${v.reads.join(', ') || 'nothing'}`;
    entries.push({ kind: 'view', name: v.name, definition });
  }
  return entries;
}

/**
 * Source against target: one row per object that is missing on a side or defined
 * differently, ordered by kind (tables first) and then by name. A table found on one side
 * only is one difference: its columns, constraints, indexes and triggers are not listed
 * again one by one.
 */
export function compareCatalogs(source: Catalog, target: Catalog): CatalogDifference[] {
  const key = (e: Entry) => `${e.kind}\u0000${e.name}`;
  const sourceEntries = new Map(catalogEntries(source).map((e) => [key(e), e]));
  const targetEntries = new Map(catalogEntries(target).map((e) => [key(e), e]));
  const sourceTables = new Set(source.tables.map((t) => t.table));
  const targetTables = new Set(target.tables.map((t) => t.table));
  const differences: CatalogDifference[] = [];
  for (const k of new Set([...sourceEntries.keys(), ...targetEntries.keys()])) {
    const s = sourceEntries.get(k);
    const t = targetEntries.get(k);
    const entry = (s ?? t)!;
    if (s && t && s.definition === t.definition) continue;
    if (entry.table !== undefined && (!sourceTables.has(entry.table) || !targetTables.has(entry.table))) continue;
    differences.push({ kind: entry.kind, name: entry.name, source: s?.definition ?? null, target: t?.definition ?? null });
  }
  return differences.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || byCodeUnits(a.name, b.name));
}

/**
 * One line for people: "column public.orders.total: numeric(12,2) on source, numeric on
 * target"; `sides` names the nodes instead of "source" and "target".
 */
export function describeDifference(d: CatalogDifference, sides: { source: string; target: string } = { source: 'source', target: 'target' }): string {
  const what = `${d.kind} ${d.name}`;
  if (d.target === null) return `${what}: only on ${sides.source} (${d.source ?? ''})`;
  if (d.source === null) return `${what}: only on ${sides.target} (${d.target})`;
  return `${what}: ${d.source} on ${sides.source}, ${d.target} on ${sides.target}`;
}
