// A timeline fault from injection to healing, with no server: fake nodes and tiny loopback
// servers (one that never answers stands in for a paused PostgreSQL). Checks the events a
// run records (start, check, end), that healing happens once, and what docker refuses.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Recorder } from '../../harness/record/recorder.js';
import { ProxyEndpoint } from '../../harness/endpoint/proxy-endpoint.js';
import { Topology } from '../../harness/topology/topology.js';
import { runFault } from '../../harness/faults/run-fault.js';
import type { ActiveFault, FaultContext } from '../../harness/faults/fault.js';
import type { Address, NodeState, RuntimeNode } from '../../harness/runtime/runtime.js';
import { parseScenarioText } from '../../harness/scenario/load-scenario.js';
import type { Scenario } from '../../harness/scenario/scenario.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

/** Accepts connections and never says a word: what a SIGSTOPped server looks like. */
async function silentServer(): Promise<Address> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
}

/** A port nothing listens on. */
async function deadPort(): Promise<Address> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return { host: '127.0.0.1', port };
}

interface FakeNode extends RuntimeNode {
  calls: string[];
}

function fakeNode(name: string, address: Address): FakeNode {
  let state: NodeState = 'running';
  const calls: string[] = [];
  const node = {
    name,
    version: 17,
    credentials: { superuser: 'u', superuserPassword: 'p', replicationUser: 'r', replicationPassword: 'p' },
    address,
    peerAddress: address,
    dataDir: `/nonexistent/${name}`,
    origin: 'fake',
    calls,
    get state() {
      return state;
    },
    async pause() {
      calls.push('pause');
      state = 'paused';
    },
    async resume() {
      calls.push('resume');
      state = 'running';
    },
  };
  return node as unknown as FakeNode;
}

const SCENARIO = `
name: t
nodes: { primary: {} }
duration: 30s
timeline:
  - at: 1s
    fault: { kind: pause, node: primary, for: 300ms }
`;

function context(scenario: Scenario, node: FakeNode, endpoint: ProxyEndpoint): FaultContext {
  const topology = new Topology(scenario, node.name);
  topology.nodes.set(node.name, node);
  return { topology, endpoint, recorder: new Recorder(), signal: new AbortController().signal };
}

async function endpointTo(target: Address): Promise<ProxyEndpoint> {
  const endpoint = await ProxyEndpoint.start({ address: target } as RuntimeNode, { hold: false });
  closers.push(() => endpoint.close());
  return endpoint;
}

const faultEvents = (ctx: FaultContext) => ctx.recorder.events.filter((e) => e.kind.startsWith('fault'));

describe('runFault', () => {
  it('records a pause with its start, a passing check and its end, and resumes the node after `for`', async () => {
    const scenario = parseScenarioText(SCENARIO, 't');
    const node = fakeNode('primary', await silentServer());
    const ctx = context(scenario, node, await endpointTo(node.address));
    const active = new Set<ActiveFault>();
    await runFault(scenario.timeline[0].fault!, ctx, active, { plannedAtMs: 0 });
    const [start, check, end] = faultEvents(ctx);
    expect(start).toMatchObject({ kind: 'fault-start', fault: 'pause', node: 'primary', for: 300, plannedMs: 0 });
    expect(check).toMatchObject({ kind: 'fault-check', fault: 'pause', node: 'primary', ok: true });
    expect(String(check.detail)).toContain('no answer within');
    expect(end).toMatchObject({ kind: 'fault-end', fault: 'pause', node: 'primary' });
    expect(end.durationMs as number).toBeGreaterThanOrEqual(295);
    expect(end.durationMs as number).toBeLessThan(600);
    expect(node.calls).toEqual(['pause', 'resume']);
    expect(active.size).toBe(0);
  });

  it('leaves a fault without `for` active until the run heals it, and heals it once', async () => {
    const scenario = parseScenarioText(SCENARIO.replace(', for: 300ms', ''), 't');
    const node = fakeNode('primary', await silentServer());
    const ctx = context(scenario, node, await endpointTo(node.address));
    const active = new Set<ActiveFault>();
    await runFault(scenario.timeline[0].fault!, ctx, active);
    expect(active.size).toBe(1);
    expect(faultEvents(ctx).map((e) => e.kind)).toEqual(['fault-start']);
    const [fault] = [...active];
    await Promise.all([fault.heal(), fault.heal()]);
    await fault.heal();
    expect(faultEvents(ctx).map((e) => e.kind)).toEqual(['fault-start', 'fault-check', 'fault-end']);
    expect(node.calls).toEqual(['pause', 'resume']);
  });

  it('records a failed check when the node still answers (or refuses) instead of going silent', async () => {
    const scenario = parseScenarioText(SCENARIO, 't');
    const node = fakeNode('primary', await deadPort());
    const ctx = context(scenario, node, await endpointTo(node.address));
    await runFault(scenario.timeline[0].fault!, ctx, new Set());
    const check = faultEvents(ctx).find((e) => e.kind.startsWith('fault-check'))!;
    expect(check).toMatchObject({ kind: 'fault-check-failed', ok: false });
    expect(String(check.detail)).toContain('ECONNREFUSED');
  });

  it('partitions the client link by rejecting: a new connection is reset, and accepted again once healed', async () => {
    const scenario = parseScenarioText(
      SCENARIO.replace('{ kind: pause, node: primary, for: 300ms }', '{ kind: partition, link: client, mode: reject, for: 300ms }'),
      't',
    );
    const node = fakeNode('primary', await silentServer());
    const endpoint = await endpointTo(node.address);
    const ctx = context(scenario, node, endpoint);
    await runFault(scenario.timeline[0].fault!, ctx, new Set());
    const [start, check, end] = faultEvents(ctx);
    expect(start).toMatchObject({ fault: 'partition', link: 'client', mode: 'reject', direction: 'both' });
    expect(check).toMatchObject({ kind: 'fault-check', ok: true });
    expect(String(check.detail)).toMatch(/a new connection: (ECONNRESET|closed)/);
    expect(end).toMatchObject({ kind: 'fault-end', link: 'client' });
    const socket = net.connect(endpoint.proxy.address);
    socket.on('error', () => undefined);
    const state = await new Promise((r) => {
      socket.once('close', () => r('closed'));
      setTimeout(() => r('open'), 200);
    });
    socket.destroy();
    expect(state).toBe('open');
  });

  it('says a replication link fault has no link to act on when the run has no standby', async () => {
    const scenario = parseScenarioText(
      `name: t\nnodes: { primary: {}, replica: { replicaOf: primary } }\nduration: 30s\ntimeline:\n  - at: 1s\n    fault: { kind: latency, link: replication, delay: 10ms }\n`,
      't',
    );
    const node = fakeNode('primary', await silentServer());
    const ctx = context(scenario, node, await endpointTo(node.address));
    await expect(runFault(scenario.timeline[0].fault!, ctx, new Set())).rejects.toThrow(/no standby, so no replication link/);
  });
});
