// The dump-restore upgrade on real servers (13 from npm -> 17, Debian's 15 client tools): a
// clean blue/green cutover copies every row, sequence, role and grant and loses nothing; with
// no pg_dump able to read the source, the run stops before seeding with exit 3.

import { afterAll, describe, expect, it } from 'vitest';
import { withNode } from '../../harness/topology/connect.js';
import { findClientTool } from '../../harness/runtime/local/pg-binaries.js';
import { expectEveryOpAccounted, leftovers, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

const upgrade = (extra = '') => `
name: dump-restore-test
duration: 10s
nodes:
  blue: { version: 13 }
  green: { version: 17 }
strategy: { kind: dump-restore, from: blue, to: green, globals: true, jobs: 2 }
seed: { users: 300, products: 100, orders: 600 }
workload:
  writes: { rate: 200, connections: 8 }
  reads: { rate: 50, connections: 2 }
  probe: { interval: 20ms }
timeline:
  - at: 3s
    cutover: {}
thresholds:
  writeDowntime: "< 10s"
  lostWrites: "== 0"
  rowCountMismatches: "== 0"
${extra}`;

afterAll(removeRunFolders);

describe('dump-restore upgrade', () => {
  it('moves 13 to 17 with every table, sequence, role and grant copied and no write lost', async () => {
    let onGreen: { role: boolean; canRead: boolean; canWrite: boolean } | undefined;
    const run = await runInTemp(scenarioFrom(upgrade()), {
      // a role with a password and a grant on blue: the application's, which green must keep
      afterSeed: async ({ topology }) => {
        await withNode(topology.node('blue'), async (client) => {
          await client.query(`CREATE ROLE app_reader LOGIN PASSWORD 'reader-secret'`);
          await client.query('GRANT SELECT ON orders TO app_reader');
        });
      },
      beforeVerify: async ({ topology }) => {
        onGreen = await withNode(topology.node('green'), async (client) => {
          const { rows } = await client.query(
            `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_reader' AND rolcanlogin) AS role,
                    has_table_privilege('app_reader', 'orders', 'SELECT') AS can_read,
                    has_table_privilege('app_reader', 'orders', 'INSERT') AS can_write`,
          );
          return { role: rows[0].role, canRead: rows[0].can_read, canWrite: rows[0].can_write };
        });
      },
    });
    const { results } = run;
    expect(results.error).toBeNull();
    expect(results.cutover?.steps.map((s) => [s.name, s.ok])).toEqual([
      ['prerequisites', true],
      ['initial-sync', true],
      ['prepare-final-sync', true],
      ['freeze-writes', true],
      ['final-sync', true],
      ['validate', true],
      ['snapshot', true],
      ['validate-new-primary', true],
      ['repoint-endpoint', true],
      ['resume', true],
      ['first-writes', true],
      ['fence-old-primary', true],
      ['fingerprint-at-freeze', true],
      ['analyze', true],
    ]);
    expect(results.cutover!.steps.find((s) => s.name === 'validate')!.detail).toContain('roles, memberships and grants match');
    // clients waited from the freeze to the resume; the fence proof and the fingerprint come after
    expect(results.cutover!.steps.filter((s) => s.criticalPath).map((s) => s.name)).toEqual([
      'freeze-writes', 'final-sync', 'validate', 'snapshot', 'validate-new-primary', 'repoint-endpoint', 'resume',
    ]);
    // jobs: 2 (a database this small would copy in the custom format): the parallel copy, inside the freeze
    expect(results.cutover!.steps.find((s) => s.name === 'final-sync')!.detail).toMatch(/^pg_dump -Fd -j 2 .*pg_restore -j 2 /);
    expect(onGreen).toEqual({ role: true, canRead: true, canWrite: false });
    // green is the primary now: it was compared, as at the freeze, with the fenced blue
    expect(results.integrity?.source).toBe('blue');
    expect(results.integrity?.target).toBe('green');
    // every user table; the probe's own table is bookkeeping (_pgdrill.probe), not compared
    expect(results.integrity?.tables.map((t) => t.table).sort()).toEqual(['audit_log', 'order_items', 'orders', 'products', 'users']);
    expect(results.integrity?.tables.every((t) => t.match)).toBe(true);
    expect(results.integrity?.lostWrites).toBe(0);
    expect(results.integrity?.writesAfterPromotion).toBe(0);
    // pg_dump carries setval: inserts on green did not collide
    expect(results.integrity?.sequences.every((s) => s.ok)).toBe(true);
    expect(results.downtime.writes.longestMs).toBeGreaterThan(0);
    // writes went on after the cutover, on green (the last second of the load is a partial one)
    expect(results.load.writes.perSecond.at(-2)!.ok).toBeGreaterThan(100);
    expectEveryOpAccounted(run);
    expect(results.verdict).toBe('pass');
    expect(run.exitCode).toBe(0);
    expect(leftovers(results.runId)).toEqual([]);
  });

  it.skipIf(findClientTool('pg_dump', 17) !== undefined)(
    'stops before the seed with exit 3 and says what to install when no pg_dump can read the source',
    async () => {
      // a 17 source: this machine's newest pg_dump (15) refuses it
      const yaml = upgrade()
        .replace('blue: { version: 13 }', 'blue: { version: 17 }')
        .replace('globals: true', 'globals: false');
      const run = await runInTemp(scenarioFrom(yaml));
      const { results } = run;
      expect(run.exitCode).toBe(3);
      expect(results.error?.code).toBe('PGDRILL_CLIENT_TOOL_MISSING');
      expect(results.error?.message).toContain('pg_dump, pg_restore of PostgreSQL 17 or newer');
      expect(results.error?.message).toContain('apt-get install postgresql-client-<N>');
      expect(results.phases.map((p) => p.name)).not.toContain('seed');
      expect(results.phases.map((p) => p.name)).not.toContain('load');
      expect(leftovers(results.runId)).toEqual([]);
    },
  );
});
