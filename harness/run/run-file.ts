// run.json: what a run is, written into its folder the moment it starts (the resolved
// scenario, its id, the pgdrill process running it), so that a run that never writes
// results.json can still be told and rebuilt from its logs (post-mortem.ts).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Scenario } from '../scenario/scenario.js';
import { procInfo } from '../runtime/local/proc.js';
import { packageVersion } from '../util/package-info.js';

export const RUN_FILE = 'run.json';

export interface RunFile {
  runId: string;
  startedAt: string;
  pgdrillVersion: string;
  /** the pgdrill process and its /proc start time: a live one means the run is still going */
  pid: number;
  pidStartTicks: number;
  host: string;
  scenario: Scenario;
}

export function writeRunFile(folder: string, info: { runId: string; startedAt: Date; scenario: Scenario }): void {
  const file: RunFile = {
    runId: info.runId,
    startedAt: info.startedAt.toISOString(),
    pgdrillVersion: packageVersion(),
    pid: process.pid,
    pidStartTicks: procInfo(process.pid)?.startTicks ?? 0,
    host: os.hostname(),
    scenario: info.scenario,
  };
  fs.writeFileSync(path.join(folder, RUN_FILE), JSON.stringify(file, null, 2) + '\n');
}

/** The run file of a folder, or undefined when there is none (or it is not one). */
export function readRunFile(folder: string): RunFile | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(folder, RUN_FILE), 'utf8')) as RunFile;
    return parsed && typeof parsed === 'object' && parsed.scenario ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the pgdrill process that wrote the run file is still alive on this machine. */
export function runStillGoing(run: RunFile): boolean {
  if (run.host && run.host !== os.hostname()) return false;
  const info = procInfo(run.pid);
  return info !== undefined && info.state !== 'Z' && info.startTicks === run.pidStartTicks;
}
