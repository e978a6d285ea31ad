// SQL connections from the harness to a node's own port (not the endpoint): for setup,
// cutover steps, monitoring and checks. Every query path has a timeout, because a paused
// or partitioned server never answers.

import pg from 'pg';
import type { RuntimeNode } from '../runtime/runtime.js';

/** The database the scenario's schema lives in. */
export const DATABASE = 'pgdrill';

export interface ConnectOptions {
  database?: string;
  /** ms for the connection and (unless queryTimeout is given) for each query */
  timeout?: number;
  /** ms for each query */
  queryTimeout?: number;
  applicationName?: string;
}

export async function connectNode(node: RuntimeNode, options: ConnectOptions = {}): Promise<pg.Client> {
  const timeout = options.timeout ?? 10_000;
  // a server pgdrill did not start: its URL's user, database and TLS, whatever database was asked for
  const external = node.external;
  const client = new pg.Client({
    host: node.address.host,
    port: node.address.port,
    user: external ? external.user : node.credentials.superuser,
    password: external ? external.password : node.credentials.superuserPassword,
    database: external ? external.database : (options.database ?? DATABASE),
    ...(external?.ssl ? { ssl: external.ssl } : {}),
    connectionTimeoutMillis: timeout,
    query_timeout: options.queryTimeout ?? timeout,
    application_name: options.applicationName ?? 'pgdrill-harness',
  });
  // A server that dies under an idle client emits 'error' on it; without a listener that
  // would crash the process. The next query on the client fails and says why.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

/** Drops a client's socket without the goodbye: end() would wait forever on a paused or partitioned server. */
export function destroyClient(client: pg.Client): void {
  try {
    (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  } catch {
    // already gone
  }
}

/** Opens a client, runs `body`, always closes it. */
export async function withNode<T>(
  node: RuntimeNode,
  body: (client: pg.Client) => Promise<T>,
  options: ConnectOptions = {},
): Promise<T> {
  const client = await connectNode(node, options);
  try {
    return await body(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Polls `probe` until it returns a value other than undefined, or throws after `timeout` ms. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: { timeout: number; interval?: number; signal?: AbortSignal },
): Promise<T> {
  const deadline = Date.now() + options.timeout;
  let lastError: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${options.timeout}ms waiting for ${what}${why}`);
    }
    await sleep(options.interval ?? 200, options.signal);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
