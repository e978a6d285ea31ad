// Endpoint kind discovery: no middlebox. Every workload client keeps the node list and, on each
// (re)connect, takes the writable primary itself (primary-lookup.ts); a session refused as
// read-only drops its connection and looks again. Each node is reached through a pgdrill proxy
// of its own, the client link, so link `client` faults still act between clients and servers.
// A cutover tells it nothing it does not find out (a blue/green target joins the node list at
// the re-point); the `endpoint-follows` step times how soon a lookup finds the new primary.

import pg from 'pg';
import type { Address, ExternalConnection, RuntimeNode } from '../runtime/runtime.js';
import { tlsThroughProxy } from '../runtime/external/external-connection.js';
import { DATABASE } from '../topology/connect.js';
import { errorMessage } from '../errors.js';
import { connectionUrl, type ClientRoute, type Endpoint, type Followed, type SessionOpener } from './endpoint.js';
import { readWriteLookup, type Candidate, type PrimaryLookup } from './primary-lookup.js';
import { TcpProxy } from './tcp-proxy.js';
import type { EndpointContext } from './endpoint-context.js';

const FOLLOW_POLL_MS = 20;
const FOLLOW_TIMEOUT_MS = 30_000;

export class DiscoveryEndpoint implements Endpoint {
  readonly kind = 'discovery' as const;
  readonly writes: ClientRoute;
  readonly reads: ClientRoute;

  private constructor(
    private readonly context: EndpointContext,
    private readonly links: Map<string, TcpProxy>,
    private readonly members: string[],
    private readonly lookup: PrimaryLookup,
  ) {
    const open: SessionOpener = async (connect) => (await this.lookup.open(this.candidates(), connect)).client;
    this.writes = { address: () => this.candidates()[0].address, open, sessionState: true, dropOnReadOnly: true };
    this.reads = this.writes;
  }

  /** A proxy per node (the client link); the members are the nodes clients may pick. */
  static async start(context: EndpointContext, members: string[], lookup: PrimaryLookup = readWriteLookup): Promise<DiscoveryEndpoint> {
    const links = new Map<string, TcpProxy>();
    try {
      for (const [name, node] of context.topology.nodes) {
        const proxy = new TcpProxy(node.address, { name: `client ${name}` });
        await proxy.listen();
        links.set(name, proxy);
      }
    } catch (err) {
      await Promise.allSettled([...links.values()].map((p) => p.close()));
      throw err;
    }
    return new DiscoveryEndpoint(context, links, [...members], lookup);
  }

  get origin(): string {
    return `client-side discovery: ${this.lookup.description}`;
  }

  get clientLinks(): readonly TcpProxy[] {
    return [...this.links.values()];
  }

  get address(): string {
    return this.candidates()
      .map((c) => `${c.name} ${c.address.host}:${c.address.port}`)
      .join(', ');
  }

  /** The node list clients hold, in order. */
  candidates(): Candidate[] {
    return this.members.map((name) => ({ name, address: this.links.get(name)!.address }));
  }

  url(user: string, password: string, database: string): string {
    return connectionUrl(user, password, this.candidates().map((c) => c.address), database, 'target_session_attrs=read-write');
  }

  cutSessionsTo(node: RuntimeNode): number {
    return this.links.get(node.name)?.closeSessionsTo(node.address) ?? 0;
  }

  /** A blue/green target joins the clients' node list; a standby already is on it. */
  async repoint(to: RuntimeNode): Promise<string> {
    if (this.members.includes(to.name)) return `nothing to tell: ${to.name} is on the clients' node list already, they find it when they reconnect`;
    this.members.push(to.name);
    return `${to.name} added to the clients' node list (${this.members.join(', ')})`;
  }

  /** Looks up the primary as a client would, until the lookup picks `to`. */
  async follow(to: RuntimeNode, _from: RuntimeNode, signal: AbortSignal): Promise<Followed> {
    const { recorder, credentials } = this.context;
    const deadline = performance.now() + FOLLOW_TIMEOUT_MS;
    let last = '';
    let lookups = 0;
    while (!signal.aborted && performance.now() < deadline) {
      lookups++;
      try {
        const external = this.context.topology.primary.external;
        const found = await this.lookup.open(this.candidates(), (address) => connectOnce(address, credentials.superuser, credentials.superuserPassword, external));
        const atMs = recorder.now();
        await found.client.end().catch(() => undefined);
        if (found.chosen.name === to.name) {
          return { atMs, detail: `a lookup over ${this.members.join(', ')} finds ${to.name} (after ${lookups} lookup${lookups === 1 ? '' : 's'} from the harness)` };
        }
        last = `the lookup picked ${found.chosen.name}`;
      } catch (err) {
        last = errorMessage(err);
      }
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS));
    }
    throw new Error(`no lookup found ${to.name} as the writable primary within ${FOLLOW_TIMEOUT_MS / 1000}s; last: ${last}`);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.links.values()].map((p) => p.close()));
  }
}

async function connectOnce(address: Address, user: string, password: string, external?: ExternalConnection): Promise<pg.Client> {
  // runtime external: the servers' own database and TLS, checked against the server's name
  const ssl = external && tlsThroughProxy(external);
  const client = new pg.Client({
    host: address.host,
    port: address.port,
    user,
    password,
    database: external?.database ?? DATABASE,
    ...(ssl ? { ssl } : {}),
    connectionTimeoutMillis: 2000,
    query_timeout: 2000,
    application_name: 'pgdrill-harness-lookup',
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}
