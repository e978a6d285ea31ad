// Node faults on a Patroni member, whose PostgreSQL Patroni runs: kill, stop and pause act on
// that PostgreSQL alone (Patroni sees its server crash or stop and starts it again, or fails
// over), or with `host: true` on the member's whole host, its Patroni agent with it (a host that
// dies, is shut down or freezes: its leader lease expires and another member takes over).

import type { RuntimeNode } from '../runtime/runtime.js';
import type { FaultConfig } from '../scenario/scenario.js';
import type { FaultCheck, FaultContext, InjectedFault } from './fault.js';
import { attemptOnNode, describeAttempt } from './observe.js';

export async function injectMemberFault(fault: FaultConfig, node: RuntimeNode, context: FaultContext): Promise<InjectedFault> {
  const host = node.host!;
  const mode = fault.stopMode ?? 'fast';
  if (fault.host) {
    switch (fault.kind) {
      case 'kill':
        await host.kill();
        return { detail: { sessionsCut: cutSessions(node, context) }, check: (signal) => down(node, 'its host was killed (Patroni and PostgreSQL, SIGKILL)', signal), heal: () => restartHost(node) };
      case 'stop':
        await host.stop();
        return { check: (signal) => down(node, 'its host was shut down (Patroni stopped, and PostgreSQL with it)', signal), heal: () => restartHost(node) };
      case 'pause':
        await host.pause();
        return { check: (signal) => silent(node, 'its host is frozen (Patroni and PostgreSQL, SIGSTOP)', signal), heal: async () => void (await host.resume()) };
      default:
        throw new Error(`host: true does not apply to kind ${fault.kind}`);
    }
  }
  switch (fault.kind) {
    case 'kill':
      await node.kill();
      return { detail: { agent: 'Patroni restarts it or fails over', sessionsCut: cutSessions(node, context) }, check: async () => gone(node, 'its postmaster was killed (SIGKILL)'), heal: async () => ({ note: 'Patroni brings PostgreSQL back by itself' }) };
    case 'stop':
      await node.stop(mode);
      return { detail: { stopMode: mode }, check: async () => gone(node, `its PostgreSQL was stopped (${mode}) under Patroni`), heal: async () => ({ note: 'Patroni brings PostgreSQL back by itself' }) };
    case 'pause':
      await node.pause();
      return { check: (signal) => silent(node, 'its PostgreSQL is frozen (SIGSTOP)', signal), heal: async () => void (await node.resume()) };
    default:
      throw new Error(`kind ${fault.kind} is not a fault pgdrill injects on a Patroni member`);
  }
}

/**
 * A crash takes the node's send queues with it, as for nodes pgdrill runs (node-faults.ts): what
 * the endpoint and the replication proxy in front of the member (its connect_address, which the
 * other members stream through) still held for it is lost, not delivered.
 */
function cutSessions(node: RuntimeNode, context: FaultContext): number {
  const inbound = context.topology.patroni?.members.get(node.name)?.inbound;
  return context.endpoint.cutSessionsTo(node) + (inbound ? inbound.closeSessionsTo(inbound.currentTarget) : 0);
}

async function restartHost(node: RuntimeNode): Promise<Record<string, unknown>> {
  const began = performance.now();
  await node.host!.start();
  return { restarted: true, agentStartMs: Math.round(performance.now() - began) };
}

/** The postmaster pgdrill killed or stopped is gone (Patroni may already have started another). */
function gone(node: RuntimeNode, what: string): FaultCheck {
  return { ok: true, detail: `${node.name}: ${what}; it is ${node.state} now`, observed: { state: node.state } };
}

async function down(node: RuntimeNode, what: string, signal: AbortSignal): Promise<FaultCheck> {
  const a = await attemptOnNode(node, 'SELECT 1', { budget: 1000, signal });
  return { ok: a.outcome !== 'answered' && node.host!.state !== 'running', detail: `${node.name}: ${what}; a new connection ${describeAttempt(a)}`, observed: { host: node.host!.state, outcome: a.outcome } };
}

async function silent(node: RuntimeNode, what: string, signal: AbortSignal): Promise<FaultCheck> {
  const a = await attemptOnNode(node, 'SELECT 1', { budget: 500, signal });
  return { ok: a.outcome === 'no-answer', detail: `${node.name}: ${what}; SELECT 1 on a new connection: ${describeAttempt(a)}`, observed: { outcome: a.outcome, ms: a.ms } };
}
