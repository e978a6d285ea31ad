// The run's memory: timeline events, operations and lag samples, appended to files in the
// run folder as they happen (in batches, see jsonl-writer.ts), so a run that crashes still
// leaves its record. Operations are not kept: they go to operations.jsonl and to whoever
// listens (the run's aggregates, checks/op-aggregates.ts), so memory stays flat however
// long the run. Events, lag samples and phases are few and stay in memory for results.json.

import path from 'node:path';
import type { LagSample, OpRecord, Phase } from './records.js';
import type { EventKind, EventOf, EventPayloads, RunEvent } from './events.js';
import { JsonlWriter } from './jsonl-writer.js';

export const EVENTS_FILE = 'events.jsonl';
export const OPERATIONS_FILE = 'operations.jsonl';
export const LAG_FILE = 'lag.jsonl';

export class Recorder {
  readonly events: RunEvent[] = [];
  readonly lag: LagSample[] = [];
  readonly phases: Phase[] = [];
  /** operations recorded so far, by stream */
  readonly opCounts = { write: 0, read: 0, probe: 0, app: 0 };
  private readonly t0: number;
  private readonly eventsFile?: JsonlWriter;
  private readonly opsFile?: JsonlWriter;
  private readonly lagFile?: JsonlWriter;
  private readonly listeners = new Set<(event: RunEvent) => void>();
  private readonly opListeners = new Set<(op: OpRecord) => void>();

  /** With no folder, nothing is written: operations reach only the listeners (tests). */
  constructor(folder?: string, startedAt = performance.now()) {
    this.t0 = startedAt;
    if (folder) {
      this.eventsFile = new JsonlWriter(path.join(folder, EVENTS_FILE));
      this.opsFile = new JsonlWriter(path.join(folder, OPERATIONS_FILE));
      this.lagFile = new JsonlWriter(path.join(folder, LAG_FILE));
    }
  }

  /** operations.jsonl, when there is a folder: the one full record of every operation. */
  get operationsFile(): string | undefined {
    return this.opsFile?.file;
  }

  /** Why operations.jsonl lacks lines (a write failed), if it does. */
  get operationsFileError(): Error | undefined {
    return this.opsFile?.error;
  }

  /** Wall-clock time (ms since the epoch) of run time `t`, to hold it against a server's clock. */
  epochMs(t: number): number {
    return performance.timeOrigin + this.t0 + t;
  }

  /** ms since the start of the run (monotonic clock) */
  now(): number {
    return Math.round((performance.now() - this.t0) * 1000) / 1000;
  }

  event<K extends EventKind>(kind: K, data: EventPayloads[K]): EventOf<K> {
    const event = { t: this.now(), kind, ...data } as unknown as EventOf<K>;
    this.events.push(event);
    this.eventsFile?.write(event);
    for (const listener of this.listeners) listener(event);
    return event;
  }

  onEvent(listener: (event: RunEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every operation as it is recorded; returns the unsubscribe function. */
  onOp(listener: (op: OpRecord) => void): () => void {
    this.opListeners.add(listener);
    return () => this.opListeners.delete(listener);
  }

  op(record: OpRecord): void {
    this.opCounts[record.stream]++;
    this.opsFile?.write(record);
    for (const listener of this.opListeners) listener(record);
  }

  lagSample(sample: LagSample): void {
    this.lag.push(sample);
    this.lagFile?.write(sample);
  }

  /** Runs `body` as a named phase: recorded with its start and end even when it throws. */
  async phase<T>(name: Phase['name'], body: () => Promise<T>): Promise<T> {
    const startMs = this.now();
    this.event('phase-start', { phase: name });
    try {
      return await body();
    } finally {
      const endMs = this.now();
      this.phases.push({ name, startMs, endMs });
      this.event('phase-end', { phase: name, durationMs: Math.round(endMs - startMs) });
    }
  }

  /** Writes what is batched now: before operations.jsonl is read back. */
  flush(): void {
    this.eventsFile?.flush();
    this.opsFile?.flush();
    this.lagFile?.flush();
  }

  async close(): Promise<void> {
    this.eventsFile?.close();
    this.opsFile?.close();
    this.lagFile?.close();
  }
}
