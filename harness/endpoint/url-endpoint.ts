// Endpoint kind url (runtime external): the user's own endpoint, a Kubernetes Service, their
// PgBouncer, a DNS name. pgdrill only connects through it: it cannot re-point, hold or fault it
// (no client links), and a cutover waits until a write through it succeeds again.

import type { ExternalConnection, RuntimeNode } from '../runtime/runtime.js';
import { resolveExternalConnection, tlsThroughProxy } from '../runtime/external/external-connection.js';
import type { DbCredentials } from '../workload/reconnecting-client.js';
import type { EndpointConfig } from '../scenario/scenario.js';
import type { ClientRoute, Endpoint } from './endpoint.js';
import type { TcpProxy } from './tcp-proxy.js';

export class UrlEndpoint implements Endpoint {
  readonly kind = 'url' as const;
  readonly writes: ClientRoute;
  readonly reads: ClientRoute;
  readonly clientLinks: readonly TcpProxy[] = [];

  private constructor(readonly ownLogin: ExternalConnection) {
    const connection = ownLogin;
    const address = { host: connection.host, port: connection.port };
    this.writes = { address: () => address, sessionState: true, dropOnReadOnly: true };
    this.reads = this.writes;
  }

  /** The endpoint's URL; its password, when it has none, is the first primary's. */
  static async start(config: EndpointConfig, primary: RuntimeNode, baseDir: string): Promise<UrlEndpoint> {
    const given = await resolveExternalConnection({ name: 'endpoint', url: config.url }, { baseDir });
    const password = given.password ?? primary.external?.password;
    const connection = password !== undefined && given.password === undefined ? withPassword(given, password) : given;
    return new UrlEndpoint(connection);
  }

  get origin(): string {
    return `your own endpoint ${this.ownLogin.redacted} (pgdrill only connects through it)`;
  }

  get address(): string {
    return `${this.ownLogin.host}:${this.ownLogin.port}`;
  }

  /** The endpoint's own URL (PGDRILL_ENDPOINT_URL); the run's user and database are the URL's. */
  url(): string {
    return this.ownLogin.url;
  }

  /** The user's endpoint holds its sessions itself. */
  cutSessionsTo(): number {
    return 0;
  }

  async close(): Promise<void> {}
}

function withPassword(connection: ExternalConnection, password: string): ExternalConnection {
  const url = new URL(connection.url);
  url.password = encodeURIComponent(password);
  return { ...connection, password, url: url.toString() };
}

/**
 * PGDRILL_ENDPOINT_URL on runtime external: the user's own endpoint's URL, or pgdrill's
 * endpoint with the first primary's user, password, database and TLS parameters.
 */
export function endpointUrlFor(endpoint: Endpoint, primary: RuntimeNode): string {
  if (endpoint.ownLogin) return endpoint.ownLogin.url;
  const external = primary.external;
  if (!external) return endpoint.url(primary.credentials.superuser, primary.credentials.superuserPassword, 'pgdrill');
  const base = endpoint.url(external.user, external.password ?? '', external.database);
  const query = new URL(external.url).search;
  return query ? `${base}${base.includes('?') ? '&' + query.slice(1) : query}` : base;
}

/**
 * How a client logs in through the endpoint on external servers: with the user's own
 * endpoint's URL, or with the first primary's URL through pgdrill's proxy (TLS re-aimed at the
 * node behind it).
 */
export function externalLogin(primary: RuntimeNode, endpoint: Endpoint): DbCredentials {
  const c = endpoint.ownLogin ?? primary.external!;
  const ssl = endpoint.ownLogin ? c.ssl : tlsThroughProxy(c);
  return { user: c.user, password: c.password ?? '', database: c.database, ...(ssl ? { ssl } : {}) };
}
