// `pgdrill init --from <dump | file.sql | postgres://...>`: a starting scenario for your own
// database. A dump or SQL file is loaded into a throwaway local server (the same way a run
// seeds it, so a file that would not load says so now) and looked at there; a live database is
// looked at directly and dumped with pg_dump beside the scenario. Then scaffoldScenario writes
// the tables, their sizes and a write script per table, for you to edit.

import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { EnvironmentError, InvalidInputError, errorMessage } from '../errors.js';
import { LocalRuntime } from '../runtime/local/local-runtime.js';
import { runLocalTool } from '../runtime/local/local-tools.js';
import type { RuntimeNode } from '../runtime/runtime.js';
import { DEFAULT_MAJOR, type SeedConfig } from '../scenario/scenario.js';
import { parseScenarioText } from '../scenario/load-scenario.js';
import { SCENARIO_NAME_RE } from '../scenario/scenario-schema.js';
import { introspectDatabase, type DatabaseInfo } from '../scaffold/introspect.js';
import { scaffoldScenario } from '../scaffold/scaffold-scenario.js';
import { loadSqlSeed, restoreDumpSeed } from '../seed/file-seed.js';
import { inspectDump } from '../seed/seed-files.js';
import { DATABASE, withNode } from '../topology/connect.js';
import { formatBytes } from '../util/units.js';

export interface InitOptions {
  from: string;
  /** the scenario file to write; default ./<name>.yaml */
  out?: string;
  name?: string;
  force?: boolean;
  /** a live database: dump only its schema (the seed then has no rows) */
  schemaOnly?: boolean;
  signal?: AbortSignal;
}

export interface InitResult {
  file: string;
  /** the dump written from a live database, if any */
  dump?: string;
  info: DatabaseInfo;
  /** problems the written scenario still has (it is a starting point) */
  warnings: string[];
}

const URL_RE = /^postgres(ql)?:\/\//i;

function defaultName(from: string): string {
  let base: string;
  if (URL_RE.test(from)) {
    try {
      base = decodeURIComponent(new URL(from).pathname.replace(/^\//, '')) || 'database';
    } catch {
      base = 'database';
    }
  } else base = path.basename(from).replace(/\.(dump|sql|backup|tar|pgdump)$/i, '');
  const name = base.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[-_]+|[-_]+$/g, '').slice(0, 50) || 'my-database';
  return `${name}-drill`;
}

/** The database's address as the scenario may show it: never the password. */
function redacted(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString().replace(/:@/, '@');
  } catch {
    return 'a database URL';
  }
}

export async function runInit(options: InitOptions): Promise<InitResult> {
  const name = options.name ?? defaultName(options.from);
  if (!SCENARIO_NAME_RE.test(name)) {
    throw new InvalidInputError([{ path: '--name', message: `${JSON.stringify(name)} is not a scenario name: 1-64 characters a-z, 0-9, "-" and "_"` }], 'command line');
  }
  const out = path.resolve(options.out ?? `${name}.yaml`);
  if (existsSync(out) && !options.force) {
    throw new InvalidInputError([{ path: '--out', message: `${out} exists; give another --out, or --force to overwrite it` }], 'command line');
  }
  const outDir = path.dirname(out);
  const relative = (file: string) => {
    const rel = path.relative(outDir, file);
    return rel.startsWith('..') || path.isAbsolute(rel) ? file : `./${rel}`;
  };

  let info: DatabaseInfo;
  let seed: { dump: string } | { sql: string };
  let dumped: string | undefined;
  let source: string;
  if (URL_RE.test(options.from)) {
    source = redacted(options.from);
    info = await introspectUrl(options.from);
    dumped = path.join(outDir, `${name}.dump`);
    if (existsSync(dumped) && !options.force) {
      throw new InvalidInputError([{ path: '--from', message: `${dumped} exists (the dump init writes); remove it, or --force to overwrite it` }], 'command line');
    }
    await dumpUrl(options.from, dumped, info.major, options);
    seed = { dump: relative(dumped) };
  } else {
    const file = path.resolve(options.from);
    if (!existsSync(file)) {
      throw new InvalidInputError([{ path: '--from', message: `${options.from} does not exist; give a pg_dump archive, a SQL file or a postgres:// URL` }], 'command line');
    }
    const kind = statSync(file).isDirectory() || !('error' in inspectDump(file)) ? 'dump' : 'sql';
    source = path.basename(file);
    info = await introspectFile(file, kind, options.signal);
    seed = kind === 'dump' ? { dump: relative(file) } : { sql: relative(file) };
  }

  const text = scaffoldScenario(info, { name, seed, source });
  await writeFile(out, text);
  const warnings: string[] = [];
  try {
    parseScenarioText(text, out);
  } catch (err) {
    warnings.push(errorMessage(err));
  }
  return { file: out, ...(dumped ? { dump: dumped } : {}), info, warnings };
}

async function introspectUrl(url: string): Promise<DatabaseInfo> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: 'pgdrill-init' });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new EnvironmentError(`cannot connect to ${redacted(url)}: ${errorMessage(err)}; check the URL (the password may come from PGPASSWORD)`, 'PGDRILL_INIT_CONNECT');
  }
  try {
    return await introspectDatabase(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** pg_dump -Fc of the live database: what the scenario's seed restores. */
async function dumpUrl(url: string, file: string, major: number, options: InitOptions): Promise<void> {
  // the password goes in the environment, not on a command line every `ps` shows
  let dbname = url;
  const env: Record<string, string> = {};
  try {
    const u = new URL(url);
    if (u.password) {
      env.PGPASSWORD = decodeURIComponent(u.password);
      u.password = '';
      dbname = u.toString();
    }
  } catch {
    // not a URL node understands: give it to pg_dump as written
  }
  if (!env.PGPASSWORD && process.env.PGPASSWORD) env.PGPASSWORD = process.env.PGPASSWORD;
  const args = ['-Fc', '-f', file, ...(options.schemaOnly ? ['--schema-only'] : []), '--dbname', dbname];
  const result = await runLocalTool('pg_dump', args, { minMajor: major, env, signal: options.signal, timeout: 3_600_000 });
  if (result.exitCode !== 0) {
    throw new EnvironmentError(`pg_dump of ${redacted(url)} failed (exit ${result.exitCode}): ${(result.stderr || result.stdout).trim().split('\n').slice(-5).join('\n')}`, 'PGDRILL_INIT_DUMP');
  }
}

/** Loads the file into a throwaway server, as a run would, and looks at it there. */
async function introspectFile(file: string, kind: 'dump' | 'sql', signal?: AbortSignal): Promise<DatabaseInfo> {
  const password = randomBytes(12).toString('base64url');
  const runtime = new LocalRuntime({
    runId: `init-${process.pid}-${randomBytes(3).toString('hex')}`,
    credentials: { superuser: 'pgdrill', superuserPassword: password, replicationUser: 'replicator', replicationPassword: password },
  });
  try {
    await runtime.preflight([{ name: 'init', version: DEFAULT_MAJOR }], signal);
    const node: RuntimeNode = await runtime.createNode({ name: 'init', version: DEFAULT_MAJOR });
    await node.initdb();
    await node.start({ signal });
    await withNode(node, (c) => c.query(`CREATE DATABASE ${DATABASE}`), { database: 'postgres' });
    const seed: SeedConfig = { users: 0, products: 0, orders: 0, itemsPerOrder: 1, ...(kind === 'dump' ? { dump: file, jobs: 2 } : { sql: file }) };
    const scenario = { seed, baseDir: path.dirname(file) };
    let dumpedFrom: string | undefined;
    if (kind === 'dump') {
      ({ dumpedFrom } = await restoreDumpSeed(node, scenario, {
        signal,
        recreateDatabase: async () => {
          await withNode(node, async (c) => {
            await c.query(`DROP DATABASE ${DATABASE} WITH (FORCE)`);
            await c.query(`CREATE DATABASE ${DATABASE}`);
          }, { database: 'postgres' });
        },
      }));
    } else await loadSqlSeed(node, scenario, signal);
    const info = await withNode(
      node,
      async (c) => {
        await c.query('ANALYZE');
        return introspectDatabase(c);
      },
      { timeout: 600_000 },
    );
    // the server it was loaded into is ours; the one that matters is the one the dump came from
    const major = dumpedFrom ? Number(/^(\d+)/.exec(dumpedFrom)?.[1]) : NaN;
    return Number.isFinite(major) ? { ...info, major, version: dumpedFrom! } : info;
  } finally {
    await runtime.dispose();
  }
}

/** What `pgdrill init` prints. */
export function initSummary(result: InitResult): string {
  const { info } = result;
  const keyless = info.tables.filter((t) => t.key.length === 0).length;
  return [
    `wrote ${result.file}: ${info.tables.length} tables (${formatBytes(info.bytes)}, PostgreSQL ${info.version}), ` +
      `${info.tables.length - keyless} write scripts${keyless ? ` (${keyless} table(s) without a key have none)` : ''}`,
    ...(result.dump ? [`dumped the database to ${result.dump} (the scenario's seed)`] : []),
    ...result.warnings.map((w) => `warning: the scenario needs editing before it runs:\n${w}`),
    `next: edit the scripts (weights, values), then \`pgdrill validate ${path.relative(process.cwd(), result.file) || result.file}\` and \`pgdrill run\` it`,
  ].join('\n');
}
