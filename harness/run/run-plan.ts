// `pgdrill run --plan` (or --dry-run): what a run would do, without doing it. On runtime
// external it connects to every server and checks what the run would check first (reachable,
// version, roles, replication, whether the database may be seeded) and says which tables it
// would create and which command it would run; it writes nothing anywhere, not even a report
// folder. On pgdrill's own runtimes it lists what it would start.

import type { Scenario } from '../scenario/scenario.js';
import { initialPrimary } from '../scenario/scenario.js';
import { ExternalRuntime } from '../runtime/external/external-runtime.js';
import type { RuntimeNode } from '../runtime/runtime.js';
import { withNode } from '../topology/connect.js';
import { listUserTables } from '../checks/integrity.js';
import { BOOKKEEPING_SCHEMA, PROBE_TABLE, LEDGER_TABLE, SEED_TABLES } from '../seed/schema.js';
import { seedSource } from '../scenario/own-schema-fields.js';
import { nodeUrlVariable, ENDPOINT_URL_VARIABLE, stepBaseDir } from '../steps/index.js';
import { endpointOf } from '../scenario/scenario.js';
import { redactUrl } from '../scenario/external-fields.js';
import { EXIT, PgdrillError, errorMessage } from '../errors.js';
import { exactDuration } from '../scenario/scenario-schema.js';

export interface Plan {
  lines: string[];
  /** problems that would stop the run, each with its fix */
  problems: string[];
  exitCode: number;
}

export async function planRun(scenario: Scenario): Promise<Plan> {
  const lines: string[] = [`plan for ${scenario.name} (runtime ${scenario.runtime}, load ${exactDuration(scenario.duration)}): nothing is started or written`];
  const problems: string[] = [];
  let exitCode: number = EXIT.ok;
  const fail = (message: string, code: number) => {
    problems.push(message);
    exitCode = Math.max(exitCode, code);
  };
  const w = scenario.workload;
  const load = `writes ${w.writes.rate}/s over ${w.writes.connections} connections${w.writes.scripts ? ` (${w.writes.scripts.length} scripts)` : ' (the shop mix)'}, reads ${w.reads.rate}/s, probe every ${w.probe.interval}ms`;

  if (scenario.runtime !== 'external') {
    lines.push(`would start: ${Object.values(scenario.nodes).map((n) => `${n.name} (PostgreSQL ${n.version}${n.replicaOf ? `, standby of ${n.replicaOf}` : ''})`).join(', ')}`);
    lines.push(`would seed: ${seedSource(scenario.seed) === 'shop' ? `the shop schema (${scenario.seed.users} users, ${scenario.seed.products} products, ${scenario.seed.orders} orders)` : (scenario.seed.sql ?? scenario.seed.dump)}`);
    lines.push(`would drive: ${load}`);
    timelineLines(scenario, lines);
    return { lines, problems, exitCode };
  }

  const runtime = new ExternalRuntime({ runId: 'plan', nodes: scenario.nodes, baseDir: stepBaseDir(scenario) });
  const nodes = new Map<string, RuntimeNode>();
  try {
    await runtime.preflight(Object.values(scenario.nodes).map((n) => ({ name: n.name, version: n.version })));
  } catch (err) {
    fail(errorMessage(err), err instanceof PgdrillError ? err.exitCode : EXIT.environment);
  }
  for (const config of Object.values(scenario.nodes)) {
    try {
      nodes.set(config.name, await runtime.createNode({ name: config.name, version: config.version }));
    } catch (err) {
      fail(errorMessage(err), err instanceof PgdrillError ? err.exitCode : EXIT.invalid);
    }
  }
  for (const [name, node] of nodes) {
    const said = await withNode(
      node,
      async (c) => {
        const { rows } = await c.query<{ recovery: boolean; user: string; super: boolean; monitor: boolean; create: boolean; version: string }>(
          `SELECT pg_is_in_recovery() AS recovery, current_user AS user, current_setting('server_version') AS version,
                  (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS super,
                  pg_has_role(current_user, 'pg_monitor', 'USAGE') AS monitor,
                  has_database_privilege(current_database(), 'CREATE') AS create`,
        );
        const r = rows[0];
        return { ...r, text: `${name}: ${node.external!.redacted}, PostgreSQL ${r.version}, ${r.recovery ? 'in recovery (a standby)' : 'out of recovery (a primary)'}, as ${r.user}${r.super ? ' (superuser)' : r.monitor ? ' (pg_monitor)' : ''}` };
      },
      { timeout: 5000 },
    ).catch((err) => ({ text: `${name}: unreachable: ${errorMessage(err)}`, recovery: undefined, super: false, monitor: false, create: false }));
    lines.push(`server ${said.text}`);
    const config = scenario.nodes[name];
    if (said.recovery === false && config.replicaOf) fail(`${name} is out of recovery, but the scenario says it is a standby of ${config.replicaOf}`, EXIT.invalid);
    if (said.recovery === true && !config.replicaOf) fail(`${name} is in recovery, but the scenario gives it no replicaOf: name its primary`, EXIT.invalid);
    if (said.recovery !== undefined && !said.super && !said.monitor) fail(`${name}: the user is neither superuser nor in pg_monitor; GRANT pg_monitor to it so lag can be read`, EXIT.environment);
  }

  const primaryName = initialPrimary(scenario).name;
  const primary = nodes.get(primaryName);
  if (primary) {
    await withNode(
      primary,
      async (c) => {
        const tables = (await listUserTables(c)).map((t) => t.table);
        const { rows } = await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [BOOKKEEPING_SCHEMA]);
        const canCreate = (await c.query<{ ok: boolean }>(`SELECT has_database_privilege(current_database(), 'CREATE') AS ok`)).rows[0].ok;
        const bookkeeping = `schema ${BOOKKEEPING_SCHEMA} (tables ${PROBE_TABLE}, ${LEDGER_TABLE}), dropped at the end unless --keep`;
        if (rows.length) fail(`${primaryName} already has a schema ${BOOKKEEPING_SCHEMA} (left by an earlier run); drop it yourself (DROP SCHEMA ${BOOKKEEPING_SCHEMA} CASCADE)`, EXIT.invalid);
        if (!canCreate) fail(`${primaryName}: the user may not create schemas in the database; GRANT CREATE ON DATABASE to it`, EXIT.environment);
        if (scenario.seed.existing) {
          lines.push(`would seed nothing (seed.existing): use the ${tables.length} tables there (${tables.slice(0, 10).join(', ')}${tables.length > 10 ? ', ...' : ''}); would create only ${bookkeeping}`);
        } else if (tables.length > 0) {
          fail(`the database on ${primaryName} already holds tables (${tables.slice(0, 8).join(', ')}); pgdrill seeds only an empty database: set seed: { existing: true } or point the url at an empty database`, EXIT.invalid);
        } else {
          const what = seedSource(scenario.seed) === 'shop'
            ? `tables ${SEED_TABLES.map((t) => t.table).join(', ')} (${scenario.seed.users} users, ${scenario.seed.products} products, ${scenario.seed.orders} orders; kept afterwards: pgdrill drops nothing but its own schema)`
            : `what ${scenario.seed.sql} creates (psql -f)`;
          lines.push(`would create on ${primaryName}: ${what}, and ${bookkeeping}`);
        }
      },
      { timeout: 10_000 },
    ).catch((err) => fail(`${primaryName} could not be read: ${errorMessage(err)}`, EXIT.environment));
  }
  const endpoint = endpointOf(scenario);
  lines.push(
    `would connect clients through: ${
      endpoint.kind === 'url' ? `your endpoint ${redactUrl(endpoint.url ?? '')}` : endpoint.kind === 'discovery' ? 'client-side discovery over every node' : `pgdrill's TCP proxy on 127.0.0.1 in front of ${primaryName}, re-pointed to whichever node leaves recovery after the command`
    }`,
  );
  lines.push(`would drive: ${load}`);
  timelineLines(scenario, lines);
  lines.push(problems.length ? `the run would stop: ${problems.length} problem${problems.length === 1 ? '' : 's'}` : 'every check passed: the run would start');
  return { lines, problems, exitCode };
}

function timelineLines(scenario: Scenario, lines: string[]): void {
  const variables = [...Object.keys(scenario.nodes).map(nodeUrlVariable), ENDPOINT_URL_VARIABLE].join(', ');
  for (const entry of scenario.timeline) {
    const at = `at ${exactDuration(entry.at)}`;
    if (entry.cutover) {
      const s = scenario.strategy!;
      const what = entry.cutover.command
        ? `run ${JSON.stringify(entry.cutover.command)} (timeout ${exactDuration(entry.cutover.timeout ?? 0)}, with ${variables}), then watch until a new primary accepts writes`
        : `the ${s.kind} cutover`;
      lines.push(`${at}: ${entry.cutover.dryRun ? 'dry-run ' : ''}cutover ${s.from} -> ${s.to}: prerequisites, wait for sync${entry.cutover.dryRun ? '' : `, ${what}`}`);
    } else if (entry.command) lines.push(`${at}: command ${JSON.stringify(entry.command.run)} (with ${variables})`);
    else if (entry.sql) lines.push(`${at}: sql on ${entry.sql.node}: ${entry.sql.statement}`);
    else if (entry.fault) lines.push(`${at}: fault ${entry.fault.kind} on ${entry.fault.node ?? `link ${entry.fault.link}`}`);
  }
}
