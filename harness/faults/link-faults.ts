// Faults on a link, acted out by pgdrill's proxies: the client endpoint ("client") and each
// standby's replication link ("replication" for all of them, or one standby's name).
// latency (delay, jitter), bandwidth (bytes/s), partition (blackhole: bytes and handshakes
// are held, connections hang; reject: connections are reset) and reset-peer, per direction
// (upstream = towards the server, downstream = back to the client / standby).

import net from 'node:net';
import type { TcpProxy } from '../endpoint/tcp-proxy.js';
import { affects, directionsOf, type Direction, type DirectionSpec } from '../endpoint/link-shaper.js';
import type { RuntimeNode } from '../runtime/runtime.js';
import type { FaultConfig } from '../scenario/scenario.js';
import { quoteLiteral } from '../util/sql.js';
import { formatBytes } from '../util/units.js';
import type { FaultCheck, FaultContext, InjectedFault } from './fault.js';
import { attemptOnNode, attemptQuery, describeAttempt, pause } from './observe.js';
import { dcsLinkMember } from '../scenario/patroni-rules.js';
import { httpRequest } from '../patroni/rest.js';
import { errorMessage } from '../errors.js';

/** One proxied link a fault acts on; `replica` is set for replication links. */
export interface LinkTarget {
  proxy: TcpProxy;
  replica?: string;
  /** a Patroni member's link to etcd: seen on etcd's /health through it */
  dcs?: string;
}

/** The proxies behind a fault's `link`: the endpoint, every replication link, or one standby's. */
export function linkTargets(link: string, context: FaultContext): LinkTarget[] {
  // the proxies between the clients and the endpoint (one per node when clients pick the node)
  if (link === 'client') return context.endpoint.clientLinks.map((proxy) => ({ proxy }));
  const patroni = context.topology.patroni;
  const member = dcsLinkMember(link);
  // a Patroni member's agent to etcd: every proxy it reaches an etcd member through
  if (member !== undefined) return (patroni?.member(member).dcsLinks ?? []).map((proxy) => ({ proxy, dcs: member }));
  // Patroni members stream from their leader through the proxy in front of it (its connect_address):
  // the fault acts on the leader's, the link every replica's WAL leaves it by, and is seen on a replica
  if (link === 'replication' && patroni) {
    const leader = patroni.members.get(context.topology.primaryName);
    const replica = [...context.topology.upstreamOf].find(([, up]) => up === leader?.name)?.[0];
    if (leader && replica) return [{ proxy: leader.inbound, replica }];
    return [...patroni.members.values()].map((m) => ({ proxy: m.inbound }));
  }
  const links = context.topology.links;
  const chosen = link === 'replication' ? [...links] : [...links].filter(([replica]) => replica === link);
  if (chosen.length === 0) {
    throw new Error(
      link === 'replication' ? 'this run has no standby, so no replication link' : context.topology.nodes.has(link) ? `${link} is not a standby: it has no replication link` : `no link named ${link}`,
    );
  }
  return chosen.map(([replica, proxy]) => ({ proxy, replica }));
}

export async function injectLinkFault(fault: FaultConfig, context: FaultContext): Promise<InjectedFault> {
  const direction: DirectionSpec = fault.direction ?? 'both';
  const targets = linkTargets(fault.link!, context);
  switch (fault.kind) {
    case 'latency':
      return latency(targets, direction, fault.delay!, fault.jitter ?? 0, context);
    case 'bandwidth':
      return bandwidth(targets, direction, fault.bytesPerSecond!);
    case 'partition':
      return (fault.mode ?? 'blackhole') === 'blackhole' ? blackhole(targets, direction, context) : reject(targets);
    case 'reset-peer':
      return resetPeer(targets, direction);
    default:
      throw new Error(`"${fault.kind}" is not a link fault`);
  }
}

function healAll(heals: (() => void)[]) {
  return async () => {
    for (const heal of heals) heal();
  };
}

function latency(targets: LinkTarget[], direction: DirectionSpec, delayMs: number, jitterMs: number, context: FaultContext): InjectedFault {
  const heals = targets.map((t) => t.proxy.impair({ kind: 'latency', direction, delayMs, jitterMs }));
  // whichever way the delay is added, a round trip takes at least the smallest delay it can draw
  const expected = Math.max(1, delayMs - jitterMs) * 0.8;
  return {
    async check(signal) {
      const results = await Promise.all(
        targets.map(async (t): Promise<FaultCheck> => {
          if (t.dcs) return etcdHealthThrough(t, { minMs: expected, budget: 5000 + 10 * delayMs });
          if (!t.replica) {
            const a = await attemptQuery(t.proxy.address, context.topology.primary.credentials, 'SELECT 1', { budget: 5000 + 10 * delayMs, signal });
            return {
              ok: a.outcome === 'answered' && a.ms >= expected,
              detail: `connect + SELECT 1 through the endpoint ${describeAttempt(a)} (expected at least ${Math.round(expected)}ms)`,
              observed: { roundTripMs: a.ms },
            };
          }
          return replicationLagReaches(context, t.replica, expected, signal);
        }),
      );
      return merge(results);
    },
    heal: healAll(heals),
  };
}

function linkName(t: LinkTarget): string {
  return t.replica ? `replication ${t.replica}` : t.dcs ? `etcd:${t.dcs}` : 'client';
}

/**
 * What the member's Patroni sees of its link to etcd: GET /health through the link takes at
 * least `minMs` (latency), or gets no answer within the budget (`silent`: a blackhole).
 */
async function etcdHealthThrough(t: LinkTarget, expect: { minMs?: number; budget: number; silent?: boolean }): Promise<FaultCheck> {
  const began = performance.now();
  let outcome: string;
  try {
    const answer = await httpRequest(t.proxy.address, 'GET', '/health', { timeoutMs: expect.budget });
    outcome = `answered ${answer.status}`;
  } catch (err) {
    outcome = /no answer within/.test(errorMessage(err)) ? 'no-answer' : `failed: ${errorMessage(err)}`;
  }
  const ms = Math.round(performance.now() - began);
  const ok = expect.silent ? outcome === 'no-answer' : outcome.startsWith('answered') && ms >= (expect.minMs ?? 0);
  const said = outcome === 'no-answer' ? `no answer within ${expect.budget}ms` : `${outcome} after ${ms}ms`;
  return { ok, detail: `etcd's GET /health through ${t.dcs}'s link: ${said}${expect.minMs ? ` (expected at least ${Math.round(expect.minMs)}ms)` : ''}`, observed: { etcdHealth: outcome, ms } };
}

/** Polls the primary's view of a standby until its write lag reaches `minMs` (or the fault ends). */
async function replicationLagReaches(context: FaultContext, replica: string, minMs: number, signal: AbortSignal): Promise<FaultCheck> {
  const deadline = performance.now() + 10_000;
  let maxWriteLag = -1;
  let maxReplayBytes = 0;
  let upstreamName = '';
  while (!signal.aborted && performance.now() < deadline) {
    const upstream = upstreamOf(context, replica);
    upstreamName = upstream?.name ?? '?';
    if (upstream) {
      const a = await attemptOnNode(
        upstream,
        `SELECT coalesce(extract(epoch FROM write_lag) * 1000, -1)::float8 AS write_ms,
                coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::float8 AS replay_bytes
         FROM pg_stat_replication WHERE application_name = ${quoteLiteral(replica)}`,
        { budget: 1000, signal },
      );
      const row = a.rows?.[0];
      if (row) {
        maxWriteLag = Math.max(maxWriteLag, Number(row.write_ms));
        maxReplayBytes = Math.max(maxReplayBytes, Number(row.replay_bytes));
        if (maxWriteLag >= minMs) break;
      }
    }
    await pause(200, signal);
  }
  const seen = maxWriteLag < 0 ? 'no write lag reported' : `write lag reached ${Math.round(maxWriteLag)}ms`;
  return {
    ok: maxWriteLag >= minMs,
    detail: `${replica} behind ${upstreamName}: ${seen} (expected at least ${Math.round(minMs)}ms), replay ${formatBytes(maxReplayBytes)} behind`,
    observed: { replica, writeLagMs: maxWriteLag < 0 ? null : Math.round(maxWriteLag), replayBytes: maxReplayBytes },
  };
}

function bandwidth(targets: LinkTarget[], direction: DirectionSpec, bytesPerSecond: number): InjectedFault {
  const heals = targets.map((t) => t.proxy.impair({ kind: 'bandwidth', direction, bytesPerSecond }));
  const dirs = directionsOf(direction);
  return {
    async check(signal) {
      const before = targets.map((t) => dirs.map((d) => ({ ...t.proxy.traffic[d] })));
      const started = performance.now();
      await pause(1000, signal);
      const seconds = Math.max(0.05, (performance.now() - started) / 1000);
      // the limit is released in 50ms slices: one slice of slack per window
      const allowed = bytesPerSecond * 1.1 + (bytesPerSecond * 0.05) / seconds;
      const results = targets.map((t, i): FaultCheck => {
        const rates = dirs.map((d, j) => ({
          direction: d,
          delivered: Math.round((t.proxy.traffic[d].delivered - before[i][j].delivered) / seconds),
          offered: Math.round((t.proxy.traffic[d].received - before[i][j].received) / seconds),
        }));
        const name = linkName(t);
        return {
          ok: rates.every((r) => r.delivered <= allowed),
          detail:
            `${name}: ` +
            rates.map((r) => `${r.direction} ${formatBytes(r.delivered)}/s delivered of ${formatBytes(r.offered)}/s offered`).join(', ') +
            ` against a limit of ${formatBytes(bytesPerSecond)}/s (${formatBytes(t.proxy.heldBytes(direction))} queued)`,
          observed: { link: name, rates, queuedBytes: t.proxy.heldBytes(direction) },
        };
      });
      return merge(results);
    },
    heal: healAll(heals),
  };
}

function blackhole(targets: LinkTarget[], direction: DirectionSpec, context: FaultContext): InjectedFault {
  const heals = targets.map((t) => t.proxy.impair({ kind: 'blackhole', direction }));
  return {
    async check(signal) {
      const windowMs = 1000;
      const before = targets.map((t) => snapshot(t.proxy, direction));
      const e2e = targets.map((t) => endToEndStall(t, direction, context, windowMs, signal));
      await pause(windowMs, signal);
      const stalls = await Promise.all(e2e);
      const results = targets.map((t, i): FaultCheck => {
        const after = snapshot(t.proxy, direction);
        const delivered = after.delivered - before[i].delivered;
        const offered = after.received - before[i].received;
        const name = linkName(t);
        return {
          ok: delivered === 0 && stalls[i].ok,
          detail:
            `${name}: ${delivered} bytes passed ${direction === 'both' ? 'either way' : direction} in ${windowMs}ms ` +
            `(${formatBytes(offered)} held, ${t.proxy.waitingCount} connections hanging); ${stalls[i].detail}`,
          observed: { link: name, deliveredBytes: delivered, heldBytes: offered, hangingConnections: t.proxy.waitingCount, ...stalls[i].observed },
        };
      });
      return merge(results);
    },
    heal: healAll(heals),
  };
}

/** What a user would see of a blackhole: the endpoint stops answering, a standby stops receiving. */
async function endToEndStall(target: LinkTarget, direction: DirectionSpec, context: FaultContext, windowMs: number, signal: AbortSignal): Promise<FaultCheck> {
  if (target.dcs) return etcdHealthThrough(target, { budget: windowMs, silent: true });
  if (!target.replica) {
    const a = await attemptQuery(target.proxy.address, context.topology.primary.credentials, 'SELECT 1', { budget: windowMs, signal });
    return { ok: a.outcome === 'no-answer', detail: `a query through the endpoint: ${describeAttempt(a)}`, observed: { endpointQuery: a.outcome } };
  }
  // WAL flows downstream; what flows upstream are the standby's acknowledgements
  const replicaName = target.replica;
  const replica = context.topology.node(replicaName);
  const upstream = upstreamOf(context, replicaName);
  const watchReplica = affects(direction, 'downstream');
  const read = async () => {
    if (watchReplica) {
      const a = await attemptOnNode(replica, 'SELECT pg_last_wal_receive_lsn()::text AS lsn', { budget: 500 });
      return a.rows?.[0]?.lsn as string | undefined;
    }
    if (!upstream) return undefined;
    const a = await attemptOnNode(upstream, `SELECT write_lsn::text AS lsn FROM pg_stat_replication WHERE application_name = ${quoteLiteral(replicaName)}`, { budget: 500 });
    return (a.rows?.[0]?.lsn as string | undefined) ?? 'not connected';
  };
  const first = await read();
  await pause(windowMs, signal);
  const last = await read();
  const what = watchReplica ? `${replicaName}'s received WAL` : `${replicaName}'s acknowledged WAL on its primary`;
  return {
    ok: first !== undefined && first === last,
    detail: `${what} ${first === last ? `stayed at ${first}` : `moved ${first} -> ${last}`}`,
    observed: { lsnBefore: first ?? null, lsnAfter: last ?? null },
  };
}

function reject(targets: LinkTarget[]): InjectedFault {
  const rejections = targets.map((t) => t.proxy.reject());
  const reset = rejections.reduce((n, r) => n + r.reset, 0);
  return {
    detail: { sessionsReset: reset },
    async check() {
      const probes = await Promise.all(targets.map((t) => connectionIsReset(t.proxy.address)));
      const ok = probes.every((p) => p.reset);
      return {
        ok,
        detail: `${reset} established sessions reset; a new connection: ${probes.map((p) => p.detail).join('; ')}`,
        observed: { sessionsReset: reset, newConnection: probes.map((p) => p.detail) },
      };
    },
    heal: healAll(rejections.map((r) => r.heal)),
  };
}

/** A TCP connection to `address`: is it reset (or closed) before any byte comes back? */
function connectionIsReset(address: { host: string; port: number }): Promise<{ reset: boolean; detail: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(address);
    const started = performance.now();
    const done = (reset: boolean, detail: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ reset, detail: `${detail} after ${Math.round(performance.now() - started)}ms` });
    };
    const timer = setTimeout(() => done(false, 'still open'), 1000);
    socket.on('error', (err: NodeJS.ErrnoException) => done(true, `${err.code ?? err.message}`));
    socket.on('close', () => done(true, 'closed'));
    socket.on('data', () => done(false, 'answered'));
  });
}

function resetPeer(targets: LinkTarget[], direction: DirectionSpec): InjectedFault {
  const acceptedBefore = targets.map((t) => t.proxy.accepted);
  const counts = targets.map((t) => t.proxy.resetSessions(direction));
  const total = counts.reduce((a, b) => a + b, 0);
  const side = direction === 'both' ? 'both sides' : direction === 'upstream' ? 'the server side' : 'the client side';
  return {
    detail: { sessionsReset: total },
    async check(signal) {
      // a reset the client side heard is followed by a reconnect: that is the effect users see
      const deadline = performance.now() + 5000;
      const expectReconnect = affects(direction, 'downstream') && total > 0;
      while (expectReconnect && !signal.aborted && performance.now() < deadline) {
        if (targets.every((t, i) => counts[i] === 0 || t.proxy.accepted > acceptedBefore[i])) break;
        await pause(50, signal);
      }
      const reconnected = targets.map((t, i) => t.proxy.accepted - acceptedBefore[i]);
      return {
        ok: total > 0,
        detail:
          `${total} established session(s) reset on ${side}` +
          (expectReconnect ? `; ${reconnected.reduce((a, b) => a + b, 0)} new connection(s) since` : '') +
          (total === 0 ? ': there was nothing to reset' : ''),
        observed: { sessionsReset: total, newConnections: reconnected.reduce((a, b) => a + b, 0) },
      };
    },
    async heal() {
      // a reset is over once sent; the window only marks the time on the report
    },
  };
}

function snapshot(proxy: TcpProxy, direction: DirectionSpec): { received: number; delivered: number } {
  let received = 0;
  let delivered = 0;
  for (const dir of directionsOf(direction) as Direction[]) {
    received += proxy.traffic[dir].received;
    delivered += proxy.traffic[dir].delivered;
  }
  return { received, delivered };
}

function upstreamOf(context: FaultContext, replica: string): RuntimeNode | undefined {
  const name = context.topology.upstreamOf.get(replica);
  return name ? context.topology.node(name) : undefined;
}

function merge(results: FaultCheck[]): FaultCheck {
  if (results.length === 1) return results[0];
  return {
    ok: results.every((r) => r.ok),
    detail: results.map((r) => r.detail).join('; '),
    observed: { links: results.map((r) => r.observed ?? {}) },
  };
}
