// A throwaway PostgreSQL for end-to-end tests: one node of the real local runtime (the
// system's PostgreSQL 15, run as the server user, password auth on 127.0.0.1), with the
// few operations the tests need. dispose() stops it and removes its data.

import { randomBytes } from 'node:crypto';
import { LocalRuntime } from '../../../harness/runtime/local/local-runtime.js';
import type { Address, RuntimeNode } from '../../../harness/runtime/runtime.js';

export interface ThrowawayPostgres {
  address: Address;
  credentials: { user: string; password: string; database: string };
  node: RuntimeNode;
  /** SIGKILL the postmaster and its children, and wait until they are gone */
  kill(): Promise<void>;
  /** start again (after kill or stop) and wait until it accepts connections */
  start(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startThrowawayPostgres(options: { version?: number; settings?: Record<string, string> } = {}): Promise<ThrowawayPostgres> {
  const password = randomBytes(12).toString('hex');
  const runtime = new LocalRuntime({
    runId: `t${process.pid}-${randomBytes(3).toString('hex')}`,
    credentials: { superuser: 'pgdrill', superuserPassword: password, replicationUser: 'replicator', replicationPassword: password },
    // tests use what is installed; they do not fetch servers
    allowDownload: false,
  });
  try {
    const node = await runtime.createNode({ name: 'pg', version: options.version ?? 15 });
    await node.initdb();
    if (options.settings) await node.configure(options.settings);
    await node.start();
    return {
      address: node.address,
      credentials: { user: 'pgdrill', password, database: 'postgres' },
      node,
      kill: () => node.kill(),
      start: () => node.start(),
      dispose: () => runtime.dispose(),
    };
  } catch (err) {
    await runtime.dispose().catch(() => undefined);
    throw err;
  }
}
