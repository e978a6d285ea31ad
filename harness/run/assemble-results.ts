// Turns what a run recorded into results.json: summaries, downtime, lag, thresholds and
// the verdict. Only the pure checks run here; no server is touched.

import { packageVersion } from '../util/package-info.js';
import { eventsOf } from '../record/events.js';
import type { Recorder } from '../record/recorder.js';
import type { Scenario } from '../scenario/scenario.js';
import type { Topology } from '../topology/topology.js';
import type { CutoverOutcome } from '../strategies/strategy.js';
import type { Results } from '../results/results.js';
import { summarizeLoad } from '../checks/load-summary.js';
import { downtimeWindows, serverWriteGapMs } from '../checks/downtime.js';
import { evaluateThresholds, verdictOf } from '../checks/thresholds.js';
import { errorMessage, type PgdrillError } from '../errors.js';


export interface AssembleInput {
  runId: string;
  startedAt: Date;
  scenario: Scenario;
  recorder: Recorder;
  loadWindow: { startMs: number; endMs: number };
  cutover?: CutoverOutcome;
  integrity: Results['integrity'];
  topology?: Topology;
  failure?: Error;
}

export function assembleResults(input: AssembleInput): Results {
  const { scenario, recorder, loadWindow, cutover, integrity, failure } = input;
  const byStream = (stream: string) => recorder.ops.filter((op) => op.stream === stream);
  const writes = byStream('write');
  const reads = byStream('read');
  const probes = byStream('probe');
  const window = { loadStartMs: loadWindow.startMs, loadEndMs: loadWindow.endMs };
  const replayBytes = recorder.lag.map((s) => s.replayBytes).filter((v): v is number => v !== null);
  const replayMs = recorder.lag.map((s) => s.replayLagMs).filter((v): v is number => v !== null);

  const partial: Omit<Results, 'verdict' | 'thresholds'> = {
    pgdrillVersion: packageVersion(),
    runId: input.runId,
    startedAt: input.startedAt.toISOString(),
    durationMs: Math.round(recorder.now()),
    runtime: scenario.runtime,
    scenario,
    nodes: Object.values(scenario.nodes).map((n) => ({
      name: n.name,
      version: n.version,
      role: n.replicaOf ? `standby of ${n.replicaOf}` : 'primary',
      binaries: eventsOf(recorder.events, 'node-binaries').find((e) => e.node === n.name)?.source ?? '',
    })),
    phases: [...recorder.phases].sort((a, b) => a.startMs - b.startMs),
    events: recorder.events,
    load: {
      writes: summarizeLoad(writes, window),
      reads: summarizeLoad(reads, window),
      probe: summarizeLoad(probes, window),
    },
    downtime: {
      writes: downtimeWindows(writes, { loadEndMs: loadWindow.endMs }),
      reads: downtimeWindows(reads, { loadEndMs: loadWindow.endMs }),
      serverWriteGapMs: serverWriteGapMs(probes),
    },
    lag: {
      samples: recorder.lag,
      maxReplayBytes: replayBytes.length ? Math.max(...replayBytes) : null,
      maxReplayLagMs: replayMs.length ? Math.max(...replayMs) : null,
    },
    integrity,
    cutover:
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
        : null,
    error: failure
      ? { message: errorMessage(failure), code: (failure as PgdrillError).code ?? 'PGDRILL_RUN_FAILED' }
      : null,
  };
  const thresholds = evaluateThresholds(scenario.thresholds, partial);
  let verdict = verdictOf(thresholds, integrity);
  // a run that did not finish, or whose cutover failed, cannot pass
  if (failure || (cutover && !cutover.ok)) verdict = 'fail';
  return { ...partial, verdict, thresholds };
}
