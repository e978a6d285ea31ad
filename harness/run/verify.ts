// After the load: gather the facts the integrity verdict needs from the servers (table
// fingerprints, sequences, the rows the ledger names), then hand them to the pure checks.
//
// With a cutover, the source is the old primary (fenced, so still as it was at the freeze)
// and the target is the new primary as fingerprinted at the freeze, before it took writes.
// Without one, the primary is compared with its first replica once that has caught up.

import type pg from 'pg';
import type { Recorder } from '../record/recorder.js';
import type { Scenario } from '../scenario/scenario.js';
import type { Topology } from '../topology/topology.js';
import type { CutoverOutcome, Fingerprints } from '../strategies/strategy.js';
import type { Integrity } from '../report/results.js';
import { connectNode, waitFor, withNode } from '../topology/connect.js';
import { INTEGRITY_TABLES } from '../seed/schema.js';
import { compareTables, sequenceChecks, tableFingerprints } from '../checks/integrity.js';
import { checkLedger, keysOfInterest } from '../checks/ledger-check.js';
import { fetchObservedRows } from '../checks/ledger-state.js';
import { errorMessage } from '../errors.js';

export interface VerifyInput {
  scenario: Scenario;
  topology: Topology;
  recorder: Recorder;
  cutover?: CutoverOutcome;
  signal: AbortSignal;
}

export async function verifyIntegrity({ topology, recorder, cutover, signal }: VerifyInput): Promise<Integrity> {
  const finalPrimary = topology.primary;
  const promoted = cutover?.ok && !cutover.dryRun && cutover.targetAtFreeze;

  let source: { name: string; fingerprints: Fingerprints } | null = null;
  let target: { name: string; fingerprints: Fingerprints } | null = null;
  let writesAfterPromotion = 0;
  const primaryClient = await connectNode(finalPrimary, { timeout: 120_000 });
  try {
    if (promoted) {
      const oldName = topology.scenario.strategy!.from;
      const old = topology.node(oldName);
      await withNode(
        old,
        async (client) => {
          source = { name: oldName, fingerprints: await tableFingerprints(client, INTEGRITY_TABLES) };
          const { rows } = await client.query('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid');
          // transaction ids the old primary handed out after the freeze: writes that split brain would keep
          writesAfterPromotion = Math.max(0, Number(BigInt(rows[0].xid) - BigInt(cutover!.oldPrimaryNextXidAtFreeze ?? rows[0].xid)));
        },
        { timeout: 120_000 },
      ).catch((err) => recorder.event('verify-warning', { message: `old primary ${oldName} unreadable: ${errorMessage(err)}` }));
      target = { name: finalPrimary.name, fingerprints: cutover!.targetAtFreeze! };
    } else {
      const replica = topology.replicasOf(finalPrimary.name)[0];
      source = { name: finalPrimary.name, fingerprints: await tableFingerprints(primaryClient, INTEGRITY_TABLES) };
      if (replica) {
        await waitCaughtUp(primaryClient, replica, signal);
        await withNode(replica, async (client) => {
          target = { name: replica.name, fingerprints: await tableFingerprints(client, INTEGRITY_TABLES) };
        });
      }
    }

    const ledger = checkLedger(recorder.ops, await fetchObservedRows(primaryClient, keysOfInterest(recorder.ops)));
    const sequences = await sequenceChecks(primaryClient);
    const s = source as { name: string; fingerprints: Fingerprints } | null;
    const t = target as { name: string; fingerprints: Fingerprints } | null;
    const tables = s && t ? compareTables(s.fingerprints, t.fingerprints) : [];
    const integrity: Integrity = {
      source: s?.name ?? null,
      target: t?.name ?? null,
      tables,
      rowCountMismatches: tables.filter((x) => x.sourceRows !== x.targetRows).length,
      hashMismatches: tables.filter((x) => x.sourceHash !== x.targetHash).length,
      sequences,
      acknowledgedWrites: ledger.acknowledgedWrites,
      lostWrites: ledger.lostWrites,
      recoveredWrites: ledger.recoveredWrites,
      indeterminateWrites: ledger.indeterminateWrites,
      writesAfterPromotion,
      lost: ledger.lost,
    };
    recorder.event('integrity', {
      source: integrity.source,
      target: integrity.target,
      lostWrites: integrity.lostWrites,
      rowCountMismatches: integrity.rowCountMismatches,
      hashMismatches: integrity.hashMismatches,
    });
    return integrity;
  } finally {
    await primaryClient.end().catch(() => undefined);
  }
}

async function waitCaughtUp(primary: pg.Client, replica: Topology['primary'], signal: AbortSignal) {
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
