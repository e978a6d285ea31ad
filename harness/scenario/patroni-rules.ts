// The patroni: section across fields: its members are nodes of the file that Patroni alone
// replicates (no replicaOf), its timing is one Patroni accepts (whole seconds, loopWait + 2 x
// retryTimeout <= ttl, as Patroni's docs require), kind patroni has a cluster to act on, faults
// that take a whole host target members, and clients reach the cluster through something that
// follows its leader by itself (HAProxy's REST checks or discovery through /cluster).

import type { Problem } from '../errors.js';
import { exactDuration as ms, show } from './scenario-schema.js';
import type { EndpointKind, FaultConfig, NodeConfig, PatroniConfig, StrategyConfig } from './scenario.js';

/** The link of a member's Patroni agent to etcd, as a fault's `link` names it. */
export const DCS_LINK_PREFIX = 'etcd:';

export function dcsLinkMember(link: string): string | undefined {
  return link.startsWith(DCS_LINK_PREFIX) ? link.slice(DCS_LINK_PREFIX.length) : undefined;
}

/** Node faults that may take a whole Patroni host (`host: true`). */
export const HOST_FAULTS = ['kill', 'stop', 'pause'] as const;

export interface PatroniRulesInput {
  patroni?: Partial<PatroniConfig>;
  /** whether the file has a patroni: section at all (valid or not) */
  hasSection: boolean;
  nodeNames?: string[];
  nodes: Record<string, Partial<NodeConfig> & { name: string }>;
  strategy?: Partial<StrategyConfig>;
  faults: { index: number; fault: Partial<FaultConfig> }[];
  endpointKind: EndpointKind;
  tls: boolean;
}

export function patroniProblems(input: PatroniRulesInput): Problem[] {
  const problems: Problem[] = [];
  const p = input.patroni;
  const s = input.strategy;
  const known = input.nodeNames ?? Object.keys(input.nodes);
  const members = p?.members ?? [];

  if (s?.kind === 'patroni' && !input.hasSection) {
    problems.push({
      path: 'strategy.kind',
      message: 'kind patroni switches over a Patroni cluster, and there is none: add patroni: { members: [pg1, pg2, pg3] } (see docs/patroni.md)',
    });
  }
  for (const { index, fault } of input.faults) {
    const base = `timeline[${index}].fault`;
    if (fault.host !== undefined) {
      if (!input.hasSection || !fault.node || !members.includes(fault.node)) {
        problems.push({ path: `${base}.host`, message: `applies to Patroni members only (the host runs its Patroni agent); ${fault.node ? `${show(fault.node)} is not one` : 'give node: <member>'}, remove host` });
      }
    }
    const member = fault.link !== undefined ? dcsLinkMember(fault.link) : undefined;
    if (member !== undefined) {
      if (!members.includes(member)) {
        problems.push({ path: `${base}.link`, message: `${show(fault.link)}: ${show(member)} is not a Patroni member; links to etcd: ${members.map((m) => DCS_LINK_PREFIX + m).join(', ') || '(none: add a patroni: section)'}` });
      } else if (fault.kind && fault.kind !== 'partition' && fault.kind !== 'latency') {
        problems.push({ path: `${base}.kind`, message: `a member's link to etcd takes kind partition or latency, not ${fault.kind}` });
      }
    }
  }
  if (!p) return problems;

  const seen = new Set<string>();
  members.forEach((name, i) => {
    const path = `patroni.members[${i}]`;
    if (seen.has(name)) problems.push({ path, message: `${show(name)} is listed twice` });
    seen.add(name);
    if (!known.includes(name)) {
      problems.push({ path, message: `unknown node ${show(name)}; known nodes: ${known.join(', ') || '(none)'}` });
      return;
    }
    const node = input.nodes[name];
    if (node?.replicaOf !== undefined) {
      problems.push({ path: `nodes.${name}.replicaOf`, message: `${show(name)} is a Patroni member: Patroni sets up its replication itself; remove replicaOf` });
    }
    if (node?.synchronous) {
      problems.push({ path: `nodes.${name}.synchronous`, message: 'Patroni picks synchronous standbys itself: use patroni.synchronousMode: true instead' });
    }
  });
  const versions = new Set(members.map((m) => input.nodes[m]?.version).filter((v): v is number => v !== undefined));
  if (versions.size > 1) {
    problems.push({ path: 'patroni.members', message: `members run different PostgreSQL majors (${[...versions].join(', ')}); a Patroni cluster streams between them, so they need one major` });
  }
  for (const field of ['ttl', 'loopWait', 'retryTimeout'] as const) {
    const value = p[field];
    if (value !== undefined && value % 1000 !== 0) {
      problems.push({ path: `patroni.${field}`, message: `Patroni takes whole seconds; ${ms(value)} is not: use e.g. ${Math.max(1, Math.round(value / 1000))}s` });
    }
  }
  if (p.ttl !== undefined && p.loopWait !== undefined && p.retryTimeout !== undefined && p.loopWait + 2 * p.retryTimeout > p.ttl) {
    problems.push({
      path: 'patroni.ttl',
      message:
        `loopWait + 2 x retryTimeout must be at most ttl (Patroni's rule: a leader must be able to retry its lease twice before it expires); ` +
        `${ms(p.loopWait)} + 2 x ${ms(p.retryTimeout)} = ${ms(p.loopWait + 2 * p.retryTimeout)} > ${ms(p.ttl)}: raise ttl or lower the others`,
    });
  }
  if (p.synchronousMode && members.length < 2) {
    problems.push({ path: 'patroni.synchronousMode', message: 'needs at least two members (a leader and a synchronous standby)' });
  }
  for (const key of ['ttl', 'loop_wait', 'retry_timeout', 'synchronous_mode', 'standby_cluster']) {
    if (p.dcs && key in p.dcs) {
      problems.push({ path: `patroni.dcs.${key}`, message: `is set by pgdrill from the patroni: section; use ${({ ttl: 'patroni.ttl', loop_wait: 'patroni.loopWait', retry_timeout: 'patroni.retryTimeout', synchronous_mode: 'patroni.synchronousMode', standby_cluster: 'patroni.standbyOf' } as Record<string, string>)[key]} instead` });
    }
  }

  const standbyOf = p.standbyOf;
  if (standbyOf !== undefined) {
    if (!known.includes(standbyOf)) problems.push({ path: 'patroni.standbyOf', message: `unknown node ${show(standbyOf)}; known nodes: ${known.join(', ')}` });
    else if (members.includes(standbyOf)) problems.push({ path: 'patroni.standbyOf', message: `${show(standbyOf)} is a member; a standby cluster replicates from a node outside it` });
    else if (input.nodes[standbyOf]?.replicaOf !== undefined) problems.push({ path: 'patroni.standbyOf', message: `${show(standbyOf)} is itself a replica; name the primary the cluster should follow` });
    else {
      const v = input.nodes[standbyOf]?.version;
      if (v !== undefined && versions.size === 1 && !versions.has(v)) {
        problems.push({ path: 'patroni.standbyOf', message: `${show(standbyOf)} runs PostgreSQL ${v} but the members run ${[...versions][0]}; a standby cluster streams physically, so they need one major` });
      }
    }
  }

  if (s?.kind === 'patroni' && members.length > 0) {
    if (standbyOf !== undefined) {
      if (s.from !== undefined && s.from !== standbyOf) problems.push({ path: 'strategy.from', message: `with patroni.standbyOf the cutover moves off ${show(standbyOf)}: use from: ${standbyOf}` });
      if (s.to !== undefined && s.to !== members[0]) problems.push({ path: 'strategy.to', message: `the standby cluster's leader is its first member ${show(members[0])}, which the promotion makes the primary: use to: ${members[0]}` });
    } else {
      if (s.from !== undefined && s.from !== members[0]) problems.push({ path: 'strategy.from', message: `the cluster's leader at the start is its first member ${show(members[0])}: use from: ${members[0]}` });
      if (s.to !== undefined && !members.includes(s.to)) problems.push({ path: 'strategy.to', message: `a switchover goes to another member (${members.filter((m) => m !== members[0]).join(', ') || 'none'}); ${show(s.to)} is not one` });
    }
    if (s.rejoinOldPrimary) problems.push({ path: 'strategy.rejoinOldPrimary', message: 'Patroni rejoins the old leader itself (pg_rewind); remove it' });
  }
  if (s?.kind === 'failover' && (members.includes(s.from ?? '') || members.includes(s.to ?? ''))) {
    problems.push({ path: 'strategy.kind', message: 'Patroni fails over by itself; pgdrill must not promote its members: remove the strategy (pgdrill watches Patroni and records every leader change)' });
  }
  if (input.endpointKind === 'proxy' || input.endpointKind === 'pgbouncer') {
    problems.push({
      path: 'endpoint.kind',
      message: `with Patroni the leader can change by itself, and ${input.endpointKind === 'proxy' ? "pgdrill's proxy" : 'PgBouncer'} would not follow it: use endpoint kind haproxy (checks Patroni's REST /primary) or discovery (asks REST /cluster for the leader)`,
    });
  }
  if (input.tls) problems.push({ path: 'tls', message: 'TLS is not set up on Patroni members yet; drop tls for a Patroni scenario' });
  return problems;
}

/** Whole seconds, as Patroni's configuration takes them. */
export function seconds(msValue: number): number {
  return Math.round(msValue / 1000);
}
