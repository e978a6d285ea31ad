// Servers a test starts itself, outside pgdrill, for runtime external: Debian's PostgreSQL 15
// run as the postgres user on free loopback ports in a temp folder, a primary and a streaming
// standby made with pg_basebackup, as an operator would have them. The test stops and removes
// them; pgdrill must leave them running.

import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freeListenPort } from '../../../harness/util/free-port.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';
const USER = 'drill';
export const PASSWORD = 'drill-secret';

function postgresIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** Runs a PostgreSQL program as the postgres user (initdb and pg_ctl refuse root). */
export function asPostgres(program: string, args: string[], env: Record<string, string> = {}): string {
  const { uid, gid } = postgresIds();
  return execFileSync(path.join(PG_BIN, program), args, { uid, gid, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', ...env }, cwd: '/tmp', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A port for a server the test starts itself, picked as pgdrill picks its own (util/free-port.ts). */
export const freePort = (): Promise<number> => freeListenPort();

export interface OwnServer {
  name: string;
  dir: string;
  port: number;
  url(database: string): string;
  running(): boolean;
  sql(database: string, statement: string): string;
}

export interface OwnPair {
  root: string;
  primary: OwnServer;
  standby: OwnServer;
  stop(): void;
}

function server(name: string, dir: string, port: number): OwnServer {
  return {
    name,
    dir,
    port,
    url: (database) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    running: () => {
      try {
        asPostgres('pg_ctl', ['status', '-D', dir]);
        return true;
      } catch {
        return false;
      }
    },
    sql: (database, statement) =>
      execFileSync(path.join(PG_BIN, 'psql'), ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', USER, '-d', database, '-c', statement], {
        encoding: 'utf8',
        env: { PATH: '/usr/bin:/bin', PGPASSWORD: PASSWORD },
      }).trim(),
  };
}

/** A primary (databases `databases`) and a standby streaming from it as application_name "replica" with slot "replica". */
export async function startOwnPair(databases: string[]): Promise<OwnPair> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'pgdrill-own-'));
  const { uid, gid } = postgresIds();
  chownSync(root, uid, gid);
  const pwfile = path.join(root, 'pw');
  writeFileSync(pwfile, PASSWORD);
  chownSync(pwfile, uid, gid);
  const [pPort, sPort] = [await freePort(), await freePort()];
  const pDir = path.join(root, 'primary');
  const sDir = path.join(root, 'standby');
  const primary = server('primary', pDir, pPort);
  const standby = server('standby', sDir, sPort);
  const pair: OwnPair = {
    root,
    primary,
    standby,
    stop() {
      for (const s of [standby, primary]) {
        try {
          asPostgres('pg_ctl', ['stop', '-D', s.dir, '-m', 'immediate', '-w']);
        } catch {
          // not running
        }
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    asPostgres('initdb', ['-D', pDir, '-U', USER, `--pwfile=${pwfile}`, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C']);
    appendFileSync(pDir + '/postgresql.conf', `\nport = ${pPort}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${root}'\nwal_level = replica\nmax_wal_senders = 8\nhot_standby_feedback = on\nwal_receiver_status_interval = 1s\nfsync = off\n`);
    asPostgres('pg_ctl', ['start', '-D', pDir, '-w', '-l', path.join(root, 'primary.log')]);
    for (const db of databases) primary.sql('postgres', `CREATE DATABASE ${db}`);
    primary.sql('postgres', `SELECT pg_create_physical_replication_slot('replica')`);
    asPostgres('pg_basebackup', ['-D', sDir, '-h', '127.0.0.1', '-p', String(pPort), '-U', USER, '-X', 'stream', '-c', 'fast'], { PGPASSWORD: PASSWORD });
    appendFileSync(
      sDir + '/postgresql.conf',
      `\nport = ${sPort}\nprimary_conninfo = 'host=127.0.0.1 port=${pPort} user=${USER} password=${PASSWORD} application_name=replica'\nprimary_slot_name = 'replica'\n`,
    );
    writeFileSync(sDir + '/standby.signal', '');
    chownSync(sDir + '/standby.signal', uid, gid);
    asPostgres('pg_ctl', ['start', '-D', sDir, '-w', '-l', path.join(root, 'standby.log')]);
    for (let i = 0; i < 200; i++) {
      if (primary.sql('postgres', `SELECT count(*) FROM pg_stat_replication WHERE application_name = 'replica' AND state = 'streaming'`) === '1') return pair;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the standby never streamed');
  } catch (err) {
    pair.stop();
    throw err;
  }
}

/**
 * The runbook both external tests run as their cutover command: fence the old primary (read-only,
 * its client sessions ended), wait until the standby replayed its last LSN, promote the standby
 * with pg_ctl; `after` runs last (switching the user's endpoint, say). Written to an executable
 * file in `dir`; returns its path.
 */
export function fenceAndPromoteScript(pair: OwnPair, dir: string, after = ''): string {
  const file = path.join(dir, 'promote.sh');
  writeFileSync(
    file,
    `#!/bin/sh
set -e
P=${PG_BIN}
# each stage's time since the start, in the step's output: a slow cutover says where it waited
T0=$(date +%s%N)
at() { echo "$1 at +$(( ($(date +%s%N) - T0) / 1000000 )) ms"; }
"$P/psql" -X -q "$PGDRILL_PRIMARY_URL" -c "ALTER SYSTEM SET default_transaction_read_only = on" -c "ALTER SYSTEM SET autovacuum = off" -c "SELECT pg_reload_conf()"
sleep 0.2
at fenced
"$P/psql" -X -q "$PGDRILL_PRIMARY_URL" -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
LSN=$("$P/psql" -X -At "$PGDRILL_PRIMARY_URL" -c "SELECT pg_current_wal_lsn()")
at "sessions ended, primary at $LSN"
until [ "$("$P/psql" -X -At "$PGDRILL_REPLICA_URL" -c "SELECT pg_last_wal_replay_lsn() >= '$LSN'::pg_lsn")" = t ]; do sleep 0.02; done
at "replica replayed $LSN"
runuser -u postgres -- "$P/pg_ctl" promote -w -D ${pair.standby.dir}
at promoted
${after}
`,
    { mode: 0o755 },
  );
  return file;
}
