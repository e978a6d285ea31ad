// The docker runtime's node operations against real containers (the offline-built
// pgdrill/postgres:15 in CI): a standby by pg_basebackup over the run's DNS names, stop,
// SIGKILL, docker pause, a real partition by network disconnect, a node that never gets
// ready, and dispose leaving nothing labelled behind. Skips loudly when Docker is unusable.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../harness/runtime/docker/docker-runtime.js';
import type { DockerNode } from '../../harness/runtime/docker/docker-node.js';
import { dockerAvailability, skipBanner } from '../../harness/runtime/docker/availability.js';
import { dockerClient } from '../../harness/runtime/docker/docker-client.js';
import { LABEL } from '../../harness/runtime/docker/labels.js';
import type { NodeCredentials } from '../../harness/runtime/runtime.js';
import { buildStandby, waitStreaming } from '../../harness/topology/standby.js';
import { EnvironmentError } from '../../harness/errors.js';

const availability = await dockerAvailability(15);
if (!availability.available) {
  if (process.env.PGDRILL_REQUIRE_DOCKER === '1') throw new Error(`PGDRILL_REQUIRE_DOCKER=1 but Docker is not usable: ${availability.reason}`);
  console.error(skipBanner('docker runtime tests (test/e2e/docker-runtime.test.ts)', availability.reason!));
}
const image = availability.image!;

const credentials: NodeCredentials = {
  superuser: 'drill',
  superuserPassword: `su-${randomBytes(6).toString('hex')}`,
  replicationUser: 'replicator',
  replicationPassword: `rep-${randomBytes(6).toString('hex')}`,
};

async function query(node: DockerNode, sql: string, timeout = 5000): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client({
    host: node.address.host,
    port: node.address.port,
    user: credentials.superuser,
    password: credentials.superuserPassword,
    database: 'postgres',
    connectionTimeoutMillis: timeout,
    query_timeout: timeout,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query(sql)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** What `docker ps -a` / `docker network ls` show for a run id (the CLI a user would run). */
function labelled(kind: 'ps' | 'network', runId: string): string[] {
  const args = kind === 'ps' ? ['ps', '-a', '--format', '{{.Names}}'] : ['network', 'ls', '--format', '{{.Name}}'];
  const out = execFileSync('docker', [...args, '--filter', `label=${LABEL.runId}=${runId}`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim().length > 0);
}

/** Postgres processes inside a container, by /proc (the images have no ps). */
function postgresProcesses(container: string): number {
  const out = execFileSync('docker', ['exec', container, 'sh', '-c', 'n=0; for f in /proc/[0-9]*/comm; do [ "$(cat $f 2>/dev/null)" = postgres ] && n=$((n+1)); done; echo $n'], { encoding: 'utf8' });
  return Number(out.trim());
}

describe.skipIf(!availability.available)(`docker runtime (${image})`, () => {
  const runId = `e2e-dr-${process.pid}-${randomBytes(2).toString('hex')}`;
  const runtime = new DockerRuntime({ runId, credentials, scenario: 'docker-runtime-test', imageTemplate: image });
  let primary: DockerNode;
  let replica: DockerNode;

  beforeAll(async () => {
    await runtime.preflight([{ name: 'primary', version: 15 }, { name: 'replica', version: 15 }]);
    primary = await runtime.createNode({ name: 'primary', version: 15 });
    await primary.initdb();
    await primary.configure({ wal_level: 'replica', max_wal_senders: '8' });
    await primary.start();
  });

  afterAll(async () => {
    await runtime.dispose();
  });

  it('serves SQL on a 127.0.0.1 port published from the container, with the labels cleanup relies on', async () => {
    expect(primary.address.host).toBe('127.0.0.1');
    expect(primary.peerAddress).toEqual({ host: 'primary', port: 5432 });
    const rows = await query(primary, 'SHOW server_version');
    expect(rows[0].server_version).toMatch(/^15\./);
    const info = await dockerClient().getContainer(primary.containerId).inspect();
    expect(info.Config.Labels).toMatchObject({ [LABEL.runId]: runId, [LABEL.scenario]: 'docker-runtime-test', [LABEL.version]: expect.any(String) });
    expect(primary.origin).toContain(image);
  });

  it('builds a streaming standby with pg_basebackup run in the standby container, reaching the primary by its DNS name', async () => {
    replica = await runtime.createNode({ name: 'replica', version: 15 });
    const controller = new AbortController();
    const method = await buildStandby(primary, replica, { hot_standby: 'on' }, runtime, controller.signal);
    expect(method).toBe('pg_basebackup');
    const rows = await query(primary, `SELECT application_name, state FROM pg_stat_replication`);
    expect(rows).toEqual([{ application_name: 'replica', state: 'streaming' }]);
  });

  it('a real partition: a disconnected standby stops streaming, and streams again once reconnected on the same address', async () => {
    const port = replica.address.port;
    await replica.disconnectNetwork();
    // the walsender notices when its socket errors or the standby's status messages stop
    await query(primary, `SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'replica'`);
    await expect(query(replica, 'SELECT 1', 1500)).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 1500));
    expect(await query(primary, `SELECT state FROM pg_stat_replication WHERE application_name = 'replica'`)).toEqual([]);
    await replica.connectNetwork();
    // the harness's address survives the partition (an endpoint keeps pointing at it)
    expect(replica.address.port).toBe(port);
    await waitStreaming(primary, replica, 30_000);
    expect((await query(replica, 'SELECT pg_is_in_recovery() AS r'))[0].r).toBe(true);
  });

  it('docker pause leaves connections open but unanswered; unpause answers again', async () => {
    await replica.pause();
    expect(replica.state).toBe('paused');
    const started = Date.now();
    await expect(query(replica, 'SELECT 1', 1000)).rejects.toThrow();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await replica.resume();
    expect((await query(replica, 'SELECT 1 AS one'))[0].one).toBe(1);
  });

  it('kill SIGKILLs the postmaster and all its children, and the node starts again with crash recovery', async () => {
    expect(postgresProcesses(replica.containerName)).toBeGreaterThan(1);
    await replica.kill();
    expect(replica.state).toBe('killed');
    // children notice their postmaster's death at once; give them a moment
    await new Promise((r) => setTimeout(r, 500));
    expect(postgresProcesses(replica.containerName)).toBe(0);
    await replica.start();
    await waitStreaming(primary, replica, 30_000);
    expect(await replica.logTail(50)).toMatch(/database system was interrupted|not properly shut down|redo starts|started streaming/);
  });

  it('stop (fast, immediate) leaves the container and its data, and start brings the server back', async () => {
    await replica.stop('immediate');
    expect(replica.state).toBe('stopped');
    await replica.start();
    await replica.stop('fast');
    expect(replica.state).toBe('stopped');
    const info = await dockerClient().getContainer(replica.containerId).inspect();
    expect(info.State.Running).toBe(true); // the keeper still runs; only postgres stopped
    await replica.start();
    expect((await query(replica, 'SELECT 1 AS one'))[0].one).toBe(1);
  });

  it('a node that never becomes ready fails with its last log lines', async () => {
    const broken = await runtime.createNode({ name: 'broken', version: 15 });
    await broken.initdb();
    await broken.configure({ shared_buffers: 'lots' });
    const error = await broken.start({ timeout: 20_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as EnvironmentError).code).toBe('PGDRILL_NODE_NOT_READY');
    expect((error as Error).message).toMatch(/shared_buffers/);
  });

  it('runs client tools of the right major inside the container', async () => {
    const r = await primary.runTool('psql', ['-Atc', 'SELECT 40 + 2']);
    expect(r).toMatchObject({ exitCode: 0, stdout: '42\n' });
    const slow = await primary.runTool('psql', ['-Atc', 'SELECT pg_sleep(30)'], { timeout: 1000 });
    expect(slow.exitCode).toBe(124);
    expect(await primary.hasTool('pg_basebackup', 15)).toBe(true);
    expect(await primary.hasTool('pg_basebackup', 17)).toBe(false);
  });

  it('dispose removes every container and the network of the run', async () => {
    expect(labelled('ps', runId).length).toBe(3);
    await runtime.dispose();
    expect(labelled('ps', runId)).toEqual([]);
    expect(labelled('network', runId)).toEqual([]);
  });
});
