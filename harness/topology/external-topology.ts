// The topology of servers pgdrill did not start (runtime external): the nodes as their URLs
// say, who streams from whom as the scenario's replicaOf says (checked against the servers),
// and the name each standby goes by in its upstream's pg_stat_replication, which is the
// platform's choice (Patroni's member name, CloudNativePG's pod name, "walreceiver").

import type pg from 'pg';
import type { Recorder } from '../record/recorder.js';
import type { Runtime, RuntimeNode } from '../runtime/runtime.js';
import type { Scenario } from '../scenario/scenario.js';
import { errorMessage } from '../errors.js';
import { buildOrder, Topology } from './topology.js';
import { withNode } from './connect.js';

export async function buildExternalTopology(scenario: Scenario, runtime: Runtime, recorder: Recorder, primaryName: string, signal: AbortSignal): Promise<Topology> {
  const topology = new Topology(scenario, primaryName, await runtime.linkHost());
  for (const config of buildOrder(Object.values(scenario.nodes))) {
    signal.throwIfAborted();
    const node = await runtime.createNode({ name: config.name, version: config.version });
    topology.nodes.set(config.name, node);
    recorder.event('node-binaries', { node: config.name, source: node.origin });
    if (config.replicaOf) {
      topology.follow(config.name, config.replicaOf);
      await identifyStandby(topology, config.name);
    }
    recorder.event('node-ready', { node: config.name, role: config.replicaOf ? 'standby' : 'primary', version: config.version, ...(config.replicaOf ? { of: config.replicaOf } : {}) });
  }
  return topology;
}

/**
 * Finds the application_name (and slot) `standby` streams under, from its own
 * pg_stat_wal_receiver, or its upstream's only pg_stat_replication row; records it in the
 * topology so lag is read from the right row. Unknown stays unknown (lag then reads null).
 */
export async function identifyStandby(topology: Topology, standby: string): Promise<void> {
  const node = topology.node(standby);
  const upstreamName = topology.upstreamOf.get(standby);
  const own = await withNode(node, (c) => walReceiver(c), { timeout: 5000 }).catch(() => undefined);
  let applicationName = own?.applicationName;
  if (!applicationName && upstreamName) {
    const rows = await withNode(topology.node(upstreamName), (c) => c.query<{ name: string }>('SELECT application_name AS name FROM pg_stat_replication'), { timeout: 5000 })
      .then((r) => r.rows)
      .catch(() => []);
    if (rows.length === 1) applicationName = rows[0].name;
  }
  if (applicationName) topology.replicationIds.set(standby, { applicationName, slot: own?.slot ?? null });
}

async function walReceiver(client: pg.ClientBase): Promise<{ applicationName?: string; slot: string | null }> {
  const { rows } = await client.query<{ slot: string | null; conninfo: string | null; cluster: string }>(
    `SELECT slot_name AS slot, conninfo, current_setting('cluster_name') AS cluster FROM pg_stat_wal_receiver`,
  );
  const row = rows[0];
  if (!row) return { slot: null };
  const named = /(?:^|\s)application_name=('(?:[^'\\]|\\.)*'|\S+)/.exec(row.conninfo ?? '')?.[1]?.replace(/^'|'$/g, '');
  // libpq's walreceiver says cluster_name when it is set, else "walreceiver"
  return { applicationName: named || row.cluster || 'walreceiver', slot: row.slot };
}

/** What a node is now: the primary, a standby (and of whom, when it says), or unreachable. */
export async function nodeRole(node: RuntimeNode): Promise<{ recovery: boolean; readOnly: boolean; streaming: boolean } | { error: string }> {
  try {
    return await withNode(
      node,
      async (c) => {
        const { rows } = await c.query<{ recovery: boolean; read_only: string; streaming: boolean }>(
          `SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only,
                  EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming`,
        );
        return { recovery: rows[0].recovery, readOnly: rows[0].read_only === 'on', streaming: rows[0].streaming };
      },
      { timeout: 2000, applicationName: 'pgdrill-cutover' },
    );
  } catch (err) {
    return { error: errorMessage(err) };
  }
}
