// Copying a database between majors with the client tools, as the upgrade runbooks do:
// pg_dump (custom format, or directory format with parallel jobs) -> drop and recreate the target database -> pg_restore, roles and
// grants through pg_dumpall --globals-only, and the checks that prove the copy (sequences,
// roles, grants) for what table fingerprints do not cover.

import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { RuntimeNode, StagedFile } from '../runtime/runtime.js';
import { DATABASE } from '../topology/connect.js';
import { quoteIdent } from '../util/sql.js';
import { connectionArgs, runClientTool, scratchFile, type ToolRun } from './client-tools.js';
import { openCutoverSession } from './freeze.js';

export interface CopyPlan {
  source: RuntimeNode;
  target: RuntimeNode;
  /** where the tools run and the dump file lives */
  host: RuntimeNode;
  signal?: AbortSignal;
}

const DUMP_FILE = 'pgdrill-upgrade.dump';
const GLOBALS_FILE = 'pgdrill-globals.sql';

/** From this database size on, dump-restore copies with parallel jobs unless strategy.jobs says otherwise. */
export const PARALLEL_COPY_FROM_BYTES = 64 * 1024 * 1024;

/**
 * dump-restore's jobs when the scenario gives none (bench/dump-restore-bench.ts, docs/upgrades.md):
 * at 155 MB two jobs overlap the big tables' loads and index builds (final copy 5.6 s -> 4.8 s
 * here); at 12 MB the workers' connections and snapshot sync cost more than they save
 * (230 -> 360 ms), so small databases keep the custom format, one process each.
 */
export function copyJobsFor(databaseBytes: number): number {
  return databaseBytes >= PARALLEL_COPY_FROM_BYTES ? 2 : 1;
}

function toolOptions(plan: CopyPlan, password: string) {
  // the tools must read the source: its major is the floor for all of them
  return { minMajor: plan.source.version, password, signal: plan.signal };
}

export interface DumpOptions {
  schemaOnly?: boolean;
  /**
   * Parallel dump: directory format (-Fd) with this many jobs, one table each, on one
   * synchronized snapshot; pg_restore then loads the tables and builds the indexes with as
   * many, into `dir` (prepareDumpDirectory).
   */
  parallel?: { jobs: number; dir: StagedFile };
}

/**
 * An empty directory in the host node's scratch space for one parallel dump (pg_dump -Fd
 * writes into an empty directory only), owned by its server user: staged from an empty one
 * here, which also clears what an earlier dump of that name left. remove() when restored.
 */
export async function prepareDumpDirectory(host: RuntimeNode, name: string): Promise<StagedFile> {
  const empty = await fsp.mkdtemp(path.join(os.tmpdir(), 'pgdrill-dumpdir-'));
  try {
    return await host.stageFile(empty, name);
  } finally {
    await fsp.rm(empty, { recursive: true, force: true });
  }
}

/**
 * pg_dump of the scenario's database into the host's scratch space. Uncompressed (-Z 0):
 * the final dump runs inside the write freeze, where CPU spent compressing is downtime, and
 * the file never leaves the machine. Custom format (-Fc, one file, overwritten each time)
 * unless `parallel`.
 */
export async function dumpDatabase(plan: CopyPlan, options: DumpOptions = {}): Promise<ToolRun & { file: string; jobs: number }> {
  const { parallel } = options;
  const file = parallel ? parallel.dir.path : scratchFile(plan.host, DUMP_FILE);
  const format = parallel ? ['-Fd', '-j', String(parallel.jobs)] : ['-Fc'];
  const args = [...connectionArgs(plan.source), '-d', DATABASE, ...format, '-Z', '0', '-f', file];
  if (options.schemaOnly) args.push('--schema-only');
  const run = await runClientTool(plan.host, 'pg_dump', args, toolOptions(plan, plan.source.credentials.superuserPassword));
  return { ...run, file, jobs: parallel?.jobs ?? 1 };
}

/**
 * An empty database in place of the target's: cheaper than dropping object by object, and
 * the restore then loads the data before it builds indexes and constraints.
 */
export async function recreateDatabase(target: RuntimeNode): Promise<void> {
  const admin = await openCutoverSession(target, { database: 'postgres', queryTimeout: 600_000 });
  try {
    // FORCE (13+): nothing should be connected to green, but a leftover session must not block the copy
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(DATABASE)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${quoteIdent(DATABASE)}`);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/**
 * pg_restore of the dump into the target's (fresh) database; the first error stops it (with
 * jobs too: the other workers finish what they run and nothing more starts).
 */
export async function restoreDatabase(plan: CopyPlan, file: string, jobs = 1): Promise<ToolRun> {
  const args = [...connectionArgs(plan.target), '-d', DATABASE, '--exit-on-error', ...(jobs > 1 ? ['-j', String(jobs)] : []), file];
  return runClientTool(plan.host, 'pg_restore', args, toolOptions(plan, plan.target.credentials.superuserPassword));
}

/**
 * Roles, their attributes, passwords and memberships (pg_dumpall --globals-only) replayed on
 * the target with psql. Roles the target already has (the run's superuser and replication
 * role) make CREATE ROLE fail; the ALTER ROLE that follows each one still applies, so those
 * errors are expected and every other error fails the copy.
 */
export async function copyGlobals(plan: CopyPlan): Promise<string> {
  const file = scratchFile(plan.host, GLOBALS_FILE);
  await runClientTool(
    plan.host,
    'pg_dumpall',
    [...connectionArgs(plan.source), '-l', 'postgres', '--globals-only', '-f', file],
    toolOptions(plan, plan.source.credentials.superuserPassword),
  );
  const applied = await runClientTool(
    plan.host,
    'psql',
    [...connectionArgs(plan.target), '-d', 'postgres', '-X', '-q', '-v', 'ON_ERROR_STOP=0', '-f', file],
    toolOptions(plan, plan.target.credentials.superuserPassword),
  );
  const errors = applied.stderr.split('\n').filter((l) => /\bERROR:/.test(l));
  const unexpected = errors.filter((l) => !/role ".*" already exists/.test(l));
  if (unexpected.length) throw new Error(`replaying the roles on ${plan.target.name} failed: ${unexpected.slice(0, 5).join('; ')}`);
  return `roles copied with pg_dumpall --globals-only (${errors.length} already present)`;
}

/** Sequences by name with their last value, as pg_dump carries them (setval). */
export async function sequenceValues(client: pg.ClientBase): Promise<Map<string, string>> {
  const { rows } = await client.query<{ name: string; last: string | null }>(
    `SELECT format('%I.%I', schemaname, sequencename) AS name, last_value::text AS last FROM pg_sequences ORDER BY 1`,
  );
  return new Map(rows.map((r) => [r.name, r.last ?? 'never called']));
}

/** What differs between two sequence maps, as short phrases; [] when they agree. */
export function sequenceDifferences(source: Map<string, string>, target: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [name, value] of source) {
    const t = target.get(name);
    if (t === undefined) out.push(`${name} missing`);
    else if (t !== value) out.push(`${name} ${t} (source ${value})`);
  }
  for (const name of target.keys()) if (!source.has(name)) out.push(`${name} not on the source`);
  return out;
}

/**
 * Roles (attributes, password hash, memberships) and table privileges granted to others, as
 * comparable lines. The owner's own privileges are left out: 17 gives owners MAINTAIN, which
 * 13 does not know, so they differ between majors without anything being lost.
 */
export async function globalsAndGrants(client: pg.ClientBase): Promise<string[]> {
  const roles = await client.query<{ line: string }>(
    `SELECT format('role %s super=%s inherit=%s createrole=%s createdb=%s login=%s replication=%s bypassrls=%s connlimit=%s until=%s password=%s',
                   rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls,
                   rolconnlimit, coalesce(rolvaliduntil::text, '-'), md5(coalesce(rolpassword, ''))) AS line
       FROM pg_authid WHERE rolname !~ '^pg_' ORDER BY rolname`,
  );
  const members = await client.query<{ line: string }>(
    `SELECT format('member %s of %s admin=%s', m.rolname, r.rolname, a.admin_option) AS line
       FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
      WHERE r.rolname !~ '^pg_' ORDER BY 1`,
  );
  const grants = await client.query<{ line: string }>(
    `SELECT DISTINCT format('grant %s on %s to %s%s', g.privilege_type, c.oid::regclass,
                            CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(g.grantee) END,
                            CASE WHEN g.is_grantable THEN ' with grant option' ELSE '' END) AS line
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) g
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        AND g.grantee <> c.relowner
      ORDER BY 1`,
  );
  return [...roles.rows, ...members.rows, ...grants.rows].map((r) => r.line);
}

/** Lines on one side only, marked with the side; [] when both agree. */
export function lineDifferences(source: string[], target: string[], names: { source: string; target: string }): string[] {
  const s = new Set(source);
  const t = new Set(target);
  return [
    ...source.filter((l) => !t.has(l)).map((l) => `only on ${names.source}: ${l}`),
    ...target.filter((l) => !s.has(l)).map((l) => `only on ${names.target}: ${l}`),
  ];
}

/** Database size on the server, for step details ("how much was copied"). */
export async function databaseSize(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ bytes: string }>(`SELECT pg_database_size(current_database())::text AS bytes`);
  return Number(rows[0].bytes);
}
