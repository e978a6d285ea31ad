// The HTTP load on the app: the same open-loop scheduler as the database load (intended
// requests at a fixed rate, each recorded exactly once as stream 'app', latency from its
// intended start, a request that cannot start in time dropped), with an executor that sends
// one HTTP request per intended operation.
//
// Why not autocannon's own loop: autocannon is closed-loop per connection (a connection sends
// its next request when the previous one is answered; overallRate only caps each second), so
// while the app hangs it sends nothing and records nothing, which is coordinated omission by
// construction; it counts every reconnect attempt as an error and back-fills latencies with
// its own interval. None of that can give "every intended request recorded once" (see
// docs/app.md and bench/app-load-accounting.ts for the measured difference).

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Recorder } from '../record/recorder.js';
import type { LedgerEntry, OpRecord } from '../record/records.js';
import type { AppLoadConfig, AppLoadRequest } from '../scenario/scenario.js';
import { realClock, runOpenLoop, type Clock, type OpExecutor, type OpResult, type OpenLoopSummary } from '../workload/open-loop.js';
import { httpRequest, requestLabel, type AppAddress, type HttpOutcome } from './http-request.js';

/**
 * Smooth weighted round robin (nginx's): deterministic, and requests of equal weight
 * alternate instead of coming in runs. Requests of weight 0 are never picked.
 */
export function weightedRotation<T extends { weight: number }>(items: readonly T[]): () => T {
  const live = items.filter((i) => i.weight > 0);
  if (live.length === 0) throw new Error('app.load.requests: every weight is 0; give at least one request a weight above 0');
  const total = live.reduce((sum, i) => sum + i.weight, 0);
  const current = live.map(() => 0);
  return () => {
    let best = 0;
    for (let i = 0; i < live.length; i++) {
      current[i] += live[i].weight;
      if (current[i] > current[best]) best = i;
    }
    current[best] -= total;
    return live[best];
  };
}

/**
 * How one HTTP outcome is recorded. ok: the app answered below 500 (it served the request,
 * a 404 included); failed: 5xx, or the connection failed; indeterminate: no answer within the
 * timeout. A request declaring `ledger` carries a ledger entry: acknowledged when the app
 * answered 2xx (its key read from the JSON answer), to be looked for when its outcome is unknown.
 */
export function classifyOutcome(outcome: HttpOutcome, request: AppLoadRequest, requestId: string): OpResult {
  const label = requestLabel(request);
  const entry = (key: LedgerEntry['key']): LedgerEntry | undefined =>
    request.ledger ? { table: request.ledger.table, key, op: request.ledger.op, version: request.ledger.op === 'insert' ? 1 : 0, requestId } : undefined;
  const withLedger = (result: OpResult, key: LedgerEntry['key'] = 0): OpResult => {
    const ledger = entry(key);
    return ledger ? { ...result, ledger } : result;
  };
  switch (outcome.kind) {
    case 'response': {
      const { status } = outcome;
      if (status >= 500) {
        return withLedger({ outcome: 'failed', kind: 'request', request: label, status, error: { class: `http ${status}`, message: snippet(outcome.body) || `HTTP ${status}` } });
      }
      const result: OpResult = { outcome: 'ok', kind: 'request', request: label, status };
      // a 4xx was served, but the app refused to write: nothing to check
      return status >= 200 && status < 300 ? withLedger(result, keyFromBody(outcome.body, request.ledger?.key)) : result;
    }
    case 'timeout':
      return withLedger({ outcome: 'indeterminate', kind: 'request', request: label, error: { class: 'timeout', message: `no answer within ${outcome.timeoutMs}ms` } });
    case 'error':
      return withLedger({ outcome: 'failed', kind: 'request', request: label, error: { class: `connection ${outcome.code}`, message: outcome.message } });
  }
}

/** The row's key from a JSON answer ({ "id": "123" } -> 123); 0 (unknown) when it is not there. */
function keyFromBody(body: string, field: string | undefined): LedgerEntry['key'] {
  if (!field) return 0;
  try {
    const value = (JSON.parse(body) as Record<string, unknown>)[field];
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    if (typeof value === 'string' && value !== '') {
      // PostgreSQL bigints arrive as strings in JSON; the workload records them as numbers
      const n = Number(value);
      return /^\d+$/.test(value) && Number.isSafeInteger(n) ? n : value;
    }
  } catch {
    // not JSON: the key stays unknown, the request id is still checked
  }
  return 0;
}

function snippet(body: string): string {
  const line = body.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

export interface AppLoadOptions {
  config: AppLoadConfig;
  address: AppAddress;
  recorder: Recorder;
  /** the first intended request: the workload's start, so both streams share one clock */
  startMs: number;
  durationMs: number;
  signal: AbortSignal;
  /** run-wide operation ids (the workload's), so op ids stay unique across streams */
  nextId: () => number;
  clock?: Clock;
}

/** Runs the app load to its end; resolves once every intended request is recorded. */
export async function runAppLoad(options: AppLoadOptions): Promise<OpenLoopSummary> {
  const { config, address, recorder } = options;
  const agent = new http.Agent({ keepAlive: true, maxSockets: config.connections, maxFreeSockets: config.connections, scheduling: 'fifo' });
  const next = weightedRotation(config.requests);
  const execute: OpExecutor = async (op) => {
    const request = next();
    const requestId = randomUUID();
    const outcome = await httpRequest(address, request, { timeoutMs: op.timeoutMs, agent, signal: op.signal, requestId });
    return classifyOutcome(outcome, request, requestId);
  };
  recorder.event('app-load-start', { rate: config.rate, connections: config.connections, requests: config.requests.map(requestLabel) });
  try {
    const summary = await runOpenLoop({
      stream: 'app',
      rate: config.rate,
      connections: config.connections,
      timeoutMs: config.timeout,
      startMs: options.startMs,
      durationMs: options.durationMs,
      signal: options.signal,
      clock: options.clock ?? realClock(() => recorder.now()),
      plan: () => 'request',
      execute,
      record: (rec: OpRecord) => recorder.op(rec),
      nextId: options.nextId,
    });
    recorder.event('app-load-end', { app: summary });
    return summary;
  } finally {
    agent.destroy();
  }
}
