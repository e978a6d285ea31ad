// The scenario fields of "servers pgdrill does not start" (runtime external): a node's url and
// where its password comes from, the cutover's own command, seed.existing, and the rules that
// relate them to the rest of the file (what pgdrill cannot do to a server it did not start is
// refused, each with its fix). Nothing here connects anywhere or reads a file.

import { z } from 'zod';
import type { Problem } from '../errors.js';
import { parseDuration } from '../util/units.js';
import { LINK_FAULTS, NODE_FAULTS } from './scenario.js';

/** ms: how long a cutover command may take, and the new primary to accept writes after its start, unless cutover.timeout says */
export const DEFAULT_EXTERNAL_CUTOVER_TIMEOUT = 120_000;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

function quote(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 60 ? text.slice(0, 57) + '...' : text;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const text = (what: string, example: string) =>
  z
    .string({ error: (iss) => (iss.input === undefined ? `required: ${what}, e.g. ${example}` : `expected ${what} (a string), got ${quote(iss.input)}`) })
    .refine((s) => s.trim() !== '', { error: `must not be empty: give ${what}, e.g. ${example}` });

export const externalNodeFields = {
  url: text('the server\'s postgres:// URL', '"postgres://drill@staging-db:5432/app?sslmode=require"').optional(),
  passwordFile: text('the path of a file holding the password (relative to the scenario file)', '"./secrets/drill-password"').optional(),
  passwordEnv: z
    .string({ error: (iss) => `expected the name of an environment variable holding the password, e.g. "STAGING_PASSWORD", got ${quote(iss.input)}` })
    .regex(ENV_NAME_RE, { error: (iss) => `${quote(iss.input)} is not an environment variable name (letters, digits and "_", not starting with a digit)` })
    .optional(),
};

export const externalSeedFields = {
  existing: z
    .boolean({ error: (iss) => `expected true or false (use the tables already in the database), got ${quote(iss.input)}` })
    .optional(),
};

export const externalCutoverFields = {
  command: text('your cutover command (run through /bin/sh -c in the scenario file\'s folder)', '"kubectl cnpg promote staging-db staging-db-2"').optional(),
  timeout: z
    .string({ error: (iss) => `expected a duration such as "60s" or "2m" (how long the command and the new primary may take), got ${quote(iss.input)}` })
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined || ms < 1000 || ms > 3_600_000) {
        ctx.addIssue({ code: 'custom', input: value, message: `expected a duration from 1s to 1h with a unit, such as "60s" or "2m", got ${quote(value)}` });
        return z.NEVER;
      }
      return ms;
    })
    .optional(),
};

/** Whether a URL is one pgdrill can connect to: postgres:// or postgresql:// with a host. Returns why not. */
export function urlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${quote(redactUrl(url))} is not a URL; write postgres://user@host:5432/database`;
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    return `${quote(redactUrl(url))} is not a postgres:// URL (it starts with ${parsed.protocol}//); write postgres://user@host:5432/database`;
  }
  if (!parsed.hostname) return `${quote(redactUrl(url))} names no host; write postgres://user@host:5432/database (unix sockets are not supported)`;
  if (!parsed.username) return `${quote(redactUrl(url))} names no user; write postgres://user@host:5432/database`;
  return undefined;
}

/** The URL with its password replaced by "***", for messages, results.json and the report. */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]*):[^@/]*@/, '$1:***@');
}

/**
 * Fills what an external scenario may leave out, before the sections are parsed: strategy
 * kind external takes from = the one node without replicaOf and to = the only other node,
 * and an endpoint given by its url alone is kind url.
 */
export function withExternalDefaults(raw: Record<string, unknown>): Record<string, unknown> {
  const out = { ...raw };
  const nodes = isMapping(raw.nodes) ? raw.nodes : {};
  const names = Object.keys(nodes);
  if (isMapping(raw.strategy) && raw.strategy.kind === 'external') {
    const strategy = { ...raw.strategy };
    if (strategy.from === undefined) {
      const roots = names.filter((n) => !(isMapping(nodes[n]) && nodes[n].replicaOf !== undefined));
      if (roots.length === 1) strategy.from = roots[0];
    }
    if (strategy.to === undefined && typeof strategy.from === 'string') {
      const others = names.filter((n) => n !== strategy.from);
      if (others.length === 1) strategy.to = others[0];
    }
    out.strategy = strategy;
  }
  if (isMapping(raw.endpoint) && raw.endpoint.url !== undefined && raw.endpoint.kind === undefined) {
    out.endpoint = { ...raw.endpoint, kind: 'url' };
  }
  return out;
}

const NOT_FOR_EXTERNAL_NODE: Record<string, string> = {
  settings: 'pgdrill does not configure servers it did not start; set them on your servers and remove settings',
  synchronous: 'pgdrill does not configure servers it did not start; set synchronous_standby_names on your primary and remove synchronous',
  image: 'pgdrill starts no container for a server it did not start; remove image',
};

const NOT_FOR_EXTERNAL_STRATEGY: Record<string, string> = {
  promoteTimeout: 'the command and the promotion it causes share cutover.timeout; remove promoteTimeout and give timeline[].cutover.timeout',
  fenceOldPrimary: 'fencing the old primary is your command\'s job (pgdrill records whether it refuses writes afterwards); remove fenceOldPrimary',
  rejoinOldPrimary: 'pgdrill rewinds nothing on servers it did not start (your platform rejoins the old primary); remove rejoinOldPrimary',
  globals: 'applies to kinds dump-restore and logical; remove it',
  syncSequences: 'applies to kind logical; remove it',
  jobs: 'applies to kind dump-restore; remove it',
  detection: 'applies to kind failover; remove it',
};

/** Every rule of runtime external and of the fields that only it takes. `raw` is the file (after withExternalDefaults). */
export function externalProblems(raw: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const external = raw.runtime === 'external';
  const nodes = isMapping(raw.nodes) ? raw.nodes : {};
  const strategy = isMapping(raw.strategy) ? raw.strategy : undefined;
  const endpoint = isMapping(raw.endpoint) ? raw.endpoint : undefined;
  const seed = isMapping(raw.seed) ? raw.seed : undefined;
  const timeline = Array.isArray(raw.timeline) ? raw.timeline : [];
  const endpointKind = typeof endpoint?.kind === 'string' ? endpoint.kind : 'proxy';

  for (const [name, node] of Object.entries(nodes)) {
    if (!isMapping(node)) continue;
    const base = `nodes.${name}`;
    if (!external) {
      for (const field of Object.keys(externalNodeFields)) {
        if (node[field] !== undefined) problems.push({ path: `${base}.${field}`, message: `applies to runtime external only (a server pgdrill does not start); remove it, or set runtime: external` });
      }
      continue;
    }
    if (node.url === undefined) {
      problems.push({ path: `${base}.url`, message: `required with runtime external: the server's postgres:// URL, e.g. url: "postgres://drill@staging-db:5432/app"` });
    } else if (typeof node.url === 'string' && node.url.trim() !== '') {
      const why = urlProblem(node.url);
      if (why) problems.push({ path: `${base}.url`, message: why });
      else if (new URL(node.url).password && (node.passwordFile !== undefined || node.passwordEnv !== undefined)) {
        problems.push({ path: `${base}.url`, message: `holds a password and ${node.passwordFile !== undefined ? 'passwordFile' : 'passwordEnv'} gives another; give the password once` });
      }
    }
    if (node.passwordFile !== undefined && node.passwordEnv !== undefined) {
      problems.push({ path: `${base}.passwordEnv`, message: 'passwordFile gives the password already; keep one of passwordFile and passwordEnv' });
    }
    if (node.version === undefined) {
      problems.push({ path: `${base}.version`, message: "required with runtime external: the server's PostgreSQL major version, e.g. version: 16 (pgdrill checks it when it connects)" });
    }
    for (const [field, why] of Object.entries(NOT_FOR_EXTERNAL_NODE)) {
      if (node[field] !== undefined) problems.push({ path: `${base}.${field}`, message: `not with runtime external: ${why}` });
    }
  }

  if (!external) {
    if (endpoint?.kind === 'url') {
      problems.push({ path: 'endpoint.kind', message: 'kind url (your own endpoint) is for servers pgdrill does not start: it needs runtime: external; use kind proxy, pgbouncer, haproxy or discovery' });
    }
    if (strategy?.kind === 'external') {
      problems.push({ path: 'strategy.kind', message: 'kind external runs your own cutover command on servers pgdrill does not start: it needs runtime: external (and nodes given by url)' });
    }
    if (endpoint?.url !== undefined) {
      problems.push({ path: 'endpoint.url', message: 'your own endpoint is for servers pgdrill does not start: it needs runtime: external; remove url for pgdrill\'s own endpoint' });
    }
    if (seed?.existing !== undefined) {
      problems.push({ path: 'seed.existing', message: 'applies to runtime external only: the servers pgdrill starts are empty; remove it' });
    }
  }

  if (external) {
    if (strategy && strategy.kind !== undefined && strategy.kind !== 'external') {
      problems.push({
        path: 'strategy.kind',
        message: `kind ${quote(strategy.kind)} has pgdrill promote, freeze or copy servers itself; with runtime external the cutover is your own command: use kind external and timeline cutover: { command: "..." }`,
      });
    }
    if (raw.tls !== undefined) {
      problems.push({ path: 'tls', message: 'pgdrill makes certificates only for servers it starts; put TLS parameters in the node URLs (e.g. ?sslmode=verify-full&sslrootcert=./ca.crt) and remove tls' });
    }
    if (endpointKind === 'pgbouncer' || endpointKind === 'haproxy') {
      problems.push({
        path: 'endpoint.kind',
        message: `pgdrill starts its own ${endpointKind} only in front of servers it starts; with runtime external use kind proxy (pgdrill's proxy), discovery, or your own ${endpointKind} as endpoint: { url: "postgres://..." }`,
      });
    }
    if (endpoint?.kind === 'url' && endpoint.url === undefined) {
      problems.push({ path: 'endpoint.url', message: 'required for endpoint kind url: the postgres:// URL of your own endpoint (a Service, PgBouncer, a DNS name)' });
    }
    if (typeof endpoint?.url === 'string') {
      const why = urlProblem(endpoint.url);
      if (why) problems.push({ path: 'endpoint.url', message: why });
    }
    if (seed?.dump !== undefined) {
      problems.push({
        path: 'seed.dump',
        message: "a restore into a database pgdrill did not create would have to drop it to start over, and pgdrill drops nothing of yours; restore it yourself and use seed: { existing: true }, or give seed.sql",
      });
    }
    if (seed?.existing === true && (seed.sql !== undefined || seed.dump !== undefined)) {
      problems.push({ path: 'seed.existing', message: `uses the tables already in the database, and seed.${seed.sql !== undefined ? 'sql' : 'dump'} would load more; keep one` });
    }
    if (seed?.existing === true) {
      for (const field of ['users', 'products', 'orders', 'itemsPerOrder']) {
        if (seed[field] !== undefined) problems.push({ path: `seed.${field}`, message: 'seed.existing uses the tables already there, so nothing is seeded; remove it' });
      }
    }
  }

  if (strategy?.kind === 'external') {
    for (const [field, why] of Object.entries(NOT_FOR_EXTERNAL_STRATEGY)) {
      if (strategy[field] !== undefined) problems.push({ path: `strategy.${field}`, message: `does not apply to kind external: ${why}` });
    }
  }

  timeline.forEach((entry, i) => {
    if (!isMapping(entry)) return;
    const base = `timeline[${i}]`;
    const cutover = isMapping(entry.cutover) ? entry.cutover : undefined;
    if (cutover) {
      const own = strategy?.kind === 'external';
      for (const field of ['command', 'timeout']) {
        if (cutover[field] !== undefined && !own) {
          problems.push({ path: `${base}.cutover.${field}`, message: `applies to strategy kind external only (your own cutover command); kind ${quote(strategy?.kind ?? 'none')} runs pgdrill's own steps: remove it` });
        }
      }
      if (own && cutover.command === undefined && cutover.dryRun !== true) {
        problems.push({
          path: `${base}.cutover.command`,
          message: 'required for strategy kind external: the command that does your cutover, e.g. cutover: { command: "patronictl -c /etc/patroni.yml switchover --force" }',
        });
      }
    }
    const fault = isMapping(entry.fault) ? entry.fault : undefined;
    if (!external || !fault) return;
    const kind = typeof fault.kind === 'string' ? fault.kind : '';
    if ((NODE_FAULTS as readonly string[]).includes(kind) || fault.node !== undefined) {
      problems.push({
        path: `${base}.fault${fault.node !== undefined ? '.node' : '.kind'}`,
        message: `runtime external: pgdrill starts, stops and faults nothing on servers it did not start, so a ${kind || 'node'} fault is refused; remove it (link faults on link: client act on pgdrill's own endpoint proxy)`,
      });
    } else if ((LINK_FAULTS as readonly string[]).includes(kind) && fault.link !== undefined) {
      if (fault.link !== 'client') {
        problems.push({
          path: `${base}.fault.link`,
          message: `runtime external: replication between servers pgdrill did not start does not go through pgdrill, so link ${quote(fault.link)} cannot be faulted; use link: client (pgdrill's endpoint proxy) or remove it`,
        });
      } else if (endpointKind === 'url') {
        problems.push({
          path: `${base}.fault.link`,
          message: "link client acts on pgdrill's own endpoint proxy, and endpoint url is yours (pgdrill only connects through it); use endpoint kind proxy or discovery, or remove the fault",
        });
      }
    }
  });
  return problems;
}

/** cutover.timeout filled in for an external cutover with a command, so results.json records what ran. */
export function withCutoverDefaults<T extends { command?: string; timeout?: number }>(cutover: T): T {
  return cutover.command !== undefined && cutover.timeout === undefined ? { ...cutover, timeout: DEFAULT_EXTERNAL_CUTOVER_TIMEOUT } : cutover;
}

/** The scenario as results.json records it: every URL's password masked (a scenario may hold one). */
export function redactScenario<T extends { nodes: Record<string, { url?: string }>; endpoint?: { url?: string } }>(scenario: T): T {
  const hasUrl = Object.values(scenario.nodes).some((n) => n.url) || scenario.endpoint?.url;
  if (!hasUrl) return scenario;
  const nodes = Object.fromEntries(Object.entries(scenario.nodes).map(([k, n]) => [k, n.url ? { ...n, url: redactUrl(n.url) } : n]));
  return {
    ...scenario,
    nodes,
    ...(scenario.endpoint?.url ? { endpoint: { ...scenario.endpoint, url: redactUrl(scenario.endpoint.url) } } : {}),
  };
}
