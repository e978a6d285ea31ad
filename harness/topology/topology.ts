// Builds the scenario's servers on a runtime: primaries from initdb, streaming standbys
// from a base backup of their primary, and keeps track of which node is the primary now.
// On the local runtime each standby reaches its primary through a pgdrill proxy (its
// replication link), so link faults can act on it; a node with a disk-full fault gets its
// data directory on a small filesystem of its own. Both are made here, at setup.

import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Recorder } from '../record/recorder.js';
import type { Runtime, RuntimeNode } from '../runtime/runtime.js';
import type { NodeConfig, Scenario } from '../scenario/scenario.js';
import { TcpProxy } from '../endpoint/tcp-proxy.js';
import { DiskVolume } from '../faults/disk-volume.js';
import { errorMessage } from '../errors.js';
import { withNode } from './connect.js';
import { buildStandby } from './standby.js';
import { quoteIdent, quoteLiteral } from '../util/sql.js';

export class Topology {
  readonly nodes = new Map<string, RuntimeNode>();
  /** node name -> the node it streams from, as it stands now (cutovers change this) */
  readonly upstreamOf = new Map<string, string>();
  /** standby name -> the proxy its replication connection goes through (local runtime) */
  readonly links = new Map<string, TcpProxy>();
  /** node name -> the filesystem its data directory lives on (nodes with a disk-full fault) */
  readonly volumes = new Map<string, DiskVolume>();
  private currentPrimary: string;

  constructor(
    readonly scenario: Scenario,
    primary: string,
  ) {
    this.currentPrimary = primary;
  }

  get primaryName(): string {
    return this.currentPrimary;
  }

  get primary(): RuntimeNode {
    return this.node(this.currentPrimary);
  }

  node(name: string): RuntimeNode {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node named "${name}" in this run`);
    return node;
  }

  /** standbys currently streaming from `name` (by default, from the current primary) */
  replicasOf(name = this.currentPrimary): RuntimeNode[] {
    return [...this.upstreamOf].filter(([, up]) => up === name).map(([replica]) => this.node(replica));
  }

  /** after a promotion: `name` is the primary and streams from nobody */
  promoted(name: string): void {
    this.upstreamOf.delete(name);
    this.currentPrimary = name;
  }

  /** the replication link proxies whose far end is `name` (its standbys' links) */
  linksTo(name: string): TcpProxy[] {
    return [...this.links].filter(([replica]) => this.upstreamOf.get(replica) === name).map(([, proxy]) => proxy);
  }

  /** Closes the replication link proxies and detaches disk volumes; safe to call twice. */
  async release(): Promise<void> {
    const proxies = [...this.links.values()];
    const volumes = [...this.volumes.values()];
    const results = await Promise.allSettled([...proxies.map((p) => p.close()), ...volumes.map((v) => v.release())]);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) throw new Error(failed.map((r) => errorMessage(r.reason)).join('; '));
  }
}

/** Settings every node gets, before the scenario's own (compose export writes the same). */
export const BASE_SETTINGS: Record<string, string> = {
  wal_level: 'logical',
  max_wal_senders: '16',
  max_replication_slots: '16',
  hot_standby: 'on',
  hot_standby_feedback: 'on',
  // so the replication view reports write/flush/replay lag promptly
  wal_receiver_status_interval: '1s',
  track_commit_timestamp: 'on',
};

/** Order nodes so every standby comes after the node it streams from. */
export function buildOrder(nodes: NodeConfig[]): NodeConfig[] {
  const ordered: NodeConfig[] = [];
  const placed = new Set<string>();
  let remaining = [...nodes];
  while (remaining.length > 0) {
    const ready = remaining.filter((n) => !n.replicaOf || placed.has(n.replicaOf));
    if (ready.length === 0) throw new Error(`replicaOf cycle among ${remaining.map((n) => n.name).join(', ')}`);
    for (const n of ready) {
      ordered.push(n);
      placed.add(n.name);
    }
    remaining = remaining.filter((n) => !placed.has(n.name));
  }
  return ordered;
}

export async function buildTopology(
  scenario: Scenario,
  runtime: Runtime,
  recorder: Recorder,
  primaryName: string,
  signal: AbortSignal,
): Promise<Topology> {
  const topology = new Topology(scenario, primaryName);
  const diskFull = new Set(scenario.timeline.filter((e) => e.fault?.kind === 'disk-full').map((e) => e.fault!.node!));
  try {
    for (const config of buildOrder(Object.values(scenario.nodes))) {
      signal.throwIfAborted();
      const node = await runtime.createNode({ name: config.name, version: config.version, image: config.image });
      topology.nodes.set(config.name, node);
      recorder.event('node-binaries', { node: config.name, source: node.origin });
      if (diskFull.has(config.name) && runtime.kind === 'local') {
        const volume = await mountDataVolume(node, runtime);
        topology.volumes.set(config.name, volume);
        recorder.event('node-volume', { node: config.name, filesystem: 'tmpfs', bytes: volume.sizeBytes, mount: volume.dir });
      }
      const settings = { ...BASE_SETTINGS, ...config.settings };
      if (!config.replicaOf) {
        await startPrimary(node, settings, signal);
        recorder.event('node-ready', { node: config.name, role: 'primary', version: config.version });
      } else {
        const upstream = topology.node(config.replicaOf);
        const link = await replicationLink(runtime, upstream, config.name);
        if (link) topology.links.set(config.name, link);
        const method = await buildStandby(upstream, node, settings, runtime, signal, link?.address);
        topology.upstreamOf.set(config.name, config.replicaOf);
        recorder.event('node-ready', {
          node: config.name,
          role: 'standby',
          of: config.replicaOf,
          baseBackup: method,
          ...(link ? { via: `${link.address.host}:${link.address.port}` } : {}),
        });
      }
    }
    await configureSynchronousStandbys(scenario, topology);
  } catch (err) {
    // the run never sees a topology that failed half-way: release what was made for it here
    await topology.release().catch(() => undefined);
    throw err;
  }
  return topology;
}

/**
 * A proxy between a standby and its primary, so link faults can act on replication. Only the
 * local runtime: containers reach each other on their own network, where a proxy on the
 * host is not in the path.
 */
async function replicationLink(runtime: Runtime, upstream: RuntimeNode, standby: string): Promise<TcpProxy | undefined> {
  if (runtime.kind !== 'local') return undefined;
  const proxy = new TcpProxy(upstream.address, { name: `replication ${standby}` });
  await proxy.listen();
  return proxy;
}

/** A tmpfs over the (still empty) data directory, owned by the user the server runs as. */
async function mountDataVolume(node: RuntimeNode, runtime: Runtime): Promise<DiskVolume> {
  // the runtime made the node's folder for the server user: the mount root gets the same owner
  const owner = await fsp.stat(path.dirname(node.dataDir));
  return DiskVolume.mount({
    dir: node.dataDir,
    label: `pgdrill-${runtime.runId}-${node.name}`,
    uid: owner.uid,
    gid: owner.gid,
  });
}

async function startPrimary(node: RuntimeNode, settings: Record<string, string>, signal: AbortSignal) {
  await node.initdb();
  await node.configure(settings);
  await node.start({ signal });
  const { replicationUser, replicationPassword } = node.credentials;
  await withNode(
    node,
    async (client) => {
      // password_encryption is scram-sha-256 by default from 14 on; be explicit for 13
      await client.query(`SET password_encryption = 'scram-sha-256'`);
      const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [replicationUser]);
      const verb = exists.rowCount ? 'ALTER' : 'CREATE';
      await client.query(
        `${verb} ROLE ${quoteIdent(replicationUser)} WITH REPLICATION LOGIN PASSWORD ${quoteLiteral(replicationPassword)}`,
      );
      await client.query(`CREATE DATABASE pgdrill`);
    },
    { database: 'postgres' },
  );
}

/** Standbys marked synchronous go into their primary's synchronous_standby_names. */
async function configureSynchronousStandbys(scenario: Scenario, topology: Topology) {
  const byPrimary = new Map<string, string[]>();
  for (const n of Object.values(scenario.nodes)) {
    if (n.replicaOf && n.synchronous) byPrimary.set(n.replicaOf, [...(byPrimary.get(n.replicaOf) ?? []), n.name]);
  }
  for (const [primary, standbys] of byPrimary) {
    const names = standbys.map((s) => `"${s}"`).join(', ');
    await withNode(topology.node(primary), async (client) => {
      await client.query(`ALTER SYSTEM SET synchronous_standby_names = ${quoteLiteral(`ANY 1 (${names})`)}`);
      await client.query('SELECT pg_reload_conf()');
    });
  }
}

