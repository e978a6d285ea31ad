// The streaming cutover on real servers: a clean switchover passes with nothing lost; a
// loss forced on the new primary is caught and fails the run; a dry run changes nothing;
// a cutover whose sync gate fails rolls back and leaves the old primary taking writes.

import { afterAll, describe, expect, it } from 'vitest';
import { withNode } from '../../harness/topology/connect.js';
import { expectEveryOpAccounted, leftovers, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

const cutover = (extra = '') => `
name: cutover-test
duration: 10s
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary }
strategy: { kind: streaming, from: primary, to: replica, syncGate: { timeout: 20s } }
seed: { users: 300, products: 100, orders: 600 }
workload:
  writes: { rate: 200, connections: 8 }
  reads: { rate: 50, connections: 2 }
  probe: { interval: 20ms }
timeline:
  - at: 4s
    cutover: {}
thresholds:
  writeDowntime: "< 5s"
  lostWrites: "== 0"
  rowCountMismatches: "== 0"
${extra}`;

afterAll(removeRunFolders);

describe('streaming cutover', () => {
  it('promotes the replica with every step ok, nothing lost, every table matching', async () => {
    const run = await runInTemp(scenarioFrom(cutover()));
    const { results } = run;
    expect(results.error).toBeNull();
    expect(results.cutover?.steps.map((s) => [s.name, s.ok])).toEqual([
      ['prerequisites', true],
      ['wait-for-sync', true],
      ['freeze-writes', true],
      ['final-lsn-check', true],
      ['snapshot', true],
      ['promote', true],
      ['validate-new-primary', true],
      ['repoint-endpoint', true],
      ['resume', true],
      ['first-writes', true],
      ['fence-old-primary', true],
      ['fingerprint-at-freeze', true],
    ]);
    // clients waited from the freeze to the resume; the fence proof and the fingerprint come after,
    // once the clients' first writes were served on the new primary
    expect(results.cutover?.steps.find((s) => s.name === 'first-writes')?.detail).toMatch(/writes in a row/);
    expect(results.cutover?.steps.filter((s) => s.criticalPath).map((s) => s.name)).toEqual([
      'freeze-writes', 'final-lsn-check', 'snapshot', 'promote', 'validate-new-primary', 'repoint-endpoint', 'resume',
    ]);
    expect(results.integrity?.source).toBe('primary');
    expect(results.integrity?.target).toBe('replica');
    expect(results.integrity?.tables.every((t) => t.match)).toBe(true);
    expect(results.integrity?.lostWrites).toBe(0);
    expect(results.integrity?.writesAfterPromotion).toBe(0);
    expect(results.integrity?.sequences.every((s) => s.ok)).toBe(true);
    // the freeze is visible to clients, and short
    expect(results.downtime.writes.windows.length).toBeGreaterThanOrEqual(1);
    expect(results.downtime.writes.longestMs).toBeGreaterThan(0);
    expect(results.downtime.writes.longestMs).toBeLessThan(5000);
    expect(results.downtime.serverWriteGapMs).toBeGreaterThan(0);
    // writes went on after the cutover, on the new primary
    const promoteEnd = results.cutover!.steps.find((s) => s.name === 'promote')!.endMs;
    const load = results.phases.find((p) => p.name === 'load')!;
    const fullSecondsAfter = results.load.writes.perSecond.filter(
      (b) => load.startMs + b.second * 1000 > promoteEnd + 500 && load.startMs + (b.second + 1) * 1000 < load.endMs,
    );
    expect(fullSecondsAfter.length).toBeGreaterThan(2);
    for (const b of fullSecondsAfter) expect(b.ok).toBeGreaterThan(150);
    expectEveryOpAccounted(run);
    expect(results.verdict).toBe('pass');
    expect(run.exitCode).toBe(0);
    expect(leftovers(results.runId)).toEqual([]);
  });

  it('reports lost writes and exits 1 when acknowledged rows are missing on the new primary', async () => {
    let deleted: number[] = [];
    const run = await runInTemp(scenarioFrom(cutover()), {
      // tamper with the final state: rows the workload inserted and had acknowledged vanish
      beforeVerify: async ({ topology }) => {
        deleted = await withNode(topology.primary, async (client) => {
          const { rows } = await client.query(
            `DELETE FROM orders WHERE id IN (
               SELECT id FROM orders WHERE request_id IS NOT NULL AND id > 600 ORDER BY id DESC LIMIT 5)
             RETURNING id`,
          );
          return rows.map((r) => Number(r.id));
        });
      },
    });
    const { results } = run;
    expect(deleted).toHaveLength(5);
    expect(results.integrity!.lostWrites).toBeGreaterThanOrEqual(5);
    const lostKeys = results.integrity!.lost.filter((f) => f.table === 'orders').map((f) => f.key);
    for (const id of deleted) expect(lostKeys).toContain(id);
    expect(results.thresholds.find((t) => t.name === 'lostWrites')?.pass).toBe(false);
    expect(results.verdict).toBe('fail');
    expect(run.exitCode).toBe(1);
  });

  it('a dry run checks and stops: the old primary keeps taking writes, the endpoint is unchanged', async () => {
    const yaml = cutover().replace('cutover: {}', 'cutover: { dryRun: true }');
    const run = await runInTemp(scenarioFrom(yaml));
    const { results } = run;
    expect(results.cutover?.dryRun).toBe(true);
    expect(results.cutover?.ok).toBe(true);
    expect(results.cutover?.steps.map((s) => s.name)).toEqual(['prerequisites', 'wait-for-sync']);
    // no promotion: the primary is still the primary, compared with its replica
    expect(results.integrity?.source).toBe('primary');
    expect(results.integrity?.target).toBe('replica');
    expect(results.load.writes.failed + results.load.writes.indeterminate).toBe(0);
    expect(results.downtime.writes.windows).toEqual([]);
    expect(results.events.some((e) => e.kind === 'cutover-step' && e.step === 'promote')).toBe(false);
    expect(results.verdict).toBe('pass');
  });

  it('rolls back when the target does not answer: old primary writable, endpoint unchanged, run fails', async () => {
    // the replica is paused across the cutover: its prerequisites check cannot pass
    const yaml = cutover().replace(
      'timeline:\n',
      'timeline:\n  - at: 3s\n    fault: { kind: pause, node: replica, for: 5s }\n',
    );
    const run = await runInTemp(scenarioFrom(yaml));
    const { results } = run;
    const steps = results.cutover!.steps;
    expect(steps.find((s) => s.name === 'prerequisites')?.ok).toBe(false);
    expect(steps.at(-1)).toMatchObject({ name: 'rollback', ok: true });
    expect(results.cutover?.rolledBack).toBe(true);
    expect(steps.some((s) => s.name === 'promote')).toBe(false);
    // the old primary took writes after the rollback, and nothing was lost
    const rollbackEnd = steps.at(-1)!.endMs;
    const load = results.phases.find((p) => p.name === 'load')!;
    const lateSeconds = results.load.writes.perSecond.filter((b) => load.startMs + b.second * 1000 > rollbackEnd + 500);
    expect(lateSeconds.length).toBeGreaterThan(0);
    expect(lateSeconds.every((b) => b.ok > 0 && b.failed === 0)).toBe(true);
    expect(results.integrity?.source).toBe('primary');
    expect(results.integrity?.lostWrites).toBe(0);
    expect(results.verdict).toBe('fail');
    expect(run.exitCode).toBe(1);
    expect(leftovers(results.runId)).toEqual([]);
  });
});
