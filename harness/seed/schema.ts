// The default schema every scenario seeds: a small shop with the features that break
// migrations in real life (foreign keys, sequences, JSONB, a trigger writing an audit log).
// Rows the workload writes carry `version` (bumped on every update) and `request_id` (a
// client-generated uuid), so the write ledger can be checked against the final primary.

import type pg from 'pg';
import type { SeedConfig } from '../scenario/scenario.js';

/** Tables in dependency order, with their primary key column. */
export const SEED_TABLES = [
  { table: 'users', key: 'id' },
  { table: 'products', key: 'id' },
  { table: 'orders', key: 'id' },
  { table: 'order_items', key: 'id' },
  { table: 'audit_log', key: 'id' },
] as const;

/**
 * pgdrill's own bookkeeping lives in a schema of its own, so integrity (every user table) can
 * leave it out and an external database can be cleaned of it. Not "pgdrill": the superuser is
 * called pgdrill, and "$user" comes first in the default search_path, so a schema of that name
 * would swallow the user's unqualified CREATE TABLEs.
 */
export const BOOKKEEPING_SCHEMA = '_pgdrill';

/** The probe's own table: one tiny row per probe write, stamped by the server's clock. */
export const PROBE_TABLE = `${BOOKKEEPING_SCHEMA}.probe`;

/**
 * The exact write ledger on the server: every workload write inserts its request id here in
 * the same statement (so the same transaction) as the write itself. Present on the final
 * primary = committed there; absent = not (Jepsen's set of committed ids).
 */
export const LEDGER_TABLE = `${BOOKKEEPING_SCHEMA}.ledger`;

export const ALL_TABLES = [...SEED_TABLES.map((t) => t.table), PROBE_TABLE];

/**
 * The seed's tables with their keys, in the shape of checks/integrity's TableRef.
 * @deprecated integrity covers every user table now (listUserTables); kept until
 * run/verify.ts stops importing it.
 */
export const INTEGRITY_TABLES: { table: string; key: string[] }[] = SEED_TABLES.map((t) => ({ table: t.table, key: [t.key] }));

/**
 * pgdrill's bookkeeping, whatever the seed: the probe's table and the ledger. IF NOT EXISTS so
 * that a dump of an earlier drill's database (which holds them) loads as well. `row_key` is the
 * key (as text) of the row a script's write touched, so a write whose answer was lost can still
 * be followed to its row.
 */
export const BOOKKEEPING_SQL = `
CREATE SCHEMA IF NOT EXISTS ${BOOKKEEPING_SCHEMA};
CREATE TABLE IF NOT EXISTS ${PROBE_TABLE} (
  id           bigserial PRIMARY KEY,
  server_time  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS ${LEDGER_TABLE} (
  request_id   uuid PRIMARY KEY,
  row_key      text
);
ALTER TABLE ${LEDGER_TABLE} ADD COLUMN IF NOT EXISTS row_key text;
`;

export const SCHEMA_SQL = `
CREATE TABLE users (
  id          bigserial PRIMARY KEY,
  email       text NOT NULL UNIQUE,
  name        text NOT NULL,
  profile     jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  version     integer NOT NULL DEFAULT 1,
  request_id  uuid
);

CREATE TABLE products (
  id          bigserial PRIMARY KEY,
  sku         text NOT NULL UNIQUE,
  name        text NOT NULL,
  price       numeric(10,2) NOT NULL CHECK (price >= 0),
  stock       integer NOT NULL,
  attributes  jsonb NOT NULL DEFAULT '{}'::jsonb,
  version     integer NOT NULL DEFAULT 1,
  request_id  uuid
);

CREATE TABLE orders (
  id          bigserial PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES users(id),
  status      text NOT NULL DEFAULT 'new',
  total       numeric(12,2) NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now(),
  version     integer NOT NULL DEFAULT 1,
  request_id  uuid UNIQUE
);
CREATE INDEX orders_user_id_idx ON orders (user_id);

CREATE TABLE order_items (
  id          bigserial PRIMARY KEY,
  order_id    bigint NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  product_id  bigint NOT NULL REFERENCES products(id),
  quantity    integer NOT NULL CHECK (quantity > 0),
  unit_price  numeric(10,2) NOT NULL
);
CREATE INDEX order_items_order_id_idx ON order_items (order_id);

CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  table_name  text NOT NULL,
  row_id      bigint NOT NULL,
  action      text NOT NULL,
  payload     jsonb,
  logged_at   timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION audit_orders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO audit_log (table_name, row_id, action, payload)
    VALUES ('orders', OLD.id, TG_OP, jsonb_build_object('status', OLD.status));
    RETURN OLD;
  END IF;
  INSERT INTO audit_log (table_name, row_id, action, payload)
  VALUES ('orders', NEW.id, TG_OP, jsonb_build_object('status', NEW.status, 'version', NEW.version));
  RETURN NEW;
END $$;

CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE OR DELETE ON orders
  FOR EACH ROW EXECUTE FUNCTION audit_orders();

${BOOKKEEPING_SQL}`;

/**
 * Seed rows generated on the server with generate_series: one statement per table, no
 * per-row round trips, and deterministic content (hash-derived, not random()) so that two
 * runs of the same scenario seed the same data.
 */
export function seedStatements(seed: SeedConfig): string[] {
  const { users, products, orders, itemsPerOrder } = seed;
  return [
    `INSERT INTO users (email, name, profile)
     SELECT 'user' || g || '@example.test', 'User ' || g,
            jsonb_build_object('tier', (ARRAY['free','pro','team'])[1 + g % 3], 'signup', g)
     FROM generate_series(1, ${users}) AS g`,
    `INSERT INTO products (sku, name, price, stock, attributes)
     SELECT 'SKU-' || lpad(g::text, 6, '0'), 'Product ' || g, ((g * 37) % 10000) / 100.0 + 1,
            100 + (g * 13) % 900, jsonb_build_object('color', (ARRAY['red','green','blue'])[1 + g % 3])
     FROM generate_series(1, ${products}) AS g`,
    `INSERT INTO orders (user_id, status, total)
     SELECT 1 + (g::bigint * 7919) % ${users}, (ARRAY['new','paid','shipped'])[1 + g % 3], 0
     FROM generate_series(1, ${orders}) AS g`,
    `INSERT INTO order_items (order_id, product_id, quantity, unit_price)
     SELECT o, 1 + ((o * 31 + i * 17) % ${products}), 1 + (o + i) % 5, 9.99
     FROM generate_series(1, ${orders}) AS o, generate_series(1, ${itemsPerOrder}) AS i
     WHERE i <= 1 + (o % ${itemsPerOrder})`,
    `UPDATE orders o SET total = s.total
     FROM (SELECT order_id, sum(quantity * unit_price) AS total FROM order_items GROUP BY order_id) s
     WHERE s.order_id = o.id`,
    // the UPDATE above fired the audit trigger once per order: keep the log, it is real history
    `ANALYZE`,
  ];
}

/** Creates the schema and seeds it. Returns the row count per table. */
export async function seedDatabase(client: pg.Client, seed: SeedConfig): Promise<Record<string, number>> {
  await client.query(SCHEMA_SQL);
  for (const statement of seedStatements(seed)) await client.query(statement);
  const counts: Record<string, number> = {};
  for (const table of ALL_TABLES) {
    const { rows } = await client.query(`SELECT count(*)::bigint AS n FROM ${table}`);
    counts[table] = Number(rows[0].n);
  }
  return counts;
}
