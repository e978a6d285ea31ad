// The target's tables as they were at the freeze, fingerprinted without lengthening it: a
// REPEATABLE READ snapshot is pinned inside the freeze (a cheap step) and hashed after the
// resume, while the new primary already takes writes the snapshot cannot see.

import type pg from 'pg';
import type { RuntimeNode } from '../runtime/runtime.js';
import { fingerprintsInTransaction } from '../checks/integrity.js';
import { catalogInTransaction, type Catalog } from '../checks/catalog.js';
import { quoteIdentifier, splitRelationName } from '../checks/user-objects.js';
import { openCutoverSession } from './freeze.js';
import type { CutoverOutcome, Fingerprints } from './strategy.js';
import type { StepRunner } from './step-runner.js';

/** A session holding a snapshot taken now; end it (or fingerprint it) to let it go. */
export async function pinSnapshot(node: RuntimeNode): Promise<pg.Client> {
  const client = await openCutoverSession(node, { queryTimeout: 600_000 });
  try {
    await pinSnapshotOn(client);
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

/** Pins a snapshot on a session opened beforehand (one round trip: no connection inside the freeze). */
export async function pinSnapshotOn(client: pg.Client): Promise<void> {
  // the snapshot is taken by the first statement, not by BEGIN
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1');
}

/**
 * Fingerprints every user table the pinned snapshot holds (listed through the snapshot, so
 * tables created after the freeze are not among them), then ends its transaction (the
 * session stays open).
 */
export async function fingerprintPinned(client: pg.Client): Promise<{ fingerprints: Fingerprints; catalog: Catalog }> {
  try {
    const fingerprints = await fingerprintsInTransaction(client);
    // the schema in the same snapshot: a DDL step after the cutover is not the migration's doing
    const catalog = await catalogInTransaction(client);
    return { fingerprints, catalog };
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * The step after the resume that hashes the snapshot pinned at the freeze, for verify. Past
 * the cutover: a failure shows in its step, and the cutover stands.
 */
export async function fingerprintAtFreeze(steps: StepRunner, outcome: CutoverOutcome, pinned: pg.Client, target: RuntimeNode): Promise<void> {
  await steps
    .run('fingerprint-at-freeze', async () => {
      const { fingerprints, catalog } = await fingerprintPinned(pinned);
      outcome.targetAtFreeze = fingerprints;
      outcome.targetCatalogAtFreeze = catalog;
      return `fingerprinted ${fingerprints.size} tables and the schema of ${target.name} as they were at the freeze`;
    })
    .catch(() => undefined);
}

/**
 * Row counts per table, in one snapshot: the cheap check a runbook makes inside the freeze.
 * Tables are named as listUserTables names them ("orders", "sales.invoices"); one that does
 * not exist counts null.
 */
export async function rowCounts(client: pg.ClientBase, tables: readonly string[]): Promise<Map<string, number | null>> {
  const counts = new Map<string, number | null>();
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    for (const table of tables) {
      const { schema, relation } = splitRelationName(table);
      const found = await client.query<{ relkind: string }>(
        `SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
        [schema, relation],
      );
      if (!found.rows[0]) {
        counts.set(table, null);
        continue;
      }
      // ONLY: an inheritance parent's own rows; its children are counted as tables of their own
      const only = found.rows[0].relkind === 'r' ? 'ONLY ' : '';
      const { rows } = await client.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM ${only}${quoteIdentifier(schema)}.${quoteIdentifier(relation)}`,
      );
      counts.set(table, Number(rows[0].n));
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  return counts;
}
