// A Patroni cluster a test starts itself, outside pgdrill: one etcd and two Patroni members
// (Debian's patroni 3.0 and etcd 3.4, PostgreSQL 15), as the postgres user on free loopback
// ports in a temp folder. The test stops it (Patroni stops its PostgreSQL) and removes it.

import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PASSWORD, PG_BIN, asPostgres, freePort } from './external-servers.js';
import { execFileSync } from 'node:child_process';

export interface OwnPatroni {
  root: string;
  members: { name: string; port: number; rest: number; dir: string; config: string }[];
  url(member: string, database: string): string;
  state(member: string): Promise<{ state?: string; role?: string }>;
  stop(): Promise<void>;
}

function ids(): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  };
}

function start(program: string, args: string[], log: string): ChildProcess {
  const { uid, gid } = ids();
  const child = spawn('/bin/sh', ['-c', `exec ${program} ${args.map((a) => `'${a}'`).join(' ')} >> '${log}' 2>&1`], { uid, gid, detached: true, stdio: 'ignore', cwd: '/tmp' });
  child.unref();
  return child;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function startOwnPatroni(): Promise<OwnPatroni> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'pgdrill-patroni-'));
  const { uid, gid } = ids();
  chownSync(root, uid, gid);
  const [etcdClient, etcdPeer] = [await freePort(), await freePort()];
  const children: ChildProcess[] = [];
  const members: OwnPatroni['members'] = [];
  for (const name of ['pg1', 'pg2']) members.push({ name, port: await freePort(), rest: await freePort(), dir: path.join(root, name), config: path.join(root, `${name}.yml`) });

  const cluster: OwnPatroni = {
    root,
    members,
    url: (member, database) => `postgres://drill:${PASSWORD}@127.0.0.1:${members.find((m) => m.name === member)!.port}/${database}`,
    state: async (member) => {
      const res = await fetch(`http://127.0.0.1:${members.find((m) => m.name === member)!.rest}/patroni`);
      return (await res.json()) as { state?: string; role?: string };
    },
    async stop() {
      for (const child of [...children].reverse()) {
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          // gone
        }
      }
      const gone = (c: ChildProcess) => {
        try {
          process.kill(-c.pid!, 0);
          return false;
        } catch {
          return true;
        }
      };
      await until('Patroni and etcd to stop', async () => (children.every(gone) ? true : undefined), 30_000).catch(() => {
        for (const c of children) {
          try {
            process.kill(-c.pid!, 'SIGKILL');
          } catch {
            // gone
          }
        }
      });
      for (const m of members) {
        try {
          asPostgres('pg_ctl', ['stop', '-D', m.dir, '-m', 'immediate', '-w']);
        } catch {
          // not running
        }
      }
      if (!process.env.PGDRILL_KEEP_PATRONI) rmSync(root, { recursive: true, force: true });
    },
  };

  try {
    children.push(
      start('/usr/bin/etcd', [
        '--name', 'e1', '--data-dir', path.join(root, 'etcd'),
        '--listen-client-urls', `http://127.0.0.1:${etcdClient}`, '--advertise-client-urls', `http://127.0.0.1:${etcdClient}`,
        '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
        '--initial-cluster', `e1=http://127.0.0.1:${etcdPeer}`,
      ], path.join(root, 'etcd.log')),
    );
    await until('etcd', async () => ((await fetch(`http://127.0.0.1:${etcdClient}/health`)).ok ? true : undefined), 20_000);
    for (const m of members) {
      writeFileSync(
        m.config,
        `scope: drill
name: ${m.name}
log: { level: WARNING }
restapi: { listen: "127.0.0.1:${m.rest}", connect_address: "127.0.0.1:${m.rest}" }
etcd3: { hosts: "127.0.0.1:${etcdClient}" }
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: false
      parameters: { wal_level: replica, hot_standby: "on", max_wal_senders: 8, max_replication_slots: 8, wal_receiver_status_interval: 1s, hot_standby_feedback: "on", fsync: "off" }
  initdb: [ { encoding: UTF8 }, { locale: C } ]
  pg_hba: [ "local all all trust", "host replication replicator 127.0.0.1/32 scram-sha-256", "host all all 127.0.0.1/32 scram-sha-256" ]
postgresql:
  listen: "127.0.0.1:${m.port}"
  connect_address: "127.0.0.1:${m.port}"
  data_dir: ${m.dir}
  bin_dir: ${PG_BIN}
  pgpass: ${root}/${m.name}.pgpass
  authentication:
    superuser: { username: drill, password: ${PASSWORD} }
    replication: { username: replicator, password: rep-secret }
  parameters: { unix_socket_directories: "${root}" }
  # a spread checkpoint would keep the replica's pg_basebackup waiting for minutes
  basebackup: [ { checkpoint: fast } ]
`,
      );
      chownSync(m.config, uid, gid);
    }
    children.push(start('/usr/bin/patroni', [members[0].config], path.join(root, 'pg1.log')));
    await until('pg1 to lead', async () => ((await cluster.state('pg1')).role === 'master' || (await cluster.state('pg1')).role === 'primary' ? true : undefined), 60_000);
    execFileSync(path.join(PG_BIN, 'psql'), ['-X', '-q', cluster.url('pg1', 'postgres'), '-c', 'CREATE DATABASE app'], { encoding: 'utf8' });
    children.push(start('/usr/bin/patroni', [members[1].config], path.join(root, 'pg2.log')));
    await until('pg2 to stream', async () => {
      const s = await cluster.state('pg2');
      return s.state === 'running' && s.role === 'replica' ? true : undefined;
    }, 45_000);
    return cluster;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}
