// Turns what a run recorded into results.json: summaries, downtime, lag, thresholds, the
// checks and, once, the verdict composed from them. Only pure functions run here; no server
// is touched, so the same record always gives the same results.

import { packageVersion } from '../util/package-info.js';
import { eventsOf } from '../record/events.js';
import type { Recorder } from '../record/recorder.js';
import type { OpStream } from '../record/records.js';
import type { Scenario } from '../scenario/scenario.js';
import type { Topology } from '../topology/topology.js';
import type { CutoverOutcome } from '../strategies/strategy.js';
import type { Results } from '../results/results.js';
import type { RecordedLoad, StreamTally } from '../checks/op-aggregates.js';
import { evaluateThresholds } from '../checks/thresholds.js';
import { runChecks, type StreamAccounting } from '../checks/run-checks.js';
import { verdictOf } from '../checks/check.js';
import { errorMessage, type PgdrillError } from '../errors.js';
import { appResults } from '../app/app-results.js';
import type { AppFacts } from '../app/app-session.js';
import { patroniResults } from '../patroni/patroni-results.js';
import { redactScenario } from '../scenario/external-fields.js';

export interface AssembleInput {
  runId: string;
  startedAt: Date;
  scenario: Scenario;
  /** the run's record: its events, lag samples, phases and clock (a post-mortem gives these from the logs) */
  recorder: Pick<Recorder, 'events' | 'lag' | 'phases' | 'now'>;
  /** the operations' summaries, built while they were recorded (checks/op-aggregates.ts) */
  recorded: RecordedLoad;
  /**
   * The load's schedule (ms from the start of the run): from its first intended operation to
   * the end of its duration (or when it was stopped). null when it never started.
   */
  loadWindow: { startMs: number; endMs: number } | null;
  cutover?: CutoverOutcome;
  integrity: Results['integrity'];
  topology?: Topology;
  failure?: Error;
  /** the application in the loop, when the scenario has one: what ran, and app.log as written */
  app?: { facts: AppFacts; logText: string };
}

export function assembleResults(input: AssembleInput): Results {
  const { scenario, recorder, recorded, cutover, integrity, failure } = input;
  const loadWindow = input.loadWindow ?? { startMs: 0, endMs: 0 };
  const { workload } = scenario;
  const replayBytes = recorder.lag.map((s) => s.replayBytes).filter((v): v is number => v !== null);
  const replayMs = recorder.lag.map((s) => s.replayLagMs).filter((v): v is number => v !== null);

  const load: Results['load'] = { ...recorded.load };
  // your own statements, each with how it went (the workload counts them as it runs them)
  const scripted = eventsOf(recorder.events, 'workload-scripts')[0];
  if (scripted) load.scripts = scripted.scripts;
  const downtime: Results['downtime'] = recorded.downtime;
  const lag: Results['lag'] = {
    samples: recorder.lag,
    // a loop, not Math.max(...): a long run's samples would overflow the argument list
    maxReplayBytes: replayBytes.length ? replayBytes.reduce((a, b) => Math.max(a, b)) : null,
    maxReplayLagMs: replayMs.length ? replayMs.reduce((a, b) => Math.max(a, b)) : null,
  };
  const cutoverResult: Results['cutover'] =
    cutover && scenario.strategy
      ? {
          strategy: scenario.strategy.kind,
          from: scenario.strategy.from,
          to: scenario.strategy.to,
          dryRun: cutover.dryRun,
          ok: cutover.ok,
          rolledBack: cutover.rolledBack,
          steps: cutover.steps,
        }
      : null;
  const error = failure ? { message: errorMessage(failure), code: (failure as PgdrillError).code ?? 'PGDRILL_RUN_FAILED' } : null;

  const patroni = scenario.patroni ? patroniResults(recorder.events, downtime.writes.windows) : undefined;
  const app = input.app ? appResults(input.app.facts, input.app.logText, recorder.events, input.loadWindow?.startMs ?? null, recorder.now()) : undefined;
  const thresholds = evaluateThresholds(scenario.thresholds, { load, downtime, lag, integrity, app });
  // the scheduler's own count of what it intended, not the number of records: they must agree
  const scheduled = eventsOf(recorder.events, 'workload-end')[0];
  const checks = runChecks({
    scenario,
    error,
    events: recorder.events,
    accounting: [
      accountingOf('write', recorded.accounting.write, workload.writes.rate, scheduled?.writes.intended),
      accountingOf('read', recorded.accounting.read, workload.reads.rate, scheduled?.reads.intended),
      accountingOf('probe', recorded.accounting.probe, workload.probe.interval > 0 ? 1000 / workload.probe.interval : 0, scheduled?.probe.intended),
      ...(scenario.app
        ? [accountingOf('app', recorded.accounting.app, scenario.app.load.rate, eventsOf(recorder.events, 'app-load-end')[0]?.app.intended)]
        : []),
    ],
    loadMs: input.loadWindow ? loadWindow.endMs - loadWindow.startMs : null,
    loadWindow: input.loadWindow,
    downtime,
    load,
    cutover: cutoverResult,
    integrity,
    thresholds,
    app,
    patroni,
  });

  return {
    pgdrillVersion: packageVersion(),
    runId: input.runId,
    verdict: verdictOf(checks),
    checks,
    startedAt: input.startedAt.toISOString(),
    durationMs: Math.round(recorder.now()),
    runtime: scenario.runtime,
    // runtime external: node and endpoint URLs with their passwords masked
    scenario: redactScenario(scenario),
    nodes: Object.values(scenario.nodes).map((n) => ({
      name: n.name,
      version: n.version,
      role: n.replicaOf ? `standby of ${n.replicaOf}` : 'primary',
      binaries: eventsOf(recorder.events, 'node-binaries').find((e) => e.node === n.name)?.source ?? '',
    })),
    phases: [...recorder.phases].sort((a, b) => a.startMs - b.startMs),
    events: recorder.events,
    load,
    downtime,
    lag,
    integrity,
    cutover: cutoverResult,
    thresholds,
    ...(app ? { app } : {}),
    ...endpointResults(recorder),
    ...(patroni ? { patroni } : {}),
    error,
  };
}

/** The endpoint as its events recorded it; nothing when it never started. */
function endpointResults(recorder: Pick<Recorder, 'events'>): Pick<Results, 'endpoint'> {
  const ready = eventsOf(recorder.events, 'endpoint-ready')[0];
  if (!ready) return {};
  const serverStates = eventsOf(recorder.events, 'endpoint-server-state').map(({ t, backend, server, state, previous, check }) => ({ t, backend, server, state, previous, check }));
  return { endpoint: { kind: ready.endpoint ?? 'proxy', origin: ready.origin ?? 'pgdrill TCP proxy', address: ready.address, serverStates } };
}

/**
 * The stream's accounting from the record itself: `intended` is what the scheduler says it
 * intended (from the workload's own count when it reported one), `recorded` how many records
 * there are, `duplicates` ids seen twice.
 */
function accountingOf(stream: OpStream, tally: StreamTally, rate: number, intended: number | undefined): StreamAccounting {
  const accounting: StreamAccounting = { stream, rate, intended: intended ?? tally.recorded, recorded: tally.recorded, duplicates: tally.duplicates };
  // recorded ops but no count from the scheduler: those in flight when the load broke off are not in the record
  if (intended === undefined && tally.recorded > 0) {
    accounting.unknown = `${tally.recorded} recorded, but the scheduler never reported how many it intended (the load did not finish), so operations in flight may be missing`;
  }
  return accounting;
}
