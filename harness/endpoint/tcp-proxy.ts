// A TCP proxy on 127.0.0.1 that forwards to a target: the client endpoint (it follows the
// primary; a cutover re-points it, as a Kubernetes Service or PgBouncer would) and each
// standby's replication link. Link faults act here: latency, bandwidth and blackholes per
// direction (link-shaper.ts), refused connections, reset sessions. While held (a write
// freeze) new connections wait instead of being refused, like PgBouncer's PAUSE.

import net from 'node:net';
import type { Address } from '../runtime/runtime.js';
import {
  LinkConditions,
  ShapedPipe,
  affects,
  type Direction,
  type DirectionSpec,
  type Impairment,
  type LinkTraffic,
} from './link-shaper.js';

interface Session {
  client: net.Socket;
  upstream: net.Socket;
  target: Address;
  pipes: Record<Direction, ShapedPipe>;
}

export interface TcpProxyOptions {
  /** names the link in messages ("client", "replication replica") */
  name?: string;
  /** for jitter; default Math.random */
  random?: () => number;
  /** where to listen; default 127.0.0.1 (a replication link on docker listens on the run network's gateway) */
  listenHost?: string;
}

const sameAddress = (a: Address, b: Address) => a.host === b.host && a.port === b.port;

export class TcpProxy {
  readonly name: string;
  /** the link's impairments; sessions consult it per chunk */
  readonly conditions: LinkConditions;
  /** bytes per direction since start, for the checks that a link fault took effect */
  readonly traffic: LinkTraffic = { upstream: { received: 0, delivered: 0 }, downstream: { received: 0, delivered: 0 } };
  /** connections accepted since start, for the report */
  accepted = 0;
  /** connections reset on arrival because the link rejects them */
  rejected = 0;

  private server?: net.Server;
  private target: Address;
  private held = false;
  private rejecting = 0;
  private readonly waiting: net.Socket[] = [];
  private readonly sessions = new Set<Session>();
  /** sessions with one side closed whose pipe still delivers what it held to the other */
  private readonly draining = new Set<Session>();
  /** sockets whose peer was reset by reset-peer: left dangling, as the far side of a reset is */
  private readonly orphans = new Set<net.Socket>();
  private listenAddress?: Address;
  private readonly listenHost: string;

  constructor(target: Address, options: TcpProxyOptions = {}) {
    this.target = target;
    this.listenHost = options.listenHost ?? '127.0.0.1';
    this.name = options.name ?? 'endpoint';
    this.conditions = new LinkConditions(options.random);
    this.conditions.onChange(() => this.conditionsChanged());
  }

  get address(): Address {
    if (!this.listenAddress) throw new Error(`${this.name} proxy is not listening`);
    return this.listenAddress;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  get currentTarget(): Address {
    return this.target;
  }

  async listen(): Promise<Address> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, this.listenHost, () => resolve());
    });
    const { port } = server.address() as net.AddressInfo;
    this.listenAddress = { host: this.listenHost, port };
    return this.listenAddress;
  }

  /** New connections go to `target` from now on; existing sessions are left alone. */
  retarget(target: Address): void {
    this.target = target;
  }

  /** New connections wait until release(); established sessions keep flowing. */
  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
    this.admitWaiting();
  }

  /** Applies a latency, bandwidth or blackhole impairment until the returned function is called. */
  impair(impairment: Impairment): () => void {
    return this.conditions.add(impairment);
  }

  /**
   * A partition that rejects: every established session is reset on both sides and every
   * new connection is reset on arrival, until the returned function is called.
   */
  reject(): { reset: number; heal: () => void } {
    this.rejecting++;
    for (const socket of this.waiting.splice(0)) this.reset(socket);
    const reset = this.resetSessions('both');
    let healed = false;
    return {
      reset,
      heal: () => {
        if (healed) return;
        healed = true;
        this.rejecting--;
      },
    };
  }

  /**
   * Sends a TCP reset to one side of every established session: `upstream` to the server,
   * `downstream` to the client, `both` to both. The side not reset is left dangling (it
   * hears nothing more), as the far end of a connection reset by a middlebox is.
   */
  resetSessions(direction: DirectionSpec = 'both'): number {
    let count = 0;
    for (const session of this.allSessions()) {
      this.forget(session);
      session.pipes.upstream.drop();
      session.pipes.downstream.drop();
      for (const [dir, socket] of [
        ['upstream', session.upstream],
        ['downstream', session.client],
      ] as const) {
        if (affects(direction, dir)) this.reset(socket);
        else this.orphan(socket);
      }
      count++;
    }
    return count;
  }

  /**
   * Ends every session whose upstream is `target` (a fenced or crashed server) at once; bytes
   * a link fault was still holding for them are lost. Clients reconnect.
   */
  closeSessionsTo(target: Address): number {
    let closed = 0;
    for (const session of this.allSessions()) {
      if (!sameAddress(session.target, target)) continue;
      this.forget(session);
      session.pipes.upstream.drop();
      session.pipes.downstream.drop();
      session.client.destroy();
      session.upstream.destroy();
      closed++;
    }
    return closed;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** connections accepted but not forwarded yet (held, or behind a blackhole) */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** bytes received and not yet delivered, per direction */
  heldBytes(direction: DirectionSpec = 'both'): number {
    let total = 0;
    for (const session of this.allSessions()) {
      if (affects(direction, 'upstream')) total += session.pipes.upstream.held;
      if (affects(direction, 'downstream')) total += session.pipes.downstream.held;
    }
    return total;
  }

  async close(): Promise<void> {
    for (const socket of this.waiting.splice(0)) socket.destroy();
    for (const session of this.allSessions()) {
      this.forget(session);
      session.pipes.upstream.drop();
      session.pipes.downstream.drop();
      session.client.destroy();
      session.upstream.destroy();
    }
    for (const socket of this.orphans) socket.destroy();
    this.orphans.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.accepted++;
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    if (this.rejecting > 0) {
      this.rejected++;
      this.reset(socket);
      return;
    }
    // a blackhole swallows the handshake too: the connection hangs until it lifts
    if (this.held || this.conditions.anyBlackhole) {
      this.waiting.push(socket);
      socket.once('close', () => {
        const i = this.waiting.indexOf(socket);
        if (i >= 0) this.waiting.splice(i, 1);
      });
      return;
    }
    this.connectUpstream(socket);
  }

  private admitWaiting(): void {
    if (this.held || this.conditions.anyBlackhole || this.rejecting > 0) return;
    for (const socket of this.waiting.splice(0)) {
      if (!socket.destroyed) this.connectUpstream(socket);
    }
  }

  private conditionsChanged(): void {
    for (const session of this.allSessions()) {
      session.pipes.upstream.pump();
      session.pipes.downstream.pump();
    }
    this.admitWaiting();
  }

  private connectUpstream(client: net.Socket): void {
    const target = this.target;
    const upstream = net.connect({ host: target.host, port: target.port });
    upstream.setNoDelay(true);
    upstream.on('error', () => undefined);
    const session: Session = {
      client,
      upstream,
      target,
      pipes: {
        upstream: new ShapedPipe(client, upstream, 'upstream', this.conditions, this.traffic.upstream),
        downstream: new ShapedPipe(upstream, client, 'downstream', this.conditions, this.traffic.downstream),
      },
    };
    this.sessions.add(session);
    // one side closing does not cut the other at once: what the pipe still holds for it is
    // delivered first, then it is ended. The session no longer counts as open once one side
    // is gone, and is forgotten when both are.
    let open = 2;
    const closed = () => {
      open--;
      if (!this.sessions.delete(session) && open > 0) return;
      if (open > 0) this.draining.add(session);
      else this.draining.delete(session);
    };
    client.once('close', closed);
    upstream.once('close', closed);
  }

  private allSessions(): Session[] {
    return [...this.sessions, ...this.draining];
  }

  private forget(session: Session): void {
    this.sessions.delete(session);
    this.draining.delete(session);
  }

  private reset(socket: net.Socket): void {
    if (socket.destroyed) return;
    try {
      socket.resetAndDestroy();
    } catch {
      socket.destroy();
    }
  }

  private orphan(socket: net.Socket): void {
    if (socket.destroyed) return;
    this.orphans.add(socket);
    // keep reading so its sender is not stuck on a full window; nothing is forwarded
    socket.on('data', () => undefined);
    socket.resume();
    socket.once('close', () => this.orphans.delete(socket));
  }
}
