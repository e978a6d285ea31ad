// What an endpoint is started with, and how it gets (and gives back) a service of the run
// from the runtime, which alone starts processes.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EnvironmentError } from '../errors.js';
import type { Recorder } from '../record/recorder.js';
import type { NodeCredentials, Runtime, RunService, ServiceProgram } from '../runtime/runtime.js';
import type { Scenario } from '../scenario/scenario.js';
import type { Topology } from '../topology/topology.js';

export interface EndpointContext {
  scenario: Scenario;
  topology: Topology;
  runtime: Runtime;
  credentials: NodeCredentials;
  recorder: Recorder;
  signal: AbortSignal;
  /** the run's report folder: a service's log is kept there as <program>.log when it stops */
  logDir?: string;
}

/** A service of the run for the endpoint, from the runtime (which alone starts processes). */
export async function endpointService(runtime: Runtime, program: ServiceProgram): Promise<RunService> {
  if (!runtime.createService) {
    throw new EnvironmentError(`endpoint ${program} cannot run on the ${runtime.kind} runtime`, 'PGDRILL_ENDPOINT_UNSUPPORTED');
  }
  return runtime.createService(program, program);
}

/** Stops the service and keeps its log with the report (best effort: the log is for post-mortems). */
export async function stopService(service: RunService, logDir: string | undefined): Promise<void> {
  try {
    await service.stop();
  } finally {
    if (logDir) {
      const log = await service.readLog().catch(() => '');
      if (log) await writeFile(path.join(logDir, `${service.program.program}.log`), log).catch(() => undefined);
    }
  }
}

