// A planned strategy as the run arms it: it waits for each of its timeline's cutover entries
// and runs its cutover then (a dry run only checks), recording the cutover phase and its start
// and end; a real cutover's outcome wins over a dry run's.

import type { ArmContext, CutoverOutcome, Strategy, StrategyContext } from './strategy.js';
import { sleepUnlessAborted } from '../util/sleep.js';

/** A planned cutover: runs it (or only its checks when dryRun); never throws, failures are in the outcome. */
export type CutoverFn = (context: StrategyContext, options: { dryRun: boolean }) => Promise<CutoverOutcome>;

export function plannedStrategy(
  kind: string,
  cutover: CutoverFn,
  preflight?: Strategy['preflight'],
  more: Pick<Strategy, 'afterSeed'> = {},
): Strategy & { cutover: CutoverFn } {
  return {
    trigger: 'timeline',
    ...(preflight ? { preflight } : {}),
    ...more,
    cutover,
    arm: (context) => runPlanned(kind, cutover, context),
  };
}

async function runPlanned(kind: string, cutover: CutoverFn, context: ArmContext): Promise<CutoverOutcome | undefined> {
  const { recorder, signal } = context;
  let outcome: CutoverOutcome | undefined;
  // entries sharing a time run together, as the timeline's other entries do
  await Promise.all(
    context.cutovers.map(async (entry) => {
      await sleepUntil(context.loadStartMs + entry.at, context);
      if (signal.aborted) return;
      const { dryRun } = entry;
      recorder.event('cutover-start', { strategy: kind, dryRun });
      const startMs = recorder.now();
      const result = await cutover(context, { dryRun });
      recorder.phases.push({ name: 'cutover', startMs, endMs: recorder.now() });
      recorder.event('cutover-end', { ok: result.ok, dryRun, rolledBack: result.rolledBack, error: result.error });
      // a dry run is recorded but does not hide a real cutover's outcome
      if (!outcome || !dryRun) outcome = result;
    }),
  );
  return outcome;
}

/** Sleeps until run time `ms`, or until the run is aborted. */
export function sleepUntil(ms: number, context: Pick<ArmContext, 'recorder' | 'signal'>): Promise<void> {
  return sleepUnlessAborted(ms - context.recorder.now(), context.signal);
}
