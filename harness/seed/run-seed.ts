// The seed phase: the built-in shop schema, or your own schema and data (seed.sql, seed.dump),
// then pgdrill's bookkeeping beside it, planner statistics, the row count of every table, and
// the workload's scripts checked against what is now there.

import type pg from 'pg';
import type { Recorder } from '../record/recorder.js';
import type { RuntimeNode } from '../runtime/runtime.js';
import type { Scenario } from '../scenario/scenario.js';
import { seedSource } from '../scenario/own-schema-fields.js';
import { DATABASE, connectNode, withNode } from '../topology/connect.js';
import { listUserTables } from '../checks/integrity.js';
import { quoteIdentifier, splitRelationName } from '../checks/user-objects.js';
import { checkScripts, type CheckedScripts } from '../workload/script-check.js';
import { loadSqlSeed, restoreDumpSeed } from './file-seed.js';
import { BOOKKEEPING_SQL, seedDatabase } from './schema.js';

export interface SeedPhaseInput {
  scenario: Scenario;
  /** the node the workload writes to first */
  primary: RuntimeNode;
  recorder: Recorder;
  signal?: AbortSignal;
}

/** Seeds the primary and checks the scripts; returns them ready to run (undefined: the built-in statements). */
export async function runSeedPhase({ scenario, primary, recorder, signal }: SeedPhaseInput): Promise<CheckedScripts | undefined> {
  const source = seedSource(scenario.seed);
  if (source === 'shop') {
    const rows = await withNode(primary, (client) => seedDatabase(client, scenario.seed), { timeout: 600_000 });
    recorder.event('seeded', { node: primary.name, rows });
  } else {
    const loaded =
      source === 'sql'
        ? await loadSqlSeed(primary, scenario, signal)
        : await restoreDumpSeed(primary, scenario, { signal, recreateDatabase: () => recreateDatabase(primary) });
    const rows = await withNode(
      primary,
      async (client) => {
        await client.query(BOOKKEEPING_SQL);
        // a restore or a psql load leaves the planner no statistics
        await client.query('ANALYZE');
        return userTableRows(client);
      },
      { timeout: 600_000 },
    );
    recorder.event('seeded', { node: primary.name, rows, source, detail: loaded.detail });
  }
  const checked = await withNode(primary, (client) => checkScripts(client, scenario), { timeout: 600_000 });
  if (checked) {
    recorder.event('scripts-checked', {
      scripts: checked.scripts.length,
      pools: checked.pools.all.map((p) => ({ table: p.table.name, column: p.table.column, keys: p.size })),
    });
  }
  return checked;
}

/** Row count of every user table, by name. */
export async function userTableRows(client: pg.ClientBase): Promise<Record<string, number>> {
  const rows: Record<string, number> = {};
  for (const { table } of await listUserTables(client)) {
    const { schema, relation } = splitRelationName(table);
    const r = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quoteIdentifier(schema)}.${quoteIdentifier(relation)}`);
    rows[table] = Number(r.rows[0].n);
  }
  return rows;
}

/** An empty database again, for a restore that must start over (standbys follow through WAL). */
async function recreateDatabase(node: RuntimeNode): Promise<void> {
  const admin = await connectNode(node, { database: 'postgres', timeout: 60_000 });
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(DATABASE)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${quoteIdentifier(DATABASE)}`);
  } finally {
    await admin.end().catch(() => undefined);
  }
}
