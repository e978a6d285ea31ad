// The availability probe: one tiny insert every `interval`, stamped by the server's clock,
// so write downtime can also be measured as the server saw it (gaps between committed rows).

import { PROBE_TABLE } from '../seed/schema.js';
import type { OpResult, ScheduledOp } from './open-loop.js';
import type { QueryRequest } from './reconnecting-client.js';
import type { StatementRunner } from './write-ops.js';

const PROBE_INSERT: QueryRequest = {
  name: 'pgdrill_probe',
  text: `INSERT INTO ${PROBE_TABLE} DEFAULT VALUES RETURNING id, extract(epoch from server_time) * 1000 AS ms`,
};

/**
 * Two slots: one probe stuck on a dying connection must not hold back the next one, and
 * more would only add load.
 */
export const PROBE_CONNECTIONS = 2;

/** Probes per second for an interval in ms (0 = off). */
export function probeRate(intervalMs: number): number {
  return intervalMs > 0 ? 1000 / intervalMs : 0;
}

export function probeExecutor(runners: StatementRunner[]): (op: ScheduledOp) => Promise<OpResult> {
  return async (op) => {
    const result = await runners[op.slot].query(PROBE_INSERT, op.timeoutMs, op.signal);
    if (result.outcome !== 'ok') return { outcome: result.outcome, kind: 'probe', error: result.error };
    const serverTimeMs = Number(result.rows[0]?.ms);
    return { outcome: 'ok', kind: 'probe', ...(Number.isFinite(serverTimeMs) ? { serverTimeMs } : {}) };
  };
}
