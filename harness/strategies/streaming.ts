// Planned switchover to a physical streaming standby, step by step as a runbook does it:
// prerequisites -> wait for sync -> freeze writes -> final LSN check -> snapshot -> promote
// -> validate -> re-point the endpoint -> fence the old primary -> resume.
//
// The freeze: the old primary turns read-only (ALTER SYSTEM default_transaction_read_only
// + reload) and its client sessions are ended, so no write transaction is left open on it;
// clients that reconnect meanwhile get read-only errors, or, with holdConnections, wait at
// the endpoint as behind PgBouncer PAUSE. After the standby has replayed the old primary's
// final LSN, nothing acknowledged can be missing from it.

import type pg from 'pg';
import type { RuntimeNode } from '../runtime/runtime.js';
import { connectNode, sleep, waitFor } from '../topology/connect.js';
import { replicationSlotName } from '../topology/standby.js';
import { INTEGRITY_TABLES } from '../seed/schema.js';
import { tableFingerprints } from '../checks/integrity.js';
import { errorMessage } from '../errors.js';
import { StepRunner } from './step-runner.js';
import type { CutoverOutcome, Fingerprints, Strategy, StrategyContext } from './strategy.js';

const HARNESS_APPS = ['pgdrill-harness', 'pgdrill-monitor', 'pgdrill-cutover'];

export const streamingStrategy: Strategy = {
  async cutover(context, { dryRun }) {
    const { config, topology, endpoint, recorder } = context;
    const from = topology.node(config.from);
    const to = topology.node(config.to);
    const steps = new StepRunner(recorder);
    const outcome: CutoverOutcome = { ok: false, dryRun, rolledBack: false, steps: steps.steps };
    // a node that cannot answer within 3 s is not fit for a cutover; queries may take longer
    const open = (node: RuntimeNode) =>
      connectNode(node, { database: 'pgdrill', timeout: 3_000, queryTimeout: 60_000, applicationName: 'pgdrill-cutover' });
    let source: pg.Client | undefined;
    let target: pg.Client | undefined;
    let promoted = false;
    try {
      await steps.run('prerequisites', async () => {
        source = await open(from);
        target = await open(to);
        const recovery = await target.query('SELECT pg_is_in_recovery() AS r');
        if (!recovery.rows[0].r) throw new Error(`${to.name} is not in recovery: it is not a standby`);
        const rep = await source.query(
          `SELECT r.state, s.active FROM pg_stat_replication r
             LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid
           WHERE r.application_name = $1`,
          [to.name],
        );
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
      await steps.run('freeze-writes', async () => {
        if (config.holdConnections) endpoint.hold();
        await source!.query('ALTER SYSTEM SET default_transaction_read_only = on');
        await source!.query('SELECT pg_reload_conf()');
        // the postmaster applies a reload asynchronously: once a fresh session sees the
        // setting, every session started from then on is read-only
        await waitFor(
          'the read-only setting to reach new sessions',
          async () => {
            const fresh = await open(from);
            try {
              const { rows } = await fresh.query('SHOW default_transaction_read_only');
              return rows[0].default_transaction_read_only === 'on' ? true : undefined;
            } finally {
              await fresh.end().catch(() => undefined);
            }
          },
          { timeout: 10_000, interval: 5 },
        );
        // sessions from before the reload may still be inside a write transaction: end them
        // (the subquery keeps the filter ahead of pg_terminate_backend: AND has no order)
        const ended = await source!.query<{ pid: number }>(
          `SELECT pid, pg_terminate_backend(pid) FROM (
             SELECT pid FROM pg_stat_activity
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
               AND NOT (application_name = ANY($1))
             OFFSET 0) AS clients`,
          [HARNESS_APPS],
        );
        const pids = ended.rows.map((r) => r.pid);
        if (config.holdConnections) endpoint.closeSessionsTo(from.address);
        // a backend that was mid-commit finishes before it exits; wait until all are gone
        await waitFor(
          'ended client sessions to exit',
          async () => {
            const { rows } = await source!.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY($1)', [pids]);
            return rows[0].n === 0 ? true : undefined;
          },
          { timeout: 10_000, interval: 5 },
        );
        const xid = await source!.query('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid');
        outcome.oldPrimaryNextXidAtFreeze = xid.rows[0].xid;
        const lsn = await source!.query('SELECT pg_current_wal_lsn()::text AS lsn');
        finalLsn = lsn.rows[0].lsn;
        const clients = config.holdConnections ? 'new connections held at the endpoint' : 'clients reconnecting get read-only errors';
        return `${from.name} read-only; ${pids.length} client sessions ended; ${clients}; final LSN ${finalLsn}`;
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
          { timeout: config.syncGate.timeout, interval: 10, signal: context.signal },
        );
        return `${to.name} replayed ${replayed} (old primary's final LSN ${finalLsn}): 0 bytes behind`;
      });

      await steps.run('snapshot', async () => {
        // the standby holds exactly the frozen state now; fingerprint it before it takes writes
        outcome.targetAtFreeze = await tableFingerprints(target!, INTEGRITY_TABLES);
        return `fingerprinted ${outcome.targetAtFreeze.size} tables on ${to.name} at the freeze`;
      });

      await steps.run('promote', async () => {
        // pg_promote(wait => true) checks for the end of recovery only every 100 ms; polling
        // ourselves every 5 ms takes that much off the downtime
        await target!.query('SELECT pg_promote(false)');
        await waitFor(
          `${to.name} to leave recovery`,
          async () => ((await target!.query('SELECT pg_is_in_recovery() AS r')).rows[0].r ? undefined : true),
          { timeout: config.promoteTimeout, interval: 5, signal: context.signal },
        );
        promoted = true;
        outcome.promotedAtMs = recorder.now();
        topology.promoted(to.name);
        return `${to.name} promoted`;
      });

      await steps.run('validate-new-primary', async () => {
        const { rows } = await target!.query(
          `SELECT pg_is_in_recovery() AS recovery,
                  ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS timeline`,
        );
        if (rows[0].recovery) throw new Error(`${to.name} is still in recovery`);
        // a transaction that writes, on a fresh session as clients will have
        const check = await open(to);
        try {
          await check.query('INSERT INTO pgdrill_probe DEFAULT VALUES');
        } finally {
          await check.end().catch(() => undefined);
        }
        return `${to.name} out of recovery, accepts writes, timeline ${rows[0].timeline}`;
      });

      await steps.run('repoint-endpoint', async () => {
        endpoint.retarget(to.address);
        // sessions still open to the old primary are ended so their clients reconnect here
        const moved = endpoint.closeSessionsTo(from.address);
        return `endpoint -> ${to.name} (${to.address.host}:${to.address.port}); ${moved} sessions to ${from.name} closed`;
      });

      await steps.run('fence-old-primary', async () => {
        if (!config.fenceOldPrimary) {
          await source!.query('ALTER SYSTEM RESET default_transaction_read_only');
          await source!.query('SELECT pg_reload_conf()');
          return `fenceOldPrimary is false: ${from.name} left writable (split brain is possible)`;
        }
        // prove the fence: a write on a fresh session must be refused
        const probe = await open(from);
        try {
          await probe.query('INSERT INTO pgdrill_probe DEFAULT VALUES');
          throw new Error(`${from.name} still accepts writes`);
        } catch (err) {
          if ((err as { code?: string }).code !== '25006') throw err;
        } finally {
          await probe.end().catch(() => undefined);
        }
        return `${from.name} read-only (a write was refused with 25006)`;
      });

      await steps.run('resume', async () => {
        endpoint.release();
        return config.holdConnections ? 'held connections released to the new primary' : 'clients reach the new primary';
      });
      outcome.ok = true;
    } catch (err) {
      outcome.error = errorMessage(err);
      if (!promoted) {
        // before promotion every change is undone, even if the freeze had not begun
        await rollback(steps, context, from).catch(() => undefined);
        outcome.rolledBack = true;
      } else {
        // past promotion there is no way back; let clients through to whoever is primary now
        endpoint.retarget(topology.primary.address);
        endpoint.release();
      }
    } finally {
      await Promise.allSettled([source?.end(), target?.end()]);
    }
    return outcome;
  },
};

/** Before promotion, a failed cutover gives the old primary back its writes, unchanged endpoint. */
async function rollback(steps: StepRunner, context: StrategyContext, from: RuntimeNode) {
  await steps.run('rollback', async () => {
    // a fresh session: the step that failed may have lost the one it used
    const client = await connectNode(from, { applicationName: 'pgdrill-cutover' });
    try {
      await client.query('ALTER SYSTEM RESET default_transaction_read_only');
      await client.query('SELECT pg_reload_conf()');
    } finally {
      await client.end().catch(() => undefined);
    }
    // a reload reaches backends asynchronously; give it a moment before clients return
    await sleep(50);
    context.endpoint.retarget(from.address);
    context.endpoint.release();
    return `${from.name} writable again; endpoint unchanged (${from.name})`;
  });
}
