// The run's memory: timeline events, operations and lag samples, kept in order and
// appended to files as they happen, so a run that crashes still leaves its record.

import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { LagSample, OpRecord, Phase } from './records.js';
import type { EventKind, EventOf, EventPayloads, RunEvent } from './events.js';

export class Recorder {
  readonly events: RunEvent[] = [];
  readonly ops: OpRecord[] = [];
  readonly lag: LagSample[] = [];
  readonly phases: Phase[] = [];
  private readonly t0: number;
  private readonly eventsFile?: WriteStream;
  private readonly opsFile?: WriteStream;
  private readonly listeners = new Set<(event: RunEvent) => void>();

  /** With no folder, everything stays in memory (tests). */
  constructor(folder?: string, startedAt = performance.now()) {
    this.t0 = startedAt;
    if (folder) {
      this.eventsFile = createWriteStream(`${folder}/events.jsonl`, { flags: 'a' });
      this.opsFile = createWriteStream(`${folder}/operations.jsonl`, { flags: 'a' });
    }
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
    this.eventsFile?.write(JSON.stringify(event) + '\n');
    for (const listener of this.listeners) listener(event);
    return event;
  }

  onEvent(listener: (event: RunEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  op(record: OpRecord): void {
    this.ops.push(record);
    this.opsFile?.write(JSON.stringify(record) + '\n');
  }

  lagSample(sample: LagSample): void {
    this.lag.push(sample);
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

  async close(): Promise<void> {
    for (const file of [this.eventsFile, this.opsFile]) {
      if (!file) continue;
      file.end();
      await once(file, 'close').catch(() => undefined);
    }
  }
}
