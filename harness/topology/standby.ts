// A physical streaming standby, built the way a runbook builds one: a replication slot on
// the primary, a base backup, standby.signal and primary_conninfo, then wait until it
// streams. pg_basebackup refuses servers newer than itself, so when no pg_basebackup of a
// major >= the primary's is around, the backup is taken with the low-level backup API.

import type pg from 'pg';
import type { Address, Runtime, RuntimeNode } from '../runtime/runtime.js';
import { connectNode, waitFor } from './connect.js';
import { quoteLiteral } from '../util/sql.js';
import { EnvironmentError, errorMessage } from '../errors.js';

export type BaseBackupMethod = 'pg_basebackup' | 'low-level-api';

export function replicationSlotName(standby: string): string {
  return `pgdrill_${standby.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}`;
}

/**
 * primary_conninfo as a standby uses it to reach `upstream`: through `via` (its replication
 * link proxy) when there is one, else straight to the peer address.
 */
export function primaryConninfo(upstream: RuntimeNode, standbyName: string, via?: Address, extra: Record<string, string> = {}): string {
  const { replicationUser, replicationPassword } = upstream.credentials;
  const to = via ?? upstream.peerAddress;
  const parts = {
    host: to.host,
    port: String(to.port),
    user: replicationUser,
    password: replicationPassword,
    application_name: standbyName,
    // TLS: sslmode and the standby's own certificate files
    ...extra,
  };
  return Object.entries(parts)
    .map(([k, v]) => `${k}=${v.replace(/[\\' ]/g, (c) => '\\' + c)}`)
    .join(' ');
}

/** Settings that make `standby` follow `upstream`; also used to re-point a standby later. */
export function standbySettings(upstream: RuntimeNode, standbyName: string, via?: Address, extra: Record<string, string> = {}): Record<string, string> {
  return {
    primary_conninfo: primaryConninfo(upstream, standbyName, via, extra),
    primary_slot_name: replicationSlotName(standbyName),
  };
}

export async function buildStandby(
  upstream: RuntimeNode,
  standby: RuntimeNode,
  settings: Record<string, string>,
  runtime: Runtime,
  signal: AbortSignal,
  /** the replication link proxy the standby streams through, if any (the base backup does not) */
  via?: Address,
  /** TLS: conninfo parameters for its walreceiver, libpq environment for its pg_basebackup */
  tls?: { conninfo: Record<string, string>; env: Record<string, string> },
): Promise<BaseBackupMethod> {
  const slot = replicationSlotName(standby.name);
  const client = await connectNode(upstream, { database: 'postgres', timeout: 120_000 });
  let method: BaseBackupMethod;
  try {
    // reserve WAL now, so nothing the standby needs is recycled before it connects
    await client.query(
      `SELECT pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS
         (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`,
      [slot],
    );
    if (await standby.hasTool('pg_basebackup', upstream.version)) {
      method = 'pg_basebackup';
      await runPgBasebackup(upstream, standby, slot, signal, tls?.env);
    } else {
      method = 'low-level-api';
      await lowLevelBackup(client, upstream, standby, runtime);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  // the copied postgresql.conf is the primary's; settings appended later win
  await standby.configure({ ...settings, ...standbySettings(upstream, standby.name, via, tls?.conninfo) });
  await standby.writeDataFile('standby.signal', '');
  await standby.start({ signal });
  await waitStreaming(upstream, standby, 60_000, signal);
  return method;
}

async function runPgBasebackup(upstream: RuntimeNode, standby: RuntimeNode, slot: string, signal: AbortSignal, env: Record<string, string> = {}) {
  const { replicationUser, replicationPassword } = upstream.credentials;
  const result = await standby.runTool(
    'pg_basebackup',
    [
      '-h', upstream.peerAddress.host,
      '-p', String(upstream.peerAddress.port),
      '-U', replicationUser,
      '-D', standby.dataDir,
      '-X', 'stream',
      '-S', slot,
      '-c', 'fast',
      '--no-password',
    ],
    { minMajor: upstream.version, env: { PGPASSWORD: replicationPassword, ...env }, signal, timeout: 600_000 },
  );
  if (result.exitCode !== 0) {
    throw new EnvironmentError(
      `pg_basebackup from "${upstream.name}" for standby "${standby.name}" failed (exit ${result.exitCode}): ${result.stderr.trim()}`,
      'PGDRILL_BASE_BACKUP_FAILED',
    );
  }
}

/**
 * The low-level (non-exclusive) backup API: start the backup in one session, copy the data
 * directory while that session stays open, stop it and write the returned backup_label.
 * PostgreSQL 15 renamed pg_start_backup/pg_stop_backup to pg_backup_start/pg_backup_stop.
 */
async function lowLevelBackup(client: pg.Client, upstream: RuntimeNode, standby: RuntimeNode, runtime: Runtime) {
  const modern = upstream.version >= 15;
  await client.query(
    modern ? `SELECT pg_backup_start(${quoteLiteral('pgdrill')}, true)` : `SELECT pg_start_backup('pgdrill', true, false)`,
  );
  let stopped = false;
  try {
    await runtime.copyDataDir(upstream, standby);
    const { rows } = await client.query(
      modern
        ? `SELECT labelfile, spcmapfile FROM pg_backup_stop(true)`
        : `SELECT labelfile, spcmapfile FROM pg_stop_backup(false, true)`,
    );
    stopped = true;
    await standby.writeDataFile('backup_label', rows[0].labelfile);
    if (rows[0].spcmapfile) await standby.writeDataFile('tablespace_map', rows[0].spcmapfile);
  } finally {
    if (!stopped) {
      await client
        .query(modern ? 'SELECT pg_backup_stop(false)' : 'SELECT pg_stop_backup(false, false)')
        .catch(() => undefined);
    }
  }
}

/** Waits until `replica` streams from `primary` (pg_stat_replication says so). */
export async function waitStreaming(primary: RuntimeNode, replica: RuntimeNode, timeout: number, signal?: AbortSignal) {
  const client = await connectNode(primary, { database: 'postgres' });
  try {
    await waitFor(
      `${replica.name} to stream from ${primary.name}`,
      async () => {
        const { rows } = await client.query(
          `SELECT state FROM pg_stat_replication WHERE application_name = $1`,
          [replica.name],
        );
        return rows[0]?.state === 'streaming' ? true : undefined;
      },
      { timeout, interval: 100, signal },
    );
  } catch (err) {
    const log = await replica.logTail(15).catch(() => '');
    throw new EnvironmentError(
      `standby "${replica.name}" never started streaming from "${primary.name}": ${errorMessage(err)}` +
        (log ? `\nlast lines of ${replica.name}'s log:\n${log}` : ''),
      'PGDRILL_STANDBY_NOT_STREAMING',
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

