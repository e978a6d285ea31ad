// The write operations (insert / update / delete over the seed schema) and the client-side
// knowledge they need: which orders exist, and the last version seen of each touched row,
// so every op leaves a ledger entry precise enough to check against the final primary.

import { randomUUID } from 'node:crypto';
import type { OpKind } from '../record/records.js';
import type { SeedConfig, WriteMix } from '../scenario/scenario.js';
import type { OpResult, ScheduledOp } from './open-loop.js';
import type { QueryOutcome, QueryRequest } from './reconnecting-client.js';
import { LEDGER_TABLE } from '../seed/schema.js';
import { IntMap } from '../util/int-map.js';

/** Anything that can run one statement with a verdict (a ReconnectingClient, or a fake). */
export interface StatementRunner {
  query(request: QueryRequest, timeoutMs: number, signal?: AbortSignal): Promise<QueryOutcome>;
}

/**
 * A set with O(1) add, remove and uniform random pick: the ids of orders known to exist.
 * Compact (a typed array of ids and an IntMap of positions, ~12 bytes per id): the pool
 * grows with the orders table over a long run.
 */
export class IdPool {
  private ids = new Float64Array(1024);
  private length = 0;
  private readonly index = new IntMap();

  constructor(initial: Iterable<number> = []) {
    for (const id of initial) this.add(id);
  }

  get size(): number {
    return this.length;
  }

  has(id: number): boolean {
    return this.index.has(id);
  }

  add(id: number): void {
    if (this.index.has(id)) return;
    if (this.length === this.ids.length) {
      const bigger = new Float64Array(this.ids.length * 2);
      bigger.set(this.ids);
      this.ids = bigger;
    }
    this.index.set(id, this.length);
    this.ids[this.length++] = id;
  }

  remove(id: number): boolean {
    const at = this.index.get(id);
    if (at === undefined) return false;
    const last = this.ids[--this.length];
    if (last !== id) {
      this.ids[at] = last;
      this.index.set(last, at);
    }
    this.index.delete(id);
    return true;
  }

  /** a random member, left in the pool */
  pick(random: () => number = Math.random): number | undefined {
    if (this.length === 0) return undefined;
    return this.ids[Math.floor(random() * this.length)];
  }

  /** a random member, taken out of the pool */
  take(random: () => number = Math.random): number | undefined {
    const id = this.pick(random);
    if (id !== undefined) this.remove(id);
    return id;
  }
}

/**
 * The last version acknowledged per row, absent = the seed's 1, null = unknown. Per table
 * an IntMap (4 bytes per key up to the largest), -1 standing for null: an entry per order
 * ever inserted must not cost a string key each over a long run.
 */
class RowVersions {
  private readonly tables = new Map<string, IntMap>();

  private table(name: string): IntMap {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = new IntMap()));
    return t;
  }

  has(table: string, key: number): boolean {
    return this.table(table).has(key);
  }

  get(table: string, key: number): number | null | undefined {
    const v = this.table(table).get(key);
    return v === -1 ? null : v;
  }

  set(table: string, key: number, version: number | null): void {
    this.table(table).set(key, version === null || !Number.isSafeInteger(version) || version < 0 || version > 2 ** 31 - 1 ? -1 : version);
  }

  delete(table: string, key: number): void {
    this.table(table).delete(key);
  }
}

/** Picks insert / update / delete by the mix's relative weights. */
export function mixPlanner(mix: WriteMix, random: () => number = Math.random): () => OpKind {
  const total = mix.insert + mix.update + mix.delete;
  if (!(total > 0)) throw new Error('workload.writes.mix: the weights add up to 0; give insert, update or delete a positive weight');
  return () => {
    const r = random() * total;
    if (r < mix.insert) return 'insert';
    if (r < mix.insert + mix.update) return 'update';
    return 'delete';
  };
}

const INSERT_ORDER: QueryRequest = {
  name: 'pgdrill_insert_order',
  // One statement, so it commits or not as a whole: the order, its items and (through the
  // trigger) its audit row. The total is computed from the products' prices on the server.
  text: `WITH items AS (
    SELECT i.product_id, i.quantity, p.price
    FROM unnest($3::bigint[], $4::int[]) AS i(product_id, quantity)
    JOIN products p ON p.id = i.product_id
  ), o AS (
    INSERT INTO orders (user_id, status, total, request_id)
    SELECT $1, 'new', coalesce(sum(quantity * price), 0), $2::uuid FROM items
    RETURNING id, version
  ), ins AS (
    INSERT INTO order_items (order_id, product_id, quantity, unit_price)
    SELECT o.id, items.product_id, items.quantity, items.price FROM o, items
    RETURNING 1
  ), ${ledgerInsert('$2', 'o')}
  SELECT id, version FROM o`,
};

/**
 * The ledger's half of every write: the request id goes into the server's ledger table in the
 * same statement, hence the same transaction, and only when the write wrote a row (`FROM w`),
 * so the table holds exactly the writes that committed. A CTE, not a second statement: no
 * extra round trip, and the user's own statements can be wrapped the same way.
 */
function ledgerInsert(requestIdParam: string, written: string): string {
  return `pgdrill_ledger AS (INSERT INTO ${LEDGER_TABLE} (request_id) SELECT ${requestIdParam}::uuid FROM ${written})`;
}

/** An UPDATE or DELETE ... RETURNING id, version with its ledger insert. */
function withLedger(statement: string, requestIdParam: string): string {
  return `WITH w AS (${statement}), ${ledgerInsert(requestIdParam, 'w')} SELECT id, version FROM w`;
}

const UPDATE_ORDER = {
  name: 'pgdrill_update_order',
  text: withLedger(
    `UPDATE orders SET version = version + 1, status = $2, total = greatest(0, total + $3::numeric),
           request_id = $4::uuid
         WHERE id = $1 RETURNING id, version`,
    '$4',
  ),
};

const UPDATE_PRODUCT = {
  name: 'pgdrill_update_product',
  text: withLedger(
    `UPDATE products SET version = version + 1, stock = greatest(0, stock + $2::int),
           price = round(price * $3::numeric, 2), request_id = $4::uuid
         WHERE id = $1 RETURNING id, version`,
    '$4',
  ),
};

const UPDATE_USER = {
  name: 'pgdrill_update_user',
  text: withLedger(
    `UPDATE users SET version = version + 1,
           profile = profile || jsonb_build_object('visits', coalesce((profile->>'visits')::int, 0) + 1,
                                                   'lastSeen', now(), 'theme', $2::text),
           request_id = $3::uuid
         WHERE id = $1 RETURNING id, version`,
    '$3',
  ),
};

const DELETE_ORDER = {
  name: 'pgdrill_delete_order',
  text: withLedger(`DELETE FROM orders WHERE id = $1 RETURNING id, version`, '$2'),
};

const ORDER_STATUSES = ['paid', 'shipped', 'delivered', 'cancelled'];
const THEMES = ['light', 'dark', 'system'];
type UpdateTable = 'orders' | 'products' | 'users';
const UPDATE_ROTATION: UpdateTable[] = ['orders', 'products', 'users'];

export interface WriteOpsOptions {
  seed: SeedConfig;
  /** one statement runner per connection slot */
  runners: StatementRunner[];
  random?: () => number;
}

/**
 * The write executor. Choices made here, so the ledger stays checkable:
 * - an update that finds no row (its order was deleted concurrently) is `ok` with NO ledger
 *   entry: nothing was written, and retrying another id would change the op's timing;
 * - a delete whose outcome is unknown takes its order out of play for good (it may be
 *   gone), so no later op writes a row the ledger cannot reason about;
 * - failed ops carry the ledger entry they intended (key 0 for an insert), marked by
 *   their outcome: the checker only counts `ok` ones as acknowledged.
 */
export class WriteOps {
  /** orders known to exist: the seed's plus acknowledged inserts, minus deletes in flight or done */
  readonly orders: IdPool;
  /** table, id -> last version acknowledged; absent = the seed's 1; null = unknown */
  private readonly versions = new RowVersions();
  /** `table:id` -> ops in flight on that row */
  private readonly busy = new Map<string, number>();
  private readonly random: () => number;
  private rotation = 0;

  constructor(private readonly options: WriteOpsOptions) {
    this.random = options.random ?? Math.random;
    const ids: number[] = [];
    for (let id = 1; id <= options.seed.orders; id++) ids.push(id);
    this.orders = new IdPool(ids);
  }

  /** The OpExecutor for the open-loop scheduler. */
  readonly execute = async (op: ScheduledOp): Promise<OpResult> => {
    const runner = this.options.runners[op.slot];
    switch (op.kind) {
      case 'insert':
        return this.insert(runner, op);
      case 'update':
        return this.update(runner, op);
      case 'delete':
        return this.delete(runner, op);
      default:
        throw new Error(`write executor got a ${op.kind} op`);
    }
  };

  private randomInt(max: number): number {
    return 1 + Math.floor(this.random() * max);
  }

  private async insert(runner: StatementRunner, op: ScheduledOp): Promise<OpResult> {
    const requestId = randomUUID();
    const { users, products } = this.options.seed;
    const n = 1 + Math.floor(this.random() * 3);
    const productIds: number[] = [];
    const quantities: number[] = [];
    for (let i = 0; i < n; i++) {
      productIds.push(this.randomInt(products));
      quantities.push(this.randomInt(5));
    }
    const result = await runner.query(
      { ...INSERT_ORDER, values: [this.randomInt(users), requestId, productIds, quantities] },
      op.timeoutMs,
      op.signal,
    );
    if (result.outcome === 'ok') {
      const row = result.rows[0];
      const key = Number(row.id);
      const version = Number(row.version);
      this.orders.add(key);
      this.versions.set('orders', key, version);
      return { outcome: 'ok', kind: 'insert', ledger: { table: 'orders', key, op: 'insert', version, requestId } };
    }
    // key unknown: the checker finds an indeterminate insert by its request_id
    return { ...result, kind: 'insert', ledger: { table: 'orders', key: 0, op: 'insert', version: 1, requestId } };
  }

  private async update(runner: StatementRunner, op: ScheduledOp): Promise<OpResult> {
    const table = UPDATE_ROTATION[this.rotation++ % UPDATE_ROTATION.length];
    let key: number | undefined;
    if (table === 'orders') key = this.orders.pick(this.random);
    else if (table === 'products') key = this.randomInt(this.options.seed.products);
    else key = this.randomInt(this.options.seed.users);
    if (key === undefined) return this.insert(runner, op); // every order was deleted: write something anyway

    const requestId = randomUUID();
    let request: QueryRequest;
    if (table === 'orders') {
      const status = ORDER_STATUSES[Math.floor(this.random() * ORDER_STATUSES.length)];
      const delta = (Math.round(this.random() * 2000) - 1000) / 100;
      request = { ...UPDATE_ORDER, values: [key, status, delta, requestId] };
    } else if (table === 'products') {
      const stock = Math.floor(this.random() * 21) - 10;
      const factor = (0.95 + this.random() * 0.1).toFixed(4);
      request = { ...UPDATE_PRODUCT, values: [key, stock, factor, requestId] };
    } else {
      const theme = THEMES[Math.floor(this.random() * THEMES.length)];
      request = { ...UPDATE_USER, values: [key, theme, requestId] };
    }

    const rowKey = `${table}:${key}`;
    const expected = this.expectedVersion(table, key, rowKey);
    this.busy.set(rowKey, (this.busy.get(rowKey) ?? 0) + 1);
    let result: QueryOutcome;
    try {
      result = await runner.query(request, op.timeoutMs, op.signal);
    } finally {
      const left = (this.busy.get(rowKey) ?? 1) - 1;
      if (left > 0) this.busy.set(rowKey, left);
      else this.busy.delete(rowKey);
    }

    if (result.outcome === 'ok') {
      const row = result.rows[0];
      if (!row) return { outcome: 'ok', kind: 'update' }; // deleted under us: nothing written
      const version = Number(row.version);
      this.versions.set(table, key, version);
      return { outcome: 'ok', kind: 'update', ledger: { table, key, op: 'update', version, requestId } };
    }
    if (result.outcome === 'indeterminate') this.versions.set(table, key, null);
    return { ...result, kind: 'update', ledger: { table, key, op: 'update', version: expected, requestId } };
  }

  /** The version this update should produce, or 0 when another op or a lost answer blurs it. */
  private expectedVersion(table: string, key: number, rowKey: string): number {
    if (this.busy.has(rowKey)) return 0;
    const known = this.versions.has(table, key) ? this.versions.get(table, key) : 1;
    return known == null ? 0 : known + 1;
  }

  private async delete(runner: StatementRunner, op: ScheduledOp): Promise<OpResult> {
    // taken out before the statement is sent, so no two deletes race for one order and no
    // new update picks a row that is going away
    const key = this.orders.take(this.random);
    if (key === undefined) return this.insert(runner, op);
    const rowKey = `orders:${key}`;
    const requestId = randomUUID();
    const known = this.versions.has('orders', key) ? this.versions.get('orders', key) : 1;
    const result = await runner.query({ ...DELETE_ORDER, values: [key, requestId] }, op.timeoutMs, op.signal);
    if (result.outcome === 'ok') {
      this.versions.delete('orders', key);
      const row = result.rows[0];
      if (!row) return { outcome: 'ok', kind: 'delete' }; // already gone: nothing written
      return { outcome: 'ok', kind: 'delete', ledger: { table: 'orders', key, op: 'delete', version: Number(row.version), requestId } };
    }
    if (result.outcome === 'failed') this.orders.add(key); // it is still there
    const version = known == null || this.busy.has(rowKey) ? 0 : known;
    return { ...result, kind: 'delete', ledger: { table: 'orders', key, op: 'delete', version, requestId } };
  }
}
