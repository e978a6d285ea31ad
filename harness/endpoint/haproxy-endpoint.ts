// Endpoint kind haproxy: Debian's HAProxy as a service of the run, one backend server per node,
// an HTTP health check per server that passes on the writable primary only (health-agent.ts;
// Patroni's REST API later), inter/fall/rise from the scenario, `on-marked-down
// shutdown-sessions`, and a second frontend for reads that picks standbys. Nobody tells HAProxy
// about a promotion: its checks notice, and the watcher on its stats socket records when it
// marked each server up or down, so the time it took is the cutover step endpoint-follows.
// Clients reach both frontends through pgdrill proxies (the client links) so link faults act.

import path from 'node:path';
import type { RunService, RuntimeNode } from '../runtime/runtime.js';
import type { EndpointConfig, HealthCheckTiming } from '../scenario/scenario.js';
import { describeServiceProgramInfo } from './service-origin.js';
import { connectionUrl, type ClientRoute, type Endpoint, type Followed } from './endpoint.js';
import { READ_BACKEND, WRITE_BACKEND, haproxyConfig, primaryFallback } from './haproxy-config.js';
import { ServerStateWatcher, statsCommand } from './haproxy-stats.js';
import { PostgresHealthAgent, type HealthChecks } from './health-agent.js';
import { TcpProxy } from './tcp-proxy.js';
import { endpointService, stopService, type EndpointContext } from './endpoint-context.js';
import { DEFAULT_HEALTH_CHECK } from '../scenario/endpoint-rules.js';

/** How often the stats socket is polled: a state change is timed to within this. */
const WATCH_INTERVAL_MS = 20;
/** How long the health agent waits for a node's answer before it says 503. */
const AGENT_DEADLINE_MS = 1000;

export class HaproxyEndpoint implements Endpoint {
  readonly kind = 'haproxy' as const;
  readonly writes: ClientRoute;
  readonly reads: ClientRoute;
  readonly clientLinks: readonly TcpProxy[];

  private constructor(
    private readonly context: EndpointContext,
    private readonly timing: HealthCheckTiming,
    private readonly service: RunService,
    private readonly checks: HealthChecks,
    private readonly watcher: ServerStateWatcher,
    private readonly statsSocket: string,
    private readonly links: { write: TcpProxy; read: TcpProxy },
    private readonly members: string[],
    readsTo: 'primary' | 'standbys',
  ) {
    this.writes = { address: () => links.write.address, sessionState: true, dropOnReadOnly: false };
    this.reads = readsTo === 'standbys' ? { address: () => links.read.address, sessionState: true, dropOnReadOnly: false } : this.writes;
    this.clientLinks = [links.write, links.read];
  }

  /** `makeChecks`: what answers HAProxy's checks (default: pgdrill's PostgreSQL agent; with Patroni, its REST API) */
  static async start(
    config: EndpointConfig,
    context: EndpointContext,
    members: string[],
    makeChecks: (nodes: RuntimeNode[], deadlineMs: number) => Promise<HealthChecks> = (nodes, deadlineMs) => PostgresHealthAgent.start(nodes, deadlineMs),
  ): Promise<HaproxyEndpoint> {
    const { topology, recorder, signal } = context;
    const timing = config.check ?? DEFAULT_HEALTH_CHECK;
    const service = await endpointService(context.runtime, 'haproxy');
    // a node that has not answered within this is reported down. Not tied to `inter`: on a busy
    // machine a healthy node's answer can take 100 ms, and a check that fails for that marks the
    // new primary down right after it came up (seen here with inter 100ms)
    const deadlineMs = AGENT_DEADLINE_MS;
    const nodes = [...topology.nodes.values()];
    const checks = await makeChecks(nodes, deadlineMs);
    const opened: { close(): Promise<void> }[] = [checks];
    try {
      const writePort = await service.freePort();
      const readPort = await service.freePort();
      const statsSocket = path.join(service.dir, 'stats.sock');
      const file = await service.writeFile(
        'haproxy.cfg',
        haproxyConfig({
          writePort,
          readPort,
          statsSocket,
          timing,
          checkTimeoutMs: deadlineMs + 500,
          primaryPath: checks.primaryPath,
          replicaPath: checks.replicaPath,
          servers: nodes.map((n) => ({ name: n.name, address: n.peerAddress, checkAddress: checks.checkAddress(n.name), enabled: members.includes(n.name) })),
        }),
      );
      opened.push({ close: () => service.stop() });
      await service.start(['-db', '-f', file], {
        signal,
        ready: async () => (await statsCommand(statsSocket, 'show info', 500)).includes('Name: HAProxy'),
      });
      const watcher = new ServerStateWatcher(
        statsSocket,
        () => recorder.now(),
        (c) => recorder.event('endpoint-server-state', { backend: c.backend, server: c.server, state: c.state, previous: c.previous, check: c.check }),
        WATCH_INTERVAL_MS,
      );
      watcher.start();
      opened.push({ close: () => watcher.stop() });
      // HAProxy starts every checked server UP: wait until its checks leave the primary alone
      // in the write backend, so no client is sent to a standby before the load starts
      const primary = topology.primaryName;
      await watcher.until(
        `HAProxy routing writes to ${primary} only`,
        () =>
          watcher.state(WRITE_BACKEND, primary)?.state === 'UP' &&
          nodes.every((n) => n.name === primary || watcher.state(WRITE_BACKEND, n.name)?.state !== 'UP'),
        (timing.fall + timing.rise + 2) * timing.inter + 10_000,
        signal,
      );
      const write = new TcpProxy({ host: '127.0.0.1', port: writePort }, { name: 'client' });
      opened.push(write);
      await write.listen();
      const read = new TcpProxy({ host: '127.0.0.1', port: readPort }, { name: 'client reads' });
      opened.push(read);
      await read.listen();
      return new HaproxyEndpoint(context, timing, service, checks, watcher, statsSocket, { write, read }, [...members], config.reads ?? 'primary');
    } catch (err) {
      for (const thing of opened.reverse()) await thing.close().catch(() => undefined);
      throw err;
    }
  }

  get origin(): string {
    const t = this.timing;
    return `${describeServiceProgramInfo(this.service.program)}; checks inter ${t.inter}ms fall ${t.fall} rise ${t.rise}; ${this.checks.description}`;
  }

  get address(): string {
    const { write, read } = this.links;
    return `${write.address.host}:${write.address.port} (writes), ${read.address.host}:${read.address.port} (reads)`;
  }

  url(user: string, password: string, database: string): string {
    return connectionUrl(user, password, [this.links.write.address], database);
  }

  /** HAProxy's own sessions to a crashed node die with it; the client links only reach HAProxy. */
  cutSessionsTo(): number {
    return 0;
  }

  /** A standby is a member already (the checks decide); a blue/green target is taken out of maintenance. */
  async repoint(to: RuntimeNode): Promise<string> {
    if (this.members.includes(to.name)) return `nothing to tell HAProxy: ${to.name} is in its backends, and it routes to whichever node passes GET ${this.checks.primaryPath}`;
    for (const entry of [`${WRITE_BACKEND}/${to.name}`, `${READ_BACKEND}/${to.name}`, `${READ_BACKEND}/${primaryFallback(to.name)}`]) {
      const answer = (await statsCommand(this.statsSocket, `enable server ${entry}`)).trim();
      if (answer) throw new Error(`HAProxy refused "enable server ${entry}": ${answer}`);
    }
    this.members.push(to.name);
    return `enable server ${WRITE_BACKEND}/${to.name} (and its read entries): out of maintenance, HAProxy now checks it`;
  }

  async follow(to: RuntimeNode, from: RuntimeNode, signal: AbortSignal): Promise<Followed> {
    const { inter, rise } = this.timing;
    await this.watcher.poll();
    await this.watcher.until(`HAProxy marking ${to.name} UP in ${WRITE_BACKEND}`, () => this.watcher.state(WRITE_BACKEND, to.name)?.state === 'UP', (rise + 2) * inter + 15_000, signal);
    const up = this.watcher.state(WRITE_BACKEND, to.name)!;
    const old = this.watcher.state(WRITE_BACKEND, from.name);
    const oldText = old ? `${from.name} ${old.state} (${old.check})` : `${from.name} not seen`;
    // a server taken out of maintenance is UP at once, before its first check ("INI")
    const how = /^INI/.test(up.check) ? 'before any check ran: HAProxy takes a server out of maintenance as UP' : `check ${up.check}; rise ${rise} x inter ${inter}ms`;
    return {
      atMs: up.t,
      detail: `HAProxy marked ${to.name} UP in ${WRITE_BACKEND} (${how}; stats socket polled every ${WATCH_INTERVAL_MS}ms); ${oldText}`,
    };
  }

  async close(): Promise<void> {
    await this.watcher.stop();
    await Promise.allSettled([this.links.write.close(), this.links.read.close()]);
    await stopService(this.service, this.context.logDir);
    await this.checks.close();
  }
}
