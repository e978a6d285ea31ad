// The logical-replication upgrade on real servers (13 -> 17 from npm): a clean cutover applies
// every change, syncs sequences and loses nothing; without the sequence sync the first inserts
// on 17 collide and the sequence check says so; a table without a primary key is refused by
// name before anything is replicated, and blue keeps its writes.

import { afterAll, describe, expect, it } from 'vitest';
import { withNode } from '../../harness/topology/connect.js';
import { expectEveryOpAccounted, leftovers, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

const DRY_RUN_FIRST = `  - at: 1s
    cutover: { dryRun: true }
`;

const upgrade = (strategyExtra = '', dryRunFirst = DRY_RUN_FIRST) => `
name: logical-test
duration: 10s
nodes:
  blue: { version: 13 }
  green: { version: 17 }
strategy:
  kind: logical
  from: blue
  to: green
  syncGate: { lagBytes: 1MB, lagSeconds: 2, timeout: 30s }
  ${strategyExtra}
seed: { users: 300, products: 100, orders: 600 }
workload:
  writes: { rate: 200, connections: 8 }
  reads: { rate: 50, connections: 2 }
  probe: { interval: 20ms }
timeline:
${dryRunFirst}  - at: 5s
    cutover: {}
thresholds:
  writeDowntime: "< 5s"
  lostWrites: "== 0"
  rowCountMismatches: "== 0"
`;

const stepNames = (run: Awaited<ReturnType<typeof runInTemp>>) => run.results.cutover!.steps.map((s) => [s.name, s.ok]);

afterAll(removeRunFolders);

describe('logical upgrade', () => {
  it('moves 13 to 17 through a subscription with every change applied, sequences synced and no write lost', async () => {
    const run = await runInTemp(scenarioFrom(upgrade()));
    const { results } = run;
    expect(results.error).toBeNull();
    // the dry run set replication up; the cutover found it in place
    expect(results.events.filter((e) => e.kind === 'cutover-step' && e.step === 'copy-schema').map((e) => e.detail)).toEqual([
      expect.stringContaining('pg_dump --schema-only'),
      expect.stringContaining('already subscribes'),
    ]);
    expect(stepNames(run)).toEqual([
      ['prerequisites', true],
      ['copy-schema', true],
      ['start-replication', true],
      ['wait-for-sync', true],
      ['freeze-writes', true],
      ['wait-for-apply', true],
      ['sync-sequences', true],
      ['snapshot', true],
      ['stop-replication', true],
      ['validate-new-primary', true],
      ['repoint-endpoint', true],
      ['resume', true],
      ['first-writes', true],
      ['fence-old-primary', true],
      ['fingerprint-at-freeze', true],
      ['drop-subscription', true],
      ['analyze', true],
    ]);
    expect(results.integrity?.source).toBe('blue');
    expect(results.integrity?.target).toBe('green');
    // every user table, matched (audit_log included: the trigger did not fire again on the
    // subscriber); the probe's own table is bookkeeping (_pgdrill.probe), not compared
    const compared = results.integrity?.tables.map((t) => t.table) ?? [];
    expect(compared).toEqual(expect.arrayContaining(['users', 'products', 'orders', 'order_items', 'audit_log']));
    expect(compared.filter((t) => t.includes('probe'))).toEqual([]);
    expect(results.integrity?.tables.filter((t) => !t.match)).toEqual([]);
    expect(results.integrity?.lostWrites).toBe(0);
    expect(results.integrity?.writesAfterPromotion).toBe(0);
    expect(results.integrity?.sequences.length).toBeGreaterThanOrEqual(5);
    expect(results.integrity?.sequences.every((s) => s.ok)).toBe(true);
    // the subscriber's lag was sampled while it replicated, under its own name
    expect(results.lag.samples.filter((s) => s.node === 'green').length).toBeGreaterThan(3);
    expect(results.lag.maxReplayBytes).not.toBeNull();
    expect(results.load.writes.perSecond.at(-2)!.ok).toBeGreaterThan(100);
    expectEveryOpAccounted(run);
    expect(results.verdict).toBe('pass');
    expect(run.exitCode).toBe(0);
    expect(leftovers(results.runId)).toEqual([]);
  });

  it('without the sequence sync, inserts on 17 collide after the cutover and the sequence check fails the run', async () => {
    const run = await runInTemp(scenarioFrom(upgrade('syncSequences: false')));
    const { results } = run;
    const sync = results.cutover!.steps.find((s) => s.name === 'sync-sequences')!;
    expect(sync.detail).toContain('skipped');
    // blue's sequences are fine, so duplicate keys can only come from green, after the cutover
    expect(results.load.writes.errors['23505 constraint']).toBeGreaterThan(50);
    const resumedAt = results.cutover!.steps.find((s) => s.name === 'resume')!.endMs;
    const loadStart = results.phases.find((p) => p.name === 'load')!.startMs;
    const after = results.load.writes.perSecond.filter((b) => loadStart + b.second * 1000 > resumedAt);
    expect(after.some((b) => b.failed > 0)).toBe(true);
    const behind = results.integrity!.sequences.filter((s) => !s.ok).map((s) => s.sequence);
    expect(behind).toEqual(expect.arrayContaining(['orders_id_seq', 'order_items_id_seq', 'audit_log_id_seq']));
    // nothing acknowledged was lost: the failures are refusals, and the tables still match
    expect(results.integrity?.lostWrites).toBe(0);
    expect(results.integrity?.tables.every((t) => t.match)).toBe(true);
    expect(results.verdict).toBe('fail');
    expect(run.exitCode).toBe(1);
  });

  it('refuses a table without a primary key by name before replicating anything, and blue keeps its writes', async () => {
    const run = await runInTemp(scenarioFrom(upgrade('', '')), {
      afterSeed: async ({ topology }) => {
        await withNode(topology.node('blue'), (client) => client.query('CREATE TABLE order_notes (order_id bigint, note text)'));
      },
      beforeVerify: async ({ topology }) => {
        const left = await withNode(topology.node('blue'), async (client) => {
          const { rows } = await client.query(`SELECT (SELECT count(*) FROM pg_publication)::int AS pubs, (SELECT count(*) FROM pg_replication_slots)::int AS slots`);
          return rows[0];
        });
        expect(left).toEqual({ pubs: 0, slots: 0 });
      },
    });
    const { results } = run;
    const steps = results.cutover!.steps;
    expect(steps[0]).toMatchObject({ name: 'prerequisites', ok: false });
    expect(steps[0].detail).toContain('order_notes');
    expect(steps[0].detail).toContain('no primary key or replica identity');
    expect(steps.map((s) => s.name)).toEqual(['prerequisites', 'rollback']);
    expect(results.cutover?.rolledBack).toBe(true);
    // no freeze happened: blue served every write, before and after the refusal
    expect(results.load.writes.failed + results.load.writes.indeterminate).toBe(0);
    expect(results.integrity?.lostWrites).toBe(0);
    expect(results.verdict).toBe('fail');
    expect(run.exitCode).toBe(1);
    expect(leftovers(results.runId)).toEqual([]);
  });
});
