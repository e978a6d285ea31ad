// The local runtime against real PostgreSQL servers: npm-packaged 17, Debian's 15, no mocks.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRuntime, cleanupStaleLocalRuns } from '../../harness/runtime/local/local-runtime.js';
import type { LocalNode } from '../../harness/runtime/local/local-node.js';
import { describeBinaries, findClientTool, resolveServerBinaries } from '../../harness/runtime/local/pg-binaries.js';
import { allProcesses, descendants, isAlive, processCwd } from '../../harness/runtime/local/proc.js';
import type { NodeCredentials } from '../../harness/runtime/runtime.js';
import { EnvironmentError } from '../../harness/errors.js';

const credentials: NodeCredentials = {
  superuser: 'drill',
  superuserPassword: `su-${Math.random().toString(36).slice(2)}`,
  replicationUser: 'replicator',
  replicationPassword: `rep-${Math.random().toString(36).slice(2)}`,
};

const runId = `e2e-lr-${process.pid}-${Date.now().toString(36)}`;

function connect(node: LocalNode, overrides: Partial<pg.ClientConfig> = {}): pg.Client {
  const client = new pg.Client({
    host: node.address.host,
    port: node.address.port,
    user: credentials.superuser,
    password: credentials.superuserPassword,
    database: 'postgres',
    connectionTimeoutMillis: 5000,
    ...overrides,
  });
  client.on('error', () => undefined);
  return client;
}

async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(node: LocalNode, sql: string): Promise<T[]> {
  const client = connect(node);
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** Processes of ours whose working directory is inside `dir` (PostgreSQL chdirs to its data dir). */
function processesUnder(dir: string): number[] {
  return allProcesses()
    .filter((p) => isAlive(p.pid))
    .filter((p) => processCwd(p.pid)?.startsWith(dir + path.sep))
    .map((p) => p.pid);
}

/** Resolves 'timeout' when the promise has not settled after ms. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return Promise.race([promise, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms))]);
}

describe('local runtime', () => {
  const runtime = new LocalRuntime({ runId, credentials });
  let node17: LocalNode;

  beforeAll(async () => {
    await runtime.preflight([{ name: 'n17', version: 17 }, { name: 'n15', version: 15 }]);
    node17 = await runtime.createNode({ name: 'n17', version: 17 });
    await node17.initdb();
    await node17.start();
  });

  afterAll(async () => {
    await runtime.dispose();
  });

  it('runs 17 from the npm package and 15 from the system install', async () => {
    expect((await resolveServerBinaries(17)).source).toBe('npm');
    expect((await resolveServerBinaries(15)).source).toBe('system');
    const report = describeBinaries();
    expect(report.majors.find((m) => m.major === 17)?.server?.source).toBe('npm');
    expect(report.majors.find((m) => m.major === 15)?.clientTools.psql).toBe('/usr/lib/postgresql/15/bin/psql');
    console.log(`node n17 started in ${node17.lastStartMs} ms`);
  });

  it('keeps the run inside one folder with short socket paths', () => {
    expect(runtime.runDir).toBe(path.join(os.tmpdir(), 'pgdrill', runId));
    expect(node17.dataDir.startsWith(runtime.runDir + path.sep)).toBe(true);
    expect(fs.existsSync(path.join(runtime.runDir, `.s.PGSQL.${node17.address.port}`))).toBe(true);
    expect(fs.statSync(node17.dataDir).mode & 0o777).toBe(0o700);
  });

  it('answers SQL over TCP with the password and refuses a wrong or missing one', async () => {
    const rows = await query<{ server_version_num: string }>(node17, 'SHOW server_version_num');
    expect(Number(rows[0].server_version_num)).toBeGreaterThanOrEqual(170000);

    const wrong = connect(node17, { password: 'not-the-password' });
    await expect(wrong.connect()).rejects.toMatchObject({ code: '28P01' });

    // with no password pg gives up as soon as the server asks for SCRAM
    const none = connect(node17, { password: undefined });
    await expect(none.connect()).rejects.toThrow(/password/i);
  });

  it('lets the replication role open a replication connection over TCP', async () => {
    const client = connect(node17, {
      user: credentials.replicationUser,
      password: credentials.replicationPassword,
      replication: 'database',
    } as Partial<pg.ClientConfig>);
    await client.connect();
    const { rows } = await client.query('IDENTIFY_SYSTEM');
    expect(rows[0].systemid).toMatch(/^\d+$/);
    await client.end();
    const settings = await query<{ wal_level: string; listen_addresses: string }>(
      node17,
      `SELECT current_setting('wal_level') AS wal_level, current_setting('listen_addresses') AS listen_addresses`,
    );
    expect(settings[0]).toEqual({ wal_level: 'logical', listen_addresses: '127.0.0.1' });
  });

  it('pause makes an open connection hang and resume lets it answer', async () => {
    const client = connect(node17);
    await client.connect();
    await node17.pause();
    expect(node17.state).toBe('paused');
    const pending = client.query('SELECT 42 AS answer');
    expect(await within(pending, 1500)).toBe('timeout');
    await node17.resume();
    expect(node17.state).toBe('running');
    const result = await within(pending, 5000);
    expect(result).not.toBe('timeout');
    expect((result as pg.QueryResult).rows[0].answer).toBe(42);
    await client.end();
  });

  it('kill leaves no process behind and the next start recovers committed data', async () => {
    await query(node17, 'CREATE TABLE IF NOT EXISTS survived (id int); INSERT INTO survived VALUES (1)');
    const pid = node17.pid!;
    const children = descendants(pid);
    expect(children.length).toBeGreaterThan(3);
    await node17.kill();
    expect(node17.state).toBe('killed');
    expect([pid, ...children].filter(isAlive)).toEqual([]);
    expect(processesUnder(node17.dataDir)).toEqual([]);

    await node17.start();
    expect(node17.state).toBe('running');
    expect(await node17.logTail(200)).toMatch(/not properly shut down|automatic recovery/);
    expect(await query(node17, 'SELECT count(*)::int AS n FROM survived')).toEqual([{ n: 1 }]);
  });

  it('stops in smart, fast and immediate mode', async () => {
    await node17.stop('smart');
    expect(node17.state).toBe('stopped');
    expect(processesUnder(node17.dataDir)).toEqual([]);

    await node17.start();
    const client = connect(node17);
    await client.connect();
    const dropped = new Promise<Error>((resolve) => client.on('error', resolve));
    await node17.stop('fast');
    expect(node17.state).toBe('stopped');
    expect((await within(dropped, 5000)) as Error).toBeInstanceOf(Error);

    await node17.start();
    await node17.stop('immediate');
    expect(node17.state).toBe('stopped');
    await node17.start();
    expect(await node17.logTail(200)).toMatch(/not properly shut down|automatic recovery/);
  });

  it('runs psql from the Debian 15 client tools as the server user', async () => {
    expect(findClientTool('psql', 0)).toEqual({ path: '/usr/lib/postgresql/15/bin/psql', major: 15 });
    const result = await node17.runTool('psql', ['-XAtc', 'SELECT 40 + 2, current_user']);
    expect(result).toMatchObject({ exitCode: 0, stdout: `42|${credentials.superuser}\n` });
    expect(await node17.hasTool('psql', 15)).toBe(true);
    // pg_dump 15 refuses a 17 server, so none qualifies for this node
    expect(await node17.hasTool('pg_dump', 17)).toBe(false);
    await expect(node17.runTool('pg_dump', ['-s'])).rejects.toBeInstanceOf(EnvironmentError);
  });

  it('builds a streaming standby from copyDataDir between pg_backup_start and pg_backup_stop', async () => {
    const standby = await runtime.createNode({ name: 'n17b', version: 17 });
    const client = connect(node17);
    await client.connect();
    await client.query(`CREATE TABLE IF NOT EXISTS copied (v text); INSERT INTO copied VALUES ('before backup')`);
    await client.query(`SELECT pg_backup_start('pgdrill-test', true)`);
    await runtime.copyDataDir(node17, standby);
    const { rows } = await client.query(`SELECT labelfile FROM pg_backup_stop(false)`);
    await client.end();

    expect(fs.readdirSync(path.join(standby.dataDir, 'pg_wal'))).toEqual(['archive_status']);
    expect(fs.existsSync(path.join(standby.dataDir, 'postmaster.pid'))).toBe(false);
    expect(fs.statSync(standby.dataDir).uid).toBe(fs.statSync(node17.dataDir).uid);

    await standby.writeDataFile('backup_label', rows[0].labelfile);
    await standby.writeDataFile('standby.signal', '');
    await standby.configure({
      primary_conninfo: `host=127.0.0.1 port=${node17.address.port} user=${credentials.replicationUser} password=${credentials.replicationPassword} application_name=n17b`,
    });
    await standby.start();
    await query(node17, `INSERT INTO copied VALUES ('after backup')`);
    const deadline = Date.now() + 30_000;
    let seen: { v: string }[] = [];
    while (Date.now() < deadline) {
      seen = await query<{ v: string }>(standby, 'SELECT v FROM copied ORDER BY v');
      if (seen.length === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen.map((r) => r.v)).toEqual(['after backup', 'before backup']);
    expect(await query(standby, 'SELECT pg_is_in_recovery() AS r')).toEqual([{ r: true }]);
  });

  it('starts a 15 node from the system install', async () => {
    const node15 = await runtime.createNode({ name: 'n15', version: 15 });
    expect(node15.binaries.source).toBe('system');
    await node15.initdb();
    await node15.start();
    const rows = await query<{ server_version_num: string }>(node15, 'SHOW server_version_num');
    expect(Math.floor(Number(rows[0].server_version_num) / 10000)).toBe(15);
    const tool = await node15.runTool('psql', ['-XAtc', 'SELECT 1']);
    expect(tool.stdout).toBe('1\n');
  });

  it('fails start with an environment error quoting the server log when postgres exits', async () => {
    const bad = await runtime.createNode({ name: 'bad', version: 17 });
    await bad.initdb();
    await bad.configure({ shared_buffers: 'plenty' });
    const error = await bad.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as EnvironmentError).exitCode).toBe(3);
    expect((error as Error).message).toMatch(/exited during startup[\s\S]*shared_buffers/);
    expect(bad.state).not.toBe('running');
    expect(processesUnder(bad.dataDir)).toEqual([]);
  });

  it('dispose stops every server and removes the run folder, and may be called twice', async () => {
    const pids = [...(runtime as unknown as { nodes: Map<string, LocalNode> }).nodes.values()]
      .map((n) => n.pid)
      .filter((p): p is number => p !== undefined);
    expect(pids.length).toBe(3);
    await runtime.dispose();
    await runtime.dispose();
    expect(pids.filter(isAlive)).toEqual([]);
    expect(processesUnder(runtime.runDir)).toEqual([]);
    expect(fs.existsSync(runtime.runDir)).toBe(false);
  });
});

describe('cleanupStaleLocalRuns', () => {
  it('kills the servers of a run whose owner died and removes its folder, sparing live runs', async () => {
    const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgdrill-stale-'));
    fs.chmodSync(runsDir, 0o755);
    const live = new LocalRuntime({ runId: 'live', credentials, baseDir: runsDir });
    const dead = new LocalRuntime({ runId: 'dead', credentials, baseDir: runsDir });
    try {
      const node = await dead.createNode({ name: 'orphan', version: 17 });
      await node.initdb();
      await node.start();
      await live.createNode({ name: 'idle', version: 17 });
      const pid = node.pid!;
      // pretend the pgdrill that made "dead" was SIGKILLed: its owner pid no longer exists
      const ownerFile = path.join(dead.runDir, 'pgdrill-run.json');
      fs.writeFileSync(ownerFile, JSON.stringify({ runId: 'dead', pid: 2 ** 22 + 1, startTicks: 1, createdAt: '' }));

      const result = await cleanupStaleLocalRuns({ runsDir });
      expect(result.killedPids).toContain(pid);
      expect(result.removedDirs).toEqual([dead.runDir]);
      expect(result.activeRuns).toEqual([live.runDir]);
      expect(isAlive(pid)).toBe(false);
      expect(fs.existsSync(dead.runDir)).toBe(false);
      expect(fs.existsSync(live.runDir)).toBe(true);
    } finally {
      await dead.dispose();
      await live.dispose();
      fs.rmSync(runsDir, { recursive: true, force: true });
    }
  });
});
