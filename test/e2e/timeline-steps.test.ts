// sql and command steps through runTimelineStep against a real PostgreSQL (15, the system's):
// what runs, what is recorded, and that a command cut short leaves no process behind.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Recorder } from '../../harness/record/recorder.js';
import type { RuntimeNode } from '../../harness/runtime/runtime.js';
import type { CommandStepConfig, SqlStepConfig, TimelineEntry } from '../../harness/scenario/scenario.js';
import { DATABASE, withNode } from '../../harness/topology/connect.js';
import { quoteIdent, quoteLiteral } from '../../harness/util/sql.js';
import { nodeUrl, runTimelineStep, type StepContext } from '../../harness/steps/index.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from './support/throwaway-postgres.js';
import { pidsMatching } from './support/runs.js';

// a role whose name and password need encoding in a URL: the command must still get in with them
const ODD_USER = 'drill odd';
const ODD_PASSWORD = 'p@ss:w/rd?#%& é';

let server: ThrowawayPostgres;
let oddNode: RuntimeNode;
let baseDir: string;

const sql = (statement: string, more: Partial<SqlStepConfig> = {}): TimelineEntry => ({
  at: 0,
  sql: { node: 'primary', statement, timeout: 60_000, allowFailure: false, ...more },
});
const command = (run: string, more: Partial<CommandStepConfig> = {}): TimelineEntry => ({
  at: 0,
  command: { run, timeout: 300_000, allowFailure: false, ...more },
});

function context(overrides: Partial<StepContext> = {}): StepContext {
  const nodes: Record<string, RuntimeNode> = { primary: server.node, 'replica-2': oddNode };
  return {
    nodes: (name) => {
      const node = nodes[name];
      if (!node) throw new Error(`no node ${name} in this run`);
      return node;
    },
    nodeNames: Object.keys(nodes),
    endpointUrl: nodeUrl(server.node, DATABASE),
    baseDir,
    recorder: new Recorder(),
    signal: new AbortController().signal,
    ...overrides,
  };
}

async function script(name: string, body: string): Promise<void> {
  const file = path.join(baseDir, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
}

/** Processes whose command line matches `pattern` (pgrep -f), zombies aside. */
function running(pattern: string): number[] {
  return pidsMatching(pattern).filter((pid) => {
    try {
      return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false; // gone since pgrep listed it
    }
  });
}

const query = <T extends Record<string, unknown>>(text: string, database = DATABASE) =>
  withNode(server.node, async (c) => (await c.query<T>(text)).rows, { database });

beforeAll(async () => {
  server = await startThrowawayPostgres();
  await withNode(
    server.node,
    async (c) => {
      await c.query(`CREATE DATABASE ${DATABASE}`);
      await c.query(`CREATE ROLE ${quoteIdent(ODD_USER)} LOGIN SUPERUSER PASSWORD ${quoteLiteral(ODD_PASSWORD)}`);
    },
    { database: 'postgres' },
  );
  oddNode = {
    name: 'replica-2',
    address: server.node.address,
    credentials: { ...server.node.credentials, superuser: ODD_USER, superuserPassword: ODD_PASSWORD },
  } as RuntimeNode;
  baseDir = await mkdtemp(path.join(tmpdir(), 'pgdrill-steps-'));
});

afterAll(async () => {
  await server?.dispose();
  if (baseDir) await rm(baseDir, { recursive: true, force: true });
});

describe('sql steps', () => {
  it('runs DDL and DML as one simple query on the node, reports the summed row count and records start and end', async () => {
    const ctx = context();
    const statement = `CREATE TABLE notes (id int PRIMARY KEY, body text);
      INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 25) g;
      DELETE FROM notes WHERE id % 5 = 0;
      SELECT id, body FROM notes ORDER BY id LIMIT 2;`;
    const record = await runTimelineStep(sql(statement), 3, ctx);

    expect(record).toMatchObject({ step: 'sql', index: 3, ok: true, allowFailure: false, rowCount: 25 + 5 + 2 });
    expect(record.label).toBe('sql on primary: CREATE TABLE notes (id int PRIMARY KE...');
    expect(record.outputTail).toBe(['CREATE', 'INSERT 25', 'DELETE 5', 'SELECT 2', '  id | body', '  1 | note 1', '  2 | note 2'].join('\n'));
    expect(record.endMs).toBeGreaterThanOrEqual(record.startMs);
    expect(await query('SELECT count(*)::int AS n FROM notes')).toEqual([{ n: 20 }]);

    const [start, end] = ctx.recorder.events;
    expect(start).toMatchObject({ kind: 'step-start', step: 'sql', index: 3, label: record.label });
    const { startMs, endMs, ...rest } = record;
    expect(end).toEqual({ t: end.t, kind: 'step-end', ...rest, durationMs: Math.round(endMs - startMs) });
    expect(end).not.toHaveProperty('startMs');
  });

  it('reports a failing statement with its SQLSTATE and rolls back the statements before it', async () => {
    const record = await runTimelineStep(sql('CREATE TABLE doomed (id int); INSERT INTO doomed VALUES (1); SELECT 1 / 0;', { allowFailure: true }), 0, context());
    expect(record).toMatchObject({ ok: false, allowFailure: true, sqlstate: '22012', rowCount: null, error: 'division by zero' });
    expect(record.outputTail).toContain('ERROR:  division by zero\nSQLSTATE:  22012');
    expect(await query("SELECT to_regclass('doomed') AS t")).toEqual([{ t: null }]);
  });

  it('reports an unknown table as 42P01 with psql\'s wording', async () => {
    const record = await runTimelineStep(sql('SELECT * FROM nope'), 0, context());
    expect(record).toMatchObject({ ok: false, sqlstate: '42P01', error: 'relation "nope" does not exist' });
    expect(record.outputTail).toContain('ERROR:  relation "nope" does not exist');
  });

  it('keeps the server\'s notices in the output tail', async () => {
    const record = await runTimelineStep(sql("DO $$ BEGIN RAISE NOTICE 'migrated % rows', 42; END $$"), 0, context());
    expect(record).toMatchObject({ ok: true, rowCount: null });
    expect(record.outputTail).toBe('DO\nNOTICE:  migrated 42 rows');
  });

  it('fails a statement that leaves its transaction open, which closing the session rolls back', async () => {
    const record = await runTimelineStep(sql('BEGIN; CREATE TABLE half_done (id int);'), 0, context());
    expect(record).toMatchObject({ ok: false, rowCount: null });
    expect(record.error).toContain('left a transaction open');
    expect(await query("SELECT to_regclass('half_done') AS t")).toEqual([{ t: null }]);
  });

  it('runs in another database when one is given', async () => {
    const record = await runTimelineStep(sql('SELECT current_database()', { database: 'postgres' }), 0, context());
    expect(record).toMatchObject({ ok: true, rowCount: 1 });
    expect(record.outputTail).toContain('  postgres');
  });

  it('cancels a statement that outlives its timeout on the server, not only in the client', async () => {
    const started = Date.now();
    const record = await runTimelineStep(sql("SELECT pg_sleep(30) /* step-timeout-marker */", { timeout: 500 }), 0, context());
    expect(Date.now() - started).toBeLessThan(5000);
    expect(record).toMatchObject({ ok: false, sqlstate: '57014' });
    expect(record.error).toContain('did not finish within 500ms');
    expect(record.error).toContain('pgdrill cancelled it on the server');
    const left = await query("SELECT pid FROM pg_stat_activity WHERE query LIKE '%step-timeout-marker%' AND pid <> pg_backend_pid()");
    expect(left).toEqual([]);
  });

  it('records an unknown node instead of throwing', async () => {
    const record = await runTimelineStep(sql('SELECT 1', { node: 'ghost' }), 0, context());
    expect(record).toMatchObject({ ok: false, step: 'sql' });
    expect(record.error).toContain('no node ghost in this run');
  });
});

describe('command steps', () => {
  it('gives the command every node\'s URL and the endpoint\'s, and psql connects with them', async () => {
    await script(
      'urls.sh',
      [
        'psql "$PGDRILL_PRIMARY_URL" -XAtc "SELECT \'primary as \' || current_user || \' in \' || current_database()"',
        'psql "$PGDRILL_REPLICA_2_URL" -XAtc "SELECT \'replica-2 as \' || current_user"',
        'psql "$PGDRILL_ENDPOINT_URL" -XAtc "SELECT \'endpoint ok\'"',
        'echo "extra=$STEP_NOTE cwd=$(pwd)"',
        'echo "to stderr" >&2',
      ].join('\n'),
    );
    const record = await runTimelineStep(command('./urls.sh', { env: { STEP_NOTE: 'hello' } }), 1, context());
    expect(record.error).toBeUndefined();
    expect(record).toMatchObject({ step: 'command', index: 1, label: 'command: ./urls.sh', ok: true, exitCode: 0, signal: null });
    expect(record.outputTail).toBe(
      [`primary as pgdrill in ${DATABASE}`, `replica-2 as ${ODD_USER}`, 'endpoint ok', `extra=hello cwd=${baseDir}`, 'to stderr', ''].join('\n'),
    );
  });

  it('reports a non-zero exit with its code and keeps the output', async () => {
    const record = await runTimelineStep(command('echo "about to fail"; exit 3'), 0, context());
    expect(record).toMatchObject({ ok: false, exitCode: 3, signal: null, error: 'the command exited with code 3', outputTail: 'about to fail\n' });
  });

  it('resolves a relative run against the scenario folder, and says so when it is not there', async () => {
    const record = await runTimelineStep(command('./no-such-step.sh'), 0, context());
    expect(record).toMatchObject({ ok: false, exitCode: 127 });
    expect(record.error).toContain(`relative paths resolve against ${baseDir}`);
    expect(record.outputTail).toContain('./no-such-step.sh');
  });

  it('stops a command that outlives its timeout with everything it started, SIGKILL for what ignores SIGTERM', async () => {
    await script('hang.sh', ['echo started', 'sleep 3217 &', "sh -c 'trap \"\" TERM; sleep 3218' &", 'sleep 3219'].join('\n'));
    const started = Date.now();
    const record = await runTimelineStep(command('./hang.sh', { timeout: 1000 }), 0, context());
    expect(Date.now() - started).toBeLessThan(8000);
    expect(record).toMatchObject({ ok: false, exitCode: null, signal: 'SIGTERM', outputTail: 'started\n' });
    expect(record.error).toBe('the command did not finish within 1s; pgdrill stopped its process group (SIGTERM, then SIGKILL)');
    expect(running('sleep 321[789]')).toEqual([]);
  });

  it('stops a command when the run is aborted, and starts none once it is', async () => {
    await script('long.sh', ['echo working', 'sleep 3227 &', 'sleep 3228'].join('\n'));
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 500);
    const record = await runTimelineStep(command('./long.sh'), 0, context({ signal: controller.signal }));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(record).toMatchObject({ ok: false, signal: 'SIGTERM', outputTail: 'working\n' });
    expect(record.error).toBe('the command stopped because the run was aborted; pgdrill stopped its process group (SIGTERM)');
    expect(running('sleep 322[78]')).toEqual([]);

    const again = await runTimelineStep(command('./long.sh'), 0, context({ signal: controller.signal }));
    expect(again).toMatchObject({ ok: false, exitCode: null, error: 'not started: the run was aborted before it', outputTail: '' });
  });

  it('ends what a finished command left running in the background', async () => {
    const record = await runTimelineStep(command('sleep 3237 & echo done'), 0, context());
    expect(record).toMatchObject({ ok: true, exitCode: 0, outputTail: 'done\n' });
    expect(running('sleep 3237')).toEqual([]);
  });
});
