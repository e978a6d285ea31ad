// Integrity after a cutover pgdrill did not do (runtime external), as far as it allows. The
// ledger is checked on the final primary as on every run (verify.ts). The tables:
// - a standby of the final primary (the old primary rejoined by Patroni, a replica that
//   follows): every table and the catalog, once it has replayed everything;
// - else the old primary standing alone (fenced by the command): only the tables the workload
//   does not write can still be equal, so those are compared (rows and hashes) and the
//   catalog; the written ones are the ledger's to check, and the comparison says which;
// - else nothing to compare with: unknown.
// Split brain: the old primary in recovery takes no writes; standing alone, its next
// transaction id must not have moved since pgdrill saw it refuse writes; unreachable: unknown.

import type pg from 'pg';
import type { Recorder } from '../record/recorder.js';
import type { Scenario } from '../scenario/scenario.js';
import type { Topology } from '../topology/topology.js';
import type { CutoverOutcome } from '../strategies/strategy.js';
import type { Integrity } from '../results/results.js';
import { withNode } from '../topology/connect.js';
import { nodeRole } from '../topology/external-topology.js';
import { compareTables, countMismatches, listUserTables, tableFingerprints } from '../checks/integrity.js';
import { catalogSnapshot, compareCatalogs } from '../checks/catalog.js';
import { writesSinceFreeze } from '../checks/split-brain-facts.js';
import { SEED_TABLES } from '../seed/schema.js';
import { errorMessage } from '../errors.js';
import { compareSides, compareStandbys } from './verify.js';

export interface ExternalVerifyInput {
  integrity: Integrity;
  scenario: Scenario;
  topology: Topology;
  recorder: Recorder;
  cutover?: CutoverOutcome;
  primaryClient?: pg.Client;
  signal: AbortSignal;
}

export async function verifyExternalSides(input: ExternalVerifyInput): Promise<void> {
  const { integrity, topology, cutover, primaryClient, signal } = input;
  const finalPrimary = topology.primary;
  // compared like a run without a planned cutover: the final primary against a standby of it
  const asUnplanned = cutover ? { ...cutover, oldPrimaryNextXidAtFreeze: undefined } : undefined;
  if (topology.replicasOf(finalPrimary.name).length > 0) {
    await compareSides(integrity, topology, asUnplanned, primaryClient, signal);
    await compareStandbys(integrity, topology, asUnplanned, primaryClient, signal);
  } else {
    await compareWithOldPrimary(input);
  }
  await externalSplitBrain(input);
}

/** The tables the workload writes, by name as listUserTables spells them: the shop's, or your scripts'. */
export function writtenTables(scenario: Pick<Scenario, 'workload'>): Set<string> {
  const scripts = scenario.workload.writes.scripts;
  if (!scripts) return new Set(scenario.workload.writes.rate > 0 ? SEED_TABLES.map((t) => t.table) : []);
  const names = new Set<string>();
  const target = /\b(?:insert\s+into|update(?:\s+only)?|delete\s+from)\s+((?:"[^"]+"|[A-Za-z_][\w$]*)(?:\.(?:"[^"]+"|[A-Za-z_][\w$]*))?)/gi;
  for (const script of scripts) {
    if (script.ledger) names.add(displayName(script.ledger.table));
    for (const m of script.sql.matchAll(target)) names.add(displayName(m[1]));
  }
  return names;
}

/** "public.notes" and "notes" are one table; quoted names keep their case. */
function displayName(name: string): string {
  const parts = name.split('.').map((p) => (p.startsWith('"') ? p.slice(1, -1) : p.toLowerCase()));
  return parts.length === 2 && parts[0] === 'public' ? parts[1] : parts.join('.');
}

async function compareWithOldPrimary({ integrity, scenario, topology, cutover, primaryClient }: ExternalVerifyInput): Promise<void> {
  const finalPrimary = topology.primary;
  const oldName = scenario.strategy?.from;
  const unknownBoth = (why: string) => {
    integrity.unknown.tables = why;
    integrity.unknown.schema = why;
  };
  if (!cutover || cutover.dryRun || cutover.promotedAtMs === undefined || !oldName || oldName === finalPrimary.name) {
    const why = `${finalPrimary.name} has no standby and no cutover moved the writes: there is no second copy to compare`;
    integrity.comparison = why;
    integrity.notApplicable.tables = why;
    integrity.notApplicable.schema = why;
    return;
  }
  if (!primaryClient) return unknownBoth(`the final primary ${finalPrimary.name} could not be reached`);
  const old = topology.node(oldName);
  const written = writtenTables(scenario);
  try {
    const finalTables = await listUserTables(primaryClient);
    const untouched = finalTables.filter((t) => !written.has(t.table));
    const writtenHere = finalTables.filter((t) => written.has(t.table)).map((t) => t.table);
    const [source, sourceCatalog] = await withNode(old, async (c) => [await tableFingerprints(c, untouched), await catalogSnapshot(c)] as const, { timeout: 120_000 });
    const target = await tableFingerprints(primaryClient, untouched);
    const tables = compareTables(source, target, untouched.map((t) => t.table));
    const counts = countMismatches(tables);
    integrity.source = oldName;
    integrity.target = finalPrimary.name;
    integrity.schemaDifferences = compareCatalogs(sourceCatalog, await catalogSnapshot(primaryClient));
    const ledgerPart = writtenHere.length
      ? `; the ${writtenHere.length} it writes (${writtenHere.join(', ')}) differ by design after the cutover and are checked by the write ledger instead`
      : '';
    integrity.comparison =
      `the old primary ${oldName} (standing alone since the cutover) against ${finalPrimary.name}: catalogs, and row counts and hashes of the ` +
      `${untouched.length} table${untouched.length === 1 ? '' : 's'} the workload does not write${ledgerPart}`;
    if (untouched.length === 0) {
      integrity.notApplicable.tables = `every user table is written by the workload (${writtenHere.join(', ')}), so no table can be equal on ${oldName} and ${finalPrimary.name} after the cutover: the write ledger checks them`;
      return;
    }
    integrity.tables = tables;
    integrity.rowCountMismatches = counts.rowCountMismatches;
    integrity.hashMismatches = counts.hashMismatches;
  } catch (err) {
    unknownBoth(`the old primary ${oldName} and ${finalPrimary.name} could not be compared: ${errorMessage(err)}`);
  }
}

async function externalSplitBrain({ integrity, scenario, topology, cutover }: ExternalVerifyInput): Promise<void> {
  if (!cutover || cutover.dryRun || cutover.promotedAtMs === undefined) {
    integrity.notApplicable.splitBrain = 'no new primary was promoted';
    return;
  }
  const oldName = scenario.strategy!.from;
  const role = await nodeRole(topology.node(oldName));
  if ('error' in role) {
    integrity.unknown.splitBrain = `the old primary ${oldName} could not be reached to see whether it took writes after the promotion: ${role.error}`;
    return;
  }
  if (role.recovery) {
    // a standby cannot commit; what it took before it was demoted the ledger would show as lost
    integrity.writesAfterPromotion = 0;
    integrity.splitBrainDetail = `${oldName} is in recovery (a standby now): it takes no writes`;
    return;
  }
  if (cutover.oldPrimaryNextXidAtFreeze === undefined) {
    integrity.unknown.splitBrain = `${oldName} stands alone out of recovery, and pgdrill could not read its transaction counter when it saw the new primary`;
    return;
  }
  try {
    const read = await withNode(topology.node(oldName), (c) => writesSinceFreeze(c, oldName, cutover.oldPrimaryNextXidAtFreeze!));
    integrity.writesAfterPromotion = read.writesAfterPromotion;
    integrity.splitBrainDetail = `${read.detail.replace('at the freeze', 'when the new primary was seen')}`;
  } catch (err) {
    integrity.unknown.splitBrain = `the old primary ${oldName} could not be read: ${errorMessage(err)}`;
  }
}
