// The load generator against a real PostgreSQL (15, the system's): every intended op is
// recorded once, acknowledged writes are in the ledger and in the tables, and the load keeps
// going through a SIGKILL of the server and its restart.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Recorder } from '../../harness/record/recorder.js';
import type { OpRecord, OpStream } from '../../harness/record/records.js';
import type { SeedConfig, WorkloadConfig } from '../../harness/scenario/scenario.js';
import { seedDatabase } from '../../harness/seed/schema.js';
import { ReconnectingClient } from '../../harness/workload/reconnecting-client.js';
import { startWorkload, type WorkloadTick } from '../../harness/workload/workload.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from './support/throwaway-postgres.js';

const SEED: SeedConfig = { users: 200, products: 100, orders: 500, itemsPerOrder: 3 };

function config(overrides: Partial<WorkloadConfig> = {}): WorkloadConfig {
  return {
    writes: { rate: 200, connections: 10, mix: { insert: 50, update: 40, delete: 10 }, timeout: 2000 },
    reads: { rate: 50, connections: 2, timeout: 2000 },
    probe: { interval: 20, timeout: 1000 },
    ...overrides,
  };
}

/** The recorder keeps no operations: a test that looks at them collects them as they come. */
function collectOps(recorder: Recorder): OpRecord[] {
  const ops: OpRecord[] = [];
  recorder.onOp((op) => ops.push(op));
  return ops;
}

function counts(ops: OpRecord[], stream: OpStream) {
  const c = { total: 0, ok: 0, failed: 0, indeterminate: 0, dropped: 0 };
  for (const op of ops) {
    if (op.stream !== stream) continue;
    c.total++;
    c[op.outcome]++;
  }
  return c;
}

function expectEveryOpOnce(ops: OpRecord[]) {
  expect(new Set(ops.map((o) => o.id)).size).toBe(ops.length);
}

describe('workload against a real PostgreSQL', () => {
  let server: ThrowawayPostgres;
  let admin: pg.Client;

  beforeAll(async () => {
    server = await startThrowawayPostgres();
    admin = new pg.Client({ ...server.address, ...server.credentials });
    await admin.connect();
    await seedDatabase(admin, SEED);
    await admin.end();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  async function withAdmin<T>(body: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ ...server.address, ...server.credentials });
    await client.connect();
    try {
      return await body(client);
    } finally {
      await client.end();
    }
  }

  describe('reconnecting client verdicts', () => {
    const clients: ReconnectingClient[] = [];
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
    });
    const slot = (credentials = server.credentials, address = () => server.address) => {
      const client = new ReconnectingClient({ address, credentials, applicationName: 'pgdrill-verdicts' });
      clients.push(client);
      return client;
    };

    it('reports a rejected statement as failed with its SQLSTATE and keeps the connection', async () => {
      const client = slot();
      const pid = await client.query({ text: 'SELECT pg_backend_pid() AS pid' }, 2000);
      const rejected = await client.query({ text: `INSERT INTO users (email, name) VALUES ('user1@example.test', 'dup')` }, 2000);
      expect(rejected).toMatchObject({ outcome: 'failed', error: { sqlstate: '23505', class: 'constraint' } });
      const again = await client.query({ text: 'SELECT pg_backend_pid() AS pid' }, 2000);
      expect(again.outcome === 'ok' && pid.outcome === 'ok' && again.rows[0].pid === pid.rows[0].pid).toBe(true);
    });

    // named statements go the lean way (harness/workload/lean-query.ts): Bind/Execute/Sync, the
    // row shape learnt once per connection. Their answers must be pg's own, value for value.
    it('answers a named statement with the rows and types pg.Client gives, on its first and later executions', async () => {
      const client = slot();
      const text =
        'SELECT $1::int AS n, $2::text AS t, $1::bigint * 3 AS big, $1::numeric / 4 AS num, ' +
        "json_build_object('k', $1::int) AS j, ARRAY[$1::int, 2] AS arr, now() AS ts, NULL::int AS nothing, " +
        "$1::int > 1 AS flag, '\\x0102'::bytea AS bin, NULL::text AS empty";
      const pids = new Set<unknown>();
      await withAdmin(async (admin) => {
        for (const [n, t] of [[1, 'one'], [2, "two's"], [3, 'drei']] as const) {
          const lean = await client.query({ name: 'lean_types', text: `${text}, pg_backend_pid() AS pid`, values: [n, t] }, 2000);
          const own = await admin.query({ text, values: [n, t] });
          expect(lean.outcome).toBe('ok');
          if (lean.outcome !== 'ok') return;
          expect(lean.rowCount).toBe(1);
          const { pid, ts, ...rest } = lean.rows[0];
          const { ts: ownTs, ...ownRest } = own.rows[0];
          pids.add(pid);
          expect(rest).toEqual(ownRest);
          expect(ts).toBeInstanceOf(Date);
          expect(ownTs).toBeInstanceOf(Date);
        }
      });
      expect(pids.size).toBe(1); // one connection: prepared once, executed three times
      const prepared = await client.query({ text: `SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'lean_types'` }, 2000);
      expect(prepared.outcome === 'ok' && prepared.rows[0].n).toBe(1);
    });

    it('counts the rows of a named statement that returns none, and of one that touches none', async () => {
      const client = slot();
      await withAdmin((admin) => admin.query('CREATE TABLE IF NOT EXISTS lean_counts (id int PRIMARY KEY, v text)'));
      for (const id of [1, 2]) {
        const insert = await client.query({ name: 'lean_insert', text: 'INSERT INTO lean_counts (id, v) VALUES ($1, $2)', values: [id, 'x'] }, 2000);
        expect(insert).toEqual({ outcome: 'ok', rows: [], rowCount: 1 });
      }
      const all = await client.query({ name: 'lean_update', text: 'UPDATE lean_counts SET v = $1 WHERE id > $2', values: ['y', 0] }, 2000);
      expect(all).toEqual({ outcome: 'ok', rows: [], rowCount: 2 });
      const none = await client.query({ name: 'lean_update', text: 'UPDATE lean_counts SET v = $1 WHERE id > $2', values: ['z', 99] }, 2000);
      expect(none).toEqual({ outcome: 'ok', rows: [], rowCount: 0 });
      const returning = await client.query({ name: 'lean_delete', text: 'DELETE FROM lean_counts WHERE id = $1 RETURNING id, v', values: [2] }, 2000);
      expect(returning).toEqual({ outcome: 'ok', rows: [{ id: 2, v: 'y' }], rowCount: 1 });
    });

    it('keeps a named statement prepared and its connection after the server rejects an execution, and after a parse error', async () => {
      const client = slot();
      const text = "INSERT INTO users (email, name) VALUES ($1, 'lean') RETURNING id, pg_backend_pid() AS pid";
      const first = await client.query({ name: 'lean_user', text, values: ['lean-1@example.test'] }, 2000);
      expect(first.outcome).toBe('ok');
      const duplicate = await client.query({ name: 'lean_user', text, values: ['lean-1@example.test'] }, 2000);
      expect(duplicate).toMatchObject({ outcome: 'failed', error: { sqlstate: '23505', class: 'constraint' } });
      const broken = await client.query({ name: 'lean_broken', text: 'SELEC $1::int', values: [1] }, 2000);
      expect(broken).toMatchObject({ outcome: 'failed', error: { sqlstate: '42601' } });
      const second = await client.query({ name: 'lean_user', text, values: ['lean-2@example.test'] }, 2000);
      expect(second.outcome).toBe('ok');
      if (first.outcome !== 'ok' || second.outcome !== 'ok') return;
      expect(second.rows[0].pid).toBe(first.rows[0].pid);
      // users.id is a bigint: pg hands it over as a string, and so does the lean path
      expect(typeof second.rows[0].id).toBe('string');
      expect(Number(second.rows[0].id)).toBeGreaterThan(Number(first.rows[0].id));
    });

    it('reports a write to a read-only session as failed read-only (25006)', async () => {
      await withAdmin(async (admin) => {
        await admin.query(`DROP ROLE IF EXISTS ro_writer`);
        await admin.query(`CREATE ROLE ro_writer LOGIN PASSWORD 'ro' SUPERUSER`);
        await admin.query(`ALTER ROLE ro_writer SET default_transaction_read_only = on`);
      });
      const client = slot({ user: 'ro_writer', password: 'ro', database: server.credentials.database });
      const result = await client.query({ text: 'INSERT INTO _pgdrill.probe DEFAULT VALUES' }, 2000);
      expect(result).toMatchObject({ outcome: 'failed', error: { sqlstate: '25006', class: 'read-only' } });
    });

    it('reports a statement unanswered within its timeout as indeterminate and comes back on a new connection', async () => {
      const client = slot();
      const first = await client.query({ text: 'SELECT pg_backend_pid() AS pid' }, 2000);
      const started = performance.now();
      const slow = await client.query({ text: 'SELECT pg_sleep(3)' }, 200);
      expect(performance.now() - started).toBeLessThan(1000);
      expect(slow).toMatchObject({ outcome: 'indeterminate', error: { class: 'timeout' } });
      const next = await client.query({ text: 'SELECT pg_backend_pid() AS pid' }, 2000);
      expect(next.outcome).toBe('ok');
      expect(next.outcome === 'ok' && first.outcome === 'ok' && next.rows[0].pid !== first.rows[0].pid).toBe(true);
    });

    // the client's one deadline timer is armed for the first statement and fires before a later
    // one's deadline: the later statement must still be given up at its own deadline
    it('gives up on each statement at its own deadline when the shared timer was armed for an earlier one', async () => {
      const client = slot();
      expect((await client.query({ text: 'SELECT 1' }, 400)).outcome).toBe('ok');
      await new Promise((r) => setTimeout(r, 150));
      const started = performance.now();
      const slow = await client.query({ text: 'SELECT pg_sleep(3)' }, 400);
      const took = performance.now() - started;
      expect(slow).toMatchObject({ outcome: 'indeterminate', error: { class: 'timeout' } });
      expect(took).toBeGreaterThanOrEqual(395);
      expect(took).toBeLessThan(1500);
      // and a statement queued behind a long one with a shorter timeout is given up first
      const long = client.query({ text: 'SELECT pg_sleep(3)' }, 5000);
      const shortStarted = performance.now();
      const short = await client.query({ text: 'SELECT 1' }, 300);
      expect(short).toMatchObject({ outcome: 'indeterminate', error: { class: 'timeout' } });
      expect(performance.now() - shortStarted).toBeLessThan(1500);
      // giving up destroyed the connection both were on: the long one ends with it, undecided
      expect((await long).outcome).not.toBe('ok');
    });

    it('reports a backend terminated mid-statement (57P01) as indeterminate', async () => {
      const client = slot();
      const pid = await client.query({ text: 'SELECT pg_backend_pid() AS pid' }, 2000);
      expect(pid.outcome).toBe('ok');
      const running = client.query({ text: 'SELECT pg_sleep(3)' }, 5000);
      await new Promise((r) => setTimeout(r, 200));
      await withAdmin((admin) => admin.query('SELECT pg_terminate_backend($1)', [pid.outcome === 'ok' ? pid.rows[0].pid : 0]));
      expect(await running).toMatchObject({ outcome: 'indeterminate', error: { sqlstate: '57P01', class: 'shutdown' } });
      expect((await client.query({ text: 'SELECT 1' }, 2000)).outcome).toBe('ok');
    });

    it('fails fast without sending when nothing listens, then backs off', async () => {
      const client = slot(server.credentials, () => ({ host: '127.0.0.1', port: 1 }));
      const first = await client.query({ text: 'SELECT 1' }, 2000);
      expect(first).toMatchObject({ outcome: 'failed', error: { class: 'connection' } });
      expect(first.outcome !== 'ok' && first.error.message).toMatch(/ECONNREFUSED/);
      const started = performance.now();
      const second = await client.query({ text: 'SELECT 1' }, 2000);
      expect(performance.now() - started).toBeLessThan(20);
      expect(second.outcome !== 'ok' && second.error.message).toMatch(/not sent, reconnecting in \d+ms/);
    });
  });

  it('records every intended write, read and probe once and keeps a ledger of the acknowledged writes', async () => {
    const recorder = new Recorder();
    const ops = collectOps(recorder);
    const ticks: WorkloadTick[] = [];
    const workload = startWorkload({
      target: server.address,
      credentials: server.credentials,
      config: config(),
      seed: SEED,
      recorder,
      durationMs: 3000,
    });
    workload.on('tick', (t) => ticks.push(t));
    const summary = await workload.done;

    // 3 s at 200/s, 50/s and one probe per 20 ms: the schedule is exact
    expect(summary.writes.intended).toBe(600);
    expect(summary.reads.intended).toBe(150);
    expect(summary.probe.intended).toBe(150);
    expectEveryOpOnce(ops);
    for (const [stream, s] of [['write', summary.writes], ['read', summary.reads], ['probe', summary.probe]] as const) {
      const c = counts(ops, stream);
      expect(c.total).toBe(s.intended);
      expect(c.ok + c.failed + c.indeterminate + c.dropped).toBe(s.intended);
      expect({ ok: c.ok, failed: c.failed, indeterminate: c.indeterminate, dropped: c.dropped }).toEqual({
        ok: s.ok, failed: s.failed, indeterminate: s.indeterminate, dropped: s.dropped,
      });
    }
    // a healthy server answers (nearly) everything
    expect(summary.writes.ok).toBeGreaterThanOrEqual(594);

    const writes = ops.filter((o) => o.stream === 'write');
    for (const op of writes) {
      expect(op.endMs).toBeGreaterThanOrEqual(op.intendedMs);
      if (op.outcome !== 'dropped') expect(op.startMs).toBeGreaterThanOrEqual(op.intendedMs);
    }
    const kinds = new Set(writes.map((o) => o.kind));
    expect([...kinds].sort()).toEqual(['delete', 'insert', 'update']);

    // every acknowledged insert and delete has its ledger entry; updates too, unless their row was gone
    const okWrites = writes.filter((o) => o.outcome === 'ok');
    for (const op of okWrites.filter((o) => o.kind !== 'update')) expect(op.ledger).toBeDefined();
    const withLedger = okWrites.filter((o) => o.ledger);
    expect(withLedger.length).toBeGreaterThanOrEqual(okWrites.length - 5);
    for (const op of withLedger) {
      expect(op.ledger!.key).toBeGreaterThan(0);
      expect(op.ledger!.version).toBeGreaterThanOrEqual(1);
      expect(op.ledger!.requestId).toMatch(/^[0-9a-f-]{36}$/);
    }

    // and the tables agree with the ledger
    await withAdmin(async (client) => {
      const inserts = withLedger.filter((o) => o.ledger!.op === 'insert');
      const deleted = new Set(withLedger.filter((o) => o.ledger!.op === 'delete').map((o) => o.ledger!.key));
      const { rows } = await client.query(`SELECT id::int AS id, request_id::text AS rid FROM orders WHERE id = ANY($1::bigint[])`, [
        inserts.map((o) => o.ledger!.key),
      ]);
      const found = new Map(rows.map((r) => [r.id as number, r.rid as string]));
      // the row carries the request id of the last write to it: its insert's, or a later update's
      const writersOf = new Map<number, Set<string>>();
      for (const op of withLedger.filter((o) => o.ledger!.table === 'orders')) {
        const set = writersOf.get(op.ledger!.key) ?? new Set<string>();
        set.add(op.ledger!.requestId);
        writersOf.set(op.ledger!.key, set);
      }
      for (const op of inserts) {
        if (deleted.has(op.ledger!.key)) continue;
        expect(found.has(op.ledger!.key)).toBe(true);
        expect(writersOf.get(op.ledger!.key)!.has(found.get(op.ledger!.key)!)).toBe(true);
      }
      const { rows: items } = await client.query(
        `SELECT count(*)::int AS n FROM order_items WHERE order_id = ANY($1::bigint[])`,
        [inserts.map((o) => o.ledger!.key).filter((k) => !deleted.has(k))],
      );
      expect(items[0].n).toBeGreaterThanOrEqual(inserts.length - deleted.size);
      const { rows: gone } = await client.query(`SELECT count(*)::int AS n FROM orders WHERE id = ANY($1::bigint[])`, [[...deleted]]);
      expect(gone[0].n).toBe(0);
      // the last acknowledged version of each updated row is what the table holds (no one else writes)
      const lastVersion = new Map<string, number>();
      for (const op of withLedger.filter((o) => o.ledger!.op === 'update')) {
        const k = `${op.ledger!.table}:${op.ledger!.key}`;
        lastVersion.set(k, Math.max(lastVersion.get(k) ?? 0, op.ledger!.version));
      }
      for (const [k, version] of lastVersion) {
        const [table, key] = k.split(':');
        const { rows: r } = await client.query(`SELECT version FROM ${table} WHERE id = $1`, [Number(key)]);
        if (r.length) expect(r[0].version).toBe(version);
      }
    });

    // the probe carries the server's commit clock, increasing
    const probes = ops.filter((o) => o.stream === 'probe' && o.outcome === 'ok').sort((a, b) => a.intendedMs - b.intendedMs);
    expect(probes.length).toBeGreaterThanOrEqual(145);
    for (const p of probes) expect(p.serverTimeMs).toBeGreaterThan(1.6e12);

    // ticks each second, adding up to the totals
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    const tickOk = ticks.reduce((n, t) => n + t.writes.ok, 0);
    expect(tickOk).toBe(summary.writes.ok);
    expect(ticks[1].p99Ms).toBeGreaterThan(0);
  });

  it('keeps the load going through a SIGKILL of the server and its restart', async () => {
    const recorder = new Recorder();
    const ops = collectOps(recorder);
    const workload = startWorkload({
      target: server.address,
      credentials: server.credentials,
      config: config({ reads: { rate: 0, connections: 1, timeout: 1000 } }),
      seed: SEED,
      recorder,
      durationMs: 6000,
    });
    const started = await new Promise<number>((resolve) => workload.once('start', ({ startMs }) => resolve(startMs)));
    await new Promise((r) => setTimeout(r, 1500));
    const killMs = recorder.now();
    await server.kill();
    const killedMs = recorder.now();
    await new Promise((r) => setTimeout(r, 1000));
    await server.start();
    const restartedMs = recorder.now();
    const summary = await workload.done;

    expect(restartedMs - started).toBeLessThan(5000); // left time to see the load come back
    const writes = ops.filter((o) => o.stream === 'write');
    const c = counts(ops, 'write');
    expect(summary.writes.intended).toBe(1200);
    expect(c.total).toBe(1200);
    expect(c.ok + c.failed + c.indeterminate + c.dropped).toBe(1200);
    expectEveryOpOnce(ops);

    // during the outage ops failed (connection refused: not sent) or were lost in flight
    const during = writes.filter((o) => o.intendedMs >= killMs && o.intendedMs < restartedMs);
    const notOk = during.filter((o) => o.outcome === 'failed' || o.outcome === 'indeterminate');
    expect(notOk.length).toBeGreaterThan(50);
    expect(during.filter((o) => o.outcome === 'failed').every((o) => o.error?.class === 'connection' || o.error?.sqlstate)).toBe(true);
    for (const op of during.filter((o) => o.outcome !== 'ok' && o.outcome !== 'dropped')) {
      expect(op.error?.message).toBeTruthy();
    }
    // nothing started in the server's absence was acknowledged by it
    expect(writes.filter((o) => o.outcome === 'ok' && o.startMs! > killedMs && o.endMs < restartedMs - 50).length).toBe(0);

    // after the restart the load came back on its own
    const after = writes.filter((o) => o.intendedMs > restartedMs + 500);
    expect(after.length).toBeGreaterThan(100);
    expect(after.filter((o) => o.outcome === 'ok').length).toBeGreaterThan(after.length * 0.9);

    // indeterminate writes carry what they may have written
    for (const op of writes.filter((o) => o.outcome === 'indeterminate')) {
      expect(op.ledger).toBeDefined();
      if (op.ledger!.op === 'insert') expect(op.ledger!.key).toBe(0);
      else expect(op.ledger!.key).toBeGreaterThan(0);
    }
    // the losses and the recoveries of connections are in the timeline
    const kinds = recorder.events.map((e) => e.kind);
    expect(kinds).toContain('workload-connection-lost');
    expect(kinds).toContain('workload-connection-restored');

    // acknowledged inserts survived the crash (the server's WAL, not our luck)
    await withAdmin(async (client) => {
      const deletedKeys = new Set(writes.filter((o) => o.outcome !== 'failed' && o.ledger?.op === 'delete').map((o) => o.ledger!.key));
      const ackedKeys = writes.filter((o) => o.outcome === 'ok' && o.ledger?.op === 'insert').map((o) => o.ledger!.key);
      expect(ackedKeys.length).toBeGreaterThan(300);
      const { rows } = await client.query(`SELECT id::int AS id FROM orders WHERE id = ANY($1::bigint[])`, [ackedKeys]);
      const present = new Set(rows.map((r) => r.id as number));
      for (const key of ackedKeys) if (!deletedKeys.has(key)) expect(present.has(key)).toBe(true);
    });
  });
});
