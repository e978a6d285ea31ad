// The target's tables as they were at the freeze, fingerprinted without lengthening it: a
// REPEATABLE READ snapshot is pinned inside the freeze (a cheap step) and hashed after the
// resume, while the new primary already takes writes the snapshot cannot see.

import type pg from 'pg';
import type { RuntimeNode } from '../runtime/runtime.js';
import { INTEGRITY_TABLES } from '../seed/schema.js';
import { fingerprintsInTransaction } from '../checks/integrity.js';
import { openCutoverSession } from './freeze.js';
import type { CutoverOutcome, Fingerprints } from './strategy.js';
import type { StepRunner } from './step-runner.js';

/** A session holding a snapshot taken now; end it (or fingerprint it) to let it go. */
export async function pinSnapshot(node: RuntimeNode): Promise<pg.Client> {
  const client = await openCutoverSession(node, { queryTimeout: 600_000 });
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    // the snapshot is taken by the first statement, not by BEGIN
    await client.query('SELECT 1');
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

/** Fingerprints the pinned snapshot, then ends its transaction (the session stays open). */
export async function fingerprintPinned(client: pg.Client): Promise<Fingerprints> {
  try {
    return await fingerprintsInTransaction(client, INTEGRITY_TABLES);
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
      outcome.targetAtFreeze = await fingerprintPinned(pinned);
      return `fingerprinted ${outcome.targetAtFreeze.size} tables of ${target.name} as they were at the freeze`;
    })
    .catch(() => undefined);
}

/** Row counts per table, in one snapshot: the cheap check a runbook makes inside the freeze. */
export async function rowCounts(client: pg.ClientBase, tables: readonly string[]): Promise<Map<string, number | null>> {
  const counts = new Map<string, number | null>();
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    for (const table of tables) {
      const exists = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [`"${table.replace(/"/g, '""')}"`]);
      if (exists.rows[0]?.oid == null) {
        counts.set(table, null);
        continue;
      }
      const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${exists.rows[0].oid}`);
      counts.set(table, Number(rows[0].n));
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  return counts;
}
