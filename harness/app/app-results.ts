// results.json's view of the app, from what was recorded: the app stream's load summary with
// its status codes, the log scan's window (from the end of the cutover until pgdrill began
// stopping the app) and the checks as they ran. Pure, like the rest of assemble-results.

import { eventsOf, type RunEvent } from '../record/events.js';
import type { OpRecord } from '../record/records.js';
import type { AppCheckOutcome, AppLoadSummary, AppResults } from '../results/results.js';
import { summarizeLoad, type LoadWindow } from '../checks/load-summary.js';
import { scanAppLog, type ScanWindow } from './log-scan.js';
import type { AppFacts } from './app-session.js';

export function summarizeAppLoad(ops: readonly OpRecord[], window: LoadWindow): AppLoadSummary {
  const statusCodes: Record<string, number> = {};
  let timeouts = 0;
  for (const op of ops) {
    if (op.status !== undefined) statusCodes[String(op.status)] = (statusCodes[String(op.status)] ?? 0) + 1;
    if (op.outcome === 'indeterminate') timeouts++;
  }
  return { ...summarizeLoad(ops, window), statusCodes, timeouts };
}

/**
 * Where the log scan counts: from the end of the real cutover (or failover), else from the
 * start of the load; until pgdrill began stopping the app (its stop took durationMs), so the
 * errors of the teardown do not count. With no stop recorded, until the end of the run.
 */
export function logScanWindow(events: readonly RunEvent[], loadStartMs: number | null, runEndMs: number): Omit<ScanWindow, 'file'> {
  const cutoverEnd = eventsOf(events, 'cutover-end').find((e) => !e.dryRun);
  const stop = eventsOf(events, 'app-stop')[0];
  const toMs = stop ? stop.t - stop.durationMs : runEndMs;
  if (cutoverEnd) return { from: 'cutover end', fromMs: cutoverEnd.t, toMs };
  return { from: 'load start', fromMs: loadStartMs ?? 0, toMs };
}

export function appResults(facts: AppFacts, logText: string, events: readonly RunEvent[], loadStartMs: number | null, runEndMs: number): AppResults {
  const checks: AppCheckOutcome[] = eventsOf(events, 'app-check').map(({ t: _t, kind: _kind, ...outcome }) => outcome);
  return {
    command: facts.command,
    sample: facts.sample,
    port: facts.port,
    readyAfterMs: facts.readyAfterMs,
    exited: facts.exited,
    logScan: facts.port === null ? null : scanAppLog(logText, { ...logScanWindow(events, loadStartMs, runEndMs), file: 'app.log' }),
    checks,
  };
}
