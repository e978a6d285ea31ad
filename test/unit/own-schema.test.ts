// Your own schema, data and statements, without a server: finding :variables in SQL, the
// generators, the scenario rules (undeclared / unused variables, sql with dump, the shop's
// workload on a file seed), recognising seed files, the script executor's ledger entries and
// its verdict on broken statements, and the tool messages turned into the seed's errors.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../harness/errors.js';
import { parseScenarioText } from '../../harness/scenario/load-scenario.js';
import { scanSql, withScriptLedger } from '../../harness/workload/script-sql.js';
import { drawFor, parseGenerator } from '../../harness/workload/generators.js';
import { inspectDump, parseArchiveHeader, seedFileProblems } from '../../harness/seed/seed-files.js';
import { pgRestoreFailure, psqlFailure } from '../../harness/seed/file-seed.js';
import { BROKEN_AFTER, newHealth, recordAnswer } from '../../harness/workload/statement-health.js';
import { KeyPool, KeyPools, sampleSql, type KeyTable } from '../../harness/workload/key-pool.js';

const NOTES: KeyTable = { name: 'notes', sql: 'public.notes', column: 'id', type: 'bigint', estimatedRows: 1000 };
import { compileScripts } from '../../harness/workload/script-plan.js';
import { ScriptOps, type BrokenStatementError } from '../../harness/workload/script-ops.js';
import type { QueryOutcome, QueryRequest } from '../../harness/workload/reconnecting-client.js';
import type { ScheduledOp } from '../../harness/workload/open-loop.js';
import { checkLedger, keysOfInterest } from '../../harness/checks/ledger-check.js';
import type { OpRecord } from '../../harness/record/records.js';
import { tempDir } from '../support/temp-dir.js';

const base = (extra: string) => `
name: own
nodes: { primary: { version: 17 } }
${extra}
`;

function problems(yaml: string): { path: string; message: string }[] {
  try {
    parseScenarioText(yaml, 'test');
  } catch (err) {
    if (err instanceof InvalidInputError) return err.problems;
    throw err;
  }
  return [];
}

describe('scanSql: pgbench-style :variables', () => {
  it('numbers each variable once, in order, and leaves casts, strings, identifiers and comments alone', () => {
    const s = scanSql(`INSERT INTO "a:b" (x, y, z) VALUES (:x, ':y', :x::int) -- :z
      /* :w /* nested :v */ */ RETURNING $$ :q $$, $tag$ :r $tag$, E'\\' :s', id;`);
    expect(s.params).toEqual(['x']);
    expect(s.text).toContain('VALUES ($1, \':y\', $1::int)');
    expect(s.text).not.toMatch(/;\s*$/);
    expect(s.hasReturning).toBe(true);
    expect(s.firstWord).toBe('INSERT');
    expect(s.problems).toEqual([]);
  });

  it('refuses two statements, $1 parameters and an unclosed quote, each saying why', () => {
    expect(scanSql('SELECT 1; SELECT 2').problems[0]).toContain('more than one statement');
    expect(scanSql('SELECT * FROM t WHERE id = $1').problems[0]).toContain('positional parameter');
    expect(scanSql("SELECT 'abc").problems[0]).toContain('never closed');
  });

  it('wraps a write so the ledger gets its request id and the key of the row written, in the same statement', () => {
    const text = withScriptLedger('UPDATE notes SET votes = votes + 1 WHERE id = $1 RETURNING id -- why', ['id'], 2);
    expect(text).toBe(
      "WITH pgdrill_w AS (UPDATE notes SET votes = votes + 1 WHERE id = $1 RETURNING id -- why\n), pgdrill_ledger AS (INSERT INTO _pgdrill.ledger (request_id, row_key) SELECT $2::uuid, pgdrill_w.id::text FROM pgdrill_w LIMIT 1) SELECT pgdrill_w.id::text AS key FROM pgdrill_w LIMIT 1",
    );
    expect(withScriptLedger('DELETE FROM note_tags RETURNING *', ['note_id', 'tag'], 1)).toContain('ROW(pgdrill_w.note_id, pgdrill_w.tag)::text');
  });
});

describe('generators', () => {
  it('parses the five forms and says what is allowed otherwise', () => {
    expect(parseGenerator('random(1, 1000)')).toEqual({ kind: 'random', min: 1, max: 1000 });
    expect(parseGenerator('text(40)')).toEqual({ kind: 'text', length: 40 });
    expect(parseGenerator('uuid()')).toEqual({ kind: 'uuid' });
    expect(parseGenerator('now()')).toEqual({ kind: 'now' });
    expect(parseGenerator('pick(app.Notes.ID)')).toEqual({ kind: 'pick', table: 'app.Notes', column: 'id' });
    expect(parseGenerator('pick("My Notes"."Id")')).toEqual({ kind: 'pick', table: '"My Notes"', column: 'Id' });
    expect(parseGenerator('random(5, 1)')).toEqual({ error: expect.stringContaining('must not be above') });
    expect(parseGenerator('gauss(1, 2)')).toEqual({ error: expect.stringContaining('random(a, b), text(n), uuid(), now(), pick(table.column)') });
    expect(parseGenerator('pick(notes)')).toEqual({ error: expect.stringContaining('pick(notes.id)') });
  });

  it('draws values in range, of the length asked, and keys from the pool', () => {
    const pool = new KeyPool(NOTES, ['7', '9']);
    const keys = () => pool;
    const random = drawFor({ kind: 'random', min: -2, max: 2 }, keys);
    const text = drawFor({ kind: 'text', length: 33 }, keys);
    const pick = drawFor({ kind: 'pick', table: 'notes', column: 'id' }, keys);
    for (let i = 0; i < 200; i++) {
      const v = random() as number;
      expect(v >= -2 && v <= 2 && Number.isInteger(v)).toBe(true);
      expect((text() as string).length).toBe(33);
      expect(['7', '9']).toContain(pick());
    }
    expect(drawFor({ kind: 'uuid' }, keys)()).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(drawFor({ kind: 'now' }, keys)() as string).getTime()).toBeGreaterThan(0);
  });
});

describe("product.md's own-schema example", () => {
  it('is accepted as written (with one of its two seed alternatives)', () => {
    const s = parseScenarioText(
      base(`seed:
  sql: ./schema-and-data.sql     # psql -f; or
workload:
  writes:
    rate: 300
    scripts:                     # weighted statements, pgbench-style variables
      - weight: 70
        sql: "INSERT INTO notes (author, body) VALUES (:author, :body) RETURNING id"
        vars: { author: "random(1, 1000)", body: "text(40)" }
        ledger: { table: notes, key: id, op: insert }
      - weight: 30
        sql: "UPDATE notes SET body = :body WHERE id = (SELECT id FROM notes ORDER BY random() LIMIT 1) RETURNING id"
        vars: { body: "text(40)" }
        ledger: { table: notes, key: id, op: update }
  reads: { rate: 0 }`),
      'product.md',
    );
    expect(s.workload.writes.scripts!.map((x) => [x.weight, x.ledger])).toEqual([
      [70, { table: 'notes', key: ['id'], op: 'insert' }],
      [30, { table: 'notes', key: ['id'], op: 'update' }],
    ]);
  });
});

describe('scenario: scripts and seed files', () => {
  const scripts = (sql: string, vars: string, ledger = 'ledger: { table: notes, key: id, op: insert }') => `
seed: { sql: ./x.sql }
workload:
  writes:
    scripts:
      - { weight: 1, sql: "${sql}", vars: ${vars}, ${ledger} }
  reads: { rate: 0 }
`;

  it('resolves scripts with their names, keys as lists, and the shop counts at 0 under a file seed', () => {
    const s = parseScenarioText(base(scripts('INSERT INTO notes (body) VALUES (:body) RETURNING id', '{ body: "text(10)" }')), 'test');
    expect(s.seed).toMatchObject({ sql: './x.sql', users: 0, products: 0, orders: 0 });
    expect(s.workload.writes.scripts).toEqual([
      { name: 'writes[0]', weight: 1, sql: 'INSERT INTO notes (body) VALUES (:body) RETURNING id', vars: { body: 'text(10)' }, ledger: { table: 'notes', key: ['id'], op: 'insert' } },
    ]);
    const dump = parseScenarioText(base('seed: { dump: ./x.dump }\nworkload: { writes: { rate: 0 } }'), 'test');
    expect(dump.seed.jobs).toBe(2);
  });

  it('names a variable used but not declared, and one declared but unused, with the fix', () => {
    const p = problems(base(scripts('INSERT INTO notes (author, body) VALUES (:author, :body) RETURNING id', '{ body: "text(10)", spare: "uuid()" }')));
    expect(p).toEqual([
      { path: 'workload.writes.scripts[0].sql', message: expect.stringMatching(/uses :author, which vars does not declare; add it, e.g\. vars: \{ author: "random\(1, 1000\)" \}/) },
      { path: 'workload.writes.scripts[0].vars.spare', message: 'is declared but the statement never uses :spare; remove it, or use :spare in sql' },
    ]);
  });

  it('refuses a bad generator at its path', () => {
    const p = problems(base(scripts('INSERT INTO notes (body) VALUES (:body) RETURNING id', '{ body: "text(0)" }')));
    expect(p).toEqual([{ path: 'workload.writes.scripts[0].vars.body', message: expect.stringContaining('text takes a length from 1') }]);
  });

  it('names the field of the ledger that is wrong, not only the ledger', () => {
    const sql = 'INSERT INTO notes (body) VALUES (:body) RETURNING id';
    expect(problems(base(scripts(sql, '{ body: "text(10)" }', 'ledger: { table: notes, key: id, op: upsert }')))).toEqual([
      { path: 'workload.writes.scripts[0].ledger.op', message: '"upsert" is not a ledger op; allowed: insert, update, delete' },
    ]);
    expect(problems(base(scripts(sql, '{ body: "text(10)" }', 'ledger: { table: notes, op: insert }')))).toEqual([
      { path: 'workload.writes.scripts[0].ledger.key', message: expect.stringContaining('expected the key column the statement RETURNs') },
    ]);
    expect(problems(base(scripts(sql, '{ body: "text(10)" }', 'ledger: yes')))).toEqual([
      { path: 'workload.writes.scripts[0].ledger', message: expect.stringContaining('expected { table, key, op } (or false: not checked by the ledger)') },
    ]);
  });

  it('wants a ledger on every write (or false), RETURNING with it, and none on reads', () => {
    expect(problems(base(scripts('UPDATE notes SET a = 1 WHERE id = :id', '{ id: "pick(notes.id)" }', '')))).toEqual([
      { path: 'workload.writes.scripts[0].ledger', message: expect.stringContaining('required: what the statement writes, for the exact ledger') },
    ]);
    expect(problems(base(scripts('UPDATE notes SET a = 1 WHERE id = :id', '{ id: "pick(notes.id)" }')))).toEqual([
      { path: 'workload.writes.scripts[0].sql', message: expect.stringContaining('needs RETURNING id') },
    ]);
    expect(problems(base(scripts('UPDATE notes SET a = 1', '{}', 'ledger: false')))).toEqual([]);
    const reads = problems(
      base(`workload:
  reads:
    rate: 10
    scripts: [{ sql: "SELECT 1", ledger: { table: t, key: id, op: insert } }]`),
    );
    expect(reads).toEqual([{ path: 'workload.reads.scripts[0].ledger', message: expect.stringContaining('reads write nothing') }]);
  });

  it('refuses sql and dump together, shop counts with a file seed, and the shop workload on your schema', () => {
    expect(problems(base('seed: { sql: ./a.sql, dump: ./b.dump }\nworkload: { writes: { rate: 0 } }'))).toEqual([
      { path: 'seed', message: expect.stringContaining('has both sql and dump; give one') },
    ]);
    expect(problems(base('seed: { sql: ./a.sql, orders: 10 }\nworkload: { writes: { rate: 0 } }'))).toEqual([
      { path: 'seed.orders', message: 'applies to the built-in shop schema only, and seed.sql loads your own; remove it' },
    ]);
    expect(problems(base('seed: { dump: ./b.dump }'))).toEqual([
      { path: 'workload.writes.scripts', message: expect.stringContaining('required with seed.dump: the built-in writes write orders') },
    ]);
    expect(problems(base('seed: { dump: ./b.dump }\nworkload: { writes: { rate: 0 }, reads: { rate: 5 } }'))).toEqual([
      { path: 'workload.reads.scripts', message: expect.stringContaining('required with seed.dump') },
    ]);
  });

  it('refuses scripts next to the built-in mix, and two keys for one ledger table', () => {
    const p = problems(
      base(`workload:
  writes:
    mix: { insert: 1 }
    scripts:
      - { sql: "INSERT INTO t (a) VALUES (1) RETURNING id", ledger: { table: t, key: id, op: insert } }
      - { sql: "DELETE FROM t RETURNING a, b", ledger: { table: t, key: [a, b], op: delete } }`),
    );
    expect(p.map((x) => x.path)).toEqual(['workload.writes.mix', 'workload.writes.scripts[1].ledger.key']);
  });
});

describe('seed files', () => {
  it('says a missing file, a plain dump given as dump, an archive given as sql and an empty file, each with the path and the fix', async () => {
    const dir = tempDir('seedfiles');
    await writeFile(path.join(dir, 'plain.sql'), '--\n-- PostgreSQL database dump\nSET statement_timeout = 0;\n');
    await writeFile(path.join(dir, 'archive.dump'), Buffer.concat([Buffer.from('PGDMP'), Buffer.from([1, 14, 0, 4, 8, 1])]));
    await writeFile(path.join(dir, 'empty.sql'), '');
    const at = (seed: Record<string, string>) => seedFileProblems({ baseDir: dir, seed: { users: 0, products: 0, orders: 0, itemsPerOrder: 1, ...seed } });
    expect(at({ sql: './nope.sql' })).toEqual([
      { path: 'seed.sql', message: `"./nope.sql" (${path.join(dir, 'nope.sql')}) does not exist; paths are relative to the scenario file's folder: give the path of a SQL file there, or an absolute one` },
    ]);
    expect(at({ dump: './plain.sql' })[0].message).toContain('is a plain SQL dump, not an archive; give it as seed.sql');
    expect(at({ sql: './archive.dump' })[0].message).toContain('is a pg_dump archive, not SQL; give it as seed.dump');
    expect(at({ sql: './empty.sql' })[0].message).toContain('is empty');
    expect(at({ dump: './archive.dump' })).toEqual([]);
    await mkdir(path.join(dir, 'dirdump'));
    expect(at({ dump: './dirdump' })[0].message).toContain('without toc.dat');
  });

  it('knows which pg_restore reads an archive from its header', () => {
    const header = (minor: number) => Buffer.concat([Buffer.from('PGDMP'), Buffer.from([1, minor, 0, 4, 8, 1])]);
    expect(parseArchiveHeader(header(14))).toEqual({ archiveVersion: '1.14', minRestoreMajor: 12 });
    expect(parseArchiveHeader(header(16))).toEqual({ archiveVersion: '1.16', minRestoreMajor: 17 });
    expect(parseArchiveHeader(Buffer.from('-- SQL'))).toBeUndefined();
  });

  it('recognises a tar-format dump by its first member', async () => {
    const dir = tempDir('tar');
    const tar = Buffer.alloc(1024);
    tar.write('toc.dat', 0, 'latin1');
    tar.write('ustar', 257, 'latin1');
    tar.write('PGDMP', 512, 'latin1');
    tar[517] = 1;
    tar[518] = 15;
    await writeFile(path.join(dir, 'x.tar'), tar);
    expect(inspectDump(path.join(dir, 'x.tar'))).toEqual({ format: 'tar', archiveVersion: '1.15', minRestoreMajor: 16 });
  });
});

describe('the seed tools\' errors', () => {
  it("takes psql's first error with its line and shows the user's path, not the staged copy", () => {
    const stderr = 'psql:/tmp/run/pg/seed-x.sql:12: ERROR:  relation "nope" does not exist\nLINE 1: INSERT INTO nope VALUES (1);\n                    ^\n';
    expect(psqlFailure(stderr, '/tmp/run/pg/seed-x.sql', './x.sql')).toEqual({
      line: 12,
      error: 'ERROR: relation "nope" does not exist\nLINE 1: INSERT INTO nope VALUES (1);\n                    ^',
    });
  });

  it("takes pg_restore's TOC entry and the server's error", () => {
    const stderr =
      'pg_restore: while PROCESSING TOC:\npg_restore: from TOC entry 215; 1259 16386 TABLE notes pgdrill\npg_restore: error: could not execute query: ERROR:  type "citext" does not exist\nLINE 3:     body citext\n                 ^\nCommand was: CREATE TABLE public.notes (\n';
    const f = pgRestoreFailure(stderr);
    expect(f.entry).toBe('215; 1259 16386 TABLE notes pgdrill');
    expect(f.error).toMatch(/^could not execute query: ERROR: {2}type "citext" does not exist\nLINE 3/);
    expect(f.error).toContain('Command was: CREATE TABLE public.notes');
  });
});

describe('statement health: the first answers decide', () => {
  it('calls a planning error before any success broken at once, a data error after a few, and nothing after a success', () => {
    const planning = newHealth();
    expect(recordAnswer(planning, false, '42703')).toBe(true);

    const data = newHealth();
    for (let i = 1; i < BROKEN_AFTER; i++) expect(recordAnswer(data, false, '23503')).toBe(false);
    expect(recordAnswer(data, false, '23503')).toBe(true);

    const later = newHealth();
    recordAnswer(later, true);
    expect(recordAnswer(later, false, '42703')).toBe(false);
  });

  it('never calls transient errors or lost connections broken', () => {
    const h = newHealth();
    for (const code of ['08006', '57P01', '25006', '40001', '53100', '55P03', undefined]) expect(recordAnswer(h, false, code)).toBe(false);
    expect(h.strikes).toBe(0);
  });
});

describe('key pools', () => {
  it('refreshes in slices: keys the table lost leave, sampled ones join, a failed query changes nothing', () => {
    const pool = new KeyPool(NOTES, ['1', '2', '3', '4']);
    const slice = pool.nextSlice(3);
    expect(slice).toEqual(['1', '2', '3']);
    pool.applyRefresh(slice, ['1', '3'], ['9']);
    expect(['1', '2', '3', '4', '9'].filter((k) => pool.has(k))).toEqual(['1', '3', '4', '9']);
    // the next slice goes on round the pool
    expect(pool.nextSlice(3)).toEqual(['9']);
    pool.applyRefresh(['9'], undefined, undefined);
    expect(pool.size).toBe(4);
  });

  it('samples a big table instead of reading all its keys', () => {
    expect(sampleSql(NOTES, 100_000)).toBe('SELECT "id"::text AS k FROM public.notes WHERE "id" IS NOT NULL LIMIT 100000');
    expect(sampleSql({ ...NOTES, estimatedRows: 10_000_000 }, 100_000)).toContain('TABLESAMPLE SYSTEM (1.5000)');
  });
});

describe('the script executor', () => {
  const scenario = parseScenarioText(
    base(`seed: { sql: ./x.sql }
workload:
  writes:
    scripts:
      - name: add
        weight: 3
        sql: "INSERT INTO notes (author, body) VALUES (:author, :body) RETURNING id"
        vars: { author: "random(1, 5)", body: "text(8)" }
        ledger: { table: notes, key: id, op: insert }
      - name: drop
        weight: 1
        sql: "DELETE FROM notes WHERE id = :id RETURNING id"
        vars: { id: "pick(notes.id)" }
        ledger: { table: notes, key: id, op: delete }
  reads: { rate: 0 }`),
    'test',
  );
  const compiled = compileScripts(scenario.workload);
  const setup = (answer: (request: QueryRequest) => QueryOutcome) => {
    const sent: QueryRequest[] = [];
    const pools = new KeyPools();
    const pool = new KeyPool(NOTES, ['10', '11']);
    pools.register('notes', pool);
    const broken: BrokenStatementError[] = [];
    const ops = new ScriptOps({
      scripts: compiled,
      pools,
      relations: new Map([['notes', 'notes']]),
      runners: [{ query: async (request) => (sent.push(request), answer(request)) }],
      onBroken: (e) => broken.push(e),
    });
    return { ops, sent, pool, broken };
  };
  const op = (kind: ScheduledOp['kind']): ScheduledOp => ({ id: 1, kind, intendedMs: 0, startMs: 0, slot: 0, timeoutMs: 1000, signal: new AbortController().signal });

  it('sends the prepared statement with its drawn values and a request id, and records the key RETURNING gave', async () => {
    let key = 100;
    const { ops, sent, pool } = setup(() => ({ outcome: 'ok', rows: [{ key: String(key++) }], rowCount: 1 }));
    const result = await ops.execute(op('insert'));
    expect(sent[0].name).toBe('pgdrill_w0');
    expect(sent[0].text).toContain('INSERT INTO _pgdrill.ledger');
    expect(sent[0].values).toHaveLength(3);
    expect(sent[0].values![2]).toMatch(/^[0-9a-f-]{36}$/);
    expect(result).toEqual({ outcome: 'ok', kind: 'insert', ledger: { table: 'notes', key: '100', op: 'insert', version: 0, requestId: sent[0].values![2] } });
    // the insert's key can now be picked; a delete takes its key out
    expect(pool.has('100')).toBe(true);
    const del = await ops.execute(op('delete'));
    expect(del.ledger?.op).toBe('delete');
    expect(pool.has(del.ledger!.key as string)).toBe(false);
    expect(ops.stats().map((s) => [s.name, s.ok])).toEqual([['add', 1], ['drop', 1]]);
  });

  it('plans by weight', () => {
    const { ops } = setup(() => ({ outcome: 'ok', rows: [], rowCount: 0 }));
    const kinds = Array.from({ length: 4000 }, () => ops.plan());
    const inserts = kinds.filter((k) => k === 'insert').length / kinds.length;
    expect(inserts).toBeGreaterThan(0.7);
    expect(inserts).toBeLessThan(0.8);
  });

  it('records no ledger entry when the statement wrote no row, and one without a key when the answer was lost', async () => {
    const { ops } = setup(() => ({ outcome: 'ok', rows: [], rowCount: 0 }));
    expect(await ops.execute(op('delete'))).toEqual({ outcome: 'ok', kind: 'delete' });
    const lost = setup(() => ({ outcome: 'indeterminate', error: { class: 'connection-lost', message: 'gone' } }));
    const r = await lost.ops.execute(op('insert'));
    expect(r.outcome).toBe('indeterminate');
    expect(r.ledger).toMatchObject({ table: 'notes', key: '', op: 'insert' });
  });

  it('reports a statement broken once when it fails with a planning error before it ever succeeded', async () => {
    const { ops, broken } = setup(() => ({ outcome: 'failed', error: { sqlstate: '42703', class: 'server', message: 'column "author" does not exist' } }));
    await ops.execute(op('insert'));
    await ops.execute(op('insert'));
    expect(broken).toHaveLength(1);
    expect(broken[0].exitCode).toBe(3);
    expect(broken[0].message).toContain('workload.writes.scripts[0] ("add") failed on the server on its first execution, before it ever succeeded: 42703 column "author" does not exist');
    expect(ops.stats()[0].errors).toEqual({ '42703 server': 2 });
  });

  it('fails an op whose pick() has no key left, without sending it', async () => {
    const { ops, sent, pool } = setup(() => ({ outcome: 'ok', rows: [{ key: '10' }], rowCount: 1 }));
    pool.remove('10');
    pool.remove('11');
    const r = await ops.execute(op('delete'));
    expect(r).toMatchObject({ outcome: 'failed', error: { class: 'no-key' } });
    expect(sent).toHaveLength(0);
  });
});

describe('the ledger check on your statements', () => {
  const write = (id: number, outcome: 'ok' | 'indeterminate', op: 'insert' | 'update' | 'delete', key: string, times: { start: number; end: number }): OpRecord => ({
    id,
    stream: 'write',
    kind: op,
    intendedMs: times.start,
    startMs: times.start,
    endMs: times.end,
    outcome,
    ledger: { table: 'notes', key, op, version: 0, requestId: `00000000-0000-4000-8000-${String(id).padStart(12, '0')}` },
  });
  const observed = (committed: OpRecord[], rows: string[], byRequest: Record<string, string> = {}) => ({
    committed: new Set(committed.map((o) => o.ledger!.requestId)),
    tables: {
      notes: {
        rows: new Map(rows.map((k) => [k, { version: null, requestId: null }])),
        keysByRequestId: new Map(Object.entries(byRequest)),
        tracksVersion: false,
        tracksRequestId: false,
      },
    },
  });

  it('follows a committed delete whose answer was lost to its row through the ledger, so the update before it is not lost', () => {
    const update = write(1, 'ok', 'update', '5', { start: 0, end: 3 });
    const del = write(2, 'indeterminate', 'delete', '', { start: 10, end: 5000 });
    expect(keysOfInterest([update, del]).tables.notes.requestIds).toEqual([del.ledger!.requestId]);
    const r = checkLedger([update, del], observed([update, del], [], { [del.ledger!.requestId]: '5' }));
    expect(r).toMatchObject({ acknowledgedWrites: 1, lostWrites: 0, recoveredWrites: 1 });
  });

  it('accepts a delete intended earlier but committed after an update on another connection', () => {
    const del = write(1, 'ok', 'delete', '5', { start: 0, end: 50 });
    const update = write(2, 'ok', 'update', '5', { start: 10, end: 12 });
    expect(checkLedger([del, update], observed([del, update], [])).lostWrites).toBe(0);
  });

  it('still finds an acknowledged insert whose row is gone with no delete of ours', () => {
    const insert = write(1, 'ok', 'insert', '5', { start: 0, end: 3 });
    const r = checkLedger([insert], observed([insert], []));
    expect(r.lostWrites).toBe(1);
    expect(r.lost[0].reason).toBe('the row is missing and no write of ours deleted it');
  });
});

describe('pgdrill init: the scenario written from a database', () => {
  const col = (name: string, over: Partial<import('../../harness/scaffold/introspect.js').ColumnInfo> = {}) => ({
    name,
    type: 'text',
    category: 'S',
    baseType: 'text',
    maxLength: null,
    notNull: true,
    hasDefault: false,
    generated: false,
    checked: false,
    unique: false,
    ...over,
  });
  const info = {
    major: 13,
    version: '13.23',
    bytes: 9_000_000,
    tables: [
      {
        name: 'notes',
        key: ['id'],
        primaryKey: true,
        rows: 4000,
        bytes: 800_000,
        columns: [
          col('id', { type: 'bigint', baseType: 'int8', category: 'N', hasDefault: true }),
          col('retro_id', { type: 'bigint', baseType: 'int8', category: 'N', references: { table: 'retrospectives', column: 'id' } }),
          col('kind', { checked: true }),
          col('body'),
          col('meta', { type: 'jsonb', baseType: 'jsonb', category: 'U' }),
          col('votes', { type: 'integer', baseType: 'int4', category: 'N', hasDefault: true }),
        ],
      },
      {
        name: 'note_tags',
        key: ['note_id', 'tag'],
        primaryKey: true,
        rows: 5000,
        bytes: 300_000,
        columns: [col('note_id', { type: 'bigint', baseType: 'int8', category: 'N', references: { table: 'notes', column: 'id' } }), col('tag')],
      },
      {
        name: 'app."Settings"',
        key: ['Key'],
        primaryKey: true,
        rows: 3,
        bytes: 16_000,
        columns: [col('Key'), col('value', { notNull: false })],
      },
      { name: 'audit', key: [], primaryKey: false, rows: 10, bytes: 8000, columns: [col('at', { type: 'timestamptz', baseType: 'timestamptz', category: 'D' })] },
    ],
  };

  it('writes a valid scenario with a script per keyed table and a comment for the keyless one', async () => {
    const { scaffoldScenario } = await import('../../harness/scaffold/scaffold-scenario.js');
    const text = scaffoldScenario(info, { name: 'retro-drill', seed: { dump: './retro.dump' }, source: 'retro.dump' });
    expect(text).toContain('#   (no key: audit)');
    expect(text).toContain('# audit: no primary key or unique NOT NULL key, so no write script');
    expect(text).toContain('# logical would refuse 1 table(s) without a primary key: audit');
    const s = parseScenarioText(text, 'scaffold');
    expect(s.nodes.blue.version).toBe(13);
    expect(s.seed.dump).toBe('./retro.dump');
    const byName = Object.fromEntries(s.workload.writes.scripts!.map((x) => [x.name, x]));
    expect(Object.keys(byName)).toEqual(['insert-notes', 'insert-note_tags', 'update-app-Settings']);
    // an INSERT of the columns that need a value: a pick for the foreign key, a copy under a CHECK, '{}' for JSON
    expect(byName['insert-notes']).toMatchObject({
      sql: "INSERT INTO notes (retro_id, kind, body, meta) VALUES (:retro_id, (SELECT kind FROM notes WHERE kind IS NOT NULL LIMIT 1), :body, '{}') RETURNING id",
      vars: { retro_id: 'pick(retrospectives.id)', body: 'text(16)' },
      ledger: { table: 'notes', key: ['id'], op: 'insert' },
    });
    // a join table: an INSERT that skips pairs already there
    expect(byName['insert-note_tags'].sql).toBe('INSERT INTO note_tags (note_id, tag) VALUES (:note_id, :tag) ON CONFLICT DO NOTHING RETURNING note_id, tag');
    // a natural key: an UPDATE of an existing row, names quoted where SQL needs it
    expect(byName['update-app-Settings']).toMatchObject({
      sql: 'UPDATE app."Settings" SET value = :value WHERE "Key" = :key RETURNING "Key"',
      vars: { value: 'text(16)', key: 'pick(app."Settings"."Key")' },
      ledger: { key: ['Key'], op: 'update' },
    });
    expect(s.workload.reads.scripts!.map((r) => r.sql)).toEqual(['SELECT * FROM notes WHERE id = :id', 'SELECT * FROM app."Settings" WHERE "Key" = :key']);
  });
});
