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
import type { Integrity } from '../results/results.js';
import { connectNode, waitFor, withNode } from '../topology/connect.js';
import { INTEGRITY_TABLES } from '../seed/schema.js';
import { compareTables, countMismatches, sequenceChecks, tableFingerprints } from '../checks/integrity.js';
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

interface Side {
  name: string;
  fingerprints: Fingerprints;
}

export async function verifyIntegrity({ topology, recorder, cutover, signal }: VerifyInput): Promise<Integrity> {
  const finalPrimary = topology.primary;
  const primaryClient = await connectNode(finalPrimary, { timeout: 120_000 });
  try {
    let source: Side | null = null;
    let target: Side | null = null;
    let writesAfterPromotion = 0;
    if (cutover?.ok && !cutover.dryRun && cutover.targetAtFreeze) {
      const oldName = topology.scenario.strategy!.from;
      const nextXidAtFreeze = cutover.oldPrimaryNextXidAtFreeze;
      const old = await withNode(
        topology.node(oldName),
        async (client) => {
          const fingerprints = await tableFingerprints(client, INTEGRITY_TABLES);
          const { rows } = await client.query('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid');
          return { fingerprints, nextXid: BigInt(rows[0].xid) };
        },
        { timeout: 120_000 },
      ).catch((err) => {
        recorder.event('verify-warning', { message: `old primary ${oldName} unreadable: ${errorMessage(err)}` });
        return null;
      });
      if (old) {
        source = { name: oldName, fingerprints: old.fingerprints };
        // transaction ids the fenced old primary handed out after the freeze: split-brain writes
        if (nextXidAtFreeze) writesAfterPromotion = Math.max(0, Number(old.nextXid - BigInt(nextXidAtFreeze)));
      }
      target = { name: finalPrimary.name, fingerprints: cutover.targetAtFreeze };
    } else {
      source = { name: finalPrimary.name, fingerprints: await tableFingerprints(primaryClient, INTEGRITY_TABLES) };
      const replica = topology.replicasOf(finalPrimary.name)[0];
      if (replica) {
        await waitCaughtUp(primaryClient, replica, signal);
        const fingerprints = await withNode(replica, (client) => tableFingerprints(client, INTEGRITY_TABLES));
        target = { name: replica.name, fingerprints };
      }
    }

    const ledger = checkLedger(recorder.ops, await fetchObservedRows(primaryClient, keysOfInterest(recorder.ops)));
    const sequences = await sequenceChecks(primaryClient);
    const tables =
      source && target ? compareTables(source.fingerprints, target.fingerprints, INTEGRITY_TABLES.map((t) => t.table)) : [];
    const integrity: Integrity = {
      source: source?.name ?? null,
      target: target?.name ?? null,
      tables,
      ...countMismatches(tables),
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
