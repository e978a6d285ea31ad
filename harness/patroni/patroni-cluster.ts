// A Patroni cluster as processes of the run: Debian's etcd (1 or 3 members) as the DCS, then
// Debian's patroni for each member, as services of the runtime (the server user, a folder of
// their own, stopped at teardown, killed by `pgdrill cleanup`). The first member bootstraps
// the cluster (or, with standbyOf, clones the node it follows as the standby leader); the
// others then join in parallel with Patroni's pg_basebackup. Each member reaches etcd through
// pgdrill link proxies (a partition there takes its lease away) and is reached by the other
// members through one more (its connect_address), so link faults act on replication.

import { mkdir, chown, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EnvironmentError, InterruptedError, errorMessage } from '../errors.js';
import type { Recorder } from '../record/recorder.js';
import type { Address, Runtime, RunService, RuntimeNode } from '../runtime/runtime.js';
import type { PatroniConfig, Scenario } from '../scenario/scenario.js';
import { TcpProxy } from '../endpoint/tcp-proxy.js';
import { sleep, withNode } from '../topology/connect.js';
import { memberConfig } from './patroni-config.js';
import { getCluster, httpRequest, leaderOf, type ClusterView } from './rest.js';
import type { PatroniWatcher } from './patroni-watcher.js';
import { requirePatroniBinaries } from './patroni-topology.js';

/** Client tools Patroni runs from a member's bin_dir besides the server itself. */
export const PATRONI_BIN_TOOLS = ['pg_ctl', 'initdb', 'postgres', 'pg_controldata', 'pg_isready', 'pg_basebackup'];

export interface PatroniMember {
  name: string;
  node: RuntimeNode;
  agent: RunService;
  /** Patroni's REST API */
  rest: Address;
  /** the proxies this member's agent reaches etcd through (link etcd:<member>) */
  dcsLinks: TcpProxy[];
  /** the proxy other members reach this one's PostgreSQL through (its connect_address) */
  inbound: TcpProxy;
}

export interface EtcdMember {
  name: string;
  service: RunService;
  client: Address;
}

export class PatroniCluster {
  readonly members = new Map<string, PatroniMember>();
  readonly etcd: EtcdMember[] = [];
  private stopped = false;
  /** set once the cluster is up: it polls /cluster for the rest of the run */
  watcher?: PatroniWatcher;

  constructor(
    readonly config: PatroniConfig,
    /** the cluster's name in etcd */
    readonly scope: string,
    /** the run's report folder: each agent's and etcd member's log is kept there as it stops */
    private readonly logDir?: string,
  ) {}

  member(name: string): PatroniMember {
    const m = this.members.get(name);
    if (!m) throw new Error(`${name} is not a Patroni member of this run`);
    return m;
  }

  /** GET /cluster from the first member that answers (any member's view is the DCS's). */
  async view(timeoutMs = 1000, preferred?: string): Promise<ClusterView> {
    const order = [...this.members.values()].sort((a, b) => (a.name === preferred ? -1 : b.name === preferred ? 1 : 0));
    let last: unknown;
    for (const m of order) {
      try {
        return await getCluster(m.rest, timeoutMs);
      } catch (err) {
        last = err;
      }
    }
    throw new Error(`no Patroni member answered GET /cluster: ${errorMessage(last)}`);
  }

  /**
   * Stops every agent (each stops its PostgreSQL first), then closes the link proxies and keeps
   * the logs (patroni-<member>.log, etcd<n>.log) in the report folder; safe twice. etcd itself
   * is stopped by the runtime's dispose, after any server an agent left behind.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.watcher?.stop();
    await Promise.allSettled([...this.members.values()].map((m) => m.agent.stop()));
    const proxies = [...this.members.values()].flatMap((m) => [...m.dcsLinks, m.inbound]);
    await Promise.allSettled(proxies.map((p) => p.close()));
    await this.keepLogs();
  }

  /** Best effort: the logs are for post-mortems, and the run folder that holds them goes at teardown. */
  private async keepLogs(): Promise<void> {
    if (!this.logDir) return;
    const services = [...[...this.members.values()].map((m) => ({ file: `patroni-${m.name}.log`, service: m.agent })), ...this.etcd.map((e) => ({ file: `${e.name}.log`, service: e.service }))];
    await Promise.allSettled(
      services.map(async ({ file, service }) => {
        const log = await service.readLog();
        if (log) await writeFile(path.join(this.logDir!, file), log);
      }),
    );
  }
}

export interface StartClusterInput {
  scenario: Scenario;
  runtime: Runtime;
  recorder: Recorder;
  signal: AbortSignal;
  /** the node a standby cluster follows (standbyOf), already running */
  standbyOf?: RuntimeNode;
  /** the run's report folder, where the agents' and etcd's logs are kept */
  logDir?: string;
  /** pgdrill's base settings plus the scenario's patroni.postgresql */
  clusterParameters: Record<string, string>;
}

// Bootstrapping an empty cluster takes seconds (initdb, then a base backup of it per replica):
// a member stuck for 90 s is stuck for good, and the error with the agents' log tails says why
// sooner than a longer wait would (and within a CI test's own timeout).
const BOOTSTRAP_TIMEOUT_MS = 90_000;

/**
 * Starts etcd and the members; resolves once the first member leads (or, in a standby cluster,
 * is the standby leader) and every other member runs as its replica. On failure everything it
 * started is stopped by the runtime's dispose (the services are the runtime's), the proxies here.
 */
export async function startPatroniCluster(input: StartClusterInput): Promise<PatroniCluster> {
  const { scenario, runtime, recorder, signal } = input;
  const config = scenario.patroni!;
  if (!runtime.createService || !runtime.manageNode) {
    throw new EnvironmentError(`Patroni members cannot run on the ${runtime.kind} runtime yet`, 'PGDRILL_PATRONI_UNSUPPORTED');
  }
  const cluster = new PatroniCluster(config, `pgdrill-${runtime.runId}`.slice(0, 60), input.logDir);
  try {
    await startEtcd(cluster, runtime, config.etcd, signal);
    recorder.event('patroni-etcd-ready', { members: cluster.etcd.length, clients: cluster.etcd.map((e) => `${e.client.host}:${e.client.port}`), program: cluster.etcd[0].service.program.version });

    for (const name of config.members) {
      const version = scenario.nodes[name].version;
      const local = await runtime.createNode({ name, version, image: scenario.nodes[name].image });
      const binDir = local.serverBinDir;
      if (!binDir) throw new EnvironmentError(`node ${name} has no local binaries for Patroni's bin_dir`, 'PGDRILL_PATRONI_UNSUPPORTED');
      requirePatroniBinaries(binDir, version, local.origin);
      const agent = await runtime.createService(`patroni-${name}`, 'patroni');
      const restPort = await agent.freePort();
      const dcsLinks: TcpProxy[] = [];
      for (const e of cluster.etcd) {
        const link = new TcpProxy(e.client, { name: `etcd ${name}` });
        await link.listen();
        dcsLinks.push(link);
      }
      const inbound = new TcpProxy(local.address, { name: `replication to ${name}` });
      await inbound.listen();
      const nodeDir = path.dirname(local.dataDir);
      const file = await agent.writeFile(
        'patroni.yml',
        memberConfig({
          scope: cluster.scope,
          name,
          restPort,
          pgPort: local.address.port,
          connectAddress: inbound.address,
          etcdHosts: dcsLinks.map((l) => l.address),
          dataDir: local.dataDir,
          binDir,
          nodeDir,
          credentials: local.credentials,
          patroni: config,
          clusterParameters: input.clusterParameters,
          nodeParameters: scenario.nodes[name].settings,
          standbyOf: input.standbyOf?.peerAddress,
          rewind: await local.hasTool('pg_rewind', version),
        }),
      );
      const rest = { host: '127.0.0.1', port: restPort };
      const startAgent = () => agent.start([file], { ready: async () => (await httpRequest(rest, 'GET', '/liveness', { timeoutMs: 500 })).status === 200, timeout: 30_000, signal });
      const node = runtime.manageNode(local, agent, startAgent);
      cluster.members.set(name, { name, node, agent, rest, dcsLinks, inbound });
      recorder.event('node-binaries', { node: name, source: node.origin });
    }

    // the first member bootstraps alone, so it is the one that initialises (or clones standbyOf)
    const [first, ...others] = config.members.map((n) => cluster.member(n));
    await startMember(first, cluster, signal);
    const leaderRole = input.standbyOf ? 'standby_leader' : 'leader';
    await waitForView(cluster, `${first.name} to bootstrap the cluster as its ${leaderRole}`, (v) => {
      const l = leaderOf(v);
      return l?.name === first.name && l.role === leaderRole && l.state === 'running';
    }, signal, [first]);
    if (!input.standbyOf) {
      await withNode(first.node, (client) => client.query('CREATE DATABASE pgdrill'), { database: 'postgres', timeout: 30_000 });
    }
    recorder.event('node-ready', { node: first.name, role: input.standbyOf ? 'standby' : 'primary', version: first.node.version, ...(input.standbyOf ? { of: input.standbyOf.name, baseBackup: 'patroni basebackup' } : {}) });
    // Patroni lets the rest clone the leader at once: in parallel
    await Promise.all(others.map((m) => startMember(m, cluster, signal)));
    await waitForView(cluster, `${others.map((m) => m.name).join(', ')} to join as replicas`, (v) =>
      others.every((m) => {
        const seen = v.members.find((x) => x.name === m.name);
        return seen !== undefined && seen.state === 'running' && typeof seen.lag === 'number';
      }),
    signal, others);
    for (const m of others) recorder.event('node-ready', { node: m.name, role: 'standby', of: first.name, version: m.node.version, baseBackup: 'patroni basebackup', via: `${m.inbound.address.host}:${m.inbound.address.port}` });
    return cluster;
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    throw err;
  }
}

async function startMember(member: PatroniMember, cluster: PatroniCluster, signal: AbortSignal): Promise<void> {
  try {
    await member.node.host!.start();
  } catch (err) {
    throw new EnvironmentError(`Patroni member ${member.name} did not start: ${errorMessage(err)}`, 'PGDRILL_PATRONI_NOT_READY');
  }
  void cluster;
  signal.throwIfAborted();
}

async function waitForView(cluster: PatroniCluster, what: string, done: (v: ClusterView) => boolean, signal: AbortSignal, suspects: PatroniMember[]): Promise<void> {
  const deadline = Date.now() + BOOTSTRAP_TIMEOUT_MS;
  let last = '';
  for (;;) {
    if (signal.aborted) throw new InterruptedError(`waiting for ${what} was interrupted`);
    try {
      const view = await cluster.view(1000, suspects[0]?.name);
      if (done(view)) return;
      last = view.members.map((m) => `${m.name} ${m.role} ${m.state}`).join(', ') || 'no members yet';
    } catch (err) {
      last = errorMessage(err);
    }
    const exited = suspects.find((m) => !m.agent.running);
    if (exited || Date.now() > deadline) {
      const tails = await Promise.all(suspects.map(async (m) => `--- patroni ${m.name} (last lines):\n${await m.agent.logTail(15)}\n--- PostgreSQL ${m.name}:\n${await m.node.logTail(10)}`));
      throw new EnvironmentError(
        `${exited ? `Patroni on ${exited.name} exited` : `timed out after ${BOOTSTRAP_TIMEOUT_MS / 1000}s`} waiting for ${what}; cluster: ${last}\n${tails.join('\n')}`,
        'PGDRILL_PATRONI_NOT_READY',
      );
    }
    await sleep(200, signal).catch(() => undefined);
  }
}

async function startEtcd(cluster: PatroniCluster, runtime: Runtime, count: 1 | 3, signal: AbortSignal): Promise<void> {
  const planned: { name: string; service: RunService; client: number; peer: number }[] = [];
  for (let i = 1; i <= count; i++) {
    const service = await runtime.createService!(`etcd${i}`, 'etcd');
    planned.push({ name: `etcd${i}`, service, client: await service.freePort(), peer: await service.freePort() });
  }
  const initialCluster = planned.map((e) => `${e.name}=http://127.0.0.1:${e.peer}`).join(',');
  // every member waits for a quorum: start them together
  await Promise.all(
    planned.map(async (e) => {
      const client = { host: '127.0.0.1', port: e.client };
      const dataDir = path.join(e.service.dir, 'data');
      await mkdir(dataDir, { mode: 0o700 }).catch(() => undefined);
      const owner = await stat(e.service.dir);
      await chown(dataDir, owner.uid, owner.gid);
      await e.service.start(
        [
          '--name', e.name,
          '--data-dir', dataDir,
          '--listen-client-urls', `http://127.0.0.1:${e.client}`,
          '--advertise-client-urls', `http://127.0.0.1:${e.client}`,
          '--listen-peer-urls', `http://127.0.0.1:${e.peer}`,
          '--initial-advertise-peer-urls', `http://127.0.0.1:${e.peer}`,
          '--initial-cluster', initialCluster,
          '--initial-cluster-state', 'new',
          '--initial-cluster-token', cluster.scope,
        ],
        { ready: async () => /"health":\s*"true"/.test((await httpRequest(client, 'GET', '/health', { timeoutMs: 500 })).body), timeout: 30_000, signal },
      );
      cluster.etcd.push({ name: e.name, service: e.service, client });
    }),
  );
  cluster.etcd.sort((a, b) => a.name.localeCompare(b.name));
}
