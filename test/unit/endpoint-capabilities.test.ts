// Strategies use what an endpoint can do, never its kind: the steps a cutover records follow
// from the endpoint's capabilities (pause, repoint, drain, follow), a follow is timed from the
// promotion, a failed one fails the cutover, and a rollback resumes a paused endpoint. Also the
// read-write lookup clients without a middlebox run, and which nodes such an endpoint may pick.

import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { Recorder } from '../../harness/record/recorder.js';
import { StepRunner } from '../../harness/strategies/step-runner.js';
import { pauseEndpoint, sendClientsTo, settleFailedCutover } from '../../harness/strategies/freeze.js';
import type { CutoverOutcome, StrategyContext } from '../../harness/strategies/strategy.js';
import type { Endpoint } from '../../harness/endpoint/endpoint.js';
import { NoWritableNode, readWriteLookup } from '../../harness/endpoint/primary-lookup.js';
import { initialMembers } from '../../harness/endpoint/members.js';
import { parseScenarioText } from '../../harness/scenario/load-scenario.js';
import { Topology } from '../../harness/topology/topology.js';
import type { Address, RuntimeNode } from '../../harness/runtime/runtime.js';

const node = (name: string, port: number) => ({ name, address: { host: '127.0.0.1', port }, peerAddress: { host: '127.0.0.1', port } }) as RuntimeNode;
const from = node('primary', 5432);
const to = node('replica', 5433);

function fakeEndpoint(capabilities: Partial<Endpoint>, calls: string[]): Endpoint {
  const route = { address: () => ({ host: '127.0.0.1', port: 1 }), sessionState: true, dropOnReadOnly: false };
  return {
    kind: 'proxy',
    origin: 'fake',
    address: 'fake',
    url: () => 'postgres://fake',
    writes: route,
    reads: route,
    clientLinks: [],
    cutSessionsTo: () => {
      calls.push('cut');
      return 0;
    },
    close: async () => undefined,
    ...capabilities,
  };
}

function contextWith(endpoint: Endpoint, recorder = new Recorder()): StrategyContext {
  const scenario = parseScenarioText('name: t\nnodes: { primary: {}, replica: { replicaOf: primary } }\nstrategy: { kind: streaming, from: primary, to: replica }\n', 't');
  const topology = new Topology(scenario, 'primary');
  topology.nodes.set('primary', from);
  topology.nodes.set('replica', to);
  return { config: scenario.strategy!, topology, endpoint, recorder, signal: new AbortController().signal };
}

describe('cutover steps from endpoint capabilities', () => {
  it('tells an endpoint that can be told, drains it, and records a step for each', async () => {
    const calls: string[] = [];
    const endpoint = fakeEndpoint(
      {
        repoint: async (t, f) => (calls.push(`repoint ${f.name}->${t.name}`), 'told'),
        drain: async (f) => (calls.push(`drain ${f.name}`), 'drained'),
      },
      calls,
    );
    const context = contextWith(endpoint);
    const steps = new StepRunner(context.recorder);
    let repointedSeen = false;
    await sendClientsTo(steps, context, from, to, { onRepointed: () => (repointedSeen = calls.includes('repoint primary->replica')) });
    expect(calls).toEqual(['repoint primary->replica', 'drain primary']);
    expect(repointedSeen).toBe(true);
    expect(steps.steps.map((s) => [s.name, s.ok, s.detail])).toEqual([
      ['repoint-endpoint', true, 'told'],
      ['drain-old-primary', true, 'drained'],
    ]);
  });

  it('times an endpoint that follows by itself from the promotion to when it noticed', async () => {
    const recorder = new Recorder();
    const endpoint = fakeEndpoint({ follow: async () => ({ atMs: 1234, detail: 'marked UP' }) }, []);
    const context = contextWith(endpoint, recorder);
    const steps = new StepRunner(recorder);
    await sendClientsTo(steps, context, from, to, { promotedAtMs: 1000 });
    expect(steps.steps).toEqual([{ name: 'endpoint-follows', startMs: 1000, endMs: 1234, ok: true, detail: 'marked UP' }]);
    const event = recorder.events.find((e) => e.kind === 'cutover-step');
    expect(event).toMatchObject({ step: 'endpoint-follows', durationMs: 234 });
  });

  it('fails the cutover when the endpoint never follows', async () => {
    const endpoint = fakeEndpoint({ follow: async () => Promise.reject(new Error('replica never marked UP')) }, []);
    const context = contextWith(endpoint);
    const steps = new StepRunner(context.recorder);
    await expect(sendClientsTo(steps, context, from, to, { promotedAtMs: 0 })).rejects.toThrow(/endpoint-follows.*never marked UP/);
    expect(steps.steps[0]).toMatchObject({ name: 'endpoint-follows', ok: false });
  });

  it('pauses only an endpoint that can hold clients, and a rollback resumes it', async () => {
    const calls: string[] = [];
    const plain = contextWith(fakeEndpoint({}, calls));
    const plainSteps = new StepRunner(plain.recorder);
    await pauseEndpoint(plainSteps, plain);
    expect(plainSteps.steps).toEqual([]);

    const pausing = fakeEndpoint(
      {
        pause: {
          holding: 'held',
          pause: async () => (calls.push('PAUSE'), 'paused'),
          resume: async () => (calls.push('RESUME'), 'resumed'),
        },
      },
      calls,
    );
    const context = contextWith(pausing);
    const steps = new StepRunner(context.recorder);
    await pauseEndpoint(steps, context);
    expect(steps.steps.map((s) => s.name)).toEqual(['pause-endpoint']);
    // past the point of no return there is no rollback step: clients are let through
    const outcome: CutoverOutcome = { ok: false, dryRun: false, rolledBack: false, steps: steps.steps };
    await settleFailedCutover(steps, context, outcome, from, true);
    expect(calls).toEqual(['PAUSE', 'RESUME']);
  });
});

/** A pg.Client stand-in that answers the lookup's query as the node would. */
function fakeClient(recovery: boolean, readOnly: boolean, closed: string[], name: string): pg.Client {
  return {
    query: async () => ({ rows: [{ recovery, read_only: readOnly ? 'on' : 'off' }] }),
    connection: { stream: { destroy: () => closed.push(name) } },
  } as unknown as pg.Client;
}

describe('read-write lookup (target_session_attrs=read-write)', () => {
  const candidates = [
    { name: 'old', address: { host: '127.0.0.1', port: 1 } },
    { name: 'standby', address: { host: '127.0.0.1', port: 2 } },
    { name: 'new', address: { host: '127.0.0.1', port: 3 } },
  ];
  const states: Record<number, [boolean, boolean]> = { 1: [false, true], 2: [true, true], 3: [false, false] };

  it('keeps the first node out of recovery and read-write, closing the ones it passed', async () => {
    const closed: string[] = [];
    const connect = async (a: Address) => fakeClient(states[a.port][0], states[a.port][1], closed, String(a.port));
    const found = await readWriteLookup.open(candidates, connect);
    expect(found.chosen.name).toBe('new');
    expect(closed).toEqual(['1', '2']);
  });

  it('says what each node was when none is writable', async () => {
    const connect = async (a: Address) => {
      if (a.port === 3) throw new Error('connect ECONNREFUSED');
      return fakeClient(states[a.port][0], states[a.port][1], [], String(a.port));
    };
    const err = await readWriteLookup.open(candidates, connect).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoWritableNode);
    expect((err as Error).message).toBe('no writable node: old read-only; standby in recovery; new connect ECONNREFUSED');
  });
});

describe('members of an endpoint that picks its node', () => {
  it('are the primary and what streams from it, not a blue/green target', () => {
    const scenario = parseScenarioText(
      'name: t\nnodes: { blue: {}, r1: { replicaOf: blue }, r2: { replicaOf: r1 }, green: {} }\nstrategy: { kind: logical, from: blue, to: green }\n',
      't',
    );
    expect(initialMembers(scenario, new Topology(scenario, 'blue'))).toEqual(['blue', 'r1', 'r2']);
  });
});
