// After a promotion, every other standby of the old primary follows the new one, as an HA
// manager re-points its replicas: a slot on the new primary, a new replication link (a pgdrill
// proxy, so link faults keep acting on it) and primary_conninfo naming it, then a reload.
// primary_conninfo is reloadable from PostgreSQL 13 on, the oldest major pgdrill runs, so no
// restart is needed: the startup process restarts its walreceiver with the new conninfo. Each
// follower is one recorded step, from the re-point until it streams from the new primary on
// the new timeline and has replayed what the new primary had written by then (its catch-up).

import type pg from 'pg';
import type { RuntimeNode } from '../runtime/runtime.js';
import { connectNode, waitFor } from '../topology/connect.js';
import { replicationSlotName } from '../topology/standby.js';
import { quoteLiteral } from '../util/sql.js';
import { errorMessage } from '../errors.js';
import { compareLsn } from '../util/lsn.js';
import { readReplicationTls } from '../tls/run-tls.js';
import type { StepRunner } from './step-runner.js';
import type { CutoverOutcome, StrategyContext } from './strategy.js';

/** How long a follower may take to stream from the new primary and catch up. */
export const FOLLOW_TIMEOUT_MS = 60_000;

/** Where the new primary's timeline begins: its id, and the LSN at which it forked off the old one. */
export interface NewTimeline {
  timeline: number;
  /** null when the history file could not be read (the fork check is then skipped) */
  switchLsn: string | null;
}

/**
 * Re-points every standby that still follows `old` to `promoted`, one step each (run side by
 * side: a slow follower does not hold the others back). A follower that does not stream again
 * fails its step and the cutover (HA is not restored), but never throws.
 */
export async function followNewPrimary(steps: StepRunner, context: StrategyContext, outcome: CutoverOutcome, old: RuntimeNode, promoted: RuntimeNode): Promise<void> {
  const followers = context.topology.replicasOf(old.name).filter((n) => n.name !== promoted.name);
  if (followers.length === 0) return;
  let timeline: NewTimeline;
  try {
    timeline = await newTimelineOf(promoted);
  } catch (err) {
    timeline = { timeline: 0, switchLsn: null };
    context.recorder.event('verify-warning', { message: `the timeline of ${promoted.name} could not be read: ${errorMessage(err)}` });
  }
  const results = await Promise.allSettled(
    followers.map((follower) => steps.run(`follow ${follower.name}`, () => follow(context, follower, promoted, timeline))),
  );
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) {
    outcome.ok = false;
    outcome.error ??= failed.map((r) => errorMessage(r.reason)).join('; ');
  }
}

/**
 * At a planned cutover's freeze: the standbys that will follow the target take no more WAL
 * from the old primary (their link holds what it sends, and is retired when they are
 * re-pointed). The frozen old primary still logs a little (the background writer's standby
 * snapshot, every 15 s); a follower that got such a record and the target did not would be
 * past the fork point, unable to follow. Behind the target is harmless: the new primary's WAL
 * carries the old timeline up to the fork. (A switchover by shutdown, as Patroni does it,
 * reaches the same end: the followers stop receiving when the old primary goes down.)
 */
export function detachFollowers(context: StrategyContext, old: RuntimeNode, target: RuntimeNode): { names: string[]; reattach: () => Promise<string> } {
  const followers = context.topology.replicasOf(old.name).filter((n) => n.name !== target.name);
  const heals = followers.flatMap((f) => context.topology.links.get(f.name)?.impair({ kind: 'blackhole', direction: 'downstream' }) ?? []);
  const names = followers.map((f) => f.name);
  return {
    names,
    // a cutover rolled back before the promotion: they stream from the old primary again
    async reattach() {
      for (const heal of heals) heal();
      return names.length ? `${names.join(', ')} stream from ${old.name} again` : '';
    },
  };
}

/** The promoted node's timeline and its fork point, from its timeline history file. */
export async function newTimelineOf(node: RuntimeNode): Promise<NewTimeline> {
  const client = await connectNode(node, { database: 'postgres', applicationName: 'pgdrill-cutover' });
  try {
    const { rows } = await client.query<{ tli: number }>(`SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS tli`);
    const timeline = rows[0].tli;
    const history = await client
      .query<{ text: string }>(`SELECT pg_read_file($1) AS text`, [`pg_wal/${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`])
      .then((r) => r.rows[0].text, () => null);
    return { timeline, switchLsn: history === null ? null : switchPoint(history) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The last fork point a timeline history file lists ("1\t0/3000158\tno recovery target specified"). */
export function switchPoint(history: string): string | null {
  const lines = history.split('\n').filter((l) => /^\d+\s+[0-9A-F]+\/[0-9A-F]+/i.test(l.trim()));
  const last = lines.at(-1);
  return last ? last.trim().split(/\s+/)[1] : null;
}

async function follow(context: StrategyContext, follower: RuntimeNode, promoted: RuntimeNode, timeline: NewTimeline): Promise<string> {
  const { topology } = context;
  const started = performance.now();
  const slot = replicationSlotName(follower.name);
  const standby = await connectNode(follower, { database: 'postgres', applicationName: 'pgdrill-cutover' });
  let primary: pg.Client | undefined;
  try {
    // a follower that replayed WAL past the fork point holds history the new timeline has
    // not: it cannot switch without pg_rewind, and no wait would fix that (WAL it only received
    // past the fork is not replayed once it sees the new timeline)
    const replayed = (await standby.query<{ lsn: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS lsn')).rows[0].lsn;
    if (replayed && timeline.switchLsn && compareLsn(replayed, timeline.switchLsn) > 0) {
      throw new Error(
        `${follower.name} replayed WAL up to ${replayed}, past ${promoted.name}'s fork point ${timeline.switchLsn}: its history diverged from timeline ${timeline.timeline} and only a pg_rewind can bring it back`,
      );
    }
    primary = await connectNode(promoted, { database: 'postgres', applicationName: 'pgdrill-cutover' });
    await primary.query(
      `SELECT pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`,
      [slot],
    );
    const { link, previous } = await topology.openLink(follower.name, promoted);
    const settings = topology.standbySettings(follower.name, promoted, link.address);
    for (const [name, value] of Object.entries(settings)) await standby.query(`ALTER SYSTEM SET ${name} = ${quoteLiteral(value)}`);
    await standby.query('SELECT pg_reload_conf()');
    topology.follow(follower.name, promoted.name);
    const repointMs = performance.now() - started;

    const seen = await awaitFollowing(context, standby, primary, follower, promoted, link.address.port, timeline, started);
    // its walreceiver left the old link for the new one; nothing streams over the old one now
    await previous?.close().catch(() => undefined);
    return (
      `${follower.name} streams from ${promoted.name} on timeline ${timeline.timeline}` +
      (timeline.switchLsn ? ` (forked at ${timeline.switchLsn})` : '') +
      ` via ${link.address.host}:${link.address.port}${seen.tls}; re-pointed in ${Math.round(repointMs)}ms, streaming after ${Math.round(seen.streamingMs)}ms, ` +
      `caught up (replayed ${seen.replayed}) after ${Math.round(seen.caughtUpMs)}ms`
    );
  } finally {
    await Promise.allSettled([standby.end(), primary?.end()]);
  }
}

export interface Following {
  /** ms from `started` until it streamed from the new primary */
  streamingMs: number;
  /** ms from `started` until it had replayed what the new primary had written when it began streaming */
  caughtUpMs: number;
  replayed: string;
  /** with tls: ", over TLS (TLSv1.3)" (or NOT); else "" */
  tls: string;
}

/**
 * Waits until `standby` streams from `promoted` (its walreceiver on the link at `port`, on the
 * new timeline, and the new primary's walsender for it), then until it has replayed the new
 * primary's position at that moment. `standbyClient` and `primaryClient` are sessions on them.
 */
export async function awaitFollowing(
  context: StrategyContext,
  standbyClient: pg.Client,
  primaryClient: pg.Client,
  standby: RuntimeNode,
  promoted: RuntimeNode,
  port: number,
  timeline: NewTimeline,
  started: number,
): Promise<Following> {
  await waitFor(
    `${standby.name} to stream from ${promoted.name} on timeline ${timeline.timeline}`,
    async () => {
      const own = (await standbyClient.query<{ status: string; tli: number; port: number }>(
        `SELECT status, received_tli AS tli, sender_port AS port FROM pg_stat_wal_receiver`,
      )).rows[0];
      if (!own || own.status !== 'streaming' || own.port !== port) return undefined;
      if (timeline.timeline && own.tli !== timeline.timeline) return undefined;
      const rep = await primaryClient.query(`SELECT state FROM pg_stat_replication WHERE application_name = $1`, [standby.name]);
      return rep.rows[0]?.state === 'streaming' ? true : undefined;
    },
    { timeout: FOLLOW_TIMEOUT_MS, interval: 20, signal: context.signal },
  ).catch(async (err) => {
    const log = await standby.logTail(8).catch(() => '');
    const forked = /forked off current database system timeline \d+ before current recovery point (\S+)/.exec(log);
    const why = forked ? `: it replayed WAL up to ${forked[1]}, past the fork point${timeline.switchLsn ? ` ${timeline.switchLsn}` : ''}, and needs a pg_rewind to follow` : '';
    throw new Error(`${errorMessage(err)}${why}${log ? `; last lines of ${standby.name}'s log:\n${log}` : ''}`);
  });
  const streamingMs = performance.now() - started;
  const target = (await primaryClient.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn;
  await waitFor(
    `${standby.name} to replay ${target}`,
    async () => {
      const r = await standbyClient.query<{ done: boolean }>('SELECT pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()) <= 0 AS done', [target]);
      return r.rows[0].done ? true : undefined;
    },
    { timeout: FOLLOW_TIMEOUT_MS, interval: 10, signal: context.signal },
  );
  const caughtUpMs = performance.now() - started;
  let tls = '';
  if (context.topology.tls) {
    // the scenario asked for TLS: what pg_stat_ssl says of this stream goes on the record
    const seen = await readReplicationTls(primaryClient, standby.name).catch(() => undefined);
    context.recorder.event('replication-tls', {
      node: standby.name,
      upstream: promoted.name,
      ssl: seen?.ssl ?? false,
      version: seen?.version ?? null,
      cipher: seen?.cipher ?? null,
      clientDn: seen?.clientDn ?? null,
    });
    tls = seen?.ssl ? `, over TLS (${seen.version ?? '?'})` : ', NOT over TLS';
  }
  return { streamingMs, caughtUpMs, replayed: target, tls };
}
