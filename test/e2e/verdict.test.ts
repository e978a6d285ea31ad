// The verdict on real servers, each check proven both ways: the happy path passes with a
// table a `sql` step made during the load compared and matching; acknowledged rows deleted
// on the new primary, lost inserts whose ids are handed out again, a row changed on the
// fenced old primary, an outage still open at the end, a fingerprint that fails and an old
// primary that cannot be read all fail the run (exit 1), the last two as unknown.

import { afterAll, describe, expect, it } from 'vitest';
import type { CheckResult } from '../../harness/results/results.js';
import { expectEveryOpAccounted, leftovers, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

const cutover = (timeline: string, extra = '') => `
name: verdict-test
duration: 7s
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary }
strategy: { kind: streaming, from: primary, to: replica, syncGate: { timeout: 20s } }
seed: { users: 200, products: 100, orders: 400 }
workload:
  writes: { rate: 150, connections: 6 }
  probe: { interval: 20ms }
timeline:
  - at: 2s
    cutover: {}
${timeline}
thresholds:
  writeDowntime: "< 5s"
${extra}`;

afterAll(removeRunFolders);

const check = (checks: CheckResult[], name: string) => {
  const found = checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check named "${name}" among ${checks.map((c) => c.name).join(', ')}`);
  return found;
};

describe('the verdict on real servers', () => {
  it('passes a clean cutover, comparing a table a sql step created during the load', async () => {
    const run = await runInTemp(
      scenarioFrom(
        cutover(`  - at: 500ms
    sql: { node: primary, statement: "CREATE TABLE extra (id int PRIMARY KEY, note text); INSERT INTO extra SELECT g, md5(g::text) FROM generate_series(1, 500) g" }`),
      ),
    );
    const { results } = run;
    expect(results.checks.filter((c) => c.valid !== true)).toEqual([]);
    expect(check(results.checks, 'step timeline[1] (sql on primary)').detail).toMatch(/succeeded/);
    expect(results.integrity?.tables.find((t) => t.table === 'extra')).toMatchObject({ sourceRows: 500, targetRows: 500, match: true });
    expect(results.integrity?.schemaDifferences).toEqual([]);
    expect(check(results.checks, 'write ledger').valid).toBe(true);
    expect(results.integrity?.lostWrites).toBe(0);
    expectEveryOpAccounted(run);
    expect(results.verdict).toBe('pass');
    expect(run.exitCode).toBe(0);
    expect(leftovers(results.runId)).toEqual([]);
  });

  it('counts acknowledged rows deleted on the new primary by a sql step as lost (exit 1)', async () => {
    const run = await runInTemp(
      scenarioFrom(
        cutover(`  - at: 4s
    sql: { node: replica, statement: "DELETE FROM orders WHERE id IN (SELECT id FROM orders ORDER BY id DESC LIMIT 10)" }`),
      ),
    );
    const { results } = run;
    expect(results.integrity?.lostWrites).toBeGreaterThan(0);
    expect(results.integrity?.lost.some((l) => l.op === 'insert' && l.found === 'missing' && /no write of ours deleted it/.test(l.reason))).toBe(true);
    expect(check(results.checks, 'write ledger').valid).toBe(false);
    expect(run.exitCode).toBe(1);
  });

  it('still counts lost inserts as lost when their ids are handed out again (setval back)', async () => {
    const run = await runInTemp(
      scenarioFrom(
        cutover(`  - at: 4s
    sql:
      node: replica
      statement: >-
        WITH gone AS (DELETE FROM orders WHERE id > (SELECT max(id) - 8 FROM orders) RETURNING id)
        SELECT setval('orders_id_seq', (SELECT min(id) - 1 FROM gone))`),
      ),
    );
    const { results } = run;
    const lost = results.integrity?.lost ?? [];
    // the keys exist again, written by later inserts: only who wrote them tells the loss
    expect(lost.some((l) => l.op === 'insert' && l.found !== 'missing')).toBe(true);
    expect(results.integrity?.lostWrites).toBeGreaterThan(0);
    expect(run.exitCode).toBe(1);
  });

  it('fails on a row changed on the fenced old primary: its hash differs (exit 1)', async () => {
    const run = await runInTemp(
      scenarioFrom(
        cutover(`  - at: 4s
    sql: { node: primary, statement: "BEGIN READ WRITE; UPDATE users SET name = 'tampered' WHERE id = 7; COMMIT" }`),
      ),
    );
    const { results } = run;
    expect(results.integrity?.tables.find((t) => t.table === 'users')).toMatchObject({ match: false });
    expect(check(results.checks, 'tables')).toMatchObject({ valid: false, detail: expect.stringContaining('users') });
    expect(check(results.checks, 'split brain').valid).toBe(false);
    expect(run.exitCode).toBe(1);
  });

  it('makes the tables unknown when the fingerprint at the freeze fails, and fails the run', async () => {
    // a big table makes the fingerprint take a while; a loop on the target ends its session mid-way
    const killer = `DO $$ DECLARE deadline timestamptz := clock_timestamp() + interval '20 s'; BEGIN
      LOOP
        -- pg_stat_activity is read once per transaction unless the snapshot is dropped
        PERFORM pg_stat_clear_snapshot();
        PERFORM pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'pgdrill-cutover' AND state = 'active' AND query LIKE '%string_agg%' AND pid <> pg_backend_pid();
        EXIT WHEN FOUND OR clock_timestamp() > deadline;
        PERFORM pg_sleep(0.001);
      END LOOP; END $$`;
    const run = await runInTemp(
      scenarioFrom(
        cutover(`  - at: 200ms
    sql: { node: primary, statement: "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 300000) g; ALTER TABLE big ADD PRIMARY KEY (id)" }
  - at: 1900ms
    sql: { node: replica, statement: ${JSON.stringify(killer)} }`),
      ),
    );
    const { results } = run;
    expect(results.cutover?.steps.find((s) => s.name === 'fingerprint-at-freeze')?.ok).toBe(false);
    expect(check(results.checks, 'tables')).toMatchObject({ valid: 'unknown', detail: expect.stringContaining('not fingerprinted at the freeze') });
    expect(results.verdict).toBe('fail');
    expect(run.exitCode).toBe(1);
  });

  it('makes the tables unknown when the old primary cannot be read at the end, and fails the run', async () => {
    // faults are healed before verify, so the old primary is made to refuse connections instead
    const run = await runInTemp(
      scenarioFrom(
        cutover(`  - at: 4s
    sql: { node: primary, database: postgres, statement: "BEGIN READ WRITE; ALTER DATABASE pgdrill WITH ALLOW_CONNECTIONS false; COMMIT" }`),
      ),
    );
    const { results } = run;
    expect(check(results.checks, 'cutover').valid).toBe(true);
    expect(check(results.checks, 'tables')).toMatchObject({ valid: 'unknown', detail: expect.stringContaining('could not be read') });
    expect(check(results.checks, 'write ledger').valid).toBe(true);
    expect(run.exitCode).toBe(1);
    expect(leftovers(results.runId)).toEqual([]);
  });
});

describe('an outage still open at the end', () => {
  it('fails as not recovered when the only node is killed 3 s before the end and stays down', async () => {
    const run = await runInTemp(
      scenarioFrom(`
name: verdict-open-at-end
duration: 7s
nodes:
  primary: { version: 17 }
seed: { users: 100, products: 50, orders: 100 }
workload:
  writes: { rate: 100, connections: 4 }
  probe: { interval: 20ms }
timeline:
  - at: 4s
    fault: { kind: kill, node: primary }
thresholds:
  writeDowntime: "< 5s"
`),
    );
    const { results } = run;
    const windows = results.downtime.writes.windows;
    expect(windows[windows.length - 1].openAtEnd).toBe(true);
    expect(check(results.checks, 'downtime recovered')).toMatchObject({ valid: false, detail: expect.stringContaining('still down when the load ended') });
    // about 3 s of outage, under the 5 s limit, and still a failure: it never ended
    expect(results.downtime.writes.longestMs).toBeLessThan(5000);
    expect(results.thresholds[0]).toMatchObject({ name: 'writeDowntime', valid: false });
    // the server gap counts to the end of the load too
    expect(results.downtime.serverWriteGapMs).toBeGreaterThan(2500);
    expect(run.exitCode).toBe(1);
    expect(leftovers(results.runId)).toEqual([]);
  });
});
