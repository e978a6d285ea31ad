// What a run on servers pgdrill did not start (runtime external) does differently: it logs in
// as the nodes' URLs say, seeds only an empty database (or, with seed.existing, uses what is
// there), keeps its bookkeeping in its own schema and drops that schema at the end unless
// --keep. Nothing else of the user's is ever dropped.

import type { Recorder } from '../record/recorder.js';
import type { NodeCredentials, RuntimeNode } from '../runtime/runtime.js';
import type { Scenario } from '../scenario/scenario.js';
import type { Topology } from '../topology/topology.js';
import { endpointUrlFor, externalLogin } from '../endpoint/url-endpoint.js';
import { connectNode, withNode } from '../topology/connect.js';
import { listUserTables } from '../checks/integrity.js';
import { BOOKKEEPING_SCHEMA, BOOKKEEPING_SQL, SEED_TABLES } from '../seed/schema.js';
import { runSeedPhase, userTableRows } from '../seed/run-seed.js';
import { checkScripts, type CheckedScripts } from '../workload/script-check.js';
import { InvalidInputError, errorMessage } from '../errors.js';
import { quoteIdentifier } from '../checks/user-objects.js';

export function isExternal(scenario: Pick<Scenario, 'runtime'>): boolean {
  return scenario.runtime === 'external';
}

/** The run's "superuser" on external servers is the first primary's URL's user. */
export function externalCredentials(primary: RuntimeNode): Partial<NodeCredentials> {
  const c = primary.external!;
  return { superuser: c.user, superuserPassword: c.password ?? '' };
}

export { endpointUrlFor, externalLogin };

export interface ExternalSeedResult {
  scripts?: CheckedScripts;
  /** whether this run created the bookkeeping schema (then it drops it at the end) */
  createdBookkeeping: boolean;
}

/**
 * Refuses (exit 2, nothing written) a database that holds tables unless seed.existing says to
 * use them, or that still holds a bookkeeping schema; then seeds as usual (an empty database)
 * or creates only the bookkeeping schema (existing).
 */
export async function runExternalSeed(input: { scenario: Scenario; primary: RuntimeNode; recorder: Recorder; signal?: AbortSignal }): Promise<ExternalSeedResult> {
  const { scenario, primary, recorder } = input;
  const where = `${primary.name} (${primary.external!.redacted})`;
  const found = await withNode(primary, async (client) => {
    const tables = (await listUserTables(client)).map((t) => t.table);
    const { rows } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [BOOKKEEPING_SCHEMA]);
    return { tables, bookkeeping: rows.length > 0 };
  });
  if (found.bookkeeping) {
    throw new InvalidInputError([
      {
        path: `nodes.${primary.name}.url`,
        message:
          `the database on ${where} already has a schema ${BOOKKEEPING_SCHEMA} (a run with --keep, or one that was killed, left it); ` +
          `pgdrill drops only what its own run created: drop it yourself (DROP SCHEMA ${BOOKKEEPING_SCHEMA} CASCADE) and run again`,
      },
    ]);
  }
  const existing = scenario.seed.existing === true;
  if (!existing && found.tables.length > 0) {
    const listed = found.tables.slice(0, 8).join(', ') + (found.tables.length > 8 ? `, ... (${found.tables.length} in all)` : '');
    throw new InvalidInputError([
      {
        path: 'seed',
        message:
          `the database on ${where} already holds tables (${listed}), and pgdrill seeds only an empty database; ` +
          'set seed: { existing: true } to run the workload against what is there, or point the url at an empty database',
      },
    ]);
  }
  if (!existing) {
    const scripts = await runSeedPhase(input);
    return { scripts, createdBookkeeping: true };
  }
  if (!scenario.workload.writes.scripts && scenario.workload.writes.rate > 0) {
    const missing = SEED_TABLES.map((t) => t.table).filter((t) => !found.tables.includes(t));
    if (missing.length) {
      throw new InvalidInputError([
        {
          path: 'workload.writes.scripts',
          message:
            `required with seed.existing unless the database holds pgdrill's shop tables (missing: ${missing.join(', ')}): ` +
            'give your own statements, e.g. - { weight: 1, sql: "INSERT INTO notes (body) VALUES (:b) RETURNING id", vars: { b: "text(20)" }, ledger: { table: notes, key: id, op: insert } }',
        },
      ],
    );
    }
  }
  const rows = await withNode(
    primary,
    async (client) => {
      await client.query(BOOKKEEPING_SQL);
      return userTableRows(client);
    },
    { timeout: 600_000 },
  );
  recorder.event('seeded', { node: primary.name, rows, detail: `seed.existing: the tables already there, only the ${BOOKKEEPING_SCHEMA} schema created` });
  const scripts = await withNode(primary, (client) => checkScripts(client, scenario), { timeout: 600_000 });
  return { scripts, createdBookkeeping: true };
}

/**
 * Drops the bookkeeping schema this run created, on the final primary (its standbys follow by
 * WAL). A node that stands alone read-only (a fenced old primary) keeps its copy: pgdrill
 * does not lift the fence to clean up; the event says so.
 */
export async function dropBookkeeping(topology: Topology, recorder: Recorder, options: { keep?: boolean } = {}): Promise<void> {
  const primary = topology.primary;
  if (options.keep) {
    recorder.event('bookkeeping', { node: primary.name, schema: BOOKKEEPING_SCHEMA, dropped: false, leftOn: [primary.name], detail: `kept (--keep): drop it with DROP SCHEMA ${BOOKKEEPING_SCHEMA} CASCADE before the next run` });
    return;
  }
  const client = await connectNode(primary, { timeout: 10_000 });
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(BOOKKEEPING_SCHEMA)} CASCADE`);
  } finally {
    await client.end().catch(() => undefined);
  }
  const left: string[] = [];
  for (const node of topology.nodes.values()) {
    if (node.name === primary.name || topology.upstreamOf.has(node.name)) continue;
    const has = await withNode(node, (c) => c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [BOOKKEEPING_SCHEMA]), { timeout: 5000 })
      .then((r) => (r.rowCount ?? 0) > 0)
      .catch((err) => `unreadable: ${errorMessage(err)}`);
    if (has) left.push(`${node.name}${typeof has === 'string' ? ` (${has})` : ''}`);
  }
  const detail = left.length
    ? `dropped on ${primary.name}; ${left.join(', ')} still ${left.length === 1 ? 'has' : 'have'} a copy (standing alone, pgdrill does not lift a fence to clean up): DROP SCHEMA ${BOOKKEEPING_SCHEMA} CASCADE there`
    : `dropped on ${primary.name} (its standbys follow)`;
  recorder.event('bookkeeping', { node: primary.name, schema: BOOKKEEPING_SCHEMA, dropped: true, leftOn: left, detail });
}
