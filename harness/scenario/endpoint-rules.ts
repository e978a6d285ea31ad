// The endpoint section across fields: which fields belong to which kind (a PgBouncer pool on an
// HAProxy endpoint is a mistake, not a no-op), what a strategy may ask of each kind, and the
// defaults each kind resolves to, so results.json records what actually ran.

import type { Problem } from '../errors.js';
import { endpointOf, type EndpointConfig, type EndpointKind, type HealthCheckTiming, type Scenario, type WorkloadConfig } from './scenario.js';

/** The fields each kind takes besides `kind`. */
const FIELDS_OF: Record<EndpointKind, readonly (keyof EndpointConfig)[]> = {
  proxy: [],
  pgbouncer: ['pool', 'pauseTimeout', 'queryWaitTimeout', 'settings'],
  haproxy: ['check', 'reads'],
  discovery: [],
  url: ['url'],
};

/** [pgbouncer] settings pgdrill writes itself: where it listens, how it authenticates, what the cutover relies on. */
export const MANAGED_PGBOUNCER_SETTINGS = [
  'listen_addr',
  'listen_port',
  'unix_socket_dir',
  'auth_type',
  'auth_file',
  'auth_user',
  'auth_query',
  'admin_users',
  'pool_mode',
  'query_wait_timeout',
  'logfile',
  'pidfile',
  'user',
] as const;

/** HAProxy's own defaults (inter 2s, fall 3, rise 2): what an untuned HAProxy does. */
export const DEFAULT_HEALTH_CHECK: HealthCheckTiming = { inter: 2000, fall: 3, rise: 2 };
export const DEFAULT_PAUSE_TIMEOUT = 5000;
/** Over the clients' own timeouts, so PgBouncer never fails a waiting client before the client gives up itself. */
const QUERY_WAIT_MARGIN = 1000;

type RawEndpoint = Partial<Omit<EndpointConfig, 'check'>> & { check?: Partial<HealthCheckTiming> };

/** Problems of the endpoint section that need another field (or another section) to see. */
export function endpointProblems(endpoint: RawEndpoint | undefined, rawStrategy: Record<string, unknown> | undefined): Problem[] {
  if (!endpoint) return [];
  const kind = endpoint.kind ?? 'proxy';
  const problems: Problem[] = [];
  for (const [other, fields] of Object.entries(FIELDS_OF) as [EndpointKind, readonly (keyof EndpointConfig)[]][]) {
    if (other === kind) continue;
    for (const field of fields) {
      if (endpoint[field] !== undefined && !FIELDS_OF[kind].includes(field)) {
        problems.push({ path: `endpoint.${field}`, message: `applies to endpoint kind ${other} only; remove it for kind ${kind}` });
      }
    }
  }
  for (const name of Object.keys(endpoint.settings ?? {})) {
    if ((MANAGED_PGBOUNCER_SETTINGS as readonly string[]).includes(name)) {
      problems.push({
        path: `endpoint.settings.${name}`,
        message:
          name === 'pool_mode' || name === 'query_wait_timeout'
            ? `is set by endpoint.${name === 'pool_mode' ? 'pool' : 'queryWaitTimeout'}; use that field instead`
            : 'is managed by pgdrill (where PgBouncer listens and how it authenticates); remove it',
      });
    }
  }
  if (rawStrategy?.holdConnections === true && kind !== 'proxy') {
    problems.push({
      path: 'strategy.holdConnections',
      message:
        kind === 'pgbouncer'
          ? 'PgBouncer holds clients itself at a cutover (PAUSE ... RESUME); remove holdConnections'
          : `endpoint kind ${kind} cannot hold connections (${kind === 'haproxy' ? 'HAProxy only routes by its health checks' : 'there is no middlebox'}); ` +
            'remove holdConnections, or use endpoint kind proxy or pgbouncer',
    });
  }
  return problems;
}

/** The endpoint with its kind's defaults filled in; undefined stays undefined (the TCP proxy, as before). */
export function resolveEndpoint(endpoint: RawEndpoint | undefined, workload: WorkloadConfig): EndpointConfig | undefined {
  if (!endpoint) return undefined;
  const kind = endpoint.kind ?? 'proxy';
  switch (kind) {
    case 'proxy':
    case 'discovery':
      return { kind };
    case 'pgbouncer':
      return {
        kind,
        pool: endpoint.pool ?? 'transaction',
        pauseTimeout: endpoint.pauseTimeout ?? DEFAULT_PAUSE_TIMEOUT,
        queryWaitTimeout: endpoint.queryWaitTimeout ?? defaultQueryWaitTimeout(workload),
        settings: endpoint.settings ?? {},
      };
    case 'haproxy':
      return { kind, check: { ...DEFAULT_HEALTH_CHECK, ...definedOnly(endpoint.check ?? {}) }, reads: endpoint.reads ?? 'primary' };
    case 'url':
      return { kind, ...(endpoint.url !== undefined ? { url: endpoint.url } : {}) };
  }
}

/** The longest any workload client waits for an answer, plus a margin. */
export function defaultQueryWaitTimeout(workload: WorkloadConfig): number {
  return Math.max(workload.writes.timeout, workload.reads.timeout, workload.probe.timeout) + QUERY_WAIT_MARGIN;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * What this version cannot run, refused before anything starts (exit 2): PgBouncer and HAProxy
 * run as local processes only; on the docker runtime they would have to run in containers of
 * the run's network, which is not built yet.
 */
export function unsupportedEndpoint(scenario: Pick<Scenario, 'endpoint' | 'runtime'>): Problem[] {
  const { kind } = endpointOf(scenario);
  if (scenario.runtime === 'docker' && (kind === 'pgbouncer' || kind === 'haproxy')) {
    return [
      {
        path: 'endpoint.kind',
        message:
          `${kind} runs as a local process of the run only; on the docker runtime it would need a ${kind} container on the run's network, ` +
          `which pgdrill does not start yet: use --runtime local, or endpoint kind proxy or discovery on docker`,
      },
    ];
  }
  return [];
}
