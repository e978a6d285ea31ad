// PgBouncer's files as pgdrill writes them (pure): pgbouncer.ini with one [databases] entry per
// database clients use, all pointing at the primary, and the auth file with the role's SCRAM
// secret (PgBouncer checks clients against it and, because the secret is the server's own,
// logs into the server with the client's proof: no password in any file).

import type { Address } from '../runtime/runtime.js';
import type { PoolMode } from '../scenario/scenario.js';

export interface PgBouncerIniOptions {
  /** database name -> where it lives now (the primary) */
  databases: Record<string, Address>;
  listenPort: number;
  /** holds the unix socket of the admin console (and of the pooler) */
  socketDir: string;
  authFile: string;
  adminUser: string;
  pool: PoolMode;
  /** ms a client may wait for a server connection: paused clients wait this long */
  queryWaitTimeoutMs: number;
  /** server connections per database and user: enough for every workload connection */
  poolSize: number;
  /** more [pgbouncer] settings, verbatim; they win over pgdrill's defaults below */
  settings: Record<string, string>;
}

/**
 * pgdrill's defaults where PgBouncer's own would distort a drill: server_login_retry is 15 s by
 * default, so after one failed login (the dead primary of a failover) the pool would wait 15 s
 * before trying the new one. A scenario's endpoint.settings may put the default back.
 */
export const PGDRILL_PGBOUNCER_DEFAULTS: Record<string, string> = {
  server_login_retry: '0.1',
  max_client_conn: '1000',
  // node-postgres does not send it, other drivers do; PgBouncer refuses unknown startup parameters
  ignore_startup_parameters: 'extra_float_digits',
};

/** ms -> PgBouncer's seconds (fractions allowed). */
export function seconds(ms: number): string {
  return String(Math.round(ms) / 1000);
}

/** libpq-style key=value (pgdrill's hosts, ports and database names need no quoting). */
function connectString(database: string, address: Address): string {
  return `host=${address.host} port=${address.port} dbname=${database}`;
}

export function pgbouncerIni(options: PgBouncerIniOptions): string {
  const databases = Object.entries(options.databases).map(([name, address]) => `${name} = ${connectString(name, address)}`);
  const settings: Record<string, string> = {
    listen_addr: '127.0.0.1',
    listen_port: String(options.listenPort),
    unix_socket_dir: options.socketDir,
    auth_type: 'scram-sha-256',
    auth_file: options.authFile,
    admin_users: options.adminUser,
    pool_mode: options.pool,
    query_wait_timeout: seconds(options.queryWaitTimeoutMs),
    default_pool_size: String(options.poolSize),
    ...PGDRILL_PGBOUNCER_DEFAULTS,
    ...options.settings,
  };
  return [
    '; written by pgdrill: [databases] is rewritten and RELOADed at a cutover',
    '[databases]',
    ...databases,
    '',
    '[pgbouncer]',
    ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`),
    '',
  ].join('\n');
}

/** One auth_file line: "user" "secret", with " doubled inside as PgBouncer reads it. */
export function authFileLine(user: string, secret: string): string {
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return `${quote(user)} ${quote(secret)}\n`;
}

export interface ServerRow {
  database: string;
  state: string;
  addr: string;
  port: number;
}

/** SHOW SERVERS rows whose far end is `address` (PgBouncer shows the resolved IP). */
export function serversOn(rows: readonly ServerRow[], address: Address): ServerRow[] {
  return rows.filter((r) => r.addr === address.host && Number(r.port) === address.port);
}

/** "2 active, 1 idle" */
export function describeServers(rows: readonly ServerRow[]): string {
  if (rows.length === 0) return 'none';
  const byState = new Map<string, number>();
  for (const r of rows) byState.set(r.state, (byState.get(r.state) ?? 0) + 1);
  return [...byState].map(([state, n]) => `${n} ${state}`).join(', ');
}
