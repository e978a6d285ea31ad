// Kind patroni: a cutover that Patroni performs and pgdrill asks for and times, never does
// itself. Two runbooks, by the scenario:
// - a planned switchover (from = the leader, to = another member): POST /switchover {leader,
//   candidate} on the leader's REST API; recorded as requested, old leader demoted, candidate
//   promoted, endpoint following (HAProxy marked it up / a lookup found it), first write served;
// - the single node -> Patroni migration (patroni.standbyOf: from = that node, to = the standby
//   leader): freeze the old node, wait until the standby leader replayed its final LSN, promote
//   the standby cluster by removing standby_cluster from the dynamic configuration (PATCH
//   /config), re-point the endpoint, fence the old node.

import type pg from 'pg';
import { waitFor, sleep } from '../topology/connect.js';
import { errorMessage } from '../errors.js';
import type { RuntimeNode } from '../runtime/runtime.js';
import type { PatroniCluster } from '../patroni/patroni-cluster.js';
import { httpRequest, leaderOf } from '../patroni/rest.js';
import { StepRunner } from './step-runner.js';
import { freezeDetail, freezeWrites, frozenPosition, openCutoverSession, pauseEndpoint, probeWrite, repointResumeFence, sendClientsTo, settleFailedCutover } from './freeze.js';
import { fingerprintAtFreeze, pinSnapshot } from './snapshot.js';
import { plannedStrategy } from './planned.js';
import type { CutoverOutcome, StrategyContext } from './strategy.js';

const POLL_MS = 10;

export const patroniStrategy = plannedStrategy('patroni', async (context, { dryRun }) => {
  const cluster = context.topology.patroni;
  const steps = new StepRunner(context.recorder);
  const outcome: CutoverOutcome = { ok: false, dryRun, rolledBack: false, steps: steps.steps };
  if (!cluster) {
    outcome.error = 'kind patroni needs a Patroni cluster, and this run has none';
    return outcome;
  }
  try {
    if (cluster.config.standbyOf) await promoteStandbyCluster(context, cluster, steps, outcome);
    else await switchover(context, cluster, steps, outcome);
  } catch (err) {
    outcome.error = errorMessage(err);
  }
  return outcome;
});

async function switchover(context: StrategyContext, cluster: PatroniCluster, steps: StepRunner, outcome: CutoverOutcome): Promise<void> {
  const { config, topology, recorder } = context;
  const from = topology.node(config.from);
  const to = topology.node(config.to);
  await steps.run('prerequisites', async () => {
    const view = await cluster.view(2000);
    const leader = leaderOf(view);
    if (leader?.name !== from.name) throw new Error(`${from.name} is not the leader (/cluster: ${leader ? `${leader.name} leads` : 'no leader'})`);
    const candidate = view.members.find((m) => m.name === to.name);
    if (!candidate || candidate.state !== 'running') throw new Error(`${to.name} is not a running member (${candidate ? candidate.state : 'not listed'})`);
    if (cluster.config.synchronousMode && candidate.role !== 'sync_standby') throw new Error(`synchronousMode: Patroni switches over to a synchronous standby only, and ${to.name} is ${candidate.role}`);
    return `${from.name} leads; ${to.name} is a ${candidate.role}, ${candidate.lag ?? '?'} bytes behind`;
  });
  await waitForSync(context, steps, from, to);
  if (outcome.dryRun) {
    outcome.ok = true;
    return;
  }
  const requestedMs = recorder.now();
  // Patroni answers once the candidate leads; meanwhile the demotion and the promotion are watched
  const request = httpRequest(cluster.member(from.name).rest, 'POST', '/switchover', { body: { leader: from.name, candidate: to.name }, timeoutMs: cluster.config.ttl * 3 });
  // demoted: it stops taking writes, by going down for its restart as a standby or by being one
  const demoted = watchRecovery(from, true, context, 120_000, true);
  const promoted = watchRecovery(to, false, context);
  await steps.run('switchover-requested', async () => {
    const answer = await request;
    if (answer.status !== 200) throw new Error(`POST /switchover answered ${answer.status}: ${answer.body.trim()}`);
    return `POST /switchover {leader: ${from.name}, candidate: ${to.name}} on ${from.name}'s REST API: ${answer.status} ${answer.body.trim()}`;
  });
  const demotedAt = await demoted;
  steps.record('old-leader-demoted', requestedMs, demotedAt.atMs, true, `${from.name} ${demotedAt.detail}, ${Math.round(demotedAt.atMs - requestedMs)}ms after the request`);
  const promotedAt = await promoted;
  outcome.promotedAtMs = promotedAt.atMs;
  steps.record('candidate-promoted', requestedMs, promotedAt.atMs, true, `${to.name} ${promotedAt.detail}, ${Math.round(promotedAt.atMs - requestedMs)}ms after the request`);
  topology.promoted(to.name);
  await sendClientsTo(steps, context, from, to, { promotedAtMs: outcome.promotedAtMs });
  await firstWriteServed(context, steps, requestedMs, outcome.promotedAtMs);
  outcome.splitBrain = splitBrainByPatroni(cluster, from.name);
  outcome.ok = !outcome.steps.some((s) => !s.ok);
}

async function promoteStandbyCluster(context: StrategyContext, cluster: PatroniCluster, steps: StepRunner, outcome: CutoverOutcome): Promise<void> {
  const { config, topology, endpoint, signal } = context;
  const from = topology.node(config.from);
  const to = topology.node(config.to);
  let source: pg.Client | undefined;
  let target: pg.Client | undefined;
  let pinned: pg.Client | undefined;
  let promoted = false;
  try {
    await steps.run('prerequisites', async () => {
      const view = await cluster.view(2000);
      const leader = leaderOf(view);
      if (leader?.name !== to.name || leader.role !== 'standby_leader') throw new Error(`${to.name} is not the standby leader (/cluster: ${leader ? `${leader.name} ${leader.role}` : 'no leader'})`);
      source = await openCutoverSession(from);
      target = await openCutoverSession(to);
      const rep = await source.query(`SELECT state FROM pg_stat_replication WHERE application_name = $1`, [to.name]);
      if (rep.rows[0]?.state !== 'streaming') throw new Error(`${to.name} is not streaming from ${from.name}`);
      return `${from.name} reachable; the standby cluster's leader ${to.name} streams from it`;
    });
    await waitForSync(context, steps, from, to);
    if (outcome.dryRun) {
      outcome.ok = true;
      return;
    }
    let finalLsn = '';
    await pauseEndpoint(steps, context);
    await steps.run('freeze-writes', async () => {
      const { endedSessions } = await freezeWrites(source!, from, endpoint);
      const position = await frozenPosition(source!);
      outcome.oldPrimaryNextXidAtFreeze = position.nextXid;
      finalLsn = position.lsn;
      return freezeDetail(from, endedSessions, endpoint, finalLsn);
    });
    await steps.run('final-lsn-check', async () => {
      const replayed = await waitFor(
        `${to.name} to replay ${finalLsn}`,
        async () => {
          const { rows } = await target!.query(`SELECT pg_last_wal_replay_lsn()::text AS lsn, pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::float8 AS behind`, [finalLsn]);
          return rows[0].behind <= 0 ? (rows[0].lsn as string) : undefined;
        },
        { timeout: config.syncGate.timeout, interval: 5, signal },
      );
      return `the standby leader ${to.name} replayed ${replayed} (${from.name}'s final LSN ${finalLsn}): 0 bytes behind`;
    });
    await steps.run('snapshot', async () => {
      pinned = await pinSnapshot(to);
      return `snapshot of ${to.name} pinned at the freeze (fingerprinted after the resume)`;
    });
    await steps.run('promote', async () => {
      const answer = await httpRequest(cluster.member(to.name).rest, 'PATCH', '/config', { body: { standby_cluster: null }, timeoutMs: 10_000 });
      if (answer.status !== 200) throw new Error(`PATCH /config {standby_cluster: null} answered ${answer.status}: ${answer.body.slice(0, 200)}`);
      const seen = await watchRecovery(to, false, context, config.promoteTimeout);
      promoted = true;
      outcome.promotedAtMs = seen.atMs;
      topology.promoted(to.name);
      return `PATCH /config {standby_cluster: null}: Patroni promoted the standby leader ${to.name} (${seen.detail})`;
    });
    await steps.run('validate-new-primary', async () => {
      await probeWrite(to);
      const view = await cluster.view(2000);
      return `${to.name} accepts writes; /cluster: ${view.members.map((m) => `${m.name} ${m.role}`).join(', ')}`;
    });
    await repointResumeFence(steps, context, source!, from, to, { promotedAtMs: outcome.promotedAtMs });
    outcome.ok = true;
    await fingerprintAtFreeze(steps, outcome, pinned!, to);
  } catch (err) {
    outcome.error = errorMessage(err);
    await settleFailedCutover(steps, context, outcome, from, promoted);
  } finally {
    await Promise.allSettled([source?.end(), target?.end(), pinned?.end()]);
  }
}

/** The candidate's replay lag under the sync gate for its checks in a row, read on its upstream. */
async function waitForSync(context: StrategyContext, steps: StepRunner, from: RuntimeNode, to: RuntimeNode): Promise<void> {
  const gate = context.config.syncGate;
  await steps.run('wait-for-sync', async () => {
    const client = await openCutoverSession(from, { database: 'postgres' });
    let passes = 0;
    let last = '';
    try {
      await waitFor(
        `${to.name}'s lag under ${gate.lagBytes} bytes for ${gate.consecutiveChecks} checks`,
        async () => {
          const { rows } = await client.query(
            `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 AS bytes FROM pg_stat_replication WHERE application_name = $1`,
            [to.name],
          );
          if (!rows[0]) throw new Error(`${to.name} does not stream from ${from.name}`);
          last = `${Math.round(rows[0].bytes)} bytes behind`;
          passes = rows[0].bytes <= gate.lagBytes ? passes + 1 : 0;
          return passes >= gate.consecutiveChecks ? true : undefined;
        },
        { timeout: gate.timeout, interval: 100, signal: context.signal },
      );
    } finally {
      await client.end().catch(() => undefined);
    }
    return `in sync: ${last} (${gate.consecutiveChecks} consecutive checks)`;
  });
}

/**
 * When `node` was first seen in recovery (inRecovery) or out of it, polling every 10 ms; a node
 * that refuses connections (Patroni restarting it) counts as not yet there.
 */
async function watchRecovery(node: RuntimeNode, inRecovery: boolean, context: StrategyContext, timeout = 120_000, downCounts = false): Promise<{ atMs: number; detail: string }> {
  const { signal, recorder } = context;
  const deadline = performance.now() + timeout;
  let down = false;
  let client: pg.Client | undefined;
  try {
    while (!signal.aborted && performance.now() < deadline) {
      try {
        client ??= await openCutoverSession(node, { database: 'postgres', queryTimeout: 1000 });
        const { rows } = await client.query('SELECT pg_is_in_recovery() AS r');
        if (rows[0].r === inRecovery) {
          return { atMs: recorder.now(), detail: inRecovery ? `in recovery (a standby)${down ? ' after a restart' : ''}` : 'out of recovery (the primary)' };
        }
      } catch (err) {
        if (downCounts) return { atMs: recorder.now(), detail: `stopped taking connections (${errorMessage(err)})` };
        down = true;
        await client?.end().catch(() => undefined);
        client = undefined;
      }
      await sleep(POLL_MS);
    }
  } finally {
    await client?.end().catch(() => undefined);
  }
  throw new Error(`${node.name} was not seen ${inRecovery ? 'in' : 'out of'} recovery within ${Math.round(timeout / 1000)}s`);
}

/** The first write acknowledged that began after the promotion (`afterMs`), as a step timed from `sinceMs`. */
async function firstWriteServed(context: StrategyContext, steps: StepRunner, sinceMs: number, afterMs: number): Promise<void> {
  const { recorder, signal } = context;
  const WAIT_MS = 60_000;
  // operations are not kept (flat memory): listen for the first one, from now on; a write that
  // began after the promotion and was already acknowledged before we listen is found by the
  // watcher's record (patroni-first-write), so look there first
  const seen = [...recorder.events].reverse().find((e) => e.kind === 'patroni-first-write' && e.startMs >= afterMs);
  if (seen && seen.kind === 'patroni-first-write') {
    steps.record('first-write-served', sinceMs, seen.t, true, `the first write begun after the promotion (op ${seen.opId}) was acknowledged ${Math.round(seen.t - sinceMs)}ms after the request`);
    return;
  }
  const op = await new Promise<{ endMs: number; kind: string; id: number } | undefined>((resolve) => {
    const timer = setTimeout(() => done(undefined), WAIT_MS);
    const onAbort = () => done(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    const stop = recorder.onOp((o) => {
      if (o.stream === 'write' && o.outcome === 'ok' && (o.startMs ?? o.intendedMs) >= afterMs) done({ endMs: o.endMs, kind: o.kind, id: o.id });
    });
    function done(v: { endMs: number; kind: string; id: number } | undefined) {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      stop();
      resolve(v);
    }
  });
  if (op) steps.record('first-write-served', sinceMs, op.endMs, true, `the first write begun after the promotion (${op.kind}, op ${op.id}) was acknowledged ${Math.round(op.endMs - sinceMs)}ms after the request`);
  else steps.record('first-write-served', sinceMs, recorder.now(), false, `no write begun after the promotion was acknowledged within ${WAIT_MS / 1000}s`);
}

/**
 * Split brain under Patroni: two members leading at once in /cluster would be it; a write the
 * old leader took after the promotion and then lost in its rewind is a lost write the ledger counts.
 */
function splitBrainByPatroni(cluster: PatroniCluster, oldLeader: string) {
  const w = cluster.watcher;
  return {
    writesAfterPromotion: w && w.twoLeaders > 0 ? w.twoLeaders : 0,
    detail: w
      ? `${w.polls} polls of /cluster, ${w.twoLeaders} with two leaders at once; ${oldLeader} follows the new leader's timeline, so any write it took after the promotion would be a lost write in the ledger`
      : 'no /cluster watcher ran',
  };
}
