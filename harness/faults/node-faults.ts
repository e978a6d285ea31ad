// Faults on a node: kill (SIGKILL, as a host losing power), stop, restart, pause (SIGSTOP /
// docker pause) and disk-full. Each one checks that it took effect the way a user would see
// it (the server refuses connections, stops answering, refuses a write for lack of space)
// and heals by bringing the node back as it was.

import type { RuntimeNode } from '../runtime/runtime.js';
import type { FaultConfig } from '../scenario/scenario.js';
import { errorMessage } from '../errors.js';
import { waitFor } from '../topology/connect.js';
import { quoteLiteral } from '../util/sql.js';
import { formatBytes } from '../util/units.js';
import type { FaultCheck, FaultContext, InjectedFault } from './fault.js';
import { attemptOnNode, describeAttempt } from './observe.js';
import { injectMemberFault } from './member-faults.js';

/** How long a check waits for an answer before it calls a server silent. */
const SILENCE_MS = 500;
/** How long healing waits for a node to accept connections again. */
const BACK_UP_MS = 60_000;

export async function injectNodeFault(fault: FaultConfig, context: FaultContext): Promise<InjectedFault> {
  const node = context.topology.node(fault.node!);
  // a node an HA agent runs (Patroni): its faults act on what the agent runs (member-faults.ts)
  if (node.host) return injectMemberFault(fault, node, context);
  switch (fault.kind) {
    case 'kill':
      return kill(node, context);
    case 'stop':
      return stop(node, fault.stopMode ?? 'fast');
    case 'restart':
      return restart(node, fault.stopMode ?? 'fast');
    case 'pause':
      return pauseNode(node);
    case 'disk-full':
      return diskFull(node, context);
    default:
      throw new Error(`"${fault.kind}" is not a node fault`);
  }
}

async function kill(node: RuntimeNode, context: FaultContext): Promise<InjectedFault> {
  await node.kill();
  // a host that loses power takes its send queues with it: what pgdrill's proxies were still
  // holding for this node (a latency or bandwidth fault's backlog) is lost, not delivered
  const cut =
    context.endpoint.cutSessionsTo(node) +
    context.topology.linksTo(node.name).reduce((n, link) => n + link.closeSessionsTo(link.currentTarget), 0);
  return {
    detail: { sessionsCut: cut },
    check: (signal) => refusesConnections(node, 'killed', signal),
    heal: () => startIfDown(node),
  };
}

async function stop(node: RuntimeNode, mode: 'smart' | 'fast' | 'immediate'): Promise<InjectedFault> {
  const started = performance.now();
  await node.stop(mode);
  return {
    detail: { stopMode: mode, stopMs: Math.round(performance.now() - started) },
    check: (signal) => refusesConnections(node, `stopped (${mode})`, signal),
    heal: () => startIfDown(node),
  };
}

async function restart(node: RuntimeNode, mode: 'smart' | 'fast' | 'immediate'): Promise<InjectedFault> {
  const started = performance.now();
  await node.stop(mode);
  const stoppedMs = Math.round(performance.now() - started);
  await node.start();
  const restartMs = Math.round(performance.now() - started);
  return {
    healedOnInjection: true,
    detail: { stopMode: mode, stopMs: stoppedMs, restartMs },
    async check(signal) {
      const a = await attemptOnNode(node, 'SELECT pg_postmaster_start_time()::text AS started', { budget: 5000, signal });
      return {
        ok: a.outcome === 'answered',
        detail: `${node.name} went down (${mode} stop in ${stoppedMs}ms) and came back ${restartMs}ms after the stop began; ${describeAttempt(a)}`,
        observed: { stopMs: stoppedMs, restartMs, postmasterStart: a.rows?.[0]?.started ?? null },
      };
    },
    async heal() {
      return { restartMs };
    },
  };
}

async function pauseNode(node: RuntimeNode): Promise<InjectedFault> {
  await node.pause();
  return {
    async check(signal) {
      const a = await attemptOnNode(node, 'SELECT 1', { budget: SILENCE_MS, signal });
      return {
        ok: a.outcome === 'no-answer',
        detail: `${node.name} is ${node.state}; SELECT 1 on a new connection: ${describeAttempt(a)}`,
        observed: { state: node.state, outcome: a.outcome, ms: a.ms },
      };
    },
    async heal() {
      // fault-end is stamped when this returns: right after SIGCONT, not after a probe
      await node.resume();
    },
  };
}

async function diskFull(node: RuntimeNode, context: FaultContext): Promise<InjectedFault> {
  const volume = node.volume;
  if (!volume) {
    throw new Error(`node ${node.name} has no disk volume of its own (the runtime made none at setup), so there is no safe disk to fill`);
  }
  const written = await volume.fill();
  return {
    detail: { filledBytes: written, volume: volume.label },
    async check(signal) {
      const free = await volume.freeBytes();
      // a write the server must find room for: a file the size of a WAL segment, in its data dir
      const probe = `${node.dataDir}/pgdrill-disk-check`;
      const a = await attemptOnNode(node, `COPY (SELECT repeat('x', 1048576) FROM generate_series(1, 16)) TO ${quoteLiteral(probe)}`, {
        budget: 5000,
        signal,
      });
      if (a.outcome === 'answered') await volume.removeFile(probe).catch(() => undefined);
      const refused = a.outcome === 'error' && (a.code === '53100' || /no space left/i.test(a.error ?? ''));
      const down = a.outcome === 'error' && !refused && node.state !== 'running';
      return {
        ok: free < 1024 * 1024 && (refused || down),
        detail:
          `${formatBytes(written)} written to ${volume.label}, ${formatBytes(free)} left; ` +
          (refused ? `a 16MB write on ${node.name} was refused: ${a.error}` : down ? `${node.name} is down (${node.state})` : `a 16MB write on ${node.name}: ${describeAttempt(a)}`),
        observed: { filledBytes: written, freeBytes: free, sqlstate: a.code ?? null, nodeState: node.state },
      };
    },
    async heal() {
      await volume.unfill();
      // out of WAL space PostgreSQL panics; a crash restart that found no room either leaves it down
      const wasDown = node.state !== 'running';
      await startIfDown(node);
      return { freeBytes: await volume.freeBytes(), restarted: wasDown, nodeState: node.state };
    },
  };
}

/** Brings a node back after kill/stop (or a crash the fault caused); waits until it answers. */
async function startIfDown(node: RuntimeNode): Promise<Record<string, unknown>> {
  const started = performance.now();
  if (node.state === 'stopped' || node.state === 'killed') {
    await node.start();
    return { restarted: true, startMs: Math.round(performance.now() - started) };
  }
  if (node.state === 'running') {
    // its postmaster may be in crash recovery: wait until it takes connections again
    await waitFor(
      `${node.name} to accept connections`,
      async () => ((await attemptOnNode(node, 'SELECT 1', { budget: 2000 })).outcome === 'answered' ? true : undefined),
      { timeout: BACK_UP_MS, interval: 100 },
    ).catch((err) => {
      throw new Error(`${node.name} did not come back: ${errorMessage(err)}`);
    });
  }
  return { restarted: false };
}

/** The server refuses (or cannot take) connections: what a dead or stopped node looks like. */
async function refusesConnections(node: RuntimeNode, what: string, signal: AbortSignal): Promise<FaultCheck> {
  const a = await attemptOnNode(node, 'SELECT 1', { budget: SILENCE_MS * 2, signal });
  return {
    ok: a.outcome === 'error' && node.state !== 'running' && node.state !== 'paused',
    detail: `${node.name} ${what}: state ${node.state}; a new connection ${describeAttempt(a)}`,
    observed: { state: node.state, outcome: a.outcome, error: a.error ?? null },
  };
}
