// Loading your own schema and data into the primary: seed.sql through psql (psql's semantics:
// ON_ERROR_STOP, so the first error stops it, reported with the file's line), seed.dump through
// pg_restore (parallel jobs where the format allows). The tools run in the node's own
// environment (runTool), so the docker runtime works the same; the file is staged there first.
// A file that fails to load is the environment's failure (exit 3) with the server's error.

import path from 'node:path';
import { EnvironmentError } from '../errors.js';
import type { RuntimeNode, ToolResult } from '../runtime/runtime.js';
import type { Scenario } from '../scenario/scenario.js';
import { DATABASE } from '../topology/connect.js';
import { inspectDump, seedFilePath, type DumpInfo } from './seed-files.js';

/** Seeds take as long as the data: an hour is a generous ceiling, not an expectation. */
const SEED_TIMEOUT_MS = 3_600_000;

export interface FileSeedResult {
  /** what was loaded and how, for the seeded event */
  detail: string;
  ms: number;
  /** a dump's source server version, as its table of contents says ("15.18") */
  dumpedFrom?: string;
}

/** "15.18 (Debian 15.18-0+deb12u1)" from pg_restore -l's header; undefined when it does not say. */
export function dumpedFromVersion(listing: string): string | undefined {
  return /Dumped from database version:\s*(\S+)/.exec(listing)?.[1];
}

export class SeedLoadError extends EnvironmentError {
  constructor(message: string) {
    super(message, 'PGDRILL_SEED_FAILED');
  }
}

/**
 * psql's own report of the first error: `psql:<file>:<line>: ERROR:  <message>` and the lines
 * after it (LINE, DETAIL, HINT, CONTEXT). Pure, for the message and its tests.
 */
export function psqlFailure(stderr: string, stagedPath: string, shownPath: string): { line?: number; error: string } {
  const lines = stderr.split('\n');
  const at = lines.findIndex((l) => /^psql:.*:\d+: (ERROR|FATAL|PANIC):/.test(l));
  if (at < 0) {
    const said = lines.filter((l) => l.trim()).slice(-6).join('\n');
    return { error: said || 'psql failed without saying why' };
  }
  const m = /^psql:(.*):(\d+): ((?:ERROR|FATAL|PANIC):\s+.*)$/.exec(lines[at])!;
  const rest: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (/^psql:/.test(l) || rest.length >= 6) break;
    if (l.trim()) rest.push(l.replace(/\s+$/, ''));
  }
  const error = [m[3].replace(/\s+/, ' '), ...rest].join('\n').split(stagedPath).join(shownPath);
  return { line: Number(m[2]), error };
}

/** pg_restore's report: the TOC entry it was processing and the server's error with the command. */
export function pgRestoreFailure(stderr: string): { entry?: string; error: string } {
  const lines = stderr.split('\n').map((l) => l.replace(/\s+$/, ''));
  const entry = lines.map((l) => /from TOC entry (.*)$/.exec(l)?.[1]).find((e) => e !== undefined);
  const at = lines.findIndex((l) => /error:/.test(l));
  const picked = at < 0 ? lines.filter((l) => l.trim()).slice(-6) : lines.slice(at, at + 6).filter((l) => l.trim() && !/^pg_restore: (while PROCESSING TOC|from TOC entry)/.test(l));
  return { entry, error: picked.join('\n').replace(/^pg_restore: error: /, '') || 'pg_restore failed without saying why' };
}

function shownPath(scenario: Pick<Scenario, 'baseDir'>, file: string): string {
  const resolved = seedFilePath(scenario, file);
  return resolved === file ? file : `${file} (${resolved})`;
}

async function withStaged<T>(node: RuntimeNode, file: string, name: string, body: (staged: string) => Promise<T>): Promise<T> {
  const staged = await node.stageFile(file, name);
  try {
    return await body(staged.path);
  } finally {
    await staged.remove().catch(() => undefined);
  }
}

async function requireTool(node: RuntimeNode, tool: 'psql' | 'pg_restore', minMajor: number, why: string): Promise<void> {
  if (await node.hasTool(tool, minMajor)) return;
  throw new EnvironmentError(
    `${why} needs ${tool}${minMajor ? ` of PostgreSQL ${minMajor} or newer` : ''} where node "${node.name}" runs, and none was found. ` +
      `Install PostgreSQL client tools (on Debian/Ubuntu \`apt-get install postgresql-client-<N>\`; Debian 12 has 15, the PGDG repository every major), ` +
      `or set PGDRILL_PG_BIN_<N> to a bin directory that holds them; with --runtime docker, use an image that ships them.`,
    'PGDRILL_CLIENT_TOOL_MISSING',
  );
}

/** Runs seed.sql with psql on `node`'s database; throws SeedLoadError with the file's line on the first error. */
export async function loadSqlSeed(node: RuntimeNode, scenario: Pick<Scenario, 'seed' | 'baseDir'>, signal?: AbortSignal): Promise<FileSeedResult> {
  const file = scenario.seed.sql!;
  const hostPath = seedFilePath(scenario, file);
  await requireTool(node, 'psql', 0, `seed.sql ${file}`);
  const variables = Object.entries(scenario.seed.variables ?? {}).flatMap(([k, v]) => ['-v', `${k}=${v}`]);
  const started = performance.now();
  const result = await withStaged(node, hostPath, `seed-${path.basename(hostPath).replace(/[^A-Za-z0-9._-]/g, '_')}`, (staged) =>
    node.runTool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...variables, '-d', node.external?.database ?? DATABASE, '-f', staged], {
      minMajor: 0,
      signal,
      timeout: SEED_TIMEOUT_MS,
    }).then((r) => ({ r, staged })),
  );
  const ms = performance.now() - started;
  if (result.r.exitCode !== 0) {
    const shown = shownPath(scenario, file);
    const { line, error } = psqlFailure(result.r.stderr || result.r.stdout, result.staged, file);
    const hint = /role ".*" does not exist/.test(error)
      ? ' The file names a role this server does not have: dump with --no-owner --no-privileges, or create the role at the top of the file.'
      : /extension ".*" is not available|could not open extension control file/.test(error)
        ? ` The file needs an extension node "${node.name}"'s PostgreSQL does not ship; remove it from the file or use a server that has it.`
        : '';
    throw new SeedLoadError(
      `seed.sql ${shown} failed to load on node "${node.name}"${line !== undefined ? ` at line ${line}` : ''} ` +
        `(${describeExit(result.r)}); psql stops at the first error (ON_ERROR_STOP), so nothing after it ran:\n${indent(error)}\n` +
        `Fix the file and run again.${hint}`,
    );
  }
  const vars = Object.keys(scenario.seed.variables ?? {});
  return { ms, detail: `psql -f ${file}${vars.length ? ` with ${vars.map((v) => `:${v}`).join(', ')}` : ''} in ${(ms / 1000).toFixed(2)}s` };
}

/** Restores seed.dump with pg_restore on `node`'s database; throws SeedLoadError with the TOC entry on the first error. */
export async function restoreDumpSeed(
  node: RuntimeNode,
  scenario: Pick<Scenario, 'seed' | 'baseDir'>,
  options: { signal?: AbortSignal; recreateDatabase: () => Promise<void> },
): Promise<FileSeedResult> {
  const file = scenario.seed.dump!;
  const hostPath = seedFilePath(scenario, file);
  const info = inspectDump(hostPath);
  if ('error' in info) throw new SeedLoadError(`seed.dump ${shownPath(scenario, file)} ${info.error}`);
  await requireTool(node, 'pg_restore', info.minRestoreMajor, `seed.dump ${file} (archive format ${info.archiveVersion})`);
  const jobs = info.format === 'tar' ? 1 : (scenario.seed.jobs ?? 1);
  const started = performance.now();
  const run = (staged: string, j: number) =>
    node.runTool('pg_restore', restoreArgs(staged, j), { minMajor: info.minRestoreMajor, signal: options.signal, timeout: SEED_TIMEOUT_MS });
  const outcome = await withStaged(node, hostPath, `seed-${path.basename(hostPath).replace(/[^A-Za-z0-9._-]/g, '_')}`, async (staged) => {
    // the table of contents only: which server the dump came from
    const listing = await node.runTool('pg_restore', ['-l', staged], { minMajor: info.minRestoreMajor, signal: options.signal, timeout: 600_000 });
    const dumpedFrom = listing.exitCode === 0 ? dumpedFromVersion(listing.stdout) : undefined;
    let result = await run(staged, jobs);
    let usedJobs = jobs;
    // a custom dump written to a pipe (pg_dump -Fc > file) has no data offsets: a parallel
    // restore cannot seek in it and says so; a serial one reads it front to back
    if (result.exitCode !== 0 && jobs > 1 && /lack of data offsets|possibly due to out-of-order restore request/.test(result.stderr)) {
      await options.recreateDatabase();
      usedJobs = 1;
      result = await run(staged, 1);
    }
    return { result, usedJobs, dumpedFrom };
  });
  const ms = performance.now() - started;
  if (outcome.result.exitCode !== 0) {
    const { entry, error } = pgRestoreFailure(outcome.result.stderr || outcome.result.stdout);
    const hint = /unsupported version \(\d+\.\d+\) in file header/.test(error)
      ? ` The dump was made by a newer pg_dump than the pg_restore found; install client tools of that major or newer.`
      : /role ".*" does not exist/.test(error)
        ? ' (pgdrill restores with --no-owner --no-privileges; a role named in the data itself must exist: create it in a seed.sql instead.)'
        : '';
    throw new SeedLoadError(
      `seed.dump ${shownPath(scenario, file)} failed to restore on node "${node.name}"${entry ? ` at TOC entry ${entry}` : ''} ` +
        `(${describeExit(outcome.result)}); pg_restore stops at the first error (--exit-on-error):\n${indent(error)}\nFix the dump and run again.${hint}`,
    );
  }
  return {
    ms,
    detail:
      `pg_restore of a ${describeDump(info)} dump ${file}${outcome.dumpedFrom ? ` of PostgreSQL ${outcome.dumpedFrom}` : ''} ` +
      `with ${outcome.usedJobs} job${outcome.usedJobs === 1 ? '' : 's'} in ${(ms / 1000).toFixed(2)}s`,
    ...(outcome.dumpedFrom ? { dumpedFrom: outcome.dumpedFrom } : {}),
  };
}

/**
 * --no-owner --no-privileges: the dump comes from another cluster, whose roles this one does
 * not have (ALTER ... OWNER TO app would stop the restore); everything is owned by the run's
 * superuser instead, as a restore into a fresh environment usually is.
 */
function restoreArgs(file: string, jobs: number): string[] {
  return ['-d', DATABASE, '--exit-on-error', '--no-owner', '--no-privileges', ...(jobs > 1 ? ['-j', String(jobs)] : []), file];
}

function describeDump(info: DumpInfo): string {
  return `${info.format}-format (archive ${info.archiveVersion})`;
}

function describeExit(result: ToolResult): string {
  return result.exitCode === 124 ? 'timed out' : `exit ${result.exitCode}`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
