// Starts the scenario's endpoint once the servers are up and in sync, before the load: the
// only place that picks an implementation by kind. Everything above it uses the Endpoint.

import { EnvironmentError } from '../errors.js';
import type { Runtime, ServiceProgram } from '../runtime/runtime.js';
import { endpointOf, type EndpointConfig, type Scenario } from '../scenario/scenario.js';
import type { EndpointContext } from './endpoint-context.js';
import type { Endpoint } from './endpoint.js';
import { ProxyEndpoint } from './proxy-endpoint.js';
import { PgBouncerEndpoint } from './pgbouncer-endpoint.js';
import { HaproxyEndpoint } from './haproxy-endpoint.js';
import { DiscoveryEndpoint } from './discovery-endpoint.js';
import { UrlEndpoint } from './url-endpoint.js';
import { initialMembers } from './members.js';
import { PatroniHealthChecks, PatroniLookup } from '../patroni/patroni-routing.js';

export type { EndpointContext } from './endpoint-context.js';

/** The helper program an endpoint kind runs, if any. */
export function serviceProgramOf(config: EndpointConfig): ServiceProgram | undefined {
  return config.kind === 'pgbouncer' || config.kind === 'haproxy' ? config.kind : undefined;
}

/**
 * What the endpoint needs from the environment, checked with the other binaries before any
 * node starts (exit 3 saying what to install).
 */
export async function preflightEndpoint(scenario: Scenario, runtime: Runtime): Promise<void> {
  const program = serviceProgramOf(endpointOf(scenario));
  if (!program) return;
  if (!runtime.serviceProgram) {
    throw new EnvironmentError(`endpoint ${program} cannot run on the ${runtime.kind} runtime`, 'PGDRILL_ENDPOINT_UNSUPPORTED');
  }
  await runtime.serviceProgram(program);
}

export async function createEndpoint(context: EndpointContext): Promise<Endpoint> {
  const { scenario, topology } = context;
  const config = endpointOf(scenario);
  const members = initialMembers(scenario, topology);
  const patroni = topology.patroni;
  if (patroni) {
    // clients may reach every member (Patroni picks the leader) and the node a standby cluster follows
    const clusterMembers = [...(scenario.patroni?.standbyOf ? [scenario.patroni.standbyOf] : []), ...patroni.members.keys()];
    if (config.kind === 'haproxy') return HaproxyEndpoint.start(config, context, clusterMembers, (nodes, deadlineMs) => PatroniHealthChecks.start(patroni, nodes, deadlineMs));
    if (config.kind === 'discovery') return DiscoveryEndpoint.start(context, clusterMembers, new PatroniLookup(patroni));
  }
  switch (config.kind) {
    case 'proxy':
      return ProxyEndpoint.start(topology.primary, { hold: scenario.strategy?.holdConnections ?? false });
    case 'pgbouncer':
      return PgBouncerEndpoint.start(config, context, members);
    case 'haproxy':
      return HaproxyEndpoint.start(config, context, members);
    case 'discovery':
      return DiscoveryEndpoint.start(context, members);
    case 'url':
      return UrlEndpoint.start(config, topology.primary, scenario.baseDir ?? process.cwd());
  }
}
