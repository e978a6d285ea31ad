// Blue/green upgrade by dump and restore, as the change request for a major upgrade reads:
// prerequisites -> initial sync (dump + restore while blue takes writes: it rehearses the copy
// and times it) -> green emptied for the final copy -> freeze writes -> final sync (dump and
// restore again, of the frozen data; directory format with parallel jobs) ->
// validate (row counts of every table, sequences, roles and grants) -> pin a snapshot ->
// validate green -> re-point the endpoint -> resume -> (once clients' first writes are served)
// prove blue's fence -> fingerprint the pinned snapshot (rows and content hashes, compared
// with blue by verify) -> analyze.
//
// The final sync copies the whole database inside the freeze, so downtime grows with the data;
// that is the price of this strategy's simplicity. Until the endpoint moves, blue holds
// every write: any failure before then rolls back to it, untouched.

import type pg from 'pg';
import type { StagedFile } from '../runtime/runtime.js';
import { listUserTables } from '../checks/integrity.js';
import { byCodeUnits } from '../checks/user-objects.js';
import { errorMessage } from '../errors.js';
import { formatBytes } from '../util/units.js';
import { StepRunner } from './step-runner.js';
import { copyTools, findToolHost, missingToolsError, requireCopyTools, seconds, toolVersion } from './client-tools.js';
import {
  freezeDetail,
  freezeWrites,
  pauseEndpoint,
  frozenPosition,
  openCutoverSession,
  probeWrite,
  repointResumeFence,
  settleFailedCutover,
} from './freeze.js';
import {
  copyGlobals,
  databaseSize,
  dumpDatabase,
  globalsAndGrants,
  lineDifferences,
  recreateDatabase,
  restoreDatabase,
  sequenceDifferences,
  sequenceValues,
  copyJobsFor,
  prepareDumpDirectory,
  type CopyPlan,
} from './pg-copy.js';
import { fingerprintAtFreeze, pinSnapshot, rowCounts } from './snapshot.js';
import type { CutoverOutcome, StrategyContext } from './strategy.js';
import { plannedStrategy } from './planned.js';


export const dumpRestoreStrategy = plannedStrategy(
  'dump-restore',
  async (context, { dryRun }) => {
    const { config, topology, endpoint, recorder } = context;
    const from = topology.node(config.from);
    const to = topology.node(config.to);
    const steps = new StepRunner(recorder);
    const outcome: CutoverOutcome = { ok: false, dryRun, rolledBack: false, steps: steps.steps };
    let source: pg.Client | undefined;
    let pinned: pg.Client | undefined;
    let plan: CopyPlan | undefined;
    let repointed = false;

    // strategy.jobs, or by the database's size (prerequisites): 1 = custom format, one process each
    let jobs = config.jobs ?? 1;
    let finalDir: StagedFile | undefined;
    /**
     * One full copy into `dir`: the dump (parallel), the roles (when asked) and, when `fresh`,
     * green's empty database at the same time, as none needs another (roles are the
     * cluster's, replayed on database postgres); then the restore (parallel), which needs all.
     */
    const copy = async (dir: StagedFile | undefined, fresh: boolean): Promise<string> => {
      const settled = await Promise.allSettled([
        dumpDatabase(plan!, dir ? { parallel: { jobs, dir } } : {}),
        config.globals ? timed(() => copyGlobals(plan!)) : Promise.resolve(undefined),
        fresh ? timed(() => recreateDatabase(to)) : Promise.resolve(undefined),
      ]);
      // every part has finished before a failure is reported: nothing keeps running behind a rollback
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const [dump, roles, emptied] = settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [
        Awaited<ReturnType<typeof dumpDatabase>>,
        Timed<string> | undefined,
        Timed<void> | undefined,
      ];
      const restore = await restoreDatabase(plan!, dump.file, jobs);
      const alongside = [roles && `${roles.value} ${seconds(roles.ms)}`, emptied && `fresh database ${seconds(emptied.ms)}`].filter(Boolean);
      return (
        `pg_dump ${dir ? `-Fd -j ${jobs}` : '-Fc'} ${seconds(dump.ms)}${alongside.length ? ` (meanwhile ${alongside.join(', ')})` : ''}, ` +
        `pg_restore${dir ? ` -j ${jobs}` : ''} ${seconds(restore.ms)} (on ${plan!.host.name})`
      );
    };

    try {
      await steps.run('prerequisites', async () => {
        source = await openCutoverSession(from, { queryTimeout: 600_000 });
        const target = await openCutoverSession(to, { database: 'postgres' });
        try {
          const { rows } = await target.query('SELECT pg_is_in_recovery() AS r');
          if (rows[0].r) throw new Error(`${to.name} is in recovery: green must be a writable, standalone server`);
        } finally {
          await target.end().catch(() => undefined);
        }
        const tools = copyTools(config);
        const host = await findToolHost([to, from], tools, from.version);
        if (!host) throw missingToolsError('dump-restore', tools, from.version, [to, from]);
        plan = { source: from, target: to, host, signal: context.signal };
        const size = await databaseSize(source);
        jobs = config.jobs ?? copyJobsFor(size);
        const version = await toolVersion(host, 'pg_dump', from.version);
        return (
          `${from.name} (PostgreSQL ${from.version}, database ${formatBytes(size)}) -> ${to.name} (PostgreSQL ${to.version}); ` +
          `pg_dump/pg_restore ${version} on ${host.name}${config.globals ? '; roles and grants included' : ''}`
        );
      });

      // blue keeps taking writes meanwhile: this copy rehearses the final one and times it
      await steps.run('initial-sync', async () => {
        const dir = jobs > 1 ? await prepareDumpDirectory(plan!.host, 'pgdrill-initial-sync.dump') : undefined;
        try {
          return `${await copy(dir, true)}; ${from.name} took writes throughout`;
        } finally {
          await dir?.remove().catch(() => undefined);
        }
      });

      if (dryRun) {
        outcome.ok = true;
        return outcome;
      }

      // what the final sync needs besides the copy is done before the freeze: green's empty
      // database (dropping the rehearsal's copy takes a while) and the dump's directory
      await steps.run('prepare-final-sync', async () => {
        const [dir, emptied] = await Promise.all([
          jobs > 1 ? prepareDumpDirectory(plan!.host, 'pgdrill-final-sync.dump') : undefined,
          timed(() => recreateDatabase(to)),
        ]);
        finalDir = dir;
        return (
          `${to.name}'s database dropped and created empty (${seconds(emptied.ms)})${dir ? `, the dump's directory made on ${plan!.host.name}` : ''}; ` +
          `${from.name} still takes writes`
        );
      });
      await pauseEndpoint(steps, context);
      await steps.run('freeze-writes', async () => {
        const { endedSessions } = await freezeWrites(source!, from, endpoint);
        const frozen = await frozenPosition(source!);
        outcome.oldPrimaryNextXidAtFreeze = frozen.nextXid;
        return freezeDetail(from, endedSessions, endpoint, frozen.lsn);
      });

      await steps.run('final-sync', async () => `${await copy(finalDir, false)} of the frozen database`);

      await steps.run('validate', async () => {
        const target = await openCutoverSession(to, { queryTimeout: 600_000 });
        try {
          // row counts on both sides at once, as a runbook checks inside the freeze; content
          // hashes come from the snapshot pinned below, after the resume, so that pgdrill's own
          // checking does not count as the strategy's downtime
          // every user table of either side: one only on green (or only on blue) differs too
          const listed = await Promise.all([listUserTables(source!), listUserTables(target)]);
          const tables = [...new Set(listed.flat().map((x) => x.table))].sort(byCodeUnits);
          const [s, t] = await Promise.all([rowCounts(source!, tables), rowCounts(target, tables)]);
          const bad = tables.filter((x) => s.get(x) !== t.get(x)).map((x) => `${x} (${s.get(x)} vs ${t.get(x)} rows)`);
          if (bad.length) throw new Error(`${bad.length} table(s) differ on ${to.name}: ${bad.join(', ')}`);
          const seqDiff = sequenceDifferences(await sequenceValues(source!), await sequenceValues(target));
          if (seqDiff.length) throw new Error(`sequences differ on ${to.name}: ${seqDiff.join(', ')}`);
          let roles = '';
          if (config.globals) {
            const diff = lineDifferences(await globalsAndGrants(source!), await globalsAndGrants(target), { source: from.name, target: to.name });
            if (diff.length) throw new Error(`roles or grants differ: ${diff.slice(0, 5).join('; ')}`);
            roles = '; roles, memberships and grants match';
          }
          const rows = [...t.values()].reduce<number>((sum, n) => sum + (n ?? 0), 0);
          return `${tables.length} tables hold the same row counts (${rows} rows); sequences equal${roles}`;
        } finally {
          await target.end().catch(() => undefined);
        }
      });

      await steps.run('snapshot', async () => {
        pinned = await pinSnapshot(to);
        return `snapshot of ${to.name} pinned at the freeze (fingerprinted after the resume)`;
      });

      await steps.run('validate-new-primary', async () => {
        const target = await openCutoverSession(to);
        try {
          const { rows } = await target.query('SELECT pg_is_in_recovery() AS recovery, current_setting($1) AS version', ['server_version']);
          if (rows[0].recovery) throw new Error(`${to.name} is in recovery`);
          // a transaction that writes, on a fresh session as clients will have
          await probeWrite(to);
          return `${to.name} (PostgreSQL ${rows[0].version}) accepts writes`;
        } finally {
          await target.end().catch(() => undefined);
        }
      });

      // the point of no return: from here on green takes writes blue will never see
      await repointResumeFence(steps, context, source!, from, to, {
        onRepointed: () => {
          repointed = true;
          outcome.promotedAtMs = recorder.now();
          topology.promoted(to.name);
        },
      });

      outcome.ok = true;

      await fingerprintAtFreeze(steps, outcome, pinned!, to);
      await analyzeTarget(steps, context).catch(() => undefined);
    } catch (err) {
      outcome.error = errorMessage(err);
      await settleFailedCutover(steps, context, outcome, from, repointed);
    } finally {
      await Promise.allSettled([source?.end(), pinned?.end(), finalDir?.remove()]);
    }
    return outcome;
  },
  requireCopyTools('dump-restore'),
);

interface Timed<T> {
  value: T;
  ms: number;
}

async function timed<T>(work: () => Promise<T>): Promise<Timed<T>> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

/**
 * A restore (or a logical copy) leaves the planner no statistics: the first queries on the new
 * primary can pick bad plans until autovacuum gets there. After the resume, so it is not downtime.
 */
export async function analyzeTarget(steps: StepRunner, context: StrategyContext): Promise<void> {
  const to = context.topology.node(context.config.to);
  await steps.run('analyze', async () => {
    const client = await openCutoverSession(to, { queryTimeout: 600_000 });
    try {
      const started = performance.now();
      await client.query('ANALYZE');
      return `planner statistics gathered on ${to.name} in ${seconds(performance.now() - started)}`;
    } finally {
      await client.end().catch(() => undefined);
    }
  });
}
