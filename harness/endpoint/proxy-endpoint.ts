// Endpoint kind proxy (the default): pgdrill's own TCP proxy in front of the primary, re-pointed
// by hand at the cutover as a Kubernetes Service would be, holding new connections during the
// freeze when the strategy asks (holdConnections). It is its own client link.

import type { RuntimeNode } from '../runtime/runtime.js';
import { connectionUrl, type ClientRoute, type Endpoint, type PauseControl } from './endpoint.js';
import { TcpProxy } from './tcp-proxy.js';

export class ProxyEndpoint implements Endpoint {
  readonly kind = 'proxy' as const;
  readonly origin = 'pgdrill TCP proxy';
  readonly writes: ClientRoute;
  readonly reads: ClientRoute;
  readonly clientLinks: readonly TcpProxy[];
  readonly pause?: PauseControl;

  private constructor(readonly proxy: TcpProxy, hold: boolean) {
    const route: ClientRoute = { address: () => proxy.address, sessionState: true, dropOnReadOnly: false };
    this.writes = route;
    this.reads = route;
    this.clientLinks = [proxy];
    if (hold) {
      this.pause = {
        holding: 'new connections held at the endpoint',
        pause: async () => {
          proxy.hold();
          return 'new connections are held at the endpoint until the resume';
        },
        resume: async () => {
          proxy.release();
          return 'held connections released to the new primary';
        },
      };
    }
  }

  /** Listens on 127.0.0.1 and forwards to `primary`; `hold` gives it the pause capability. */
  static async start(primary: RuntimeNode, options: { hold: boolean }): Promise<ProxyEndpoint> {
    const proxy = new TcpProxy(primary.address);
    await proxy.listen();
    return new ProxyEndpoint(proxy, options.hold);
  }

  get address(): string {
    return `${this.proxy.address.host}:${this.proxy.address.port}`;
  }

  url(user: string, password: string, database: string): string {
    return connectionUrl(user, password, [this.proxy.address], database);
  }

  cutSessionsTo(node: RuntimeNode): number {
    return this.proxy.closeSessionsTo(node.address);
  }

  async repoint(to: RuntimeNode, from: RuntimeNode): Promise<string> {
    this.proxy.retarget(to.address);
    const moved = this.proxy.closeSessionsTo(from.address);
    return `endpoint -> ${to.name} (${to.address.host}:${to.address.port}); ${moved} sessions to ${from.name} closed`;
  }

  close(): Promise<void> {
    return this.proxy.close();
  }
}
