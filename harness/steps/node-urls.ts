// The connection URLs a command step finds in its environment: PGDRILL_<NODE>_URL for every
// node and PGDRILL_ENDPOINT_URL, as postgres:// URLs libpq, psql and node-postgres all read.

import type { Address, RuntimeNode } from '../runtime/runtime.js';

export const ENDPOINT_URL_VARIABLE = 'PGDRILL_ENDPOINT_URL';

/** "replica-2" -> "PGDRILL_REPLICA_2_URL": node names allow '-', which no shell variable name may hold. */
export function nodeUrlVariable(nodeName: string): string {
  return `PGDRILL_${nodeName.toUpperCase().replace(/-/g, '_')}_URL`;
}

/**
 * Node names that would land on the same variable ("a-b" and "a_b"), or on the endpoint's
 * ("endpoint"), so that one would silently hide the other. Each group lists its node names.
 */
export function clashingUrlVariables(nodeNames: readonly string[]): { variable: string; nodes: string[] }[] {
  const byVariable = new Map<string, string[]>();
  for (const name of nodeNames) {
    const variable = nodeUrlVariable(name);
    byVariable.set(variable, [...(byVariable.get(variable) ?? []), name]);
  }
  return [...byVariable.entries()]
    .filter(([variable, nodes]) => nodes.length > 1 || variable === ENDPOINT_URL_VARIABLE)
    .map(([variable, nodes]) => ({ variable, nodes }));
}

export interface UrlParts {
  address: Address;
  user: string;
  password: string;
  database: string;
}

/**
 * postgres://user:password@host:port/database with every part percent-encoded: a password
 * holding '@', ':' or '/' would otherwise move the host or the database.
 */
export function postgresUrl({ address, user, password, database }: UrlParts): string {
  // an IPv6 literal must be bracketed, or its colons read as the port separator
  const host = address.host.includes(':') && !address.host.startsWith('[') ? `[${address.host}]` : address.host;
  const userInfo = `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
  return `postgres://${userInfo}@${host}:${address.port}/${encodeURIComponent(database)}`;
}

/** The node's own address (not the endpoint's) with the run's superuser. */
export function nodeUrl(node: Pick<RuntimeNode, 'address' | 'credentials' | 'external'>, database: string): string {
  // a server pgdrill did not start: its own URL, TLS parameters and all
  if (node.external) return node.external.url;
  return postgresUrl({
    address: node.address,
    user: node.credentials.superuser,
    password: node.credentials.superuserPassword,
    database,
  });
}

/**
 * The variables pgdrill adds to a command step's environment (on top of the parent's and the
 * step's own), keyed by the scenario's node names: those are the names the user's script knows.
 */
export function stepUrlVariables(
  nodes: Readonly<Record<string, Pick<RuntimeNode, 'address' | 'credentials' | 'external'>>>,
  endpointUrl: string,
  database: string,
): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const [name, node] of Object.entries(nodes)) variables[nodeUrlVariable(name)] = nodeUrl(node, database);
  // set last: a node named "endpoint" is refused by the scenario loader, but never wins here either
  variables[ENDPOINT_URL_VARIABLE] = endpointUrl;
  return variables;
}
