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
import { commitsAfterPromotion, writesSinceFreeze } from '../checks/split-brain-facts.js';
import { verifyExternalSides } from './external-verify.js';

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

/**
 * How the ledger reads the tables your scripts write: by the key their ledger names, and
 * without the shop's version and request_id columns (a script's statement does not set them).
 */
function scriptLedgerOptions(scenario: Scenario) {
  const keys = new Map<string, string[]>();
  for (const s of scenario.workload.writes.scripts ?? []) if (s.ledger) keys.set(s.ledger.table, s.ledger.key);
  return keys.size === 0 ? {} : { keyColumns: (table: string) => keys.get(table), rowVersions: (table: string) => !keys.has(table) };
}

export async function verifyIntegrity({ scenario, topology, recorder, ledger: ledgerOps, cutover, signal }: VerifyInput): Promise<Integrity> {
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
        const ledger = await checkLedgerStreaming(client, ledgerOps, scriptLedgerOptions(scenario));
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
    if (scenario.runtime === 'external') {
      // servers pgdrill did not start: what an external cutover lets it compare (external-verify.ts)
      await verifyExternalSides({ integrity, scenario, topology, recorder, cutover, primaryClient, signal });
    } else {
      await compareSides(integrity, topology, cutover, primaryClient, signal);
      await compareStandbys(integrity, topology, cutover, primaryClient, signal);
      await splitBrain(integrity, topology, recorder, cutover);
    }
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

export async function compareSides(
  integrity: Integrity,
  topology: Topology,
  cutover: CutoverOutcome | undefined,
  primaryClient: pg.Client | undefined,
  signal: AbortSignal,
): Promise<void> {
  const finalPrimary = topology.primary;
  // past the promotion, a later step that failed (a follower, the rejoin) does not change what to compare
  const planned = cutover !== undefined && !cutover.dryRun && cutover.promotedAtMs !== undefined && cutover.oldPrimaryNextXidAtFreeze !== undefined;
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
    const before = cutover!.oldPrimaryBeforeRejoin;
    if (before) {
      // rewound into a standby since: its tables as they were just before the rewind
      if (!before.fingerprints || !before.catalog) {
        unknownBoth(`the old primary ${oldName} was rewound to rejoin and could not be read before: ${before.unreadable ?? 'no reading'}`);
        return;
      }
      integrity.comparison = `the old primary ${oldName} (fenced since the freeze, read just before it was rewound to rejoin) against ${finalPrimary.name} as it was at the freeze`;
      source = { name: oldName, fingerprints: before.fingerprints, catalog: before.catalog };
    } else {
      try {
        source = await withNode(topology.node(oldName), (client) => readSide(oldName, client), { timeout: 120_000 });
      } catch (err) {
        unknownBoth(`the old primary ${oldName} could not be read: ${errorMessage(err)}`);
        return;
      }
    }
  } else {
    // a standby that was there all along first; the rejoined old primary when it is the only one
    const standbys = topology.replicasOf(finalPrimary.name);
    const replica = standbys.find((r) => r.name !== cutover?.rejoined) ?? standbys[0];
    if (!replica) {
      const why = cutover?.ok && !cutover.dryRun
        ? `after the ${cutover.promotedAtMs !== undefined ? 'failover' : 'cutover'} no copy of ${finalPrimary.name}'s data is left to compare it with`
        : `${finalPrimary.name} has no standby and no cutover ran: there is no second copy to compare`;
      integrity.comparison = why;
      integrity.notApplicable.tables = why;
      integrity.notApplicable.schema = why;
      return;
    }
    const what = replica.name === cutover?.rejoined ? `the rejoined old primary ${replica.name}` : `its standby ${replica.name}`;
    integrity.comparison = `${finalPrimary.name} against ${what}, once that had replayed everything`;
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

/**
 * Every standby of the final primary not compared above (followers re-pointed at the cutover,
 * the rejoined old primary), each against the final primary once it has replayed everything.
 */
export async function compareStandbys(
  integrity: Integrity,
  topology: Topology,
  cutover: CutoverOutcome | undefined,
  primaryClient: pg.Client | undefined,
  signal: AbortSignal,
): Promise<void> {
  const finalPrimary = topology.primary;
  const standbys = topology.replicasOf(finalPrimary.name).filter((r) => r.name !== integrity.target);
  if (standbys.length === 0) return;
  if (!primaryClient) {
    integrity.unknown.standbys = `the final primary ${finalPrimary.name} could not be reached`;
    return;
  }
  try {
    for (const standby of standbys) await waitCaughtUp(primaryClient, standby, signal);
    const primary = await readSide(finalPrimary.name, primaryClient);
    integrity.standbys = [];
    for (const standby of standbys) {
      const side = await withNode(standby, (client) => readSide(standby.name, client), { timeout: 120_000 });
      const tables = compareTables(primary.fingerprints, side.fingerprints);
      integrity.standbys.push({
        node: standby.name,
        role: standby.name === cutover?.rejoined ? 'rejoined' : 'standby',
        tables,
        ...countMismatches(tables),
        schemaDifferences: compareCatalogs(primary.catalog, side.catalog),
      });
    }
  } catch (err) {
    integrity.standbys = undefined;
    integrity.unknown.standbys = `${standbys.map((s) => s.name).join(', ')} could not be compared with ${finalPrimary.name}: ${errorMessage(err)}`;
  }
}

export async function readSide(name: string, client: pg.ClientBase): Promise<Side> {
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
  if (!cutover || cutover.dryRun || cutover.promotedAtMs === undefined) {
    integrity.notApplicable.splitBrain = 'no new primary was promoted';
    return;
  }
  if (cutover.splitBrain) {
    integrity.writesAfterPromotion = cutover.splitBrain.writesAfterPromotion;
    integrity.splitBrainDetail = cutover.splitBrain.detail;
    return;
  }
  const oldName = topology.scenario.strategy!.from;
  const old = topology.node(oldName);
  // rejoined as a standby: pg_rewind replaced its history, so the facts are the ones read before it
  const before = cutover.oldPrimaryBeforeRejoin;
  if (before) {
    if (before.splitBrain) {
      integrity.writesAfterPromotion = before.splitBrain.writesAfterPromotion;
      integrity.splitBrainDetail = `${before.splitBrain.detail}, read just before ${oldName} was rewound`;
    } else {
      integrity.unknown.splitBrain = `${oldName} was rewound to rejoin, and its writes after the promotion could not be read before: ${before.unreadable ?? 'no reading'}`;
    }
    return;
  }
  if (cutover.oldPrimaryNextXidAtFreeze !== undefined) {
    try {
      const read = await withNode(old, (c) => writesSinceFreeze(c, oldName, cutover.oldPrimaryNextXidAtFreeze!));
      integrity.writesAfterPromotion = read.writesAfterPromotion;
      integrity.splitBrainDetail = read.detail;
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
  try {
    const read = await withNode(old, (client) => commitsAfterPromotion(client, oldName, recorder.epochMs(cutover.promotedAtMs!)));
    integrity.writesAfterPromotion = read.writesAfterPromotion;
    integrity.splitBrainDetail = read.detail;
  } catch (err) {
    integrity.unknown.splitBrain = `${oldName}'s commits after the promotion could not be counted: ${errorMessage(err)}`;
  }
}

export async function waitCaughtUp(primary: pg.Client, replica: RuntimeNode, signal: AbortSignal) {
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
