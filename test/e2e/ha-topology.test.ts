// HA topologies beyond the bundled scenarios (bundled-scenarios.test.ts runs ha-three-nodes,
// failover-rejoin and streaming-cutover-tls as shipped): a failover whose other standby follows
// the promoted one; TLS seen from the server (replication over plain TCP refused, the
// workload's sessions encrypted); and a rejoin that cannot run for want of pg_rewind stopping
// before the load with exit 3.

import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { finalUpstreams } from '../../harness/report/replication-model.js';
import { findClientTool } from '../../harness/runtime/local/pg-binaries.js';
import { leftovers, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

afterAll(removeRunFolders);

describe('followers after a failover', () => {
  it('the other standby of the killed primary follows the promoted one across the timeline switch, and matches it', async () => {
    const run = await runInTemp(
      scenarioFrom(`
name: failover-followers
duration: 10s
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary, synchronous: true }
  replica2: { version: 17, replicaOf: primary }
strategy: { kind: failover, from: primary, to: replica }
seed: { users: 300, products: 100, orders: 600 }
workload:
  writes: { rate: 100, connections: 8 }
  probe: { interval: 20ms }
monitor: { interval: 250ms }
timeline:
  - at: 3s
    fault: { kind: kill, node: primary }
thresholds:
  lostWrites: "== 0"
`),
    );
    const { results } = run;
    expect(results.error).toBeNull();
    const follow = results.cutover?.steps.find((s) => s.name === 'follow replica2');
    expect(follow, JSON.stringify(results.cutover?.steps.map((s) => s.name))).toMatchObject({ ok: true });
    expect(follow!.detail).toMatch(/replica2 streams from replica on timeline 2 \(forked at [0-9A-F]+\/[0-9A-F]+\).*caught up/);
    // the lag samples say who it streamed from, before and after
    const spans = results.lag.samples.filter((s) => s.node === 'replica2').map((s) => s.upstream);
    expect(spans[0]).toBe('primary');
    expect(finalUpstreams(results).get('replica2')).toMatchObject({ upstream: 'replica' });
    expect(finalUpstreams(results).get('replica2')!.streaming).toBeGreaterThan(0);
    // the follower is the second copy the new primary's tables are compared with
    expect(results.integrity?.target).toBe('replica2');
    expect(results.integrity?.tables.every((t) => t.match)).toBe(true);
    expect(results.integrity?.lostWrites).toBe(0);
    expect(run.exitCode).toBe(0);
    expect(leftovers(results.runId)).toEqual([]);
  });
});

describe('TLS, as the servers see it', () => {
  it('refuses replication over plain TCP, and the workload sessions are encrypted', async () => {
    let plainReplication = '';
    const run = await runInTemp(
      scenarioFrom(`
name: tls-sessions
duration: 6s
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary }
tls: { mode: verify-full, clientCerts: true }
seed: { users: 200, products: 100, orders: 400 }
workload:
  writes: { rate: 100, connections: 4 }
  probe: { interval: 50ms }
timeline:
  - at: 3s
    sql:
      node: primary
      statement: "SELECT count(*) FILTER (WHERE s.ssl) AS encrypted, count(*) AS sessions FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name LIKE 'pgdrill-write%'"
`),
      {
        afterSeed: async ({ topology }) => {
          // a standby's replication connection without TLS, as a misconfigured one would try
          const primary = topology.primary;
          const client = new pg.Client({
            host: primary.address.host,
            port: primary.address.port,
            user: primary.credentials.replicationUser,
            password: primary.credentials.replicationPassword,
            database: 'postgres',
            replication: 'true', // physical, as a standby's walreceiver connects
          } as pg.ClientConfig);
          client.on('error', () => undefined);
          plainReplication = await client.connect().then(
            () => 'connected',
            (err: Error) => err.message,
          );
          await client.end().catch(() => undefined);
        },
      },
    );
    const { results } = run;
    expect(results.error).toBeNull();
    expect(plainReplication).toMatch(/no pg_hba.conf entry for replication connection .*no encryption/);
    const step = results.events.find((e) => e.kind === 'step-end');
    expect(step).toMatchObject({ ok: true });
    // "SELECT 1\n  encrypted | sessions\n  4 | 4"
    const [, encrypted, sessions] = /(\d+) \| (\d+)/.exec(String(step!.outputTail))!.map(Number);
    expect(sessions).toBeGreaterThan(0);
    expect(encrypted).toBe(sessions);
    expect(results.events.find((e) => e.kind === 'replication-tls')).toMatchObject({ node: 'replica', ssl: true, clientDn: '/CN=replicator' });
    expect(results.checks.find((c) => c.name === 'tls')).toMatchObject({ valid: true });
    expect(run.exitCode).toBe(0);
    expect(leftovers(results.runId)).toEqual([]);
  });
});

describe.skipIf(findClientTool('pg_rewind', 17) !== undefined)('a rejoin without pg_rewind of the right major', () => {
  it('stops before the seed and the load with exit 3, saying what to install', async () => {
    const run = await runInTemp(
      scenarioFrom(`
name: rejoin-no-rewind
duration: 10s
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary }
strategy: { kind: streaming, from: primary, to: replica, rejoinOldPrimary: true }
timeline:
  - at: 5s
    cutover: {}
`),
    );
    expect(run.exitCode).toBe(3);
    expect(run.results.error?.code).toBe('PGDRILL_CLIENT_TOOL_MISSING');
    expect(run.results.error?.message).toMatch(/pg_rewind of PostgreSQL 17.*apt-get install postgresql-17.*PGDRILL_PG_BIN_17/);
    expect(run.results.phases.map((p) => p.name)).not.toContain('seed');
    expect(leftovers(run.results.runId)).toEqual([]);
  });
});

