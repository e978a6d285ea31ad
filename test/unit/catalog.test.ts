// compareCatalogs and describeDifference over crafted catalogs: every kind of difference is
// shown both ways, equal where it must be equal and reported where it must not.

import { describe, expect, it } from 'vitest';
import {
  catalogEntries,
  compareCatalogs,
  describeDifference,
  unqualifiedQuery,
  type Catalog,
  type CatalogDifference,
} from '../../harness/checks/catalog.js';

/** A small shop schema as catalogSnapshot reads it; every call returns a fresh copy. */
function shop(): Catalog {
  return {
    tables: [
      { table: 'public.orders', kind: 'table', unlogged: false, partitionKey: null, partitionBound: null, parents: [], replicaIdentity: 'default' },
      { table: 'public.events', kind: 'partitioned table', unlogged: false, partitionKey: 'RANGE (at)', partitionBound: null, parents: [], replicaIdentity: 'default' },
      {
        table: 'public.events_2024',
        kind: 'table',
        unlogged: false,
        partitionKey: null,
        partitionBound: "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
        parents: ['public.events'],
        replicaIdentity: 'default',
      },
      { table: 'sales."Odd name"', kind: 'table', unlogged: false, partitionKey: null, partitionBound: null, parents: [], replicaIdentity: 'full' },
    ],
    columns: [
      { table: 'public.orders', name: 'id', position: 1, type: 'integer', notNull: true, default: null, identity: 'always', generated: null, collation: null },
      { table: 'public.orders', name: 'total', position: 2, type: 'numeric(12,2)', notNull: true, default: '0', identity: null, generated: null, collation: null },
      { table: 'public.orders', name: 'status', position: 3, type: 'text', notNull: true, default: "'new'::text", identity: null, generated: null, collation: null },
      { table: 'public.events', name: 'at', position: 1, type: 'date', notNull: true, default: null, identity: null, generated: null, collation: null },
      { table: 'public.events_2024', name: 'at', position: 1, type: 'date', notNull: true, default: null, identity: null, generated: null, collation: null },
      { table: 'sales."Odd name"', name: '"Weird col"', position: 1, type: 'text', notNull: false, default: null, identity: null, generated: null, collation: '"C"' },
    ],
    constraints: [
      { table: 'public.orders', name: 'orders_pkey', type: 'primary key', definition: 'PRIMARY KEY (id)' },
      { table: 'public.orders', name: 'orders_total_check', type: 'check', definition: 'CHECK ((total >= (0)::numeric))' },
    ],
    indexes: [
      { table: 'public.orders', name: 'orders_pkey', definition: 'CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)', valid: true },
      { table: 'public.orders', name: 'orders_status_idx', definition: 'CREATE INDEX orders_status_idx ON public.orders USING btree (lower(status))', valid: true },
    ],
    triggers: [
      {
        table: 'public.orders',
        name: 'orders_audit',
        definition: 'CREATE TRIGGER orders_audit AFTER INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION public.audit()',
        enabled: 'enabled',
      },
    ],
    sequences: [
      { name: 'public.orders_id_seq', dataType: 'integer', start: '1', increment: '1', min: '1', max: '2147483647', cycle: false, ownedBy: 'public.orders.id' },
    ],
    views: [
      {
        name: 'public.open_orders',
        materialized: false,
        definition: "SELECT orders.id, orders.total FROM public.orders WHERE (orders.status = 'new'::text);",
        reads: ['public.orders.id', 'public.orders.status', 'public.orders.total'],
      },
    ],
  };
}

function only(differences: CatalogDifference[]): CatalogDifference {
  expect(differences).toHaveLength(1);
  return differences[0];
}

describe('compareCatalogs', () => {
  it('finds nothing when both sides hold the same schema, listed in another order', () => {
    const target = shop();
    target.columns.reverse();
    target.indexes.reverse();
    target.tables.reverse();
    expect(compareCatalogs(shop(), target)).toEqual([]);
  });

  it('reports a column whose type changed, with both definitions', () => {
    const target = shop();
    target.columns[1].type = 'numeric';
    const d = only(compareCatalogs(shop(), target));
    expect(d).toEqual({ kind: 'column', name: 'public.orders.total', source: 'numeric(12,2) NOT NULL DEFAULT 0', target: 'numeric NOT NULL DEFAULT 0' });
    expect(describeDifference(d)).toBe('column public.orders.total: numeric(12,2) NOT NULL DEFAULT 0 on source, numeric NOT NULL DEFAULT 0 on target');
  });

  it('reports a dropped index as missing on the target', () => {
    const target = shop();
    target.indexes = target.indexes.filter((i) => i.name !== 'orders_status_idx');
    const d = only(compareCatalogs(shop(), target));
    expect(d).toMatchObject({ kind: 'index', name: 'public.orders.orders_status_idx', target: null });
    expect(d.source).toContain('lower(status)');
    expect(describeDifference(d, { source: 'blue', target: 'green' })).toBe(
      'index public.orders.orders_status_idx: only on blue (CREATE INDEX orders_status_idx ON public.orders USING btree (lower(status)))',
    );
  });

  it('reports an index left invalid by a failed concurrent build', () => {
    const target = shop();
    target.indexes[1].valid = false;
    expect(only(compareCatalogs(shop(), target)).target).toMatch(/\(INVALID\)$/);
  });

  it('reports a trigger missing on the target, and one disabled there', () => {
    const missing = shop();
    missing.triggers = [];
    expect(only(compareCatalogs(shop(), missing))).toMatchObject({ kind: 'trigger', name: 'public.orders.orders_audit', target: null });

    const disabled = shop();
    disabled.triggers[0].enabled = 'disabled';
    expect(only(compareCatalogs(shop(), disabled)).target).toMatch(/\(DISABLED\)$/);
  });

  it('reports a constraint whose definition changed', () => {
    const target = shop();
    target.constraints[1].definition = 'CHECK ((total > (0)::numeric))';
    expect(only(compareCatalogs(shop(), target))).toEqual({
      kind: 'constraint',
      name: 'public.orders.orders_total_check',
      source: 'CHECK ((total >= (0)::numeric))',
      target: 'CHECK ((total > (0)::numeric))',
    });
  });

  it('reports a constraint the server named differently (generated names are schema too)', () => {
    const target = shop();
    target.constraints[1].name = 'orders_total_check1';
    const differences = compareCatalogs(shop(), target);
    expect(differences.map((d) => [d.name, d.source === null, d.target === null])).toEqual([
      ['public.orders.orders_total_check', false, true],
      ['public.orders.orders_total_check1', true, false],
    ]);
  });

  it('reports a table on one side only once, not once per column, index and trigger', () => {
    const target = shop();
    target.tables = target.tables.filter((t) => t.table !== 'public.orders');
    target.columns = target.columns.filter((c) => c.table !== 'public.orders');
    target.constraints = [];
    target.indexes = [];
    target.triggers = [];
    expect(compareCatalogs(shop(), target)).toEqual([{ kind: 'table', name: 'public.orders', source: 'table (id, total, status)', target: null }]);
    // the other way round: a table only on the target
    expect(compareCatalogs(target, shop())).toEqual([{ kind: 'table', name: 'public.orders', source: null, target: 'table (id, total, status)' }]);
  });

  it('reports a change of column order once, on the table', () => {
    const target = shop();
    target.columns[1].position = 3;
    target.columns[2].position = 2;
    expect(only(compareCatalogs(shop(), target))).toEqual({
      kind: 'table',
      name: 'public.orders',
      source: 'table (id, total, status)',
      target: 'table (id, status, total)',
    });
  });

  it('reports partitioning, inheritance and replica identity changes on the table', () => {
    const target = shop();
    target.tables[2].partitionBound = "FOR VALUES FROM ('2024-01-01') TO ('2024-07-01')";
    target.tables[3].replicaIdentity = 'default';
    expect(compareCatalogs(shop(), target).map((d) => [d.name, d.source, d.target])).toEqual([
      [
        'public.events_2024',
        "table (at) PARTITION OF public.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
        "table (at) PARTITION OF public.events FOR VALUES FROM ('2024-01-01') TO ('2024-07-01')",
      ],
      ['sales."Odd name"', 'table ("Weird col") REPLICA IDENTITY FULL', 'table ("Weird col")'],
    ]);
  });

  it('reports a sequence whose bounds changed, never its current value (the catalog holds none)', () => {
    const target = shop();
    target.sequences[0].dataType = 'bigint';
    target.sequences[0].max = '9223372036854775807';
    const d = only(compareCatalogs(shop(), target));
    expect(d.kind).toBe('sequence');
    expect(d.target).toBe('AS bigint START 1 INCREMENT 1 MINVALUE 1 MAXVALUE 9223372036854775807 NO CYCLE OWNED BY public.orders.id');
  });

  it('takes a view printed without qualifiers (16+) as the one printed with them (13-15), but not a view reading another column', () => {
    const printedBy17 = shop();
    printedBy17.views[0].definition = "SELECT id, total FROM public.orders WHERE (status = 'new'::text);";
    expect(compareCatalogs(shop(), printedBy17)).toEqual([]);

    const changed = shop();
    changed.views[0].definition = "SELECT id, total FROM public.orders WHERE (status = 'paid'::text);";
    expect(only(compareCatalogs(shop(), changed)).kind).toBe('view');

    const readsOther = shop();
    readsOther.views[0].reads = ['public.orders.id', 'public.orders.status', 'public.refunds.total'];
    expect(only(compareCatalogs(shop(), readsOther)).target).toContain('-- reads public.orders.id, public.orders.status, public.refunds.total');
  });

  it('orders differences by kind, then by name', () => {
    const target = shop();
    target.views = [];
    target.sequences = [];
    target.triggers = [];
    target.indexes = [];
    target.constraints = [];
    target.columns[0].type = 'bigint';
    target.tables[3].unlogged = true;
    expect(compareCatalogs(shop(), target).map((d) => `${d.kind} ${d.name}`)).toEqual([
      'table sales."Odd name"',
      'column public.orders.id',
      'constraint public.orders.orders_pkey',
      'constraint public.orders.orders_total_check',
      'index public.orders.orders_pkey',
      'index public.orders.orders_status_idx',
      'trigger public.orders.orders_audit',
      'sequence public.orders_id_seq',
      'view public.open_orders',
    ]);
  });
});

describe('catalogEntries', () => {
  it('prints identity, generated columns, defaults and collations as DDL reads', () => {
    const catalog = shop();
    catalog.columns.push({
      table: 'public.orders',
      name: 'doubled',
      position: 4,
      type: 'numeric',
      notNull: false,
      default: '(total * (2)::numeric)',
      identity: null,
      generated: 'stored',
      collation: null,
    });
    const byName = new Map(catalogEntries(catalog).map((e) => [e.name, e.definition]));
    expect(byName.get('public.orders.id')).toBe('integer NOT NULL GENERATED ALWAYS AS IDENTITY');
    expect(byName.get('public.orders.status')).toBe("text NOT NULL DEFAULT 'new'::text");
    expect(byName.get('public.orders.doubled')).toBe('numeric GENERATED ALWAYS AS ((total * (2)::numeric)) STORED');
    expect(byName.get('sales."Odd name"."Weird col"')).toBe('text COLLATE "C"');
    expect(byName.get('public.events')).toBe('partitioned table (at) PARTITION BY RANGE (at)');
  });
});

describe('unqualifiedQuery', () => {
  it('drops qualifiers of relations, columns and quoted names', () => {
    expect(unqualifiedQuery('SELECT orders.id, "Odd name"."Weird col", o.* FROM public.orders JOIN sales."Odd name" USING (id)')).toBe(
      'SELECT id, "Weird col", * FROM orders JOIN "Odd name" USING (id)',
    );
  });

  it('leaves string literals, numbers and casts alone', () => {
    expect(unqualifiedQuery("SELECT 'a.b' AS x, 1.5e3, 2.0::numeric, E'it\\'s t.x', 'it''s t.x' FROM t")).toBe(
      "SELECT 'a.b' AS x, 1.5e3, 2.0::numeric, E'it\\'s t.x', 'it''s t.x' FROM t",
    );
  });

  it('collapses the layout pg_get_viewdef prints', () => {
    expect(unqualifiedQuery(' SELECT orders.id,\n    orders.total\n   FROM orders;')).toBe('SELECT id, total FROM orders;');
  });
});
