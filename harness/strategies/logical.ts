// Upgrade through logical replication (e.g. 13 -> 17), as the runbook goes: prerequisites
// (every table can replicate UPDATE and DELETE) -> copy the schema (pg_dump --schema-only) ->
// publication on the source, subscription on the target -> wait for the initial copy and the
// catch-up -> freeze writes -> wait until the target has applied everything the source
// committed -> sync sequences (logical replication does not carry them) -> pin a snapshot ->
// stop replication -> validate -> re-point the endpoint -> fence -> resume -> fingerprint the
// pinned snapshot, drop the subscription, analyze.
//
// Only the tail of the change stream is applied inside the freeze, so downtime does not grow
// with the data. The apply worker runs with session_replication_role = replica: the audit
// trigger on orders does not fire on the target; audit rows arrive replicated, once.

import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { RuntimeNode } from '../runtime/runtime.js';
import { sequenceChecks } from '../checks/integrity.js';
import { BOOKKEEPING_SCHEMA } from '../seed/schema.js';
import { EnvironmentError, errorMessage } from '../errors.js';
import { replicationSlotName } from '../topology/standby.js';
import { waitFor, withNode } from '../topology/connect.js';
import { quoteIdent, quoteLiteral } from '../util/sql.js';
import { StepRunner } from './step-runner.js';
import { copyTools, findToolHost, missingToolsError, requireCopyTools, seconds, toolVersion } from './client-tools.js';
import {
  freezeDetail,
  freezeWrites,
  pauseEndpoint,
  frozenPosition,
  openCutoverSession,
  repointResumeFence,
  settleFailedCutover,
} from './freeze.js';
import { copyGlobals, dumpDatabase, recreateDatabase, restoreDatabase, type CopyPlan } from './pg-copy.js';
import { analyzeTarget } from './dump-restore.js';
import { fingerprintAtFreeze, pinSnapshot } from './snapshot.js';
import type { CutoverOutcome, PreflightContext, StrategyContext } from './strategy.js';
import { plannedStrategy } from './planned.js';

export const PUBLICATION = 'pgdrill_upgrade';
export const SUBSCRIPTION = 'pgdrill_upgrade';
/**
 * A heartbeat table on the source, replicated like the others: the row written into it inside
 * the freeze is the source's last commit, so once it shows on the target, so has every
 * earlier one (the apply worker commits in the source's commit order).
 */
export const MARKER_TABLE = `${BOOKKEEPING_SCHEMA}.cutover_marker`;
/** sequences are set this many increments past the source's value, should anything still draw on it */
export const SEQUENCE_MARGIN = 1000;


/**
 * Tables whose UPDATE and DELETE cannot be replicated: no primary key and no usable replica
 * identity. A FOR ALL TABLES publication would even make those statements fail on the source.
 */
export async function tablesWithoutReplicaIdentity(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.oid::regclass::text AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        AND CASE c.relreplident
              WHEN 'f' THEN false
              WHEN 'n' THEN true
              WHEN 'i' THEN NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)
              ELSE NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
            END
      ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

/** libpq conninfo for the subscription: the source through its peer address, as the target sees it */
function subscriptionConninfo(from: RuntimeNode, to: RuntimeNode): string {
  const value = (v: string | number) => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return [
    `host=${value(from.peerAddress.host)}`,
    `port=${value(from.peerAddress.port)}`,
    // the superuser: a subscription must read every table; the replication role cannot
    `user=${value(from.credentials.superuser)}`,
    `password=${value(from.credentials.superuserPassword)}`,
    `dbname=${value('pgdrill')}`,
    // the walsender then shows in pg_stat_replication under the target's name, as a standby would
    `application_name=${value(to.name)}`,
  ].join(' ');
}

/** Unlogged tables of the user's: logical replication does not carry them (their rows would be missing on the target). */
export async function unloggedTables(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.oid::regclass::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'u'
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

/** Up front, before any load: a seeded schema logical replication cannot carry is named, not rehearsed into a failure. */
async function logicalAfterSeed({ config, topology }: PreflightContext): Promise<void> {
  const from = topology.node(config.from);
  const [noKey, unlogged] = await withNode(from, (client) => Promise.all([tablesWithoutReplicaIdentity(client), unloggedTables(client)]));
  const problems: string[] = [];
  if (noKey.length) {
    problems.push(
      `${noKey.length} table(s) have no primary key or replica identity, so their UPDATE and DELETE cannot be published: ${noKey.join(', ')}. ` +
        'Add a primary key, or ALTER TABLE ... REPLICA IDENTITY FULL (every change then ships the whole row)',
    );
  }
  if (unlogged.length) {
    problems.push(`${unlogged.length} table(s) are UNLOGGED, which logical replication does not carry: ${unlogged.join(', ')}. ALTER TABLE ... SET LOGGED`);
  }
  if (problems.length) {
    throw new EnvironmentError(
      `strategy logical cannot move the seeded schema of ${from.name} (found after the seed, before the load): ${problems.join('; ')}; ` +
        'do it in the seed (or in your migration), or rehearse with strategy dump-restore.',
      'PGDRILL_SCHEMA_UNSUPPORTED',
    );
  }
}

export const logicalStrategy = plannedStrategy(
  'logical',
  async (context, { dryRun }) => {
    const { config, topology, endpoint, recorder } = context;
    const from = topology.node(config.from);
    const to = topology.node(config.to);
    const steps = new StepRunner(recorder);
    const outcome: CutoverOutcome = { ok: false, dryRun, rolledBack: false, steps: steps.steps };
    let source: pg.Client | undefined;
    let target: pg.Client | undefined;
    let pinned: pg.Client | undefined;
    let replicating = false;
    let repointed = false;
    const openTarget = async () => (target ??= await openCutoverSession(to, { queryTimeout: 600_000 }));

    try {
      let host: RuntimeNode | undefined;
      await steps.run('prerequisites', async () => {
        source = await openCutoverSession(from, { queryTimeout: 600_000 });
        const admin = await openCutoverSession(to, { database: 'postgres' });
        try {
          const state = await admin.query(
            `SELECT pg_is_in_recovery() AS recovery, EXISTS (SELECT 1 FROM pg_subscription WHERE subname = $1) AS subscribed`,
            [SUBSCRIPTION],
          );
          if (state.rows[0].recovery) throw new Error(`${to.name} is in recovery: the target must be a writable, standalone server`);
          replicating = state.rows[0].subscribed;
        } finally {
          await admin.end().catch(() => undefined);
        }
        const level = await source.query('SHOW wal_level');
        if (level.rows[0].wal_level !== 'logical') throw new Error(`${from.name} has wal_level ${level.rows[0].wal_level}; logical replication needs wal_level = logical (a restart)`);
        const refused = await tablesWithoutReplicaIdentity(source);
        if (refused.length) {
          throw new Error(
            `${refused.length} table(s) on ${from.name} have no primary key or replica identity, so their UPDATE and DELETE cannot replicate: ` +
              `${refused.join(', ')}. Add a primary key, or ALTER TABLE ... REPLICA IDENTITY FULL (every change then ships the whole row)`,
          );
        }
        const tools = copyTools(config);
        host = await findToolHost([to, from], tools, from.version);
        if (!host) throw missingToolsError('logical', tools, from.version, [to, from]);
        const version = await toolVersion(host, 'pg_dump', from.version);
        return (
          `${from.name} (PostgreSQL ${from.version}, wal_level logical) -> ${to.name} (PostgreSQL ${to.version}); ` +
          `every table has a replica identity; pg_dump ${version} on ${host.name}` +
          (replicating ? `; subscription ${SUBSCRIPTION} already in place` : '')
        );
      });

      await steps.run('copy-schema', async () => {
        if (replicating) return `${to.name} already subscribes (an earlier dry run): schema in place`;
        await source!.query(
          `CREATE TABLE IF NOT EXISTS ${MARKER_TABLE} (token uuid PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
        );
        const plan: CopyPlan = { source: from, target: to, host: host!, signal: context.signal };
        const roles = config.globals ? `${await copyGlobals(plan)}; ` : '';
        const dump = await dumpDatabase(plan, { schemaOnly: true });
        await recreateDatabase(to);
        const restore = await restoreDatabase(plan, dump.file);
        return `${roles}pg_dump --schema-only ${seconds(dump.ms)}, pg_restore ${seconds(restore.ms)} (on ${host!.name})`;
      });

      await steps.run('start-replication', async () => {
        const t = await openTarget();
        if (!replicating) {
          const published = await source!.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [PUBLICATION]);
          if (!published.rowCount) await source!.query(`CREATE PUBLICATION ${quoteIdent(PUBLICATION)} FOR ALL TABLES`);
          await t.query(
            `CREATE SUBSCRIPTION ${quoteIdent(SUBSCRIPTION)} CONNECTION ${quoteLiteral(subscriptionConninfo(from, to))}
               PUBLICATION ${quoteIdent(PUBLICATION)}
               WITH (slot_name = ${quoteLiteral(replicationSlotName(to.name))}, copy_data = true)`,
          );
          replicating = true;
        } else {
          await t.query(`ALTER SUBSCRIPTION ${quoteIdent(SUBSCRIPTION)} ENABLE`);
        }
        // the lag monitor samples the subscriber like a standby from now until the cutover
        topology.upstreamOf.set(to.name, from.name);
        return `publication ${PUBLICATION} (FOR ALL TABLES) on ${from.name}; subscription ${SUBSCRIPTION} on ${to.name}, slot ${replicationSlotName(to.name)}`;
      });

      await steps.run('wait-for-sync', async () => {
        const gate = config.syncGate;
        const t = await openTarget();
        const started = performance.now();
        let copiedAfter: number | undefined;
        let tableCount = 0;
        let passes = 0;
        let last = '';
        await waitFor(
          `the initial copy, then lag under ${gate.lagBytes} bytes and ${gate.lagSeconds}s for ${gate.consecutiveChecks} checks`,
          async () => {
            const rel = await t.query<{ pending: number; total: number }>(
              `SELECT count(*) FILTER (WHERE r.srsubstate <> 'r')::int AS pending, count(*)::int AS total
                 FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = $1`,
              [SUBSCRIPTION],
            );
            tableCount = rel.rows[0].total;
            if (rel.rows[0].pending > 0 || tableCount === 0) {
              last = `initial copy: ${rel.rows[0].pending} of ${tableCount} tables not ready`;
              return undefined;
            }
            copiedAfter ??= performance.now() - started;
            // confirmed_flush_lsn: what the subscriber has applied and flushed, as the slot knows it
            const { rows } = await source!.query(
              `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::float8 AS bytes,
                      coalesce(extract(epoch FROM r.replay_lag), 0)::float8 AS seconds
                 FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
                WHERE s.slot_name = $1`,
              [replicationSlotName(to.name)],
            );
            const row = rows[0];
            if (!row) throw new Error(`replication slot ${replicationSlotName(to.name)} is gone from ${from.name}`);
            last = `${Math.round(row.bytes)} bytes, ${row.seconds.toFixed(3)}s behind`;
            passes = row.bytes <= gate.lagBytes && row.seconds <= gate.lagSeconds ? passes + 1 : 0;
            return passes >= gate.consecutiveChecks ? true : undefined;
          },
          { timeout: gate.timeout, interval: 100, signal: context.signal },
        );
        return `initial copy of ${tableCount} tables done after ${seconds(copiedAfter ?? 0)}; caught up: ${last} (${gate.consecutiveChecks} consecutive checks)`;
      });

      if (dryRun) {
        // replication stays up for the real cutover, if the timeline has one, and the monitor
        // keeps sampling its lag until then; otherwise green is standalone again for verify
        // (which waits for a physical standby's replay, not for a subscriber)
        if (!topology.scenario.timeline.some((e) => e.cutover && !e.cutover.dryRun)) topology.upstreamOf.delete(to.name);
        outcome.ok = true;
        return outcome;
      }

      const token = randomUUID();
      let finalLsn = '';
      await pauseEndpoint(steps, context);
      await steps.run('freeze-writes', async () => {
        const { endedSessions } = await freezeWrites(source!, from, endpoint);
        // the one write the frozen source still takes: its last commit, for the apply check
        await source!.query('BEGIN READ WRITE');
        try {
          await source!.query(`INSERT INTO ${MARKER_TABLE} (token) VALUES ($1)`, [token]);
          await source!.query('COMMIT');
        } catch (err) {
          await source!.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
        const frozen = await frozenPosition(source!);
        outcome.oldPrimaryNextXidAtFreeze = frozen.nextXid;
        finalLsn = frozen.lsn;
        return `${freezeDetail(from, endedSessions, endpoint, finalLsn)}; cutover marker written`;
      });

      await steps.run('wait-for-apply', async () => {
        const t = await openTarget();
        const started = performance.now();
        await waitFor(
          `${to.name} to apply ${from.name}'s last commit (LSN ${finalLsn})`,
          async () => ((await t.query(`SELECT 1 FROM ${MARKER_TABLE} WHERE token = $1`, [token])).rowCount ? true : undefined),
          { timeout: config.syncGate.timeout, interval: 5, signal: context.signal },
        );
        return `${to.name} applied everything ${from.name} committed up to ${finalLsn} (marker arrived after ${Math.round(performance.now() - started)}ms)`;
      });

      await steps.run('sync-sequences', async () => {
        if (config.syncSequences === false) return `skipped (syncSequences: false): ${to.name}'s sequences keep the values the schema copy gave them`;
        return syncSequences(source!, await openTarget(), from, to);
      });

      await steps.run('snapshot', async () => {
        // a snapshot pinned now and read after the resume: the fingerprints are of the frozen
        // state, yet hashing the tables does not lengthen the downtime
        pinned = await pinSnapshot(to);
        return `snapshot of ${to.name} pinned at the freeze (fingerprinted after the resume)`;
      });

      await steps.run('stop-replication', async () => {
        await (await openTarget()).query(`ALTER SUBSCRIPTION ${quoteIdent(SUBSCRIPTION)} DISABLE`);
        return `subscription ${SUBSCRIPTION} disabled: ${to.name} takes no more changes from ${from.name}`;
      });

      await steps.run('validate-new-primary', async () => {
        // a write transaction without an insert: whether inserts work depends on the
        // sequences, which have their own step (and with syncSequences: false must be seen failing)
        const check = await openCutoverSession(to);
        try {
          const { rows } = await check.query(
            `SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS ro, current_setting('server_version') AS version`,
          );
          if (rows[0].recovery || rows[0].ro === 'on') throw new Error(`${to.name} does not accept writes`);
          await check.query('BEGIN');
          await check.query('SELECT txid_current()');
          await check.query('ROLLBACK');
          return `${to.name} (PostgreSQL ${rows[0].version}) accepts write transactions`;
        } finally {
          await check.end().catch(() => undefined);
        }
      });

      // the point of no return: from here on the target takes writes the source will never see
      await repointResumeFence(steps, context, source!, from, to, {
        onRepointed: () => {
          repointed = true;
          outcome.promotedAtMs = recorder.now();
          topology.promoted(to.name);
        },
      });
      outcome.ok = true;

      await fingerprintAtFreeze(steps, outcome, pinned!, to);
      await steps
        .run('drop-subscription', async () => {
          // also drops the slot on the old primary, which would otherwise keep its WAL forever
          await (await openTarget()).query(`DROP SUBSCRIPTION ${quoteIdent(SUBSCRIPTION)}`);
          return `subscription and slot ${replicationSlotName(to.name)} dropped; publication ${PUBLICATION} left on the fenced ${from.name}`;
        })
        .catch(() => undefined);
      await analyzeTarget(steps, context).catch(() => undefined);
    } catch (err) {
      outcome.error = errorMessage(err);
      if (!repointed) topology.upstreamOf.delete(to.name);
      await settleFailedCutover(steps, context, outcome, from, repointed, replicating ? () => dropReplication(context) : undefined);
    } finally {
      await Promise.allSettled([source?.end(), target?.end(), pinned?.end()]);
    }
    return outcome;
  },
  requireCopyTools('logical'),
  { afterSeed: logicalAfterSeed },
);

/**
 * Every sequence on the target set from the source's value plus a margin, then checked against
 * the column it feeds: the first insert on the new primary must not collide.
 */
async function syncSequences(source: pg.ClientBase, target: pg.ClientBase, from: RuntimeNode, to: RuntimeNode): Promise<string> {
  const { rows } = await source.query<{ name: string; last: string; increment: string }>(
    `SELECT format('%I.%I', schemaname, sequencename) AS name, last_value::text AS last, increment_by::text AS increment
       FROM pg_sequences WHERE last_value IS NOT NULL ORDER BY 1`,
  );
  for (const seq of rows) {
    await target.query(
      `SELECT setval($1::text::regclass, CASE WHEN $3::bigint > 0 THEN least(max_value, $2::bigint + $3::bigint * $4::int)
                                              ELSE greatest(min_value, $2::bigint + $3::bigint * $4::int) END)
         FROM pg_sequences WHERE format('%I.%I', schemaname, sequencename) = $1::text`,
      [seq.name, seq.last, seq.increment, SEQUENCE_MARGIN],
    );
  }
  const behind = (await sequenceChecks(target)).filter((c) => !c.ok);
  if (behind.length) {
    throw new Error(`sequences still behind their columns on ${to.name}: ${behind.map((c) => `${c.sequence} ${c.lastValue} < max ${c.maxValue}`).join(', ')}`);
  }
  return `${rows.length} sequences set from ${from.name} (+${SEQUENCE_MARGIN} increments); each is past the max of its column on ${to.name}`;
}

/** After a rollback: no subscription left on the target, no publication or slot on the source. */
async function dropReplication(context: StrategyContext): Promise<string> {
  const { topology, config } = context;
  const target = await openCutoverSession(topology.node(config.to));
  try {
    await target.query(`DROP SUBSCRIPTION IF EXISTS ${quoteIdent(SUBSCRIPTION)}`);
  } finally {
    await target.end().catch(() => undefined);
  }
  const source = await openCutoverSession(topology.node(config.from));
  try {
    await source.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(PUBLICATION)}`);
  } finally {
    await source.end().catch(() => undefined);
  }
  return `subscription ${SUBSCRIPTION} and publication ${PUBLICATION} dropped`;
}
