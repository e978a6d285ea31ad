// The read operations: mostly point lookups of an order with its items, some small
// aggregates, run on their own connections by the same open-loop scheduler (stream 'read').

import type { SeedConfig } from '../scenario/scenario.js';
import type { OpResult, ScheduledOp } from './open-loop.js';
import type { QueryRequest } from './reconnecting-client.js';
import type { IdPool, StatementRunner } from './write-ops.js';

const ORDER_WITH_ITEMS: QueryRequest = {
  name: 'pgdrill_read_order',
  text: `SELECT o.id, o.status, o.total, o.version,
           coalesce(json_agg(json_build_object('product', i.product_id, 'quantity', i.quantity))
                    FILTER (WHERE i.id IS NOT NULL), '[]') AS items
         FROM orders o LEFT JOIN order_items i ON i.order_id = o.id
         WHERE o.id = $1 GROUP BY o.id`,
};

const USER_ORDER_SUMMARY: QueryRequest = {
  name: 'pgdrill_read_user_summary',
  text: `SELECT status, count(*) AS orders, sum(total) AS total FROM orders WHERE user_id = $1 GROUP BY status`,
};

export interface ReadOpsOptions {
  seed: SeedConfig;
  runners: StatementRunner[];
  /** orders known to exist (shared with the writes); absent = the seed's ids */
  orders?: IdPool;
  /** share of point lookups; the rest are aggregates; default 0.8 */
  pointShare?: number;
  random?: () => number;
}

/** The read executor. A lookup that finds nothing (deleted meanwhile) is still ok. */
export function readExecutor(options: ReadOpsOptions): (op: ScheduledOp) => Promise<OpResult> {
  const random = options.random ?? Math.random;
  const pointShare = options.pointShare ?? 0.8;
  const { seed } = options;
  return async (op) => {
    const runner = options.runners[op.slot];
    let request: QueryRequest;
    if (random() < pointShare) {
      const id = options.orders?.pick(random) ?? 1 + Math.floor(random() * Math.max(1, seed.orders));
      request = { ...ORDER_WITH_ITEMS, values: [id] };
    } else {
      request = { ...USER_ORDER_SUMMARY, values: [1 + Math.floor(random() * Math.max(1, seed.users))] };
    }
    const result = await runner.query(request, op.timeoutMs, op.signal);
    if (result.outcome === 'ok') return { outcome: 'ok', kind: 'select' };
    // the same verdicts as writes (a lost answer is indeterminate), so streams compare
    return { outcome: result.outcome, kind: 'select', error: result.error };
  };
}
