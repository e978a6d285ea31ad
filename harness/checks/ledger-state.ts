// Fetches from the final primary what the ledger check needs: the rows of the keys the
// ledger touched and the request ids of indeterminate inserts. The decision is made by the
// pure checkLedger(); this only reads.

import type pg from 'pg';
import { SEED_TABLES } from '../seed/schema.js';
import { normalizeRequestId, type KeysOfInterest, type ObservedRows, type ObservedTable } from './ledger-check.js';

export interface FetchObservedOptions {
  /** the primary key column of a table; default: SEED_TABLES, else "id" */
  keyColumn?: (table: string) => string;
  /** values per query; keeps a long run's 100k keys from becoming one huge parameter */
  batchSize?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function fetchObservedRows(
  client: pg.ClientBase,
  interest: KeysOfInterest,
  options: FetchObservedOptions = {},
): Promise<ObservedRows> {
  const keyColumn = options.keyColumn ?? defaultKeyColumn;
  const batchSize = options.batchSize ?? 10_000;
  const observed: ObservedRows = {};

  for (const [table, wanted] of Object.entries(interest)) {
    const found: ObservedTable = { rows: new Map(), requestIds: new Set() };
    observed[table] = found;
    const from = quoteIdent(table);
    const key = quoteIdent(keyColumn(table));

    for (const keys of batches(wanted.keys, batchSize)) {
      // pg hands bigint back as text; sequence-made keys stay below 2^53, so Number() is exact
      const { rows } = await client.query<{ key: string; version: number; request_id: string | null }>(
        `SELECT ${key}::text AS key, version, request_id::text AS request_id
           FROM ${from} WHERE ${key} = ANY($1::bigint[])`,
        [keys],
      );
      for (const r of rows) {
        found.rows.set(Number(r.key), {
          version: Number(r.version),
          requestId: r.request_id === null ? null : normalizeRequestId(r.request_id),
        });
      }
    }

    // a malformed id cannot be in a uuid column, and one bad element would fail the cast
    // of the whole batch
    const requestIds = wanted.requestIds.filter((id) => UUID.test(id));
    for (const ids of batches(requestIds, batchSize)) {
      const { rows } = await client.query<{ request_id: string }>(
        `SELECT request_id::text AS request_id FROM ${from} WHERE request_id = ANY($1::uuid[])`,
        [ids],
      );
      for (const r of rows) found.requestIds.add(normalizeRequestId(r.request_id));
    }
  }
  return observed;
}

function defaultKeyColumn(table: string): string {
  return SEED_TABLES.find((t) => t.table === table)?.key ?? 'id';
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function* batches<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
