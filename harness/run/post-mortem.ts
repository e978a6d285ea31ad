// The post-mortem of a run that never wrote results.json (pgdrill was killed, the machine
// died): results rebuilt from what the run folder holds (run.json, events.jsonl,
// operations.jsonl, lag.jsonl) by the same pure code a finished run uses (op aggregates,
// assembleResults, the checks), with verdict `incomplete` and where the run stopped. What
// the logs cannot establish (integrity, which needs the servers) is unknown, as always.

import fs from 'node:fs';
import path from 'node:path';
import type { EventOf, RunEvent } from '../record/events.js';
import { eventsOf } from '../record/events.js';
import type { CutoverStep, LagSample, OpRecord, Phase } from '../record/records.js';
import { EVENTS_FILE, LAG_FILE, OPERATIONS_FILE } from '../record/recorder.js';
import { readJsonl } from '../record/read-jsonl.js';
import type { IncompleteRun, Integrity, Results } from '../results/results.js';
import type { CutoverOutcome } from '../strategies/strategy.js';
import { OpAggregates } from '../checks/op-aggregates.js';
import { InvalidInputError } from '../errors.js';
import { describeEvent, faultLabel, formatLoadTime } from '../report/report-model.js';
import { formatDuration } from '../util/units.js';
import { assembleResults } from './assemble-results.js';
import { aggregationOptions } from './load-record.js';
import { RUN_FILE, readRunFile, runStillGoing } from './run-file.js';

export const INCOMPLETE_CODE = 'PGDRILL_INCOMPLETE';

/** Whether `folder` is a run folder that a post-mortem can rebuild (it has run.json and events.jsonl). */
export function canRebuild(folder: string): boolean {
  return fs.existsSync(path.join(folder, RUN_FILE)) && fs.existsSync(path.join(folder, EVENTS_FILE));
}

export async function rebuildResults(folder: string): Promise<Results> {
  const run = readRunFile(folder);
  if (!run) {
    throw new InvalidInputError(
      [{ path: folder, message: `no results.json and no readable ${RUN_FILE}: not a pgdrill run folder, or one from a pgdrill that did not write ${RUN_FILE}` }],
      'command line',
    );
  }
  if (runStillGoing(run)) {
    throw new InvalidInputError([{ path: folder, message: `the run is still going (pgdrill process ${run.pid}): report it once it has finished, from its results.json` }], 'command line');
  }
  const scenario = run.scenario;
  const rebuiltFrom = [RUN_FILE];
  let unreadable = 0;

  const events: RunEvent[] = [];
  const eventsRead = await readJsonl<RunEvent>(path.join(folder, EVENTS_FILE), (e) => events.push(e));
  unreadable += eventsRead.badLines;
  rebuiltFrom.push(EVENTS_FILE);
  // what the reaper wrote after the death is about the run's end, not part of its timeline's clock
  const own = events.filter((e) => e.kind !== 'reaper-reaped');
  const lag: LagSample[] = [];
  if (fs.existsSync(path.join(folder, LAG_FILE))) {
    unreadable += (await readJsonl<LagSample>(path.join(folder, LAG_FILE), (s) => lag.push(s))).badLines;
    rebuiltFrom.push(LAG_FILE);
  }

  // the load: from the schedule's start as the workload announced it
  const start = eventsOf(own, 'workload-start')[0];
  const end = eventsOf(own, 'workload-end')[0];
  const loadStartMs = start ? (start.startMs ?? start.t) : undefined;
  const opsFile = path.join(folder, OPERATIONS_FILE);
  let lastOpMs = -Infinity;
  let aggregates: OpAggregates | undefined;
  if (loadStartMs !== undefined && fs.existsSync(opsFile)) {
    rebuiltFrom.push(OPERATIONS_FILE);
    let reorderMs: number | 'auto' = 'auto';
    for (let attempt = 0; attempt < 2; attempt++) {
      const pass = new OpAggregates({ ...aggregationOptions(scenario, loadStartMs), reorderMs });
      const read = await readJsonl<OpRecord>(opsFile, (op) => {
        pass.add(op);
        if (op.endMs > lastOpMs) lastOpMs = op.endMs;
      });
      aggregates = pass;
      if (attempt === 0) unreadable += read.badLines;
      const again = pass.rebuildNeeded;
      if (!again) break;
      reorderMs = again.reorderMs;
    }
  }
  const lastRecordMs = Math.max(0, ...own.slice(-1).map((e) => e.t), Number.isFinite(lastOpMs) ? lastOpMs : 0, ...lag.slice(-1).map((s) => s.t));
  const loadWindow =
    loadStartMs === undefined
      ? null
      : { startMs: loadStartMs, endMs: Math.min(end ? end.t : lastRecordMs, loadStartMs + (start!.durationMs ?? scenario.duration)) };
  const recorded = (aggregates ?? new OpAggregates(aggregationOptions(scenario, loadWindow?.startMs ?? 0))).finish(loadWindow);

  const phases = phasesOf(own, lastRecordMs);
  const cutover = cutoverOf(own, lastRecordMs);
  const stopped = stoppedAt(own, lastRecordMs, loadStartMs);
  const earlierError = eventsOf(own, 'error')[0];
  const failure = Object.assign(
    new Error(`pgdrill's process ended ${stopped.text} (killed?)${earlierError ? `; it had already failed: ${earlierError.message}` : ''}`),
    { code: INCOMPLETE_CODE },
  );

  const results = assembleResults({
    runId: run.runId,
    startedAt: new Date(run.startedAt),
    scenario,
    recorder: { events, lag, phases, now: () => lastRecordMs },
    recorded,
    loadWindow,
    cutover,
    integrity: integrityOf(own),
    failure,
  });
  const reaped = eventsOf(events, 'reaper-reaped')[0];
  const incomplete: IncompleteRun = {
    stoppedAt: stopped.text,
    phase: stopped.phase,
    lastRecordMs,
    rebuiltFrom,
    reaped: reaped ? reapedText(reaped, lastRecordMs) : null,
    unreadableLines: unreadable,
  };
  return { ...results, verdict: 'incomplete', incomplete };
}

/** Phases as the events tell them; one that started and never ended lasted to the last record. */
function phasesOf(events: readonly RunEvent[], lastRecordMs: number): Phase[] {
  const phases: Phase[] = [];
  const open = new Map<Phase['name'], number>();
  for (const e of events) {
    if (e.kind === 'phase-start') open.set(e.phase, e.t);
    else if (e.kind === 'phase-end') {
      const startMs = open.get(e.phase) ?? e.t - e.durationMs;
      open.delete(e.phase);
      phases.push({ name: e.phase, startMs, endMs: e.t });
    }
  }
  for (const [name, startMs] of open) phases.push({ name, startMs, endMs: Math.max(startMs, lastRecordMs) });
  // the cutover phase is the strategy's span, from its events
  let cutoverStart: number | undefined;
  for (const e of events) {
    if (e.kind === 'cutover-start') cutoverStart = e.t;
    if (e.kind === 'cutover-end' && cutoverStart !== undefined) {
      phases.push({ name: 'cutover', startMs: cutoverStart, endMs: e.t });
      cutoverStart = undefined;
    }
  }
  if (cutoverStart !== undefined) phases.push({ name: 'cutover', startMs: cutoverStart, endMs: Math.max(cutoverStart, lastRecordMs) });
  return phases;
}

/** The cutover as its events tell it (the real one over a dry run, as a finished run picks); one cut short failed. */
function cutoverOf(events: readonly RunEvent[], lastRecordMs: number): CutoverOutcome | undefined {
  let outcome: CutoverOutcome | undefined;
  let current: { dryRun: boolean; steps: CutoverStep[]; open?: { name: string; t: number } } | undefined;
  const settle = (o: CutoverOutcome) => {
    if (!outcome || !o.dryRun) outcome = o;
  };
  for (const e of events) {
    if (e.kind === 'cutover-start') current = { dryRun: e.dryRun, steps: [] };
    else if (!current) continue;
    else if (e.kind === 'cutover-step-start') current.open = { name: e.step, t: e.t };
    else if (e.kind === 'cutover-step') {
      current.steps.push({ name: e.step, startMs: Math.max(0, e.t - e.durationMs), endMs: e.t, ok: e.ok, detail: e.detail });
      if (current.open?.name === e.step) current.open = undefined;
    } else if (e.kind === 'cutover-end') {
      settle({ ok: e.ok, dryRun: e.dryRun, rolledBack: e.rolledBack, steps: current.steps, error: e.error });
      current = undefined;
    }
  }
  if (current) {
    const steps = [...current.steps];
    if (current.open) steps.push({ name: current.open.name, startMs: current.open.t, endMs: Math.max(current.open.t, lastRecordMs), ok: false, detail: 'did not finish: the run stopped during this step' });
    settle({ ok: false, dryRun: current.dryRun, rolledBack: false, steps, error: 'the run stopped during the cutover' });
  }
  return outcome;
}

/** Integrity needs the servers, which are gone: only a verify that finished left its summary. */
function integrityOf(events: readonly RunEvent[]): Integrity | null {
  const summary = eventsOf(events, 'integrity')[0];
  if (!summary) return null;
  const why = 'the run stopped after verifying but before writing results.json: only the summary of the verification survived (events.jsonl)';
  return {
    source: summary.source,
    target: summary.target,
    finalPrimary: null,
    comparison: `${summary.source ?? '?'} against ${summary.target ?? '?'}`,
    tables: [],
    rowCountMismatches: summary.rowCountMismatches,
    hashMismatches: summary.hashMismatches,
    schemaDifferences: null,
    sequences: null,
    acknowledgedWrites: null,
    lostWrites: summary.lostWrites,
    recoveredWrites: null,
    indeterminateWrites: null,
    writesAfterPromotion: null,
    splitBrainDetail: '',
    lost: [],
    unknown: { ledger: why, tables: why, schema: why, sequences: why, splitBrain: why },
    notApplicable: {},
  };
}

/** "in the load phase at 12.3s (T+4.50s of the load), during cutover step promote, with fault pause primary active" */
function stoppedAt(events: readonly RunEvent[], lastRecordMs: number, loadStartMs: number | undefined): { text: string; phase: string | null } {
  const started = events.filter((e): e is EventOf<'phase-start'> => e.kind === 'phase-start');
  const ended = new Set(events.filter((e): e is EventOf<'phase-end'> => e.kind === 'phase-end').map((e) => e.phase));
  const phase = [...started].reverse().find((e) => !ended.has(e.phase))?.phase ?? null;
  const parts = [`${phase ? `in the ${phase} phase` : 'after its last phase'} at ${formatDuration(lastRecordMs)}${loadStartMs !== undefined && lastRecordMs >= loadStartMs ? ` (${formatLoadTime(lastRecordMs, loadStartMs)} of the load)` : ''}`];
  let step: string | undefined;
  const faults = new Map<string, number>();
  for (const e of events) {
    if (e.kind === 'cutover-step-start') step = e.step;
    if (e.kind === 'cutover-step' || e.kind === 'cutover-end') step = undefined;
    if (e.kind === 'fault-start') faults.set(faultLabel(e), (faults.get(faultLabel(e)) ?? 0) + 1);
    if (e.kind === 'fault-end') faults.set(faultLabel(e), (faults.get(faultLabel(e)) ?? 1) - 1);
  }
  if (step) parts.push(`during cutover step ${step}`);
  const active = [...faults].filter(([, n]) => n > 0).map(([label]) => label);
  if (active.length) parts.push(`with fault${active.length > 1 ? 's' : ''} ${active.join(', ')} active`);
  const last = [...events].reverse().find((e) => e.kind !== 'phase-end' && e.kind !== 'phase-start');
  if (last) parts.push(`last event at ${formatDuration(last.t)}: ${describeEvent(last)}`);
  return { text: parts.join(', '), phase };
}

function reapedText(e: EventOf<'reaper-reaped'>, lastRecordMs: number): string {
  const what = [
    e.killed.length ? `killed ${e.killed.join('; ')}` : 'found no process left',
    e.containers.length ? `removed containers ${e.containers.join(', ')}` : '',
    e.networks.length ? `networks ${e.networks.join(', ')}` : '',
    e.removedDirs.length ? `removed ${e.removedDirs.join(', ')}` : '',
    e.unmounted.length ? `unmounted ${e.unmounted.join(', ')}` : '',
  ].filter(Boolean);
  const when = typeof e.t === 'number' ? ` at ${formatDuration(e.t)} (at most ${formatDuration(Math.max(0, e.t - lastRecordMs))} after the last record)` : '';
  const failed = e.failures.length ? `; it could not: ${e.failures.join('; ')}` : '';
  return `The run's reaper ${what.join(', ')}${when}${failed}.`;
}

/** The exit code of `pgdrill report` for a rebuilt run: 1, it did not pass. */
export const INCOMPLETE_EXIT = 1;
