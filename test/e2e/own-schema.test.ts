// Your own schema, data and statements on real servers: the bundled retro-service example
// through dump-restore and logical 13 -> 17 (every user table compared, 0 lost for your
// statements), a 24-table custom-format dump made here with pg_dump, scaffolded by `pgdrill
// init` and run as written, and bad inputs refused with the path and the fix: exit 2 for what
// the file shows, exit 3 before the load for what only the seeded database can tell.

import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadComparisonFile } from '../../harness/scenario/comparison.js';
import { loadScenarioFile } from '../../harness/scenario/load-scenario.js';
import { runComparison } from '../../harness/run/run-comparison.js';
import type { Results } from '../../harness/results/results.js';
import { leftovers, removeRunFolders, runInTemp } from './support/runs.js';
import { MANY_TABLES_COUNT, makeManyTablesDump } from './support/many-tables.js';
import { startThrowawayPostgres } from './support/throwaway-postgres.js';
import { withNode } from '../../harness/topology/connect.js';

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/harness/cli/main.js');
const example = path.join(root, 'scenarios/own-schema/retro-service.yaml');
const RETRO_TABLES = ['action_items', 'members', 'note_tags', 'notes', 'retrospectives', 'sprints', 'teams'];
let tmp: string;

function pgdrill(args: string[], cwd = tmp) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function scenarioFile(name: string, text: string): Promise<string> {
  const file = path.join(tmp, name);
  await writeFile(file, text);
  return file;
}

/** A small schema of one table, whose CHECK a long body breaks. */
const NOTES_SQL = `CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL CHECK (length(body) < 50));
INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 100) g;
`;

const single = (name: string, seed: string, scripts: string, extra = '') => `
name: ${name}
duration: 6s
nodes: { primary: { version: 15 } }
seed: ${seed}
workload:
  writes:
    rate: 100
    connections: 4
    scripts:
${scripts}
  reads: { rate: 0 }
${extra}`;

const ADD_NOTE = `      - name: add-note
        sql: "INSERT INTO notes (body) VALUES (:body) RETURNING id"
        vars: { body: "text(20)" }
        ledger: { table: notes, key: id, op: insert }`;

beforeAll(async () => {
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' });
  expect(build.status, build.stdout + build.stderr).toBe(0);
  tmp = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-own-'));
  await writeFile(path.join(tmp, 'notes.sql'), NOTES_SQL);
});

afterAll(async () => {
  await removeRunFolders();
  await rm(tmp, { recursive: true, force: true });
});

/** Every user table compared and matching, the ledger checked with nothing lost. */
function expectClean(results: Results, tables: string[]): void {
  expect(results.error, JSON.stringify(results.error)).toBeNull();
  const i = results.integrity!;
  expect(i.tables.map((t) => t.table).sort()).toEqual([...tables].sort());
  expect(i.tables.filter((t) => !t.match)).toEqual([]);
  expect(i.tables.every((t) => t.sourceRows !== null && t.sourceRows > 0)).toBe(true);
  expect(i.lostWrites).toBe(0);
  expect(i.acknowledgedWrites).toBeGreaterThan(500);
  expect(results.checks.filter((c) => c.valid !== true)).toEqual([]);
  expect(results.verdict).toBe('pass');
}

describe('the bundled own-schema example (scenarios/own-schema/retro-service.yaml)', () => {
  it('passes through dump-restore and logical 13 -> 17: every user table matching, 0 of its statements\' writes lost', async () => {
    const comparison = await loadComparisonFile(example);
    const out = path.join(tmp, 'retro');
    const outcome = await runComparison(comparison, { out });
    expect(outcome.runs.map((r) => [r.label, r.exitCode])).toEqual([
      ['dump-restore', 0],
      ['logical', 0],
    ]);
    expect(outcome.exitCode).toBe(0);
    for (const run of outcome.runs) {
      const r = run.results;
      expectClean(r, RETRO_TABLES);
      expect(r.cutover).toMatchObject({ strategy: run.variant, from: 'blue', to: 'green', ok: true, dryRun: false });
      // the seed was the user's file, through psql
      const seeded = r.events.find((e) => e.kind === 'seeded');
      expect(seeded).toMatchObject({ node: 'blue', source: 'sql', rows: expect.objectContaining({ notes: 4000, note_tags: 5334 }) });
      // every statement ran, and writes of every kind reached the ledger (the composite key's too)
      const scripts = r.load.scripts!;
      expect(scripts.map((s) => s.name)).toEqual(['add-note', 'vote', 'tag', 'untag', 'new-retro', 'close-retro', 'add-action', 'board', 'my-actions']);
      expect(scripts.every((s) => s.ok > 0)).toBe(true);
      expect(scripts.find((s) => s.name === 'tag')!.ledger).toBe('note_tags (note_id, tag), insert');
      // the sequence of its own (ticket numbers) is checked with the serial ones, and none is behind
      const sequences = r.integrity!.sequences!;
      expect(sequences.find((s) => s.sequence === 'retro_ticket_seq')).toMatchObject({ table: 'retrospectives', column: 'ticket_no', ok: true });
      expect(sequences.every((s) => s.ok)).toBe(true);
      // the trigger's counts agree with the notes on the new primary (a logical subscriber must not count twice)
      expect(r.integrity!.schemaDifferences).toEqual([]);
      expect(leftovers(r.runId)).toEqual([]);
    }
    const logical = outcome.runs.find((r) => r.variant === 'logical')!.results;
    expect(logical.cutover!.steps.find((s) => s.name === 'sync-sequences')!.detail).toMatch(/^7 sequences set from blue/);
  }, 240_000);
});

describe('a 24-table custom-format dump', () => {
  it('is scaffolded by pgdrill init and runs as written: every table compared and matching, 0 lost', async () => {
    const { dir, file } = await makeManyTablesDump();
    try {
      const init = pgdrill(['init', '--from', file], dir);
      expect(init.code, init.stderr).toBe(0);
      expect(init.stdout).toContain(`${MANY_TABLES_COUNT} tables`);
      expect(init.stdout).toContain(`${MANY_TABLES_COUNT - 1} write scripts (1 table(s) without a key have none)`);
      const scenario = await loadScenarioFile(path.join(dir, 'shop-drill.yaml'), ['duration=18s', 'timeline[0].at=1s', 'timeline[1].at=6s']);
      expect(scenario.seed.dump).toBe('./shop.dump');
      expect(scenario.nodes.blue.version).toBe(15);
      expect(scenario.workload.writes.scripts).toHaveLength(MANY_TABLES_COUNT - 1);
      const run = await runInTemp(scenario);
      expect(run.exitCode, JSON.stringify({ checks: run.results.checks.filter((c) => c.valid !== true), lost: run.results.integrity?.lost.slice(0, 5) })).toBe(0);
      const names = run.results.integrity!.tables.map((t) => t.table);
      expect(names).toHaveLength(MANY_TABLES_COUNT);
      expect(names).toEqual(expect.arrayContaining(['billing.invoices', 'billing.payments', 'events', 'currencies']));
      expectClean(run.results, names);
      const seeded = run.results.events.find((e) => e.kind === 'seeded');
      expect(seeded && seeded.kind === 'seeded' && seeded.detail).toMatch(/pg_restore of a custom-format \(archive 1\.14\) dump \.\/shop\.dump of PostgreSQL 15\.\S+ with 2 jobs/);
      // char(3), text, uuid and composite keys all found their rows
      const written = new Set(run.results.load.scripts!.filter((s) => s.stream === 'write' && s.ok > 0).map((s) => s.name));
      expect(written).toEqual(expect.objectContaining({ size: MANY_TABLES_COUNT - 1 }));
      expect(leftovers(run.results.runId)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('pgdrill init from a live database', () => {
  it('looks at it through its URL, dumps it beside the scenario with the password kept off the command line, and writes a valid scenario', async () => {
    const server = await startThrowawayPostgres({ version: 15 });
    try {
      await withNode(server.node, (c) => c.query('CREATE DATABASE live'), { database: 'postgres' });
      await withNode(server.node, (c) => c.query(NOTES_SQL), { database: 'live' });
      const { user, password } = server.credentials;
      const url = `postgres://${user}:${encodeURIComponent(password)}@${server.address.host}:${server.address.port}/live`;
      const r = pgdrill(['init', '--from', url, '--out', 'live.yaml']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('1 tables');
      expect(r.stdout).toContain(`dumped the database to ${path.join(tmp, 'live-drill.dump')}`);
      const scenario = await loadScenarioFile(path.join(tmp, 'live.yaml'));
      expect(scenario.seed.dump).toBe('./live-drill.dump');
      expect(scenario.nodes.blue.version).toBe(15);
      expect(scenario.workload.writes.scripts).toEqual([
        expect.objectContaining({ sql: 'INSERT INTO notes (body) VALUES ((SELECT body FROM notes WHERE body IS NOT NULL LIMIT 1)) RETURNING id', ledger: { table: 'notes', key: ['id'], op: 'insert' } }),
      ]);
      // the scenario names the server without its password
      expect(await import('node:fs/promises').then((fs) => fs.readFile(path.join(tmp, 'live.yaml'), 'utf8'))).not.toContain(password);
    } finally {
      await server.dispose();
    }
  });
});

describe('bad inputs, refused with the path and the fix', () => {
  it('a missing seed file: exit 2, nothing started', async () => {
    const file = await scenarioFile('missing.yaml', single('missing', '{ sql: ./nope.sql }', ADD_NOTE));
    const r = pgdrill(['run', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`seed.sql: "./nope.sql" (${path.join(tmp, 'nope.sql')}) does not exist; paths are relative to the scenario file's folder`);
  });

  it('both sql and dump: exit 2', async () => {
    const file = await scenarioFile('both.yaml', single('both', '{ sql: ./notes.sql, dump: ./notes.dump }', ADD_NOTE));
    const r = pgdrill(['validate', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('seed: has both sql and dump; give one: sql for a SQL file (run with psql), dump for a pg_dump archive');
  });

  it('a variable used but not declared: exit 2', async () => {
    const script = ADD_NOTE.replace('VALUES (:body)', 'VALUES (:bdy)').replace('{ body: "text(20)" }', '{ body: "text(20)" }');
    const file = await scenarioFile('undeclared.yaml', single('undeclared', '{ sql: ./notes.sql }', script));
    const r = pgdrill(['validate', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('workload.writes.scripts[0].sql: uses :bdy, which vars does not declare; add it, e.g. vars: { bdy: "random(1, 1000)" }');
    expect(r.stderr).toContain('workload.writes.scripts[0].vars.body: is declared but the statement never uses :body');
  });

  it('a ledger table the seed does not create: exit 3 after the seed, before the load, naming the table and the ones there are', async () => {
    const file = await scenarioFile('ledger.yaml', single('ledger', '{ sql: ./notes.sql }', ADD_NOTE.replace('table: notes', 'table: notez')));
    const run = await runInTemp(await loadScenarioFile(file));
    expect(run.exitCode).toBe(3);
    expect(run.results.error?.code).toBe('PGDRILL_SCRIPT_MISMATCH');
    expect(run.results.error?.message).toContain(
      'workload.writes.scripts[0].ledger.table: table "notez" does not exist after the seed (user tables: notes); did you mean "notes"?; name a table your seed creates',
    );
    expect(run.results.phases.map((p) => p.name)).not.toContain('load');
    expect(run.results.load.writes.intended).toBe(0);
    expect(leftovers(run.results.runId)).toEqual([]);
  });

  it('a SQL file that fails at a line: exit 3 with the server\'s error and the line', async () => {
    await writeFile(path.join(tmp, 'broken.sql'), `CREATE TABLE notes (id bigserial PRIMARY KEY, body text);\n\nINSERT INTO note (body) VALUES ('x');\n`);
    const file = await scenarioFile('broken-sql.yaml', single('broken-sql', '{ sql: ./broken.sql }', ADD_NOTE));
    const run = await runInTemp(await loadScenarioFile(file));
    expect(run.exitCode).toBe(3);
    expect(run.results.error?.code).toBe('PGDRILL_SEED_FAILED');
    expect(run.results.error?.message).toContain('seed.sql ./broken.sql');
    expect(run.results.error?.message).toContain('failed to load on node "primary" at line 3');
    expect(run.results.error?.message).toContain('ERROR: relation "note" does not exist');
  });

  it('a statement that fails every time during the run: the run stops with exit 3 naming it, instead of counting failures', async () => {
    const longBody = ADD_NOTE.replace('text(20)', 'text(80)');
    const file = await scenarioFile('broken-stmt.yaml', single('broken-stmt', '{ sql: ./notes.sql }', longBody).replace('duration: 6s', 'duration: 20s'));
    const run = await runInTemp(await loadScenarioFile(file));
    expect(run.exitCode).toBe(3);
    expect(run.results.error?.code).toBe('PGDRILL_STATEMENT_BROKEN');
    expect(run.results.error?.message).toMatch(
      /^workload\.writes\.scripts\[0\] \("add-note"\) failed on the server on each of its first 5 executions, before it ever succeeded: 23514 new row for relation "notes" violates check constraint/,
    );
    // stopped at once: a handful of the 2000 intended writes
    expect(run.results.load.writes.intended).toBeLessThan(200);
    expect(leftovers(run.results.runId)).toEqual([]);
  });

  it('logical with a table that has no key: exit 3 after the seed, naming the table', async () => {
    await writeFile(path.join(tmp, 'keyless.sql'), `${NOTES_SQL}CREATE TABLE audit (at timestamptz DEFAULT now(), what text);\n`);
    const file = await scenarioFile(
      'keyless.yaml',
      single('keyless', '{ sql: ./keyless.sql }', ADD_NOTE)
        .replace('nodes: { primary: { version: 15 } }', 'nodes: { blue: { version: 13 }, green: { version: 17 } }\nstrategy: { kind: logical, from: blue, to: green }')
        .concat('timeline:\n  - at: 3s\n    cutover: {}\n'),
    );
    const run = await runInTemp(await loadScenarioFile(file));
    expect(run.exitCode).toBe(3);
    expect(run.results.error?.code).toBe('PGDRILL_SCHEMA_UNSUPPORTED');
    expect(run.results.error?.message).toContain('1 table(s) have no primary key or replica identity, so their UPDATE and DELETE cannot be published: audit');
    expect(run.results.load.writes.intended).toBe(0);
    expect(leftovers(run.results.runId)).toEqual([]);
  });
});
