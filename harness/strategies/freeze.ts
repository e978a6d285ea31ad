// The runbook steps every planned cutover shares, whatever moves the data: pause clients at
// the endpoint (when it can), freeze writes on the old primary, give them back on a rollback,
// re-point the endpoint (or wait until it follows by itself), fence, resume. Which of the
// endpoint steps run depends on what the endpoint can do (endpoint/endpoint.ts), not its kind.
//
// The freeze: the old primary turns read-only (ALTER SYSTEM default_transaction_read_only
// + reload) and its client sessions are ended, so no write transaction is left open on it;
// clients that reconnect meanwhile get read-only errors, or wait at an endpoint that holds
// them (PgBouncer PAUSE, the proxy with holdConnections).

import type pg from 'pg';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { RuntimeNode } from '../runtime/runtime.js';
import type { StrategyConfig } from '../scenario/scenario.js';
import { connectNode, sleep, waitFor } from '../topology/connect.js';
import { errorMessage } from '../errors.js';
import { StepFailed, type StepRunner } from './step-runner.js';
import type { CutoverOutcome, StrategyContext } from './strategy.js';
import { markCriticalPath } from './critical-path.js';
import { describeFirstWrites, FIRST_WRITES, firstWritesServed } from './first-writes.js';

/** The harness's own sessions: never ended by the freeze. */
export const HARNESS_APPS = ['pgdrill-harness', 'pgdrill-monitor', 'pgdrill-cutover'];

/** A session on the scenario's database that the freeze leaves alone. */
export function openCutoverSession(node: RuntimeNode, options: { queryTimeout?: number; database?: string } = {}): Promise<pg.Client> {
  // a node that cannot answer within 3 s is not fit for a cutover; queries may take longer
  return connectNode(node, {
    database: options.database ?? 'pgdrill',
    timeout: 3_000,
    queryTimeout: options.queryTimeout ?? 60_000,
    applicationName: 'pgdrill-cutover',
  });
}

/**
 * Makes `from` read-only and ends its client sessions; returns once every ended session has
 * exited, so no write can commit on it any more. `source` is a harness session on `from`.
 */
export async function freezeWrites(
  source: pg.Client,
  from: RuntimeNode,
  endpoint: Endpoint,
  options: { keepIdleSessions?: boolean } = {},
): Promise<{ endedSessions: number; keptIdle: number; timings: string }> {
  const t0 = performance.now();
  const at = () => Math.round(performance.now() - t0);
  await source.query('ALTER SYSTEM SET default_transaction_read_only = on');
  // autovacuum's ANALYZE takes a transaction id even on a read-only server: on the frozen old
  // primary it would look like a write after the freeze (verify counts those as split brain)
  await source.query('ALTER SYSTEM SET autovacuum = off');
  await source.query('SELECT pg_reload_conf()');
  // the postmaster applies a reload asynchronously, and signals its children only after it
  // re-read the file itself: once our own (older) session sees the setting, every session
  // forked from then on is read-only. Asked on the open session: a fresh one per poll cost
  // a connection (20-60 ms) inside the downtime.
  await waitFor(
    'the read-only setting to reach new sessions',
    async () => {
      const { rows } = await source.query('SHOW default_transaction_read_only');
      return rows[0].default_transaction_read_only === 'on' ? true : undefined;
    },
    { timeout: 10_000, interval: 1 },
  );
  const readOnlyAt = at();
  // sessions from before the reload may still be inside a write transaction: end them
  // (the subquery keeps the filter ahead of pg_terminate_backend: AND has no order).
  // keepIdleSessions: a session outside any transaction runs its next statement read-only
  // (a backend applies a pending reload before it executes what it read next), so it is
  // left alone: its client gets read-only errors and does not reconnect to the old primary,
  // with a handshake the repoint would cut and a backoff after it (the endpoint closes such
  // sessions when it moves).
  const listed = await source.query<{ pid: number; client: boolean; ends: boolean }>(
    `SELECT pid, client, ends, CASE WHEN ends THEN pg_terminate_backend(pid) END FROM (
       SELECT pid, backend_type = 'client backend' AS client,
              (backend_type = 'autovacuum worker' OR NOT $2 OR xact_start IS NOT NULL) AS ends
       FROM pg_stat_activity
       WHERE (backend_type = 'client backend' AND pid <> pg_backend_pid() AND NOT (application_name = ANY($1)))
          OR backend_type = 'autovacuum worker'
       OFFSET 0) AS clients`,
    [HARNESS_APPS, options.keepIdleSessions === true],
  );
  const ended = listed.rows.filter((r) => r.ends);
  const kept = listed.rows.filter((r) => r.client && !r.ends).length;
  const pids = ended.map((r) => r.pid);
  if (endpoint.pause) endpoint.cutSessionsTo(from);
  // a backend that was mid-commit finishes before it exits; wait until all are gone
  if (pids.length) await waitFor(
    'ended client sessions to exit',
    async () => {
      const { rows } = await source.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY($1)', [pids]);
      return rows[0].n === 0 ? true : undefined;
    },
    { timeout: 10_000, interval: 1 },
  );
  return {
    endedSessions: ended.filter((r) => r.client).length,
    keptIdle: kept,
    timings: `read-only for new sessions after ${readOnlyAt} ms, ended sessions gone after ${at()} ms`,
  };
}

/**
 * Where the frozen old primary stands: its next transaction id (it must not move from here
 * on: verify counts any later one as a split-brain write) and its WAL position.
 */
export async function frozenPosition(source: pg.Client): Promise<{ nextXid: string; lsn: string }> {
  const xid = await source.query('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid');
  const lsn = await source.query('SELECT pg_current_wal_lsn()::text AS lsn');
  return { nextXid: xid.rows[0].xid, lsn: lsn.rows[0].lsn };
}

export function freezeDetail(from: RuntimeNode, endedSessions: number, endpoint: Endpoint, finalLsn: string): string {
  const clients = endpoint.pause ? endpoint.pause.holding : 'clients reconnecting get read-only errors';
  return `${from.name} read-only; ${endedSessions} client sessions ended; ${clients}; final LSN ${finalLsn}`;
}

/** A write on a fresh session, as clients will make it: proves `node` takes writes. */
export async function probeWrite(node: RuntimeNode): Promise<void> {
  const check = await openCutoverSession(node);
  try {
    await check.query('INSERT INTO _pgdrill.probe DEFAULT VALUES');
  } finally {
    await check.end().catch(() => undefined);
  }
}

/** Undoes the freeze's settings: writes and autovacuum back. */
async function unfreeze(client: pg.Client): Promise<void> {
  await client.query('ALTER SYSTEM RESET default_transaction_read_only');
  await client.query('ALTER SYSTEM RESET autovacuum');
  await client.query('SELECT pg_reload_conf()');
}

/**
 * Before the freeze: an endpoint that can hold clients holds them now (PgBouncer PAUSE waits
 * until no server connection is busy, within its timeout). Recorded as step pause-endpoint.
 */
export async function pauseEndpoint(steps: StepRunner, context: StrategyContext): Promise<void> {
  const pause = context.endpoint.pause;
  if (pause) await steps.run('pause-endpoint', () => pause.pause(context.signal));
}

/**
 * Sends clients to `to`, as far as the endpoint needs telling: repoint-endpoint (the proxy's
 * target, PgBouncer's [databases] and RELOAD), drain-old-primary (no server session through it
 * is left on `from`), endpoint-follows (HAProxy's health checks or the clients' lookups picked
 * `to`, timed from the promotion). `onRepointed` runs right after the endpoint was told.
 */
export async function sendClientsTo(
  steps: StepRunner,
  context: StrategyContext,
  from: RuntimeNode,
  to: RuntimeNode,
  options: { promotedAtMs?: number; onRepointed?: () => void } = {},
): Promise<void> {
  const { endpoint, recorder } = context;
  if (endpoint.repoint) {
    await steps.run('repoint-endpoint', async () => {
      const detail = await endpoint.repoint!(to, from);
      options.onRepointed?.();
      return detail;
    });
  } else {
    options.onRepointed?.();
  }
  if (endpoint.drain) await steps.run('drain-old-primary', () => endpoint.drain!(from, context.signal));
  if (endpoint.follow) {
    // timed from the promotion (or the re-point): that is how long the endpoint took to notice
    const sinceMs = options.promotedAtMs ?? recorder.now();
    const followed = await endpoint.follow(to, from, context.signal).catch((err: unknown) => err as Error);
    const ok = !(followed instanceof Error);
    const endMs = ok ? Math.max(followed.atMs, sinceMs) : recorder.now();
    steps.record('endpoint-follows', sinceMs, endMs, ok, ok ? followed.detail : errorMessage(followed));
    if (!ok) throw new StepFailed('endpoint-follows', errorMessage(followed));
  }
}

/** Leaves the old primary read-only and proves it (or, when not asked to fence, writable again). */
export async function fenceOldPrimary(source: pg.Client, from: RuntimeNode, config: StrategyConfig): Promise<string> {
  if (!config.fenceOldPrimary) {
    await unfreeze(source);
    return `fenceOldPrimary is false: ${from.name} left writable (split brain is possible)`;
  }
  // prove the fence: a write on a fresh session must be refused
  const probe = await openCutoverSession(from);
  try {
    await probe.query('INSERT INTO _pgdrill.probe DEFAULT VALUES');
    throw new Error(`${from.name} still accepts writes`);
  } catch (err) {
    if ((err as { code?: string }).code !== '25006') throw err;
  } finally {
    await probe.end().catch(() => undefined);
  }
  return `${from.name} read-only (a write was refused with 25006)`;
}

export async function resumeClients(endpoint: Endpoint): Promise<string> {
  return endpoint.pause ? endpoint.pause.resume() : 'clients reach the new primary';
}

/**
 * The steps that end the blue/green cutovers: send clients to `to` (sendClientsTo), resume
 * clients (the end of the critical path, marked from the step that took writes away), then,
 * once the clients' first writes were served on `to` (first-writes.ts), prove the fence of
 * the old primary: it is read-only since the freeze, so the proof cannot bring writes back
 * sooner and stays out of the downtime. `onRepointed` runs right after the endpoint was told
 * about `to`: for strategies whose point of no return is the re-point itself.
 */
export async function repointResumeFence(
  steps: StepRunner,
  context: StrategyContext,
  source: pg.Client,
  from: RuntimeNode,
  to: RuntimeNode,
  options: { promotedAtMs?: number; onRepointed?: () => void } = {},
): Promise<void> {
  const { endpoint, config, recorder } = context;
  await sendClientsTo(steps, context, from, to, options);
  const repointedAtMs = recorder.now();
  await steps.run('resume', async () => resumeClients(endpoint));
  markCriticalPath(steps.steps, endpoint.pause ? 'pause-endpoint' : 'freeze-writes', 'resume');
  await steps.run('first-writes', async () => {
    const served = await firstWritesServed(recorder, repointedAtMs, { ...FIRST_WRITES, signal: context.signal });
    return describeFirstWrites(served, to.name, FIRST_WRITES);
  });
  await steps.run('fence-old-primary', async () => fenceOldPrimary(source, from, config));
}

/**
 * What a failed cutover leaves: before its point of no return everything is rolled back
 * (`extra` undoes what the strategy set up); past it there is no way back, so clients are
 * let through to whoever is primary now.
 */
export async function settleFailedCutover(
  steps: StepRunner,
  context: StrategyContext,
  outcome: CutoverOutcome,
  from: RuntimeNode,
  pastPointOfNoReturn: boolean,
  extra?: () => Promise<string>,
): Promise<void> {
  if (!pastPointOfNoReturn) {
    await rollbackFreeze(steps, context, from, extra).catch(() => undefined);
    outcome.rolledBack = true;
  } else {
    const { endpoint, topology } = context;
    if (topology.primary !== from) await endpoint.repoint?.(topology.primary, from).catch(() => undefined);
    await endpoint.pause?.resume().catch(() => undefined);
  }
}

/** Before the point of no return, a failed cutover gives the old primary back its writes, unchanged endpoint. */
async function rollbackFreeze(steps: StepRunner, context: StrategyContext, from: RuntimeNode, extra?: () => Promise<string>): Promise<void> {
  await steps.run('rollback', async () => {
    // a fresh session: the step that failed may have lost the one it used
    const client = await connectNode(from, { applicationName: 'pgdrill-cutover' });
    try {
      await unfreeze(client);
    } finally {
      await client.end().catch(() => undefined);
    }
    // a reload reaches backends asynchronously; give it a moment before clients return
    await sleep(50);
    const resumed = context.endpoint.pause ? `; ${await context.endpoint.pause.resume()}` : '';
    // tidying up after the strategy is best effort: the old primary has its writes back
    const more = extra ? `; ${await extra().catch((err: unknown) => `clean-up failed: ${errorMessage(err)}`)}` : '';
    return `${from.name} writable again; endpoint unchanged (${from.name})${resumed}${more}`;
  });
}
