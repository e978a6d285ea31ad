// Steps on the timeline: a sql statement or a user's command, run once at its `at`, recorded
// as step-start and step-end events and returned as a TimelineStepRecord. Never throws for a
// failing step: the record says what failed, the verdict decides what that means for the run.

import path from 'node:path';
import type { Recorder } from '../record/recorder.js';
import type { TimelineStepRecord } from '../record/records.js';
import type { RuntimeNode } from '../runtime/runtime.js';
import type { ReaperRegistry } from '../runtime/reaper/reaper-registry.js';
import type { Scenario, TimelineEntry } from '../scenario/scenario.js';
import { DATABASE } from '../topology/connect.js';
import { errorMessage } from '../errors.js';
import { runCommandStep } from './command-step.js';
import { runSqlStep } from './sql-step.js';
import { shorten, type StepOutcome } from './step-outcome.js';
import { stepUrlVariables } from './node-urls.js';

export { ENDPOINT_URL_VARIABLE, nodeUrl, nodeUrlVariable, postgresUrl, stepUrlVariables } from './node-urls.js';
export type { UrlParts } from './node-urls.js';
export type { TimelineStepRecord } from '../record/records.js';

export interface StepContext {
  /** the run's node by name (throws for an unknown one) */
  nodes: (name: string) => RuntimeNode;
  /** every node of the run: each gets its PGDRILL_<NODE>_URL in a command's environment */
  nodeNames: string[];
  /** postgres:// URL of the endpoint clients use, with the run's superuser: PGDRILL_ENDPOINT_URL */
  endpointUrl: string;
  /** a command's working directory; relative paths in `run` resolve against it (stepBaseDir) */
  baseDir: string;
  recorder: Recorder;
  /** the run's signal: aborting it stops a running step */
  signal: AbortSignal;
  /** the run's reaper: a command's process group is registered, so a kill -9 of pgdrill ends it too */
  reaper?: ReaperRegistry;
}

export type TimelineStepKind = TimelineStepRecord['step'];

/** Whether the entry is one runTimelineStep runs (sql or command), and which. */
export function timelineStepKind(entry: TimelineEntry): TimelineStepKind | undefined {
  return entry.sql ? 'sql' : entry.command ? 'command' : undefined;
}

/** The folder a scenario's relative paths mean: the file's, or the cwd for text parsed without a file. */
export function stepBaseDir(scenario: Pick<Scenario, 'baseDir'>): string {
  return path.resolve(scenario.baseDir ?? process.cwd());
}

const STATEMENT_IN_LABEL = 40;
const COMMAND_IN_LABEL = 60;

/** "sql on replica: DELETE FROM orders WHERE id % 97 = 0" / "command: ./my-runbook-step.sh", shortened. */
export function stepLabel(entry: TimelineEntry): string {
  if (entry.sql) {
    const db = entry.sql.database ? ` (database ${entry.sql.database})` : '';
    return `sql on ${entry.sql.node}${db}: ${shorten(entry.sql.statement, STATEMENT_IN_LABEL)}`;
  }
  if (entry.command) return `command: ${shorten(entry.command.run, COMMAND_IN_LABEL)}`;
  return 'not a step';
}

/**
 * Runs timeline[index] (a sql or command entry) now. Records step-start { step, index, label }
 * and step-end { step, index, label, ok, allowFailure, ..., outputTail, durationMs }.
 * Rejects only when the entry is neither sql nor command (a caller's mistake, not a step failure).
 */
export async function runTimelineStep(entry: TimelineEntry, index: number, context: StepContext): Promise<TimelineStepRecord> {
  const step = timelineStepKind(entry);
  if (!step) throw new TypeError(`timeline[${index}] has neither sql nor command; runTimelineStep runs only those entries`);
  const { recorder } = context;
  const label = stepLabel(entry);
  const allowFailure = (entry.sql ?? entry.command)!.allowFailure;

  const startMs = recorder.now();
  recorder.event('step-start', { step, index, label });
  let outcome: StepOutcome;
  try {
    outcome = entry.sql
      ? await runSqlStep(entry.sql, context.nodes(entry.sql.node), context.signal)
      : await runCommandStep(entry.command!, {
          cwd: context.baseDir,
          variables: stepUrlVariables(
            Object.fromEntries(context.nodeNames.map((name) => [name, context.nodes(name)])),
            context.endpointUrl,
            DATABASE,
          ),
          signal: context.signal,
          reaper: context.reaper,
        });
  } catch (err) {
    // e.g. an unknown node at run time: the scenario check should have refused it, but record, do not throw
    outcome = {
      ok: false,
      ...(step === 'sql' ? { rowCount: null } : { exitCode: null, signal: null }),
      error: `pgdrill could not run the step: ${errorMessage(err)}`,
      outputTail: '',
    };
  }
  const endMs = recorder.now();

  const { ok, error, outputTail, exitCode, signal, rowCount, sqlstate } = outcome;
  // only the fields that apply, so events.jsonl and results.json read the same
  const result = {
    step,
    index,
    label,
    ok,
    allowFailure,
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(signal !== undefined ? { signal } : {}),
    ...(rowCount !== undefined ? { rowCount } : {}),
    ...(sqlstate !== undefined ? { sqlstate } : {}),
    ...(error !== undefined ? { error } : {}),
    outputTail,
  };
  recorder.event('step-end', { ...result, durationMs: Math.round(endMs - startMs) });
  return { ...result, startMs, endMs };
}
