// Reading whether an old primary took writes after the promotion (split brain), on a session
// to it. Verify reads it after the load; a run that rejoins the old primary reads it just
// before pg_rewind, which replaces the old primary's history (its transaction counter and
// commit timestamps become the new primary's) and so erases the evidence.

import type pg from 'pg';

export interface SplitBrainFact {
  /** writes the old primary accepted after the promotion */
  writesAfterPromotion: number;
  /** how that was established, in a sentence */
  detail: string;
}

/** The node's next transaction id (a planned cutover's freeze records it; it must not move). */
export async function nextTransactionId(client: pg.ClientBase): Promise<bigint> {
  const { rows } = await client.query<{ xid: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid');
  return BigInt(rows[0].xid);
}

/** After a planned cutover: the transactions started since the freeze. */
export async function writesSinceFreeze(client: pg.ClientBase, node: string, atFreeze: string): Promise<SplitBrainFact> {
  const frozen = BigInt(atFreeze);
  const now = await nextTransactionId(client);
  return { writesAfterPromotion: Math.max(0, Number(now - frozen)), detail: `${node}'s next transaction id is ${now} (${frozen} at the freeze)` };
}

/** After a failover: the transactions that committed after the promotion, by their commit timestamps. */
export async function commitsAfterPromotion(client: pg.ClientBase, node: string, promotedAtEpochMs: number): Promise<SplitBrainFact> {
  const { count, scanned } = await commitsAfter(client, promotedAtEpochMs);
  return {
    writesAfterPromotion: count,
    detail: `${count} transaction(s) committed on ${node} after the promotion, by their commit timestamps (${scanned} transaction ids looked at)`,
  };
}

/** How many of the node's recent transactions committed after `epochMs` (needs track_commit_timestamp). */
async function commitsAfter(client: pg.ClientBase, epochMs: number): Promise<{ count: number; scanned: number }> {
  const setting = await client.query<{ on: boolean }>(`SELECT current_setting('track_commit_timestamp')::bool AS on`);
  if (!setting.rows[0].on) throw new Error('track_commit_timestamp is off, so commit times are not kept');
  const { rows } = await client.query<{ count: string; scanned: string }>(
    `WITH bounds AS (
       SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::bigint % 4294967296) AS next,
              (SELECT oldest_commit_ts_xid::text::bigint FROM pg_control_checkpoint()) AS oldest
     ), ids AS (
       SELECT x FROM bounds, generate_series(greatest(3, next - 100000, oldest), next - 1) AS x
     )
     SELECT count(*) FILTER (WHERE pg_xact_commit_timestamp(x::text::xid) > to_timestamp($1 / 1000.0))::text AS count,
            count(*)::text AS scanned
       FROM ids`,
    [epochMs],
  );
  return { count: Number(rows[0].count), scanned: Number(rows[0].scanned) };
}
