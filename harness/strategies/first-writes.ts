// After the resume, the clients' reconnect wave: every client session handshakes (SCRAM) with
// the new primary through the endpoint and sends its first statements. pgdrill's own work
// after the resume (the fence proof's fresh session, hashing the pinned snapshot) waits until
// that wave is served, so that on a small machine it does not take CPU from it.

import type { OpRecord } from '../record/records.js';
import type { Recorder } from '../record/recorder.js';

export interface FirstWritesOptions {
  /** acknowledged writes in a row, with no failure among them, that end the wait */
  inARow: number;
  /** the wait ends after this many ms whatever the clients do (a run without writes, an outage) */
  maxMs: number;
  signal?: AbortSignal;
}

/**
 * The default: a little more than a write load's connections (10 by default) in a row, so
 * that most slots have a session again; capped, so that a run without writes waits 1 s.
 */
export const FIRST_WRITES: Omit<FirstWritesOptions, 'signal'> = { inARow: 16, maxMs: 1000 };

export interface FirstWritesResult {
  /** whether `inARow` writes in a row were acknowledged before maxMs */
  served: boolean;
  /** ms waited */
  waitedMs: number;
  /** writes acknowledged in that time (intended after `sinceMs`) */
  acknowledged: number;
  /** writes that failed or were indeterminate in that time */
  notServed: number;
}

/**
 * A counter over recorded operations: workload writes and probe writes intended at or after
 * `sinceMs` (so sent through the moved endpoint); a failed, indeterminate or dropped one
 * starts the row again. Pure, for tests.
 */
export function writeRowCounter(sinceMs: number, inARow: number): { add(op: OpRecord): boolean; acknowledged: number; notServed: number } {
  let row = 0;
  const counter = {
    acknowledged: 0,
    notServed: 0,
    add(op: OpRecord): boolean {
      if ((op.stream !== 'write' && op.stream !== 'probe') || op.intendedMs < sinceMs) return row >= inARow;
      if (op.outcome === 'ok') {
        counter.acknowledged++;
        row++;
      } else {
        counter.notServed++;
        row = 0;
      }
      return row >= inARow;
    },
  };
  return counter;
}

/** Waits (listening to the recorder's operations) until the clients' first writes after `sinceMs` are served, or maxMs. */
export function firstWritesServed(recorder: Recorder, sinceMs: number, options: FirstWritesOptions): Promise<FirstWritesResult> {
  const started = performance.now();
  const counter = writeRowCounter(sinceMs, options.inARow);
  return new Promise((resolve) => {
    let finish = (served: boolean): void => {
      finish = () => undefined;
      clearTimeout(timer);
      unsubscribe();
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ served, waitedMs: performance.now() - started, acknowledged: counter.acknowledged, notServed: counter.notServed });
    };
    const onAbort = (): void => finish(false);
    const unsubscribe = recorder.onOp((op) => {
      if (counter.add(op)) finish(true);
    });
    const timer = setTimeout(() => finish(false), options.maxMs);
    if (options.signal?.aborted) finish(false);
    else options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The step's detail: "16 writes in a row acknowledged on green 84 ms after the resume (2 not served before them)". */
export function describeFirstWrites(result: FirstWritesResult, target: string, options: Pick<FirstWritesOptions, 'inARow' | 'maxMs'>): string {
  const ms = Math.round(result.waitedMs);
  const failures = result.notServed ? ` (${result.notServed} not served before them)` : '';
  if (result.served) return `${options.inARow} writes in a row acknowledged on ${target} ${ms} ms after the resume${failures}; the fence proof and the fingerprint follow`;
  return (
    `not ${options.inARow} writes in a row within ${ms} ms of the resume (${result.acknowledged} acknowledged, ${result.notServed} not served); ` +
    `the fence proof and the fingerprint follow anyway`
  );
}
