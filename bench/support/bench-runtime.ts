// The throwaway local runtime every benchmark starts its servers on: a run id of its own (so
// `pgdrill cleanup` knows its leftovers) and a random password for the superuser and replication.

import { randomBytes } from 'node:crypto';
import { LocalRuntime } from '../../harness/runtime/local/local-runtime.js';

export function benchRuntime(name: string): { runtime: LocalRuntime; password: string } {
  const password = randomBytes(12).toString('hex');
  const runtime = new LocalRuntime({
    runId: `${name}-${process.pid}`,
    credentials: { superuser: 'pgdrill', superuserPassword: password, replicationUser: 'replicator', replicationPassword: password },
  });
  return { runtime, password };
}
