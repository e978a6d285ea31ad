// Unplanned failover, as an HA manager (Patroni, repmgr, CloudNativePG) does it: the primary
// dies by a fault on the timeline; pgdrill, watching it with a health check, declares it dead
// after `detection.failures` failed checks `detection.interval` apart, promotes the standby
// that received the most WAL, re-points the endpoint (and any other standby), and fences the
// old primary so that it takes no write when it comes back. There is no freeze: whatever the
// old primary acknowledged and had not shipped is lost, and the ledger check says how much.
// Time to detect, time to promote and the fencing are recorded as cutover steps.

import pg from 'pg';
import type { CutoverStep } from '../record/records.js';
import type { RuntimeNode } from '../runtime/runtime.js';
import type { FailoverDetection } from '../scenario/scenario.js';
import { DEFAULT_DETECTION as SCENARIO_DEFAULT_DETECTION } from '../scenario/scenario-schema.js';
import { DATABASE, waitFor } from '../topology/connect.js';
import { compareLsn } from '../util/lsn.js';
import { followNewPrimary } from './followers.js';
import { rejoinOldPrimary, requireRewind } from './rejoin.js';
import { errorMessage } from '../errors.js';
import { StepRunner } from './step-runner.js';
import { sendClientsTo } from './freeze.js';
import { eventsOf } from '../record/events.js';
import type { CutoverOutcome, Strategy, StrategyContext } from './strategy.js';
import { sleepUnlessAborted } from '../util/sleep.js';

export { compareLsn } from '../util/lsn.js';

/** What a resolved scenario fills in; used when the strategy is driven without one. */
export const DEFAULT_DETECTION: FailoverDetection = { ...SCENARIO_DEFAULT_DETECTION };

/** The steps after which clients reach the new primary, whichever the endpoint takes. */
const ENDPOINT_STEPS = ['repoint-endpoint', 'drain-old-primary', 'endpoint-follows'];

/** How often the fence watch looks for the old primary coming back. */
const RETURN_POLL_MS = 250;

export const failoverStrategy: Strategy = {
  // unplanned: armed at the start of the load, it watches the primary and fails over when it dies
  trigger: 'watch',
  preflight: requireRewind,
  arm: (context) => watchAndFailover(context, { untilMs: context.untilMs }),
};

export interface WatchOptions {
  /** run time (ms) at which watching stops: the end of the load phase */
  untilMs: number;
}

/**
 * Watches strategy.from until it fails its health checks, then fails over; afterwards keeps
 * watching it until `untilMs` so that, if it comes back, the fence is verified (or, when it
 * could not be written while the node was unreachable, applied). Resolves undefined when the
 * primary never failed: no failover happened.
 */
export async function watchAndFailover(context: StrategyContext, options: WatchOptions): Promise<CutoverOutcome | undefined> {
  const { config, topology, recorder, signal } = context;
  const from = topology.node(config.from);
  const detection = config.detection ?? DEFAULT_DETECTION;
  const check = new HealthCheck(from, Math.max(50, detection.interval));
  let consecutive = 0;
  let firstFailureMs: number | undefined;
  let lastError = '';
  try {
    while (!signal.aborted && recorder.now() < options.untilMs) {
      const tickMs = recorder.now();
      const error = await check.run();
      if (error === undefined) {
        if (consecutive > 0) recorder.event('failover-health-recovered', { node: from.name, failedChecks: consecutive });
        consecutive = 0;
        firstFailureMs = undefined;
      } else {
        consecutive++;
        lastError = error;
        if (firstFailureMs === undefined) {
          firstFailureMs = tickMs;
          recorder.event('failover-health-check-failed', { node: from.name, error });
        }
        if (consecutive >= detection.failures) break;
      }
      await sleepUnlessAborted(detection.interval - (recorder.now() - tickMs), signal);
    }
  } finally {
    check.close();
  }
  if (consecutive < detection.failures || firstFailureMs === undefined) {
    recorder.event('failover-not-triggered', { node: from.name, reason: `${from.name} passed its health checks until the end of the load` });
    return undefined;
  }
  const detectedMs = recorder.now();
  // the failure began when the fault hit, if one did; else at the first failed check
  const fault = eventsOf(recorder.events, 'fault-start')
    .reverse()
    .find((e) => e.node === from.name && e.t <= detectedMs);
  // the fault's event is recorded once it was injected (a kill waits for the process to
  // exit): the failure began when the injection started
  const faultBeganMs = fault ? fault.t - fault.injectMs : undefined;
  const failedSinceMs = faultBeganMs !== undefined && faultBeganMs >= (firstFailureMs ?? 0) - detection.interval * 2 ? faultBeganMs : firstFailureMs;
  const detail =
    `${detection.failures} consecutive failed health checks ${detection.interval}ms apart (last: ${lastError}); ` +
    (fault ? `${Math.round(detectedMs - (faultBeganMs ?? fault.t))}ms after the ${String(fault.fault)} of ${from.name}` : `first failure at ${Math.round(firstFailureMs)}ms`);
  const outcome = await promoteAfterFailure(context, { failedSinceMs, detectedMs, detail }, { dryRun: false });
  if (outcome.ok) await watchOldPrimary(context, outcome, options.untilMs);
  return outcome;
}

interface Detection {
  failedSinceMs: number;
  detectedMs: number;
  detail: string;
}

async function promoteAfterFailure(context: StrategyContext, detection: Detection, { dryRun }: { dryRun: boolean }): Promise<CutoverOutcome> {
  const { config, topology, endpoint, recorder } = context;
  const from = topology.node(config.from);
  const steps = new StepRunner(recorder);
  const outcome: CutoverOutcome = { ok: false, dryRun, rolledBack: false, steps: steps.steps };
  recorder.event('cutover-start', { strategy: 'failover', dryRun, trigger: 'primary failed' });
  const phaseStart = detection.failedSinceMs;
  recordStep(context, steps.steps, 'detect-failure', detection.failedSinceMs, detection.detectedMs, true, detection.detail);

  let chosen: RuntimeNode | undefined;
  let promoted = false;
  try {
    await steps.run('choose-standby', async () => {
      const standbys = topology.replicasOf(from.name);
      if (standbys.length === 0) throw new Error(`${from.name} has no standby to promote`);
      const positions = await Promise.all(standbys.map((s) => walPosition(s)));
      const ranked = standbys
        .map((node, i) => ({ node, ...positions[i] }))
        .filter((c) => c.received !== undefined)
        .sort((a, b) => compareLsn(b.received!, a.received!) || compareLsn(b.replayed ?? '0/0', a.replayed ?? '0/0') || (a.node.name === config.to ? -1 : b.node.name === config.to ? 1 : 0));
      if (ranked.length === 0) throw new Error(`no standby of ${from.name} answered: ${positions.map((p, i) => `${standbys[i].name}: ${p.error}`).join('; ')}`);
      chosen = ranked[0].node;
      const listed = standbys.map((s, i) => `${s.name} received ${positions[i].received ?? '?'} replayed ${positions[i].replayed ?? '?'}`).join(', ');
      const note = chosen.name !== config.to ? ` (not strategy.to ${config.to}: ${chosen.name} has more WAL)` : '';
      return `${chosen.name} is the most advanced${note}: ${listed}`;
    });
    if (dryRun) {
      outcome.ok = true;
      return outcome;
    }
    const target = chosen!;

    await steps.run('promote', async () => {
      await onNode(target, async (client) => {
        // pg_promote(wait => true) checks for the end of recovery only every 100 ms; polling
        // ourselves every 5 ms takes that much off the downtime
        await client.query('SELECT pg_promote(false)');
        await waitFor(
          `${target.name} to leave recovery`,
          async () => ((await client.query('SELECT pg_is_in_recovery() AS r')).rows[0].r ? undefined : true),
          { timeout: config.promoteTimeout, interval: 5, signal: context.signal },
        );
      });
      promoted = true;
      outcome.promotedAtMs = recorder.now();
      topology.promoted(target.name);
      return `${target.name} promoted`;
    });

    // sessions to the dead primary hang or fail: the endpoint ends them so their clients
    // reconnect to the new one (or, with health checks or lookups, finds it by itself)
    await sendClientsTo(steps, context, from, target, { promotedAtMs: outcome.promotedAtMs });

    // the other standbys of the dead primary follow the new one (a step each)
    await followNewPrimary(steps, context, outcome, from, target);

    await steps.run('fence-old-primary', async () => {
      if (!config.fenceOldPrimary) return `fenceOldPrimary is false: ${from.name} will be writable if it comes back (split brain is possible)`;
      if (from.state === 'killed' || from.state === 'stopped') {
        // written into its configuration while it is down: it starts read-only
        await from.configure({ default_transaction_read_only: 'on' });
        return `${from.name} is down (${from.state}); default_transaction_read_only = on written to its configuration: it comes back read-only`;
      }
      // alive but unreachable (paused, partitioned): the fence goes on as soon as it answers
      const fenced = await fenceLive(from).catch(() => false);
      return fenced
        ? `${from.name} answered and was made read-only`
        : `${from.name} is ${from.state} but unreachable; the endpoint no longer routes to it and it is made read-only when it answers again`;
    });
    // a follower that did not stream again already failed the outcome
    outcome.ok = !outcome.steps.some((s) => !s.ok);
  } catch (err) {
    outcome.error = errorMessage(err);
    if (promoted) {
      // past promotion there is no way back; let clients through to whoever is primary now
      await endpoint.repoint?.(topology.primary, from).catch(() => undefined);
    }
  } finally {
    recorder.phases.push({ name: 'cutover', startMs: phaseStart, endMs: recorder.now() });
    recorder.event('cutover-end', { ok: outcome.ok, dryRun, rolledBack: false, error: outcome.error });
    const promoteStep = outcome.steps.find((s) => s.name === 'promote');
    // clients are sent to the new primary once the endpoint was told, drained or followed
    const repoint = [...outcome.steps].reverse().find((s) => ENDPOINT_STEPS.includes(s.name));
    recorder.event('failover', {
      from: from.name,
      to: chosen?.name ?? null,
      detectMs: Math.round(detection.detectedMs - detection.failedSinceMs),
      promoteMs: promoteStep ? Math.round(promoteStep.endMs - promoteStep.startMs) : null,
      // from the failure to clients being sent to the new primary
      failoverMs: repoint ? Math.round(repoint.endMs - detection.failedSinceMs) : null,
    });
  }
  return outcome;
}

/**
 * After the failover, until the end of the load: when the old primary answers again, make sure
 * the fence holds (a write on a fresh session is refused), applying it first if it could not
 * be written while the node was unreachable. Recorded as step fence-verified. With
 * rejoinOldPrimary the returned node is then rewound into a standby of the new primary (an HA
 * manager does that when the old host comes back); one that never comes back during the load
 * fails the rejoin.
 */
async function watchOldPrimary(context: StrategyContext, outcome: CutoverOutcome, untilMs: number): Promise<void> {
  const { config, topology, recorder, signal } = context;
  if (!config.fenceOldPrimary && !config.rejoinOldPrimary) return;
  const from = topology.node(config.from);
  while (!signal.aborted && recorder.now() < untilMs) {
    const seenMs = recorder.now();
    if (from.state === 'running' && (await answers(from))) {
      // where its transaction counter stands as it comes back, before anything can write
      const nextXid = await onNode(from, async (c) => String((await c.query('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid')).rows[0].xid), 'postgres', 2000).catch(() => null);
      recorder.event('old-primary-returned', { node: from.name, nextXid });
      if (config.fenceOldPrimary) {
        let detail: string;
        let ok = false;
        try {
          await fenceLive(from);
          const refused = await writeRefused(from);
          ok = refused;
          detail = refused
            ? `${from.name} came back ${Math.round(seenMs - (outcome.promotedAtMs ?? seenMs))}ms after the promotion; a write was refused (25006): fenced`
            : `${from.name} came back and STILL ACCEPTS WRITES`;
        } catch (err) {
          detail = `${from.name} came back but the fence could not be checked: ${errorMessage(err)}`;
        }
        recordStep(context, outcome.steps, 'fence-verified', seenMs, recorder.now(), ok, detail);
        if (!ok) outcome.ok = false;
      }
      if (config.rejoinOldPrimary && outcome.ok) {
        const steps = new StepRunner(recorder, outcome.steps);
        await rejoinOldPrimary(steps, context, outcome, from, topology.primary);
      }
      return;
    }
    await sleepUnlessAborted(RETURN_POLL_MS, signal);
  }
  if (config.rejoinOldPrimary && !signal.aborted) {
    const now = recorder.now();
    recordStep(context, outcome.steps, 'rejoin-capture', now, now, false, `${from.name} did not come back before the load ended (${from.state}): there was nothing to rejoin`);
    outcome.ok = false;
  }
}

/** Makes a running old primary read-only and ends its client sessions; false when it does not answer. */
async function fenceLive(node: RuntimeNode): Promise<boolean> {
  if (!(await answers(node))) return false;
  await onNode(node, async (client) => {
    await client.query('ALTER SYSTEM SET default_transaction_read_only = on');
    await client.query('SELECT pg_reload_conf()');
    await client.query(
      `SELECT pg_terminate_backend(pid) FROM (
         SELECT pid FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
           AND application_name NOT LIKE 'pgdrill-harness%' AND application_name NOT LIKE 'pgdrill-monitor%'
         OFFSET 0) AS clients`,
    );
  });
  // a reload reaches backends asynchronously; wait until a fresh session is read-only
  await waitFor('the fence to reach new sessions', async () => ((await writeRefused(node)) ? true : undefined), { timeout: 10_000, interval: 20 });
  return true;
}

/** A write on a fresh session is refused as read-only (SQLSTATE 25006). */
async function writeRefused(node: RuntimeNode): Promise<boolean> {
  try {
    await onNode(node, (client) => client.query('INSERT INTO _pgdrill.probe DEFAULT VALUES'), DATABASE);
    return false;
  } catch (err) {
    if ((err as { code?: string }).code === '25006') return true;
    throw err;
  }
}

async function answers(node: RuntimeNode): Promise<boolean> {
  try {
    await onNode(node, (client) => client.query('SELECT 1'), 'postgres', 500);
    return true;
  } catch {
    return false;
  }
}

async function walPosition(node: RuntimeNode): Promise<{ received?: string; replayed?: string; error?: string }> {
  try {
    return await onNode(
      node,
      async (client) => {
        const { rows } = await client.query(
          `SELECT pg_is_in_recovery() AS recovery, pg_last_wal_receive_lsn()::text AS received, pg_last_wal_replay_lsn()::text AS replayed`,
        );
        if (!rows[0].recovery) throw new Error(`${node.name} is not in recovery`);
        // a standby that never streamed has no receive position: what it replayed is what it has
        return { received: rows[0].received ?? rows[0].replayed, replayed: rows[0].replayed };
      },
      'postgres',
      2000,
    );
  } catch (err) {
    return { error: errorMessage(err) };
  }
}

function recordStep(context: StrategyContext, steps: CutoverStep[], name: string, startMs: number, endMs: number, ok: boolean, detail: string) {
  steps.push({ name, startMs, endMs, ok, detail });
  context.recorder.event('cutover-step', { step: name, ok, durationMs: Math.round((endMs - startMs) * 10) / 10, detail });
}

async function onNode<T>(node: RuntimeNode, body: (client: pg.Client) => Promise<T>, database = DATABASE, timeout = 10_000): Promise<T> {
  const client = new pg.Client({
    host: node.address.host,
    port: node.address.port,
    user: node.credentials.superuser,
    password: node.credentials.superuserPassword,
    database,
    connectionTimeoutMillis: timeout,
    query_timeout: timeout,
    application_name: 'pgdrill-cutover',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await body(client);
  } finally {
    destroy(client);
  }
}

function destroy(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/**
 * The primary's health as an HA manager sees it: one connection kept open, SELECT 1 each
 * interval; a check that gets no answer within the interval fails, and the connection is
 * dropped and made again on the next check (a paused server never answers on the old one).
 */
class HealthCheck {
  private client?: pg.Client;

  constructor(
    private readonly node: RuntimeNode,
    private readonly budgetMs: number,
  ) {}

  /** undefined when healthy, else why not */
  async run(): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`no answer within ${this.budgetMs}ms`), this.budgetMs)));
    const work = (async () => {
      if (!this.client) {
        const client = new pg.Client({
          host: this.node.address.host,
          port: this.node.address.port,
          user: this.node.credentials.superuser,
          password: this.node.credentials.superuserPassword,
          database: 'postgres',
          application_name: 'pgdrill-harness-health',
        });
        client.on('error', () => undefined);
        this.client = client;
        await client.connect();
      }
      await this.client.query('SELECT 1');
      return undefined;
    })().catch((err: unknown) => errorMessage(err) || 'connection failed');
    try {
      const result = await Promise.race([work, expired]);
      if (result !== undefined) this.close();
      return result;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    if (this.client) destroy(this.client);
    this.client = undefined;
  }
}
