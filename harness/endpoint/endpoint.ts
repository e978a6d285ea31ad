// What clients connect through, behind one interface, whatever stands there: pgdrill's TCP
// proxy, PgBouncer, HAProxy, or nothing (clients that find the primary themselves). Strategies
// and faults use what an endpoint can do, as capabilities (hold clients, be told where the
// primary is, drop sessions to a node, notice a promotion by itself), never its kind.

import type pg from 'pg';
import type { Address, ExternalConnection, RuntimeNode } from '../runtime/runtime.js';
import type { EndpointKind } from '../scenario/scenario.js';
import type { TcpProxy } from './tcp-proxy.js';

/**
 * How one workload session finds its server at each (re)connect when an address is not
 * enough (discovery: try the nodes until one is the writable primary). `connect` opens a
 * connection to one address; the opener returns the session to keep, having closed the others.
 */
export type SessionOpener = (connect: (address: Address) => Promise<pg.Client>) => Promise<pg.Client>;

/** How workload clients reach the server for one kind of work (writes, or reads). */
export interface ClientRoute {
  /** where a new connection goes, read at each (re)connect */
  address: () => Address;
  /** picks the server itself at each (re)connect instead of taking address() */
  open?: SessionOpener;
  /** false behind transaction pooling: no state survives a transaction, so no named prepared statements */
  sessionState: boolean;
  /** a session that gets a read-only error drops its connection, so the next operation looks again */
  dropOnReadOnly: boolean;
}

/** Holding clients at the endpoint during the freeze: PgBouncer's PAUSE, the proxy's hold. */
export interface PauseControl {
  /** what clients see while held, for the freeze's detail */
  readonly holding: string;
  /** holds new work; resolves once nothing is in flight to the server, or throws when that takes too long */
  pause(signal: AbortSignal): Promise<string>;
  /** lets held clients through; a no-op when not paused */
  resume(): Promise<string>;
}

/** When the endpoint, by itself, began routing writes to a node. */
export interface Followed {
  /** run time (ms) it was seen routing to the node */
  atMs: number;
  detail: string;
}

export interface Endpoint {
  readonly kind: EndpointKind;
  /** what runs it, for results and the report ("pgdrill TCP proxy", "PgBouncer 1.18.0 (Debian package ...)") */
  readonly origin: string;
  /** where clients connect, in words ("127.0.0.1:41234"; discovery lists every node) */
  readonly address: string;
  /** the postgres:// URL a program would use (PGDRILL_ENDPOINT_URL) */
  url(user: string, password: string, database: string): string;
  readonly writes: ClientRoute;
  readonly reads: ClientRoute;
  /** the proxies between the clients and the endpoint: link `client` faults act on these */
  readonly clientLinks: readonly TcpProxy[];
  /**
   * A node crashed: cut what the endpoint's own proxies still hold for it, as the host's
   * sockets die with it. A middlebox's sessions to it die by themselves. Returns how many.
   */
  cutSessionsTo(node: RuntimeNode): number;

  /**
   * present when the endpoint is the user's own (their Service, PgBouncer, DNS name): a client
   * logs in to it with these credentials and TLS settings, straight to it rather than through a
   * pgdrill proxy in front of a node
   */
  readonly ownLogin?: ExternalConnection;

  /** present when the endpoint can hold clients during the freeze */
  readonly pause?: PauseControl;
  /** tells the endpoint that `to` is the primary now (and `from` no longer); resolves with what it did */
  repoint?(to: RuntimeNode, from: RuntimeNode): Promise<string>;
  /** makes sure no server session through the endpoint is left on `from`; resolves with what it took */
  drain?(from: RuntimeNode, signal: AbortSignal): Promise<string>;
  /** waits until the endpoint routes writes to `to` by itself (health checks, lookups) */
  follow?(to: RuntimeNode, from: RuntimeNode, signal: AbortSignal): Promise<Followed>;

  /** stops what the endpoint started; safe to call twice */
  close(): Promise<void>;
}

/** postgres://user:password@host:port[,host:port...]/database[?query]: several hosts for discovery, as libpq reads them */
export function connectionUrl(user: string, password: string, hosts: Address[], database: string, query = ''): string {
  const where = hosts.map((a) => `${a.host}:${a.port}`).join(',');
  return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${where}/${encodeURIComponent(database)}${query ? `?${query}` : ''}`;
}
