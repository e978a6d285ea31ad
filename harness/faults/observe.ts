// Small observations the fault checks make: does a server (or the endpoint) answer a query
// within a budget, how does replication progress. Each one is bounded in time and never
// throws, because the server it looks at may be paused, dead or cut off.

import pg from 'pg';
import type { Address, NodeCredentials, RuntimeNode } from '../runtime/runtime.js';
import { DATABASE } from '../topology/connect.js';
import { errorMessage } from '../errors.js';

export interface QueryAttempt {
  outcome: 'answered' | 'no-answer' | 'error';
  /** ms from the connection attempt to the outcome */
  ms: number;
  /** the error when outcome is 'error' */
  error?: string;
  /** SQLSTATE or node error code, when there was one */
  code?: string;
  rows?: Record<string, unknown>[];
}

export interface AttemptOptions {
  /** ms for connecting and querying together */
  budget: number;
  database?: string;
  applicationName?: string;
  signal?: AbortSignal;
}

/** Connects to `address` and runs `sql`; 'no-answer' when the budget runs out first. */
export async function attemptQuery(
  address: Address,
  credentials: NodeCredentials,
  sql: string,
  options: AttemptOptions,
): Promise<QueryAttempt> {
  const started = performance.now();
  const client = new pg.Client({
    host: address.host,
    port: address.port,
    user: credentials.superuser,
    password: credentials.superuserPassword,
    database: options.database ?? DATABASE,
    application_name: options.applicationName ?? 'pgdrill-fault-check',
  });
  client.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const expired = new Promise<'no-answer'>((resolve) => {
    timer = setTimeout(() => resolve('no-answer'), options.budget);
    onAbort = () => resolve('no-answer');
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
  const work = (async () => {
    await client.connect();
    return client.query(sql);
  })();
  work.catch(() => undefined);
  try {
    const result = await Promise.race([work, expired]);
    const ms = Math.round(performance.now() - started);
    if (result === 'no-answer') return { outcome: 'no-answer', ms };
    return { outcome: 'answered', ms, rows: result.rows };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return {
      outcome: 'error',
      ms: Math.round(performance.now() - started),
      error: errorMessage(err),
      ...(typeof code === 'string' ? { code } : {}),
    };
  } finally {
    clearTimeout(timer);
    if (onAbort) options.signal?.removeEventListener('abort', onAbort);
    // end() would wait for a goodbye a paused server never sends
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }
}

/** The same against a node's own port. */
export function attemptOnNode(node: RuntimeNode, sql: string, options: AttemptOptions): Promise<QueryAttempt> {
  return attemptQuery(node.address, node.credentials, sql, { database: 'postgres', ...options });
}

export function describeAttempt(a: QueryAttempt): string {
  switch (a.outcome) {
    case 'answered':
      return `answered in ${a.ms}ms`;
    case 'no-answer':
      return `no answer within ${a.ms}ms`;
    case 'error':
      return `failed after ${a.ms}ms: ${a.error}`;
  }
}

/** Resolves after ms, or at once when the signal aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
