// One run of a scenario: set up the servers, seed, sync, drive the load while the
// timeline injects faults and runs the cutover, verify, tear down, write results.json.
// One AbortController per run; teardown always runs, in a fixed order, collecting every
// failure: stop load, heal faults, close the endpoint, stop the monitor, stop the nodes and
// remove their data.

import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { sleepUnlessAborted } from '../util/sleep.js';
import path from 'node:path';
import { EVENTS_FILE, OPERATIONS_FILE, Recorder } from '../record/recorder.js';
import type { RunEvent } from '../record/events.js';
import { createRuntime } from '../runtime/create-runtime.js';
import type { NodeCredentials, Runtime } from '../runtime/runtime.js';
import { initialPrimary, type RuntimeKind, type Scenario } from '../scenario/scenario.js';
import { buildTopology, type Topology } from '../topology/topology.js';
import { DATABASE, connectNode, waitFor, withNode } from '../topology/connect.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import { createEndpoint, preflightEndpoint } from '../endpoint/create-endpoint.js';
import { runSeedPhase } from '../seed/run-seed.js';
import { seedFileProblems } from '../seed/seed-files.js';
import type { CheckedScripts } from '../workload/script-check.js';
import { LagMonitor } from '../monitor/lag-monitor.js';
import { startWorkload, type WorkloadHandle } from '../workload/workload.js';
import { SUPPORTED_FAULTS, runFault } from '../faults/run-fault.js';
import type { ActiveFault } from '../faults/fault.js';
import { strategyFor, supportedStrategies } from '../strategies/index.js';
import type { CutoverOutcome } from '../strategies/strategy.js';
import { verifyIntegrity } from './verify.js';
import { runTimelineStep, stepBaseDir, type StepContext } from '../steps/index.js';
import { AppSession } from '../app/app-session.js';
import { assembleResults } from './assemble-results.js';
import { unsupportedEndpoint } from '../scenario/endpoint-rules.js';
import { OpAggregates } from '../checks/op-aggregates.js';
import { ledgerSourceFromFile } from '../checks/ledger-stream.js';
import { aggregationOptions, recordedLoad } from './load-record.js';
import hdr from 'hdr-histogram-js';
import type { Results } from '../results/results.js';
import { writeReports } from '../report/write-reports.js';
import { startReaper } from '../runtime/reaper/start-reaper.js';
import { RUN_FILE, writeRunFile } from './run-file.js';
import type { ReaperRegistry } from '../runtime/reaper/reaper-registry.js';
import { InterruptedError, InvalidInputError, PgdrillError, errorMessage } from '../errors.js';
import { dropBookkeeping, endpointUrlFor, externalCredentials, externalLogin, isExternal, runExternalSeed } from './external-run.js';

export interface RunOptions {
  /** overrides scenario.runtime */
  runtime?: RuntimeKind;
  /** the run folder; default reports/<name>-<timestamp> under the current directory */
  out?: string;
  /** leave data dirs (and containers) for inspection */
  keep?: boolean;
  /** aborting it stops the run and cleans up (Ctrl-C) */
  signal?: AbortSignal;
  /** called with every timeline event and once a second with live figures */
  onEvent?: (event: RunEvent) => void;
  onTick?: (tick: RunTick) => void;
  /**
   * Called after the load, before verification, with the run's servers. For tests and
   * experiments that tamper with the final state (e.g. delete acknowledged rows to prove
   * that the ledger check catches a loss).
   */
  beforeVerify?: (context: { topology: Topology }) => Promise<void>;
  /**
   * Called after the seed, before the sync and the load, with the run's servers. For tests
   * that shape the starting state (e.g. add a table without a primary key).
   */
  afterSeed?: (context: { topology: Topology }) => Promise<void>;
}

export interface RunTick {
  elapsedMs: number;
  phase: string;
  /** writes recorded so far, by outcome */
  writes: { ok: number; failed: number; indeterminate: number; dropped: number };
  /** the app's requests so far, when the scenario has an app load */
  app?: { ok: number; failed: number; indeterminate: number; dropped: number };
  /** writes recorded since the previous tick (about a second), by outcome */
  lastSecond: { ok: number; failed: number; indeterminate: number; dropped: number };
  p99Ms: number | null;
  lag: { node: string; replayBytes: number | null }[];
}

export interface RunResult {
  results: Results;
  folder: string;
  exitCode: number;
}

export async function runScenario(scenario: Scenario, options: RunOptions = {}): Promise<RunResult> {
  const runtimeKind = options.runtime ?? scenario.runtime;
  const resolved: Scenario = { ...scenario, runtime: runtimeKind };
  refuseUnsupported(resolved);

  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-').replace('Z', '');
  // short: the run id names the run folder, which holds unix sockets (path limit ~107 chars)
  const runId = `${scenario.name.slice(0, 24)}-${stamp.replace(/-/g, '').slice(0, 15)}-${randomBytes(2).toString('hex')}`;
  const folder = path.resolve(options.out ?? path.join('reports', `${scenario.name}-${stamp}`));
  refuseUsedFolder(folder);
  await mkdir(folder, { recursive: true });

  writeRunFile(folder, { runId, startedAt, scenario: resolved });
  const recorder = new Recorder(folder);
  // the reaper outlives a kill -9 of this process and removes what the run started
  const reaper = startReaper({ folder, t0EpochMs: recorder.epochMs(0), keep: options.keep });
  const stopListening = options.onEvent ? recorder.onEvent(options.onEvent) : () => undefined;
  const controller = new AbortController();
  // every timeline entry waiting for its time, every monitor and fault sleeping, listens on this
  // signal until it is done: a scenario with a dozen entries is not a leak, and Node's warning
  // about 11 listeners would only alarm whoever reads the terminal
  setMaxListeners(0, controller.signal);
  const onAbort = () => controller.abort(new InterruptedError());
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const signal = controller.signal;

  const credentials: NodeCredentials = {
    superuser: 'pgdrill',
    superuserPassword: randomBytes(12).toString('base64url'),
    replicationUser: 'replicator',
    replicationPassword: randomBytes(12).toString('base64url'),
  };
  const primaryName = initialPrimary(resolved).name;
  const state: RunState = { phase: 'setup', faults: new Set() };
  let runtime: Runtime | undefined;
  let topology: Topology | undefined;
  let endpoint: Endpoint | undefined;
  let monitor: LagMonitor | undefined;
  let workload: WorkloadHandle | undefined;
  let app: AppSession | undefined;
  let cutover: CutoverOutcome | undefined;
  let integrity: Results['integrity'] = null;
  let failure: PgdrillError | Error | undefined;
  let loadWindow: { startMs: number; endMs: number } | null = null;
  /** runtime external: this run created the bookkeeping schema, so it drops it at the end */
  let ownsBookkeeping = false;
  // every operation goes into the run's aggregates (and operations.jsonl), never into a list
  let aggregates: OpAggregates | undefined;
  const stopAggregating = recorder.onOp((op) => (aggregates ??= new OpAggregates(aggregationOptions(resolved, 0))).add(op));
  recorder.event('run-start', { scenario: scenario.name, runtime: runtimeKind, runId, folder });
  if (reaper.pid !== undefined) recorder.event('reaper-started', { pid: reaper.pid, registry: reaper.registry.file! });
  else recorder.event('reaper-unavailable', { reason: reaper.problem ?? 'unknown' });

  try {
    runtime = createRuntime(runtimeKind, { runId, credentials, scenario: scenario.name, reaper: reaper.registry, nodes: resolved.nodes, scenarioDir: stepBaseDir(resolved) });
    const rt = runtime;
    await recorder.phase('setup', async () => {
      state.phase = 'setup';
      await rt.preflight(Object.values(resolved.nodes).map((n) => ({ name: n.name, version: n.version, image: n.image })), signal);
      await preflightEndpoint(resolved, rt);
      topology = await buildTopology(resolved, rt, recorder, primaryName, signal, folder);
      // servers pgdrill did not start: the run logs in as their URLs say
      if (isExternal(resolved)) Object.assign(credentials, externalCredentials(topology.primary));
      // what the cutover needs from the environment (client tools...), before seed and load
      const strategy = resolved.strategy && strategyFor(resolved.strategy.kind);
      if (strategy && (strategy.trigger === 'watch' || resolved.timeline.some((e) => e.cutover))) {
        await strategy.preflight?.({ config: resolved.strategy!, topology, signal });
      }
    });
    const topo = topology!;

    let scripts: CheckedScripts | undefined;
    await recorder.phase('seed', async () => {
      state.phase = 'seed';
      if (isExternal(resolved)) {
        const seeded = await runExternalSeed({ scenario: resolved, primary: topo.primary, recorder, signal });
        scripts = seeded.scripts;
        ownsBookkeeping = seeded.createdBookkeeping;
      } else {
        scripts = await runSeedPhase({ scenario: resolved, primary: topo.primary, recorder, signal });
      }
      // what the cutover needs from the seeded schema (logical: a key on every table), before the load
      if (resolved.strategy && resolved.timeline.some((e) => e.cutover)) {
        await strategyFor(resolved.strategy.kind)?.afterSeed?.({ config: resolved.strategy, topology: topo, signal });
      }
    });
    await options.afterSeed?.({ topology: topo });

    await recorder.phase('sync', async () => {
      state.phase = 'sync';
      await waitReplicasCaughtUp(topo, 120_000, signal);
    });

    endpoint = await createEndpoint({ scenario: resolved, topology: topo, runtime: runtime!, credentials, recorder, signal, logDir: folder });
    const ep = endpoint;
    recorder.event('endpoint-ready', { address: ep.address, target: topo.primary.name, endpoint: ep.kind, origin: ep.origin });
    // the one URL clients outside the load use (command steps' PGDRILL_ENDPOINT_URL, the app's
    // DATABASE_URL): the endpoint with the run's superuser
    const endpointUrl = isExternal(resolved) ? endpointUrlFor(ep, topo.primary) : ep.url(credentials.superuser, credentials.superuserPassword, DATABASE);
    monitor = new LagMonitor(topo, recorder, resolved.monitor.interval);
    monitor.start();
    if (resolved.app) {
      app = new AppSession({ config: resolved.app, databaseUrl: endpointUrl, baseDir: stepBaseDir(resolved), folder, recorder, signal, reaper: reaper.registry });
      await app.start();
    }

    await recorder.phase('load', async () => {
      state.phase = 'load';
      workload = startWorkload({
        target: ep.writes.address(),
        routes: { writes: ep.writes, reads: ep.reads },
        // with tls the workload connects as the scenario's sslmode says, with a client certificate
        credentials: isExternal(resolved)
          ? externalLogin(topo.primary, ep)
          : { user: credentials.superuser, password: credentials.superuserPassword, database: DATABASE, ...(topo.tls ? { ssl: topo.tls.clientSsl() } : {}) },
        config: resolved.workload,
        seed: resolved.seed,
        recorder,
        signal,
        durationMs: resolved.duration,
        scripts,
        // a broken statement stops the run (exit 3) instead of failing every operation
        onBroken: (error) => controller.abort(error),
      });
      workload.once('start', ({ startMs }) => {
        aggregates ??= new OpAggregates(aggregationOptions(resolved, startMs));
      });
      const tickTimer = startTicks(options, recorder, state, monitor!);
      // timeline times count from the load's first intended operation, as ops do (the
      // connections are warmed up before it)
      const started = new Promise<number>((resolve) => workload!.once('start', ({ startMs }) => resolve(startMs)));
      // the app's requests are intended on the same clock as the database load's operations
      workload.once('start', ({ startMs }) => app?.startLoad(startMs, resolved.duration, () => workload!.nextOperationId()));
      const timeline = Promise.race([started, workload.done.then(() => undefined, () => undefined)]).then((startMs) =>
        startMs === undefined ? undefined : runTimeline(resolved, topo, endpoint!, recorder, state, signal, startMs, endpointUrl, reaper.registry),
      ).then((o) => {
        cutover = o;
      });
      try {
        const summary = await workload.done;
        loadWindow = { startMs: summary.startMs, endMs: Math.min(summary.endMs, summary.startMs + resolved.duration) };
        await app?.loadDone();
        await timeline;
      } finally {
        tickTimer.stop();
      }
      signal.throwIfAborted();
    });

    // faults whose `for` outlived the load are healed before anything is verified
    await healAll(state.faults);
    await monitor.stop();
    // the app's checks when no cutover ran them; then it is stopped before anything is verified
    await app?.finish();

    await options.beforeVerify?.({ topology: topo });
    await recorder.phase('verify', async () => {
      state.phase = 'verify';
      recorder.flush();
      const ledger = ledgerSourceFromFile(recorder.operationsFile!, aggregates?.ledgerOps ?? 0, recorder.operationsFileError);
      integrity = await verifyIntegrity({ scenario: resolved, topology: topo, recorder, ledger, cutover, signal });
    });
  } catch (err) {
    failure = signal.aborted ? (signal.reason as Error) : (err as Error);
    recorder.event('error', { message: errorMessage(failure), code: (failure as PgdrillError).code ?? 'PGDRILL_RUN_FAILED' });
  } finally {
    await recorder.phase('teardown', async () => {
      state.phase = 'teardown';
      const problems = await teardown([
        ['stop load', async () => workload?.stop()],
        ['stop app', async () => app?.stop()],
        ['heal faults', async () => healAll(state.faults)],
        // replication link proxies belong to the topology, made at setup (data volumes go with the runtime)
        ['close replication links', async () => topology?.release()],
        ['close endpoint', async () => endpoint?.close()],
        ['stop monitor', async () => monitor?.stop()],
        // runtime external: pgdrill's own schema goes, nothing else of the user's is touched
        ['drop bookkeeping schema', async () => (ownsBookkeeping && topology ? dropBookkeeping(topology, recorder, { keep: options.keep }) : undefined)],
        ['stop nodes and remove data', async () => runtime?.dispose({ keep: options.keep })],
      ]);
      for (const p of problems) recorder.event('teardown-failed', p);
    });
    // torn down: the reaper has nothing left to guard
    reaper.release();
    options.signal?.removeEventListener('abort', onAbort);
    stopListening();
    stopAggregating();
  }

  recorder.flush();
  const recorded = await recordedLoad({
    scenario: resolved,
    aggregates,
    loadWindow,
    operationsFile: recorder.operationsFileError ? undefined : recorder.operationsFile,
  });
  const results = assembleResults({
    runId,
    startedAt,
    scenario: resolved,
    recorder,
    recorded,
    loadWindow,
    cutover,
    integrity,
    topology,
    failure,
    app: app ? { facts: app.facts(), logText: await app.logText() } : undefined,
  });
  await writeFile(path.join(folder, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  await recorder.close();
  // every other output is rendered from results.json; a reporter that fails (a missing
  // canvas binary, say) is reported but does not change what the run measured
  const { failures } = await writeReports(results, folder);
  for (const f of failures) options.onEvent?.({ t: recorder.now(), kind: 'report-failed', ...f });
  return { results, folder, exitCode: exitCodeFor(results, failure) };
}

/** Whether the scenario's nodes are given by url (written for runtime external). */
function isExternalFile(scenario: Scenario): boolean {
  return Object.values(scenario.nodes).some((n) => n.url !== undefined);
}

interface RunState {
  phase: string;
  faults: Set<ActiveFault>;
}

export function exitCodeFor(results: Results, failure?: Error): number {
  if (failure instanceof PgdrillError) return failure.exitCode;
  if (failure) return 1;
  return results.verdict === 'pass' ? 0 : 1;
}

/** Refuses, before anything starts, what this version cannot run yet (exit 2). */
function refuseUnsupported(scenario: Scenario): void {
  const problems = [];
  if ((scenario.runtime === 'external') !== isExternalFile(scenario)) {
    problems.push({
      path: 'runtime',
      message: isExternalFile(scenario)
        ? `the nodes are servers pgdrill does not start (given by url): they run on runtime external only, not ${scenario.runtime}; drop --runtime`
        : 'runtime external needs nodes given by url (servers pgdrill does not start); this scenario\'s nodes are pgdrill\'s own: drop --runtime external',
    });
  }
  for (const [i, entry] of scenario.timeline.entries()) {
    if (entry.fault && !SUPPORTED_FAULTS.includes(entry.fault.kind)) {
      problems.push({
        path: `timeline[${i}].fault.kind`,
        message: `"${entry.fault.kind}" faults are not implemented yet; supported now: ${SUPPORTED_FAULTS.join(', ')}`,
      });
    }
  }
  problems.push(...unsupportedEndpoint(scenario));
  if (scenario.patroni && scenario.runtime !== 'local') {
    problems.push({
      path: 'runtime',
      message:
        `Patroni members run on the local runtime only: on ${scenario.runtime} each container would need patroni and etcd in its image and the DCS on the run's network, ` +
        'which pgdrill does not set up yet; use --runtime local (Debian\'s patroni and etcd-server as processes of the run)',
    });
  }
  problems.push(...seedFileProblems(scenario));
  if (scenario.strategy && !strategyFor(scenario.strategy.kind)) {
    problems.push({
      path: 'strategy.kind',
      message: `strategy "${scenario.strategy.kind}" is not implemented yet; supported now: ${supportedStrategies().join(', ')}`,
    });
  }
  if (problems.length) throw new InvalidInputError(problems);
}

/**
 * A run appends its records to events.jsonl and operations.jsonl: in a folder that holds an
 * earlier run's, the two would mix (the ledger check then finds twice the writes and says
 * unknown, the post-mortem reads two runs as one). The earlier run's evidence is not
 * overwritten either: refused before anything starts.
 */
function refuseUsedFolder(folder: string): void {
  const earlier = [RUN_FILE, EVENTS_FILE, OPERATIONS_FILE, 'results.json'].filter((f) => existsSync(path.join(folder, f)));
  if (earlier.length === 0) return;
  throw new InvalidInputError(
    [{ path: '--out', message: `${folder} already holds a run (${earlier.join(', ')}); give a new folder, or remove that one first` }],
    'the output folder',
  );
}

async function runTimeline(
  scenario: Scenario,
  topology: Topology,
  endpoint: Endpoint,
  recorder: Recorder,
  state: RunState,
  signal: AbortSignal,
  loadStartMs: number,
  endpointUrl: string,
  reaper: ReaperRegistry,
): Promise<CutoverOutcome | undefined> {
  let outcome: CutoverOutcome | undefined;
  const faultContext = { topology, endpoint, recorder, signal };
  const stepContext: StepContext = {
    nodes: (name) => topology.node(name),
    nodeNames: [...topology.nodes.keys()],
    endpointUrl,
    baseDir: stepBaseDir(scenario),
    recorder,
    signal,
    reaper,
  };
  const tasks = scenario.timeline.map(async (entry, index) => {
    // cutover entries are the strategy's own: it is armed with them below
    if (entry.cutover) return;
    const wait = loadStartMs + entry.at - recorder.now();
    if (wait > 0) await sleepUnlessAborted(wait, signal);
    if (signal.aborted) return;
    if (entry.sql || entry.command) {
      await runTimelineStep(entry, index, stepContext);
    } else if (entry.fault) {
      const target = entry.fault.node !== undefined ? { node: entry.fault.node } : { link: entry.fault.link };
      await runFault(entry.fault, faultContext, state.faults, { plannedAtMs: loadStartMs + entry.at }).catch((err) =>
        recorder.event('fault-failed', { fault: entry.fault!.kind, ...target, error: errorMessage(err) }),
      );
    }
  });
  // the strategy, planned, unplanned or managed, is armed for the whole load: a planned one
  // acts on its cutover entries, an unplanned one watches until the load ends
  const strategy = scenario.strategy && strategyFor(scenario.strategy.kind);
  if (strategy && scenario.strategy) {
    const cutovers = scenario.timeline.flatMap((e) => (e.cutover ? [{ at: e.at, dryRun: e.cutover.dryRun }] : []));
    const context = { config: scenario.strategy, topology, endpoint, recorder, signal, loadStartMs, untilMs: loadStartMs + scenario.duration, cutovers };
    tasks.push(
      strategy.arm(context).then((result) => {
        outcome = result;
      }),
    );
  }
  await Promise.all(tasks);
  return outcome;
}

/** Every replica has replayed what its primary has written so far. */
async function waitReplicasCaughtUp(topology: Topology, timeout: number, signal: AbortSignal): Promise<void> {
  const replicas = topology.replicasOf();
  if (replicas.length === 0) return;
  const client = await connectNode(topology.primary, { database: 'postgres' });
  try {
    const { rows } = await client.query('SELECT pg_current_wal_lsn()::text AS lsn');
    const target = rows[0].lsn as string;
    for (const replica of replicas) {
      await withNode(
        replica,
        (rc) =>
          waitFor(
            `${replica.name} to replay ${target}`,
            async () => {
              const r = await rc.query('SELECT pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()) <= 0 AS done', [target]);
              return r.rows[0].done ? true : undefined;
            },
            { timeout, interval: 50, signal },
          ),
        { database: 'postgres' },
      );
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function healAll(faults: Set<ActiveFault>): Promise<void> {
  const all = [...faults];
  faults.clear();
  await Promise.allSettled(all.map((f) => f.heal()));
}

/** Runs every step in order even when one fails; a step stuck for 60 s is named and skipped. */
async function teardown(steps: [string, () => Promise<unknown>][]): Promise<{ step: string; error: string }[]> {
  const problems: { step: string; error: string }[] = [];
  for (const [name, step] of steps) {
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`teardown step "${name}" is stuck after 60s`)), 60_000);
    });
    try {
      await Promise.race([step(), watchdog]);
    } catch (err) {
      problems.push({ step: name, error: errorMessage(err) });
    } finally {
      clearTimeout(timer);
    }
  }
  return problems;
}

/** Live figures once a second: write outcomes (so far and in the last second), the last second's p99, lag per replica. */
function startTicks(options: RunOptions, recorder: Recorder, state: RunState, monitor: LagMonitor) {
  const counts = { ok: 0, failed: 0, indeterminate: 0, dropped: 0 };
  const app = { ok: 0, failed: 0, indeterminate: 0, dropped: 0 };
  let second = { ...counts };
  const latency = hdr.build({ numberOfSignificantValueDigits: 2 });
  const stop = options.onTick
    ? recorder.onOp((op) => {
        if (op.stream === 'app') app[op.outcome]++;
        if (op.stream !== 'write') return;
        counts[op.outcome]++;
        second[op.outcome]++;
        if (op.outcome === 'ok') latency.recordValue(Math.max(1, Math.round((op.endMs - op.intendedMs) * 1000)));
      })
    : () => undefined;
  const timer = setInterval(() => {
    if (!options.onTick) return;
    const tick: RunTick = {
      elapsedMs: recorder.now(),
      phase: state.phase,
      writes: { ...counts },
      lastSecond: second,
      ...(app.ok + app.failed + app.indeterminate + app.dropped > 0 ? { app: { ...app } } : {}),
      p99Ms: latency.totalCount > 0 ? latency.getValueAtPercentile(99) / 1000 : null,
      lag: [...monitor.latest.values()].map((s) => ({ node: s.node, replayBytes: s.replayBytes })),
    };
    second = { ok: 0, failed: 0, indeterminate: 0, dropped: 0 };
    latency.reset();
    options.onTick(tick);
  }, 1000);
  return {
    stop() {
      clearInterval(timer);
      stop();
    },
  };
}
