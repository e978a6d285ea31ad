// haproxy.cfg as pgdrill writes it (pure). Two TCP frontends: writes, whose backend has every
// node with an HTTP health check that passes on the writable primary only, and reads, whose
// backend checks for standbys and falls back to the primary (backup servers that track the
// write backend's verdict). `on-marked-down shutdown-sessions`: a node marked down loses its
// sessions at once, so clients do not stay on an old primary turned read-only. The stats
// socket (admin level) is how pgdrill watches server states and enables a blue/green target.

import type { Address } from '../runtime/runtime.js';
import type { HealthCheckTiming } from '../scenario/scenario.js';

export const WRITE_BACKEND = 'pgdrill_write';
export const READ_BACKEND = 'pgdrill_read';
/** The name of a node's backup entry in the read backend (it tracks the node in the write backend). */
export const primaryFallback = (node: string) => `${node}_as_primary`;

export interface HaproxyServer {
  name: string;
  /** where HAProxy forwards client connections */
  address: Address;
  /** where its HTTP health check goes */
  checkAddress: Address;
  /** false: in maintenance until enabled (a blue/green target before its cutover) */
  enabled: boolean;
}

export interface HaproxyConfigOptions {
  writePort: number;
  readPort: number;
  statsSocket: string;
  timing: HealthCheckTiming;
  /** ms HAProxy waits for a check's answer */
  checkTimeoutMs: number;
  /** paths of the HTTP checks: 200 means writable primary / standby */
  primaryPath: string;
  replicaPath: string;
  servers: HaproxyServer[];
}

function server(s: HaproxyServer, extra = ''): string {
  const check = `check addr ${s.checkAddress.host} port ${s.checkAddress.port}`;
  return `    server ${s.name} ${s.address.host}:${s.address.port} ${check}${extra}${s.enabled ? '' : ' disabled'}`;
}

export function haproxyConfig(options: HaproxyConfigOptions): string {
  const { timing } = options;
  return [
    '# written by pgdrill',
    'global',
    '    maxconn 4096',
    `    stats socket ${options.statsSocket} mode 600 level admin`,
    '    stats timeout 10s',
    // server state changes and one line per client connection (with its timers and retries)
    '    log stderr format raw local0 info',
    '',
    'defaults',
    '    mode tcp',
    '    log global',
    '    option tcplog',
    '    timeout connect 2s',
    '    timeout client 1h',
    '    timeout server 1h',
    '    timeout queue 2s',
    // a connection sent to a server that then died retries (1 s apart); redispatch lets each
    // retry go to whichever server is up by then instead of the dead one three times over
    '    retries 3',
    '    option redispatch 1',
    `    timeout check ${options.checkTimeoutMs}ms`,
    `    default-server inter ${timing.inter}ms fall ${timing.fall} rise ${timing.rise} on-marked-down shutdown-sessions`,
    '',
    'frontend pgdrill_writes',
    `    bind 127.0.0.1:${options.writePort}`,
    `    default_backend ${WRITE_BACKEND}`,
    '',
    `backend ${WRITE_BACKEND}`,
    `    option httpchk GET ${options.primaryPath}`,
    '    http-check expect status 200',
    ...options.servers.map((s) => server(s)),
    '',
    'frontend pgdrill_reads',
    `    bind 127.0.0.1:${options.readPort}`,
    `    default_backend ${READ_BACKEND}`,
    '',
    `backend ${READ_BACKEND}`,
    '    balance roundrobin',
    `    option httpchk GET ${options.replicaPath}`,
    '    http-check expect status 200',
    ...options.servers.map((s) => server(s)),
    // no standby up: reads go to whichever node the write backend has up
    ...options.servers.map(
      (s) => `    server ${primaryFallback(s.name)} ${s.address.host}:${s.address.port} backup track ${WRITE_BACKEND}/${s.name}${s.enabled ? '' : ' disabled'}`,
    ),
    '',
  ].join('\n');
}
