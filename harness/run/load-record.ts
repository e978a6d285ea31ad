// The operations' part of results.json at the end of a run: the aggregates built while the
// ops were recorded, or, when those cannot be exact, the same aggregates rebuilt by reading
// operations.jsonl once (an op that arrived later than the reorder buffer allowed for, or a
// load whose schedule never reported its start, so buckets must count from 0 as they always
// did). The post-mortem of a crashed run uses the file path alone.

import { OpAggregates, type OpAggregatesOptions, type RecordedLoad } from '../checks/op-aggregates.js';
import type { Scenario } from '../scenario/scenario.js';

/** How a scenario's operations are aggregated, from the load's start. */
export function aggregationOptions(scenario: Scenario, loadStartMs: number): OpAggregatesOptions {
  return {
    loadStartMs,
    timeoutMs: {
      write: scenario.workload.writes.timeout,
      read: scenario.workload.reads.timeout,
      probe: scenario.workload.probe.timeout,
      ...(scenario.app ? { app: scenario.app.load.timeout } : {}),
    },
    app: scenario.app !== undefined,
    stallMs: scenario.downtime.stall,
    mergeGapMs: scenario.downtime.mergeGap,
  };
}

export interface LoadRecordInput {
  scenario: Scenario;
  /** built while recording; undefined when the load never started */
  aggregates?: OpAggregates;
  loadWindow: { startMs: number; endMs: number } | null;
  /** operations.jsonl, complete (flushed), when there is one and every write to it succeeded */
  operationsFile?: string;
}

export async function recordedLoad(input: LoadRecordInput): Promise<RecordedLoad> {
  const startMs = input.loadWindow?.startMs ?? 0;
  const live = input.aggregates;
  if (live && live.loadStartMs === startMs && !live.rebuildNeeded) return live.finish(input.loadWindow);
  if (!input.operationsFile) {
    // nothing to rebuild from (a recorder without a folder): the live aggregates are the best there is
    return (live ?? new OpAggregates(aggregationOptions(input.scenario, startMs))).finish(input.loadWindow);
  }
  let reorderMs: number | 'auto' = live?.rebuildNeeded?.reorderMs ?? 'auto';
  for (let attempt = 0; ; attempt++) {
    const { aggregates } = await OpAggregates.fromFile(input.operationsFile, { ...aggregationOptions(input.scenario, startMs), reorderMs });
    const again = aggregates.rebuildNeeded;
    // the same records in the same order with a reorder at least as late as the latest op: exact
    if (!again || attempt > 0) return aggregates.finish(input.loadWindow);
    reorderMs = again.reorderMs;
  }
}
