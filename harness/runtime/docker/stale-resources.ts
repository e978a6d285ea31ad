// For `pgdrill cleanup`: the containers, volumes and networks that runs left in Docker (a
// SIGKILLed pgdrill, a --keep run), found by the pgdrill.run-id label. Runs whose pgdrill is
// still alive on this host are spared; nothing without the label is ever touched.

import type Docker from 'dockerode';
import { errorMessage } from '../../errors.js';
import { dockerClient, pingDocker } from './docker-client.js';
import { removeRunResources, type RemovedResources } from './docker-runtime.js';
import { LABEL, ownerAlive } from './labels.js';

export interface DockerCleanupResult extends RemovedResources {
  /** false when Docker did not answer (then nothing was looked at) */
  reachable: boolean;
  reason?: string;
  /** run ids left alone because their pgdrill still runs (or runs on another host) */
  activeRuns: string[];
  failures: string[];
}

/** Every run id carrying pgdrill's label, with the owner label of one of its resources. */
async function labelledRuns(docker: Docker): Promise<Map<string, string | undefined>> {
  const filters = JSON.stringify({ label: [LABEL.runId] });
  const runs = new Map<string, string | undefined>();
  const add = (labels: Record<string, string> | undefined) => {
    const id = labels?.[LABEL.runId];
    if (id && !runs.get(id)) runs.set(id, labels?.[LABEL.owner]);
  };
  for (const c of await docker.listContainers({ all: true, filters })) add(c.Labels);
  for (const n of await docker.listNetworks({ filters })) add(n.Labels);
  for (const v of (await docker.listVolumes({ filters })).Volumes ?? []) add(v.Labels ?? undefined);
  return runs;
}

export async function cleanupDockerLeftovers(options: { force?: boolean; docker?: Docker } = {}): Promise<DockerCleanupResult> {
  const docker = options.docker ?? dockerClient();
  const result: DockerCleanupResult = { reachable: true, containers: [], volumes: [], networks: [], activeRuns: [], failures: [] };
  try {
    await pingDocker(docker, 3000);
  } catch (err) {
    return { ...result, reachable: false, reason: errorMessage(err) };
  }
  for (const [runId, owner] of await labelledRuns(docker)) {
    // a live owner is a run in progress; an owner on another host (a shared engine) cannot be checked
    const alive = ownerAlive(owner);
    if ((alive === true || (alive === undefined && owner)) && !options.force) {
      result.activeRuns.push(runId);
      continue;
    }
    const failures = await removeRunResources(docker, runId, [], result);
    for (const f of failures) result.failures.push(`${runId}: ${errorMessage(f)}`);
  }
  return result;
}
