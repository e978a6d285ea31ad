// Planned switchover to a physical streaming standby, step by step as a runbook does it:
// prerequisites (every session opened) -> wait for sync -> freeze writes -> final LSN check ->
// snapshot -> promote -> validate -> re-point the endpoint -> resume: the critical path, then,
// once the clients' first writes are served on the new primary, the fence proof and the
// fingerprint of the snapshot pinned at the freeze (outside the downtime).
//
// The freeze (freeze.ts) makes the old primary read-only and ends its client sessions;
// after the standby has replayed the old primary's final LSN, nothing acknowledged can be
// missing from it.

import type pg from 'pg';
import { waitFor } from '../topology/connect.js';
import { replicationSlotName } from '../topology/standby.js';
import { errorMessage } from '../errors.js';
import { StepRunner } from './step-runner.js';
import {
  freezeDetail,
  freezeWrites,
  pauseEndpoint,
  frozenPosition,
  openCutoverSession,
  fenceOldPrimary,
  resumeClients,
  sendClientsTo,
  settleFailedCutover,
} from './freeze.js';
import { fingerprintAtFreeze, pinSnapshotOn } from './snapshot.js';
import { describeFirstWrites, FIRST_WRITES, firstWritesServed } from './first-writes.js';
import { markCriticalPath } from './critical-path.js';
import { detachFollowers, followNewPrimary } from './followers.js';
import { rejoinOldPrimary, requireRewind } from './rejoin.js';
import type { CutoverOutcome } from './strategy.js';
import { plannedStrategy } from './planned.js';

export const streamingStrategy = plannedStrategy(
  'streaming',
  async (context, { dryRun }) => {
    const { config, topology, endpoint, recorder } = context;
    const from = topology.node(config.from);
    const to = topology.node(config.to);
    const steps = new StepRunner(recorder);
    const outcome: CutoverOutcome = { ok: false, dryRun, rolledBack: false, steps: steps.steps };
    let source: pg.Client | undefined;
    let target: pg.Client | undefined;
    let pinned: pg.Client | undefined;
    let promoted = false;
    let detached: ReturnType<typeof detachFollowers> | undefined;
    try {
      await steps.run('prerequisites', async () => {
        // every session the cutover needs is opened now, before the freeze: a connection
        // (with its SCRAM handshake) costs 20-70 ms that would otherwise sit in the downtime
        [source, target, pinned] = await Promise.all([
          openCutoverSession(from),
          openCutoverSession(to),
          openCutoverSession(to, { queryTimeout: 600_000 }),
        ]);
        const recovery = await target.query('SELECT pg_is_in_recovery() AS r');
        if (!recovery.rows[0].r) throw new Error(`${to.name} is not in recovery: it is not a standby`);
        const rep = await source.query(`SELECT state FROM pg_stat_replication WHERE application_name = $1`, [to.name]);
        if (rep.rows[0]?.state !== 'streaming') throw new Error(`${to.name} is not streaming from ${from.name}`);
        const slot = await source.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [
          replicationSlotName(to.name),
        ]);
        if (!slot.rows[0]?.active) throw new Error(`replication slot ${replicationSlotName(to.name)} is not active`);
        return `${from.name} reachable; ${to.name} in recovery and streaming; slot active`;
      });

      await steps.run('wait-for-sync', async () => {
        const gate = config.syncGate;
        let passes = 0;
        let last = '';
        await waitFor(
          `lag under ${gate.lagBytes} bytes and ${gate.lagSeconds}s for ${gate.consecutiveChecks} checks`,
          async () => {
            const { rows } = await source!.query(
              `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 AS bytes,
                      coalesce(extract(epoch FROM replay_lag), 0)::float8 AS seconds
               FROM pg_stat_replication WHERE application_name = $1`,
              [to.name],
            );
            const row = rows[0];
            if (!row) throw new Error(`${to.name} stopped streaming`);
            last = `${Math.round(row.bytes)} bytes, ${row.seconds.toFixed(3)}s behind`;
            passes = row.bytes <= gate.lagBytes && row.seconds <= gate.lagSeconds ? passes + 1 : 0;
            return passes >= gate.consecutiveChecks ? true : undefined;
          },
          { timeout: gate.timeout, interval: 100, signal: context.signal },
        );
        return `in sync: ${last} (${gate.consecutiveChecks} consecutive checks)`;
      });

      if (dryRun) {
        outcome.ok = true;
        return outcome;
      }

      let finalLsn = '';
      await pauseEndpoint(steps, context);
      await steps.run('freeze-writes', async () => {
        // an endpoint that closes sessions to the old primary when it moves (and neither drains
        // nor follows) gets the idle ones left open: see freezeWrites
        const keepIdleSessions = endpoint.repoint !== undefined && !endpoint.drain && !endpoint.follow && !endpoint.pause;
        const { endedSessions, keptIdle, timings } = await freezeWrites(source!, from, endpoint, { keepIdleSessions });
        const position = await frozenPosition(source!);
        outcome.oldPrimaryNextXidAtFreeze = position.nextXid;
        finalLsn = position.lsn;
        // the other standbys take no more WAL from the frozen old primary (followers.ts)
        detached = detachFollowers(context, from, to);
        const held = detached.names;
        return freezeDetail(from, endedSessions, endpoint, finalLsn) +
          (keepIdleSessions ? `; ${keptIdle} idle sessions left open, read-only (closed at the repoint)` : '') + `; ${timings}` + (held.length ? `; ${held.join(', ')} take no more WAL from ${from.name}` : '');
      });

      await steps.run('final-lsn-check', async () => {
        const replayed = await waitFor(
          `${to.name} to replay ${finalLsn}`,
          async () => {
            const { rows } = await target!.query(
              `SELECT pg_last_wal_replay_lsn()::text AS lsn,
                      pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::float8 AS behind`,
              [finalLsn],
            );
            return rows[0].behind <= 0 ? (rows[0].lsn as string) : undefined;
          },
          { timeout: config.syncGate.timeout, interval: 1, signal: context.signal },
        );
        return `${to.name} replayed ${replayed} (old primary's final LSN ${finalLsn}): 0 bytes behind`;
      });

      await steps.run('snapshot', async () => {
        // the standby holds exactly the frozen state now; a read-only snapshot pinned here
        // survives the promotion and is hashed after the resume, outside the downtime
        await pinSnapshotOn(pinned!);
        return `snapshot of ${to.name} pinned at the freeze (fingerprinted after the resume)`;
      });

      await steps.run('promote', async () => {
        // pg_promote(wait => true) checks for the end of recovery only every 100 ms; polling
        // ourselves every 1 ms (a query on an open session, ~0.2 ms) takes that off the downtime
        const asked = performance.now();
        await target!.query('SELECT pg_promote(false)');
        const answered = performance.now();
        let polls = 0;
        await waitFor(
          `${to.name} to leave recovery`,
          async () => (polls++, (await target!.query('SELECT pg_is_in_recovery() AS r')).rows[0].r ? undefined : true),
          { timeout: config.promoteTimeout, interval: 1, signal: context.signal },
        );
        const promoteTimings = `pg_promote answered in ${Math.round(answered - asked)} ms, out of recovery ${Math.round(performance.now() - answered)} ms later (${polls} polls)`;
        promoted = true;
        outcome.promotedAtMs = recorder.now();
        topology.promoted(to.name);
        return `${to.name} promoted; ${promoteTimings}`;
      });

      await steps.run('validate-new-primary', async () => {
        // on the session already open on it (a fresh one cost ~20 ms of downtime): out of
        // recovery, and a write commits, in one round trip
        const { rows } = await target!.query(
          `WITH probe AS (INSERT INTO _pgdrill.probe DEFAULT VALUES RETURNING 1)
           SELECT pg_is_in_recovery() AS recovery, (SELECT count(*) FROM probe)::int AS written,
                  ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS timeline`,
        );
        if (rows[0].recovery) throw new Error(`${to.name} is still in recovery`);
        if (rows[0].written !== 1) throw new Error(`${to.name} did not take the probe write`);
        return `${to.name} out of recovery, accepts writes, timeline ${rows[0].timeline}`;
      });

      // clients go back first; the fence proof (the old primary is read-only since the freeze)
      // and everything else come after: none of it can bring writes back sooner
      await sendClientsTo(steps, context, from, to, { promotedAtMs: outcome.promotedAtMs });
      const repointedAtMs = recorder.now();
      await steps.run('resume', async () => resumeClients(endpoint));
      markCriticalPath(steps.steps, context.endpoint.pause ? 'pause-endpoint' : 'freeze-writes', 'resume');
      // the reconnect wave first: pgdrill's own sessions and hashing would compete with it (first-writes.ts)
      await steps.run('first-writes', async () => {
        const served = await firstWritesServed(recorder, repointedAtMs, { ...FIRST_WRITES, signal: context.signal });
        return describeFirstWrites(served, to.name, FIRST_WRITES);
      });
      await steps.run('fence-old-primary', async () => fenceOldPrimary(source!, from, config));
      outcome.ok = true;
      // every other standby of the old primary follows the new one (followers.ts)
      await followNewPrimary(steps, context, outcome, from, to);

      await fingerprintAtFreeze(steps, outcome, pinned!, to);
      // strategy.rejoinOldPrimary: the old primary is rewound into a standby of the new one (rejoin.ts)
      if (config.rejoinOldPrimary && outcome.ok) await rejoinOldPrimary(steps, context, outcome, from, to);
    } catch (err) {
      outcome.error = errorMessage(err);
      // promotion is the point of no return; before it, even an unbegun freeze is undone
      await settleFailedCutover(steps, context, outcome, from, promoted, detached?.names.length ? detached.reattach : undefined);
    } finally {
      await Promise.allSettled([source?.end(), target?.end(), pinned?.end()]);
    }
    return outcome;
  },
  requireRewind,
);
