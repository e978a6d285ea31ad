// The endpoint clients connect to: a TCP proxy on 127.0.0.1 that forwards to the current
// primary. A cutover re-points it, the way a Kubernetes Service selector switch or a
// PgBouncer reconfigure would. While held (during a write freeze) new connections wait
// instead of being refused, like PgBouncer's PAUSE; they go to the new target on release.

import net from 'node:net';
import type { Address } from '../runtime/runtime.js';

interface Session {
  client: net.Socket;
  upstream?: net.Socket;
  target: Address;
}

export class TcpProxy {
  private server?: net.Server;
  private target: Address;
  private held = false;
  private readonly waiting: net.Socket[] = [];
  private readonly sessions = new Set<Session>();
  private listenAddress?: Address;
  /** connections accepted since start, for the report */
  accepted = 0;

  constructor(target: Address) {
    this.target = target;
  }

  get address(): Address {
    if (!this.listenAddress) throw new Error('endpoint is not listening');
    return this.listenAddress;
  }

  get currentTarget(): Address {
    return this.target;
  }

  async listen(): Promise<Address> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as net.AddressInfo;
    this.listenAddress = { host: '127.0.0.1', port };
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
    for (const socket of this.waiting.splice(0)) {
      if (!socket.destroyed) this.connectUpstream(socket);
    }
  }

  /** Ends every session whose upstream is `target` (the fenced old primary); clients reconnect. */
  closeSessionsTo(target: Address): number {
    let closed = 0;
    for (const session of this.sessions) {
      if (session.target.host === target.host && session.target.port === target.port) {
        session.client.destroy();
        session.upstream?.destroy();
        closed++;
      }
    }
    return closed;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  async close(): Promise<void> {
    for (const socket of this.waiting.splice(0)) socket.destroy();
    for (const session of this.sessions) {
      session.client.destroy();
      session.upstream?.destroy();
    }
    this.sessions.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.accepted++;
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    if (this.held) {
      this.waiting.push(socket);
      socket.once('close', () => {
        const i = this.waiting.indexOf(socket);
        if (i >= 0) this.waiting.splice(i, 1);
      });
      return;
    }
    this.connectUpstream(socket);
  }

  private connectUpstream(client: net.Socket): void {
    const target = this.target;
    const upstream = net.connect({ host: target.host, port: target.port });
    upstream.setNoDelay(true);
    const session: Session = { client, upstream, target };
    this.sessions.add(session);
    const end = () => {
      this.sessions.delete(session);
      client.destroy();
      upstream.destroy();
    };
    upstream.on('error', end);
    client.on('error', end);
    upstream.on('close', end);
    client.on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
