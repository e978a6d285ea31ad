// After the load: gather from the servers the facts integrity rests on (the ledger's rows
// and request ids, table fingerprints, catalogs, sequences, the old primary's transactions),
// then hand them to the pure checks. A fact that cannot be read is recorded as unknown with
// the reason, never left out: unknown fails the run.
//
// With a planned cutover, the source is the old primary (fenced, so still as it was at the
// freeze) and the target is the new primary as fingerprinted at the freeze, before it took
// writes. Otherwise the final primary is compared with its first replica once that has
// caught up; with neither, there is nothing to compare the tables with (not applicable).

import type pg from 'pg';
import type { Recorder } from '../record/recorder.js';
import { eventsOf } from '../record/events.js';
import type { Scenario } from '../scenario/scenario.js';
import type { Topology } from '../topology/topology.js';
import type { RuntimeNode } from '../runtime/runtime.js';
import type { CutoverOutcome, Fingerprints } from '../strategies/strategy.js';
import type { Integrity } from '../results/results.js';
import { connectNode, waitFor, withNode } from '../topology/connect.js';
import { compareTables, countMismatches, listUserTables, sequenceChecks, tableFingerprints } from '../checks/integrity.js';
import { catalogSnapshot, compareCatalogs, type Catalog } from '../checks/catalog.js';
import { checkLedgerStreaming, type LedgerSource } from '../checks/ledger-stream.js';
import { errorMessage } from '../errors.js';

export interface VerifyInput {
  scenario: Scenario;
  topology: Topology;
  recorder: Recorder;
  /** the writes the ledger check looks at (operations.jsonl, streamed: a long run's do not fit in memory) */
  ledger: LedgerSource;
  cutover?: CutoverOutcome;
  signal: AbortSignal;
}

/** What one side of the comparison looked like. */
interface Side {
  name: string;
  fingerprints: Fingerprints;
  catalog: Catalog;
}

export async function verifyIntegrity({ topology, recorder, ledger: ledgerOps, cutover, signal }: VerifyInput): Promise<Integrity> {
  const finalPrimary = topology.primary;
  const integrity: Integrity = {
    source: null,
    target: null,
    finalPrimary: finalPrimary.name,
    comparison: '',
    tables: [],
    rowCountMismatches: null,
    hashMismatches: null,
    schemaDifferences: null,
    sequences: null,
    acknowledgedWrites: null,
    lostWrites: null,
    recoveredWrites: null,
    indeterminateWrites: null,
    writesAfterPromotion: null,
    splitBrainDetail: '',
    lost: [],
    unknown: {},
    notApplicable: {},
  };

  let primaryClient: pg.Client | undefined;
  try {
    primaryClient = await connectNode(finalPrimary, { timeout: 120_000 });
  } catch (err) {
    const why = `the final primary ${finalPrimary.name} could not be reached: ${errorMessage(err)}`;
    integrity.unknown.ledger = why;
    integrity.unknown.sequences = why;
  }
  try {
    if (primaryClient) {
      const client = primaryClient;
      await fact(integrity, 'ledger', `on ${finalPrimary.name}`, async () => {
        const ledger = await checkLedgerStreaming(client, ledgerOps);
        Object.assign(integrity, {
          acknowledgedWrites: ledger.acknowledgedWrites,
          lostWrites: ledger.lostWrites,
          recoveredWrites: ledger.recoveredWrites,
          indeterminateWrites: ledger.indeterminateWrites,
          lost: ledger.lost,
        });
      });
      await fact(integrity, 'sequences', `on ${finalPrimary.name}`, async () => {
        integrity.sequences = await sequenceChecks(client);
      });
    }
    await compareSides(integrity, topology, cutover, primaryClient, signal);
    await splitBrain(integrity, topology, recorder, cutover);
  } finally {
    await primaryClient?.end().catch(() => undefined);
  }

  recorder.event('integrity', {
    source: integrity.source,
    target: integrity.target,
    lostWrites: integrity.lostWrites,
    rowCountMismatches: integrity.rowCountMismatches,
    hashMismatches: integrity.hashMismatches,
  });
  for (const [name, why] of Object.entries(integrity.unknown)) recorder.event('verify-warning', { message: `${name} unknown: ${why}` });
  return integrity;
}

/** Runs one fact's reading; a failure makes the fact unknown, with the reason. */
async function fact(integrity: Integrity, name: keyof Integrity['unknown'], where: string, read: () => Promise<void>): Promise<void> {
  try {
    await read();
  } catch (err) {
    integrity.unknown[name] = `reading it ${where} failed: ${errorMessage(err)}`;
  }
}

async function compareSides(
  integrity: Integrity,
  topology: Topology,
  cutover: CutoverOutcome | undefined,
  primaryClient: pg.Client | undefined,
  signal: AbortSignal,
): Promise<void> {
  const finalPrimary = topology.primary;
  const planned = cutover?.ok && !cutover.dryRun && cutover.oldPrimaryNextXidAtFreeze !== undefined;
  let source: Side | undefined;
  let target: Side | undefined;
  const unknownBoth = (why: string) => {
    integrity.unknown.tables = why;
    integrity.unknown.schema = why;
  };

  if (planned) {
    const oldName = topology.scenario.strategy!.from;
    integrity.comparison = `the old primary ${oldName} (fenced since the freeze) against ${finalPrimary.name} as it was at the freeze`;
    integrity.source = oldName;
    integrity.target = finalPrimary.name;
    if (!cutover!.targetAtFreeze || !cutover!.targetCatalogAtFreeze) {
      const step = cutover!.steps.find((s) => s.name === 'fingerprint-at-freeze' && !s.ok);
      unknownBoth(`${finalPrimary.name} was not fingerprinted at the freeze${step ? `: ${step.detail}` : ''}`);
      return;
    }
    target = { name: finalPrimary.name, fingerprints: cutover!.targetAtFreeze, catalog: cutover!.targetCatalogAtFreeze };
    try {
      source = await withNode(topology.node(oldName), (client) => readSide(oldName, client), { timeout: 120_000 });
    } catch (err) {
      unknownBoth(`the old primary ${oldName} could not be read: ${errorMessage(err)}`);
      return;
    }
  } else {
    const replica = topology.replicasOf(finalPrimary.name)[0];
    if (!replica) {
      const why = cutover?.ok && !cutover.dryRun
        ? `after the ${cutover.promotedAtMs !== undefined ? 'failover' : 'cutover'} no copy of ${finalPrimary.name}'s data is left to compare it with`
        : `${finalPrimary.name} has no standby and no cutover ran: there is no second copy to compare`;
      integrity.comparison = why;
      integrity.notApplicable.tables = why;
      integrity.notApplicable.schema = why;
      return;
    }
    integrity.comparison = `${finalPrimary.name} against its standby ${replica.name}, once that had replayed everything`;
    integrity.source = finalPrimary.name;
    integrity.target = replica.name;
    if (!primaryClient) {
      unknownBoth(`the final primary ${finalPrimary.name} could not be reached`);
      return;
    }
    try {
      await waitCaughtUp(primaryClient, replica, signal);
      source = await readSide(finalPrimary.name, primaryClient);
      target = await withNode(replica, (client) => readSide(replica.name, client), { timeout: 120_000 });
    } catch (err) {
      unknownBoth(`${finalPrimary.name} and ${replica.name} could not be read: ${errorMessage(err)}`);
      return;
    }
  }

  const tables = compareTables(source.fingerprints, target.fingerprints);
  const counts = countMismatches(tables);
  integrity.tables = tables;
  integrity.rowCountMismatches = counts.rowCountMismatches;
  integrity.hashMismatches = counts.hashMismatches;
  integrity.schemaDifferences = compareCatalogs(source.catalog, target.catalog);
}

async function readSide(name: string, client: pg.ClientBase): Promise<Side> {
  const tables = await listUserTables(client);
  const fingerprints = await tableFingerprints(client, tables);
  const catalog = await catalogSnapshot(client);
  return { name, fingerprints, catalog };
}

/**
 * Writes the old primary took after the promotion. Planned cutovers compare its next
 * transaction id with the one at the freeze (it must not move: the freeze stopped even
 * autovacuum). A failover has no freeze: the old primary died, and whatever it committed
 * after the promotion (when it came back, or a paused one resuming) carries a commit
 * timestamp later than the promotion. A node that stayed down took no writes.
 */
async function splitBrain(integrity: Integrity, topology: Topology, recorder: Recorder, cutover: CutoverOutcome | undefined): Promise<void> {
  if (!cutover?.ok || cutover.dryRun || cutover.promotedAtMs === undefined) {
    integrity.notApplicable.splitBrain = 'no new primary was promoted';
    return;
  }
  const oldName = topology.scenario.strategy!.from;
  const old = topology.node(oldName);
  if (cutover.oldPrimaryNextXidAtFreeze !== undefined) {
    const atFreeze = BigInt(cutover.oldPrimaryNextXidAtFreeze);
    try {
      const now = await withNode(old, async (c) => BigInt((await c.query('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid')).rows[0].xid));
      integrity.writesAfterPromotion = Math.max(0, Number(now - atFreeze));
      integrity.splitBrainDetail = `${oldName}'s next transaction id is ${now} (${atFreeze} at the freeze)`;
    } catch (err) {
      integrity.unknown.splitBrain = `the old primary ${oldName} could not be read: ${errorMessage(err)}`;
    }
    return;
  }
  const returned = eventsOf(recorder.events, 'old-primary-returned').some((e) => e.node === oldName);
  if (!returned && (old.state === 'killed' || old.state === 'stopped')) {
    integrity.writesAfterPromotion = 0;
    integrity.splitBrainDetail = `${oldName} has been down (${old.state}) since the failure: it took no writes`;
    return;
  }
  const promotedAtEpochMs = recorder.epochMs(cutover.promotedAtMs);
  try {
    const { count, scanned } = await withNode(old, (client) => commitsAfter(client, promotedAtEpochMs));
    integrity.writesAfterPromotion = count;
    integrity.splitBrainDetail = `${count} transaction(s) committed on ${oldName} after the promotion, by their commit timestamps (${scanned} transaction ids looked at)`;
  } catch (err) {
    integrity.unknown.splitBrain = `${oldName}'s commits after the promotion could not be counted: ${errorMessage(err)}`;
  }
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

async function waitCaughtUp(primary: pg.Client, replica: RuntimeNode, signal: AbortSignal) {
  const { rows } = await primary.query('SELECT pg_current_wal_lsn()::text AS lsn');
  await withNode(replica, (client) =>
    waitFor(
      `${replica.name} to replay ${rows[0].lsn}`,
      async () => {
        const r = await client.query('SELECT pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()) <= 0 AS done', [rows[0].lsn]);
        return r.rows[0].done ? true : undefined;
      },
      { timeout: 60_000, interval: 50, signal },
    ),
  );
}
