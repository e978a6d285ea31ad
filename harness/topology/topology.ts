// Builds the scenario's servers on a runtime: primaries from initdb, streaming standbys
// from a base backup of their primary, and keeps track of which node is the primary now and
// who streams from whom. Each standby reaches its upstream through a pgdrill proxy (its
// replication link, on the address the runtime's nodes reach this machine at), so link
// faults act on replication on every runtime; a node with a disk-full fault gets its data
// directory on a small filesystem of its own (the runtime makes it with the node).

import type { Recorder } from '../record/recorder.js';
import type { Address, Runtime, RuntimeNode } from '../runtime/runtime.js';
import type { NodeConfig, Scenario } from '../scenario/scenario.js';
import { TcpProxy } from '../endpoint/tcp-proxy.js';
import { DISK_VOLUME_BYTES } from '../runtime/data-volume.js';
import { RunTls, readReplicationTls } from '../tls/run-tls.js';
import { errorMessage } from '../errors.js';
import { withNode } from './connect.js';
import { buildStandby, standbySettings } from './standby.js';
import { quoteIdent, quoteLiteral } from '../util/sql.js';
import type { PatroniCluster } from '../patroni/patroni-cluster.js';
import { buildPatroniMembers } from '../patroni/patroni-topology.js';
import { buildExternalTopology } from './external-topology.js';

export class Topology {
  readonly nodes = new Map<string, RuntimeNode>();
  /** node name -> the node it streams from, as it stands now (cutovers change this) */
  readonly upstreamOf = new Map<string, string>();
  /** standby name -> the proxy its replication connection goes through now */
  readonly links = new Map<string, TcpProxy>();
  /** links a standby no longer streams through, closed with the rest at release */
  private readonly retired = new Set<TcpProxy>();
  private currentPrimary: string;
  /** tls: the run's certificates and how every node and client uses them */
  tls?: RunTls;
  /** patroni: the cluster that manages some of the nodes (it, not pgdrill, replicates them) */
  patroni?: PatroniCluster;
  /**
   * standby -> the application_name its upstream lists it under in pg_stat_replication, and
   * its slot, when they are not pgdrill's own (runtime external: the platform names them)
   */
  readonly replicationIds = new Map<string, { applicationName: string; slot: string | null }>();

  constructor(
    readonly scenario: Scenario,
    primary: string,
    /** where link proxies listen: the address the runtime's nodes reach this machine at */
    readonly linkHost = '127.0.0.1',
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

  /**
   * A new replication link for `standby` towards `upstream`: a proxy of ours, made its
   * current link. The link it replaces is returned (not closed: the caller closes it once the
   * standby has moved, so its walreceiver restarts on the new conninfo rather than retrying
   * the old one). Which node streams from which is recorded with follow().
   */
  async openLink(standby: string, upstream: RuntimeNode): Promise<{ link: TcpProxy; previous?: TcpProxy }> {
    const link = new TcpProxy(upstream.address, { name: `replication ${standby}`, listenHost: this.linkHost });
    await link.listen();
    const previous = this.links.get(standby);
    if (previous) this.retired.add(previous);
    this.links.set(standby, link);
    return { link, previous };
  }

  /** The settings `name` was built with: pgdrill's base, the run's, then the scenario's own for it. */
  nodeSettings(name: string): Record<string, string> {
    return {
      ...BASE_SETTINGS,
      ...runSettings(this.scenario),
      ...(this.tls ? this.tls.serverSettings(name) : {}),
      ...(this.scenario.nodes[name]?.settings ?? {}),
    };
  }

  /** primary_conninfo and primary_slot_name that make `standby` stream from `upstream` through `via` (its link). */
  standbySettings(standby: string, upstream: RuntimeNode, via: Address): Record<string, string> {
    return standbySettings(upstream, standby, via, this.tls?.conninfo(standby));
  }

  /** `standby` streams from `upstream` from now on (lag samples carry it as their upstream). */
  follow(standby: string, upstream: string): void {
    this.upstreamOf.set(standby, upstream);
  }

  /** Closes the replication link proxies, current and retired; safe to call twice. */
  async release(): Promise<void> {
    // Patroni's agents first: they need their links to etcd to leave the cluster cleanly
    await this.patroni?.stop();
    const proxies = [...this.links.values(), ...this.retired];
    const results = await Promise.allSettled(proxies.map((p) => p.close()));
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
  /** the run's report folder: HA agents' logs (Patroni, etcd) are kept there when they stop */
  logDir?: string,
): Promise<Topology> {
  // servers pgdrill did not start: connected to as they are, nothing built
  if (runtime.kind === 'external') return buildExternalTopology(scenario, runtime, recorder, primaryName, signal);
  const topology = new Topology(scenario, primaryName, await runtime.linkHost());
  const diskFull = new Set(scenario.timeline.filter((e) => e.fault?.kind === 'disk-full').map((e) => e.fault!.node!));
  const members = new Set(scenario.patroni?.members ?? []);
  try {
    for (const config of buildOrder(Object.values(scenario.nodes))) {
      signal.throwIfAborted();
      // Patroni builds its members itself, below
      if (members.has(config.name)) continue;
      const node = await runtime.createNode({
        name: config.name,
        version: config.version,
        image: config.image,
        ...(diskFull.has(config.name) ? { dataVolumeBytes: DISK_VOLUME_BYTES } : {}),
      });
      topology.nodes.set(config.name, node);
      recorder.event('node-binaries', { node: config.name, source: node.origin });
      if (scenario.tls) {
        if (topology.tls) await topology.tls.install(node);
        else await setUpTls(topology, node, runtime, recorder);
      }
      if (node.volume) {
        const { filesystem, sizeBytes, mount } = node.volume;
        recorder.event('node-volume', { node: config.name, filesystem, bytes: sizeBytes, mount });
      }
      const settings = topology.nodeSettings(config.name);
      if (!config.replicaOf) {
        await startPrimary(node, settings, signal, topology.tls?.hba());
        recorder.event('node-ready', { node: config.name, role: 'primary', version: config.version });
      } else {
        const upstream = topology.node(config.replicaOf);
        const { link } = await topology.openLink(config.name, upstream);
        const tls = topology.tls && { conninfo: topology.tls.conninfo(config.name), env: topology.tls.libpqEnv(config.name) };
        const method = await buildStandby(upstream, node, settings, runtime, signal, link.address, tls);
        topology.follow(config.name, config.replicaOf);
        if (topology.tls) await recordReplicationTls(recorder, upstream, config.name);
        recorder.event('node-ready', {
          node: config.name,
          role: 'standby',
          of: config.replicaOf,
          baseBackup: method,
          via: `${link.address.host}:${link.address.port}`,
        });
      }
    }
    if (scenario.patroni) await buildPatroniMembers(topology, runtime, recorder, signal, logDir);
    await configureSynchronousStandbys(scenario, topology);
  } catch (err) {
    // the run never sees a topology that failed half-way: release what was made for it here
    await topology.release().catch(() => undefined);
    throw err;
  }
  return topology;
}

/**
 * Settings a run's strategy needs on every node from the start. A run that rejoins its old
 * primary with pg_rewind (any node may end up rewound): wal_log_hints, since pg_rewind only
 * rewinds a cluster that logged hint-bit changes (or has data checksums); and wal_keep_size
 * as large as max_wal_size's default, since pg_rewind reads the rewound node's own WAL back to
 * its last checkpoint before the fork, which a small cluster's next checkpoint (the shutdown
 * before the rewind) would otherwise remove.
 */
export function runSettings(scenario: Scenario): Record<string, string> {
  return scenario.strategy?.rejoinOldPrimary ? { wal_log_hints: 'on', wal_keep_size: '1GB' } : {};
}

/**
 * tls: the run's CA and certificates, made once the first node exists (its server names are
 * every node's, loopback, and where standbys reach the link proxies), installed on that node.
 */
async function setUpTls(topology: Topology, first: RuntimeNode, runtime: Runtime, recorder: Recorder): Promise<void> {
  const scenario = topology.scenario;
  const serverNames = [...Object.keys(scenario.nodes), first.peerAddress.host, 'localhost', '127.0.0.1', topology.linkHost];
  topology.tls = await RunTls.create(scenario.tls!, { runId: runtime.runId, credentials: first.credentials, serverNames });
  await topology.tls.install(first);
  const { ca } = topology.tls;
  recorder.event('tls-ready', { mode: scenario.tls!.mode, clientCerts: scenario.tls!.clientCerts, ca: ca.caSubject, caFingerprint: ca.caFingerprint, serverNames: ca.serverNames });
}

/** What pg_stat_ssl on its upstream says of a standby's replication connection, as an event. */
export async function recordReplicationTls(recorder: Recorder, upstream: RuntimeNode, standby: string): Promise<void> {
  const seen = await withNode(upstream, (client) => readReplicationTls(client, standby), { database: 'postgres' }).catch(() => undefined);
  recorder.event('replication-tls', { node: standby, upstream: upstream.name, ssl: seen?.ssl ?? false, version: seen?.version ?? null, cipher: seen?.cipher ?? null, clientDn: seen?.clientDn ?? null });
}

async function startPrimary(node: RuntimeNode, settings: Record<string, string>, signal: AbortSignal, hba?: string) {
  await node.initdb();
  await node.configure(settings);
  if (hba) await node.writeDataFile('pg_hba.conf', hba);
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

