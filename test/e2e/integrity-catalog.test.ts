// Table integrity and the catalog comparison against real servers of two majors (Debian's 15
// and npm's 17) loaded with the same DDL: the user's tables are listed, the schemas compare
// equal across the majors, the data fingerprints match; then each change made on one side is
// reported.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogSnapshot, compareCatalogs, describeDifference } from '../../harness/checks/catalog.js';
import {
  compareTables,
  countMismatches,
  fingerprintsInTransaction,
  listUserTables,
  sequenceChecks,
  tableFingerprints,
} from '../../harness/checks/integrity.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from './support/throwaway-postgres.js';

const DDL = `
CREATE SCHEMA sales;
CREATE TABLE sales.invoices (
  id      int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  number  text NOT NULL UNIQUE,
  total   numeric(12,2) NOT NULL CHECK (total >= 0),
  issued  date NOT NULL
);
CREATE INDEX invoices_lower_number_idx ON sales.invoices (lower(number));

CREATE TABLE customers (
  email   text NOT NULL,
  region  text NOT NULL,
  name    text,
  UNIQUE (region, email)
);

CREATE TABLE tags (tag text, weight float8);

CREATE TABLE events (
  id    bigint NOT NULL,
  at    date NOT NULL,
  kind  text NOT NULL CHECK (kind <> ''),
  PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE INDEX ON events (kind);

CREATE TABLE "Odd ""name"".x" ("Weird col" text PRIMARY KEY, "select" int);

CREATE FUNCTION sales.stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.number := upper(NEW.number); RETURN NEW; END $$;
CREATE TRIGGER invoices_stamp BEFORE INSERT OR UPDATE ON sales.invoices
  FOR EACH ROW EXECUTE FUNCTION sales.stamp();

CREATE VIEW sales.late_invoices AS SELECT id, number, issued FROM sales.invoices WHERE issued > date '2024-06-01';
CREATE MATERIALIZED VIEW region_counts AS SELECT region, count(*) AS n FROM customers GROUP BY region;

-- not the user's: pgdrill's bookkeeping, and a table an extension owns
CREATE SCHEMA _pgdrill;
CREATE TABLE _pgdrill.probe (id bigserial PRIMARY KEY);
CREATE TABLE extension_member (id int);
ALTER EXTENSION plpgsql ADD TABLE extension_member;
`;

const DATA = `
INSERT INTO sales.invoices (number, total, issued)
  SELECT 'inv-' || g, (g * 37 % 500) + 0.25, date '2024-01-01' + g FROM generate_series(1, 200) g;
INSERT INTO customers SELECT 'c' || g || '@example.test', (ARRAY['eu','us','ap'])[1 + g % 3], 'Customer ' || g FROM generate_series(1, 100) g;
INSERT INTO events SELECT g, date '2024-06-01' + g, 'kind' || g % 4 FROM generate_series(1, 300) g;
INSERT INTO "Odd ""name"".x" VALUES ('a', 1), ('b', 2);
INSERT INTO _pgdrill.probe DEFAULT VALUES;
REFRESH MATERIALIZED VIEW region_counts;
`;

/** The no-key table's rows, duplicates included; each side inserts them in its own order. */
const TAGS = [
  ['red', 1.5],
  ['blue', 0.1],
  ['red', 1.5],
  ['green', null],
  [null, 2.25],
] as const;

async function load(client: pg.Client, tagOrder: 'forward' | 'backward') {
  await client.query(DDL);
  await client.query(DATA);
  const tags = tagOrder === 'forward' ? TAGS : [...TAGS].reverse();
  for (const [tag, weight] of tags) await client.query('INSERT INTO tags VALUES ($1, $2)', [tag, weight]);
  if (tagOrder === 'backward') {
    // and move a row to the end of the heap: physical order is no part of the data
    await client.query(`UPDATE tags SET weight = weight WHERE tag = 'blue'`);
  }
}

describe('integrity and catalog across PostgreSQL 15 and 17', () => {
  let pg15: ThrowawayPostgres;
  let pg17: ThrowawayPostgres;
  let on15: pg.Client;
  let on17: pg.Client;

  const connect = async (server: ThrowawayPostgres) => {
    const client = new pg.Client({ ...server.address, ...server.credentials });
    await client.connect();
    return client;
  };

  beforeAll(async () => {
    pg15 = await startThrowawayPostgres({ version: 15 });
    pg17 = await startThrowawayPostgres({ version: 17 });
    on15 = await connect(pg15);
    on17 = await connect(pg17);
    expect((await on15.query('SHOW server_version_num')).rows[0].server_version_num).toMatch(/^15/);
    expect((await on17.query('SHOW server_version_num')).rows[0].server_version_num).toMatch(/^17/);
    await load(on15, 'forward');
    await load(on17, 'backward');
  });

  afterAll(async () => {
    await on15?.end().catch(() => undefined);
    await on17?.end().catch(() => undefined);
    await Promise.allSettled([pg15?.dispose(), pg17?.dispose()]);
  });

  it('lists every ordinary table of the user, leaf partitions included, with its key', async () => {
    const expected = [
      { table: '"Odd ""name"".x"', key: ['Weird col'] },
      { table: 'customers', key: ['region', 'email'] },
      { table: 'events_2024', key: ['id', 'at'] },
      { table: 'events_2025', key: ['id', 'at'] },
      { table: 'sales.invoices', key: ['id'] },
      { table: 'tags', key: [] },
    ];
    // not: the partitioned parent, the views, the bookkeeping schema, the extension's table
    expect(await listUserTables(on15)).toEqual(expected);
    expect(await listUserTables(on17)).toEqual(expected);
  });

  it('reads the same catalog on 15 and 17 for the same DDL', async () => {
    const [c15, c17] = await Promise.all([catalogSnapshot(on15), catalogSnapshot(on17)]);
    // the comparison below is not vacuous: the catalog holds every kind of object
    expect(c17.tables.map((t) => t.table)).toContain('public.events');
    expect(c17.columns.find((c) => c.table === 'sales.invoices' && c.name === 'id')).toMatchObject({ identity: 'always', position: 1 });
    expect(c17.constraints.map((k) => k.name)).toEqual(expect.arrayContaining(['invoices_total_check', 'events_kind_check', 'customers_region_email_key']));
    expect(c17.indexes.map((i) => i.definition)).toContain('CREATE INDEX invoices_lower_number_idx ON sales.invoices USING btree (lower(number))');
    expect(c17.indexes.map((i) => i.name)).toEqual(expect.arrayContaining(['events_kind_idx', 'events_2024_kind_idx']));
    expect(c17.triggers.map((t) => `${t.table}.${t.name} ${t.enabled}`)).toEqual(['sales.invoices.invoices_stamp enabled']);
    expect(c17.sequences.map((s) => s.ownedBy)).toEqual(['sales.invoices.id']);
    expect(c17.views.map((v) => v.name)).toEqual(['public.region_counts', 'sales.late_invoices']);
    // 15 prints the view's columns qualified, 17 does not: normalised, not reported
    expect(c15.views.find((v) => v.name === 'sales.late_invoices')!.definition).toContain('invoices.issued');
    expect(c17.views.find((v) => v.name === 'sales.late_invoices')!.definition).not.toContain('invoices.issued');
    expect(compareCatalogs(c15, c17).map((d) => describeDifference(d))).toEqual([]);
  });

  it('fingerprints every user table the same on both, the no-key table in another physical order included', async () => {
    const [f15, f17] = await Promise.all([tableFingerprints(on15), tableFingerprints(on17)]);
    const tables = compareTables(f15, f17);
    expect(tables.map((t) => t.table)).toEqual((await listUserTables(on15)).map((t) => t.table));
    expect(tables.filter((t) => !t.match)).toEqual([]);
    expect(f17.get('tags')?.rows).toBe(5);
    expect(f17.get('events_2024')?.rows).toBeGreaterThan(0);
    expect(f17.get('events_2025')?.rows).toBeGreaterThan(0);
  });

  it('checks the sequences of every user schema, not the bookkeeping ones', async () => {
    const checks = await sequenceChecks(on17);
    expect(checks.map((c) => [c.sequence, c.table, c.column, c.ok])).toEqual([['sales.invoices_id_seq', 'sales.invoices', 'id', true]]);
  });

  it('fingerprints a pinned snapshot as it was: a table created later is not in it, one named but absent is left out', async () => {
    const pinned = await connect(pg17);
    try {
      await pinned.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await pinned.query('SELECT 1');
      await on17.query('CREATE TABLE created_later (id int PRIMARY KEY)');
      const atPin = await fingerprintsInTransaction(pinned);
      expect([...atPin.keys()]).not.toContain('created_later');
      expect(atPin.size).toBe(6);
      const named = await fingerprintsInTransaction(pinned, [{ table: 'sales.no_such_table', key: [] }]);
      expect(named.size).toBe(0);
      await pinned.query('ROLLBACK');
    } finally {
      await pinned.end();
      await on17.query('DROP TABLE created_later');
    }
  });

  it('reports a changed row of the no-key table as a hash mismatch, and matches again once it is changed back', async () => {
    await on17.query(`UPDATE tags SET weight = 9 WHERE tag = 'blue'`);
    let tables = compareTables(await tableFingerprints(on15), await tableFingerprints(on17));
    expect(tables.filter((t) => !t.match).map((t) => t.table)).toEqual(['tags']);
    expect(countMismatches(tables)).toEqual({ rowCountMismatches: 0, hashMismatches: 1 });

    await on17.query(`UPDATE tags SET weight = 0.1 WHERE tag = 'blue'`);
    tables = compareTables(await tableFingerprints(on15), await tableFingerprints(on17));
    expect(tables.every((t) => t.match)).toBe(true);
  });

  it('reports a column type change, a dropped index and an extra row in the no-key table made on one side', async () => {
    await on17.query('ALTER TABLE sales.invoices ALTER COLUMN total TYPE numeric');
    await on17.query('DROP INDEX sales.invoices_lower_number_idx');
    await on17.query(`INSERT INTO tags VALUES ('red', 1.5)`);

    const differences = compareCatalogs(await catalogSnapshot(on15), await catalogSnapshot(on17));
    expect(differences.map((d) => describeDifference(d, { source: 'pg15', target: 'pg17' }))).toEqual([
      'column sales.invoices.total: numeric(12,2) NOT NULL on pg15, numeric NOT NULL on pg17',
      'index sales.invoices.invoices_lower_number_idx: only on pg15 (CREATE INDEX invoices_lower_number_idx ON sales.invoices USING btree (lower(number)))',
    ]);

    const tables = compareTables(await tableFingerprints(on15), await tableFingerprints(on17));
    expect(tables.find((t) => t.table === 'tags')).toMatchObject({ sourceRows: 5, targetRows: 6, match: false });
    expect(countMismatches(tables).rowCountMismatches).toBe(1);
  });
});
