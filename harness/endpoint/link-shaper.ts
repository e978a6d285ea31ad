// Network conditions on one proxied link (latency with jitter, a bandwidth limit, a blackhole),
// per direction, and the pipe that moves bytes between two sockets at the times they say.
// upstream = towards the server (client -> server), downstream = back to the client.

import type net from 'node:net';

export type Direction = 'upstream' | 'downstream';
export type DirectionSpec = Direction | 'both';

export type Impairment =
  | { kind: 'latency'; direction: DirectionSpec; delayMs: number; jitterMs: number }
  | { kind: 'bandwidth'; direction: DirectionSpec; bytesPerSecond: number }
  | { kind: 'blackhole'; direction: DirectionSpec };

export function affects(spec: DirectionSpec, dir: Direction): boolean {
  return spec === 'both' || spec === dir;
}

export function directionsOf(spec: DirectionSpec): Direction[] {
  return spec === 'both' ? ['upstream', 'downstream'] : [spec];
}

/** Bytes counted per direction over a link's life, for the checks that a fault took effect. */
export interface DirectionTraffic {
  /** bytes read from the sending side */
  received: number;
  /** bytes written to the receiving side */
  delivered: number;
}

export type LinkTraffic = Record<Direction, DirectionTraffic>;

/** A bandwidth limit is released in slices of this many ms, so a big chunk does not arrive as one lump. */
const BANDWIDTH_SLICE_MS = 50;

/** The impairments active on one link; every session of the link consults it per chunk. */
export class LinkConditions {
  private readonly active = new Set<Impairment>();
  /** per direction: when the bandwidth bottleneck is free again (ms, performance.now clock) */
  private readonly nextFree: Record<Direction, number> = { upstream: 0, downstream: 0 };
  private readonly listeners = new Set<() => void>();

  constructor(private readonly random: () => number = Math.random) {}

  get impaired(): boolean {
    return this.active.size > 0;
  }

  list(): Impairment[] {
    return [...this.active];
  }

  /** Applies `impairment` until the returned function is called (idempotent). */
  add(impairment: Impairment): () => void {
    this.active.add(impairment);
    this.changed();
    return () => {
      if (this.active.delete(impairment)) this.changed();
    };
  }

  /** Called whenever an impairment comes or goes: held bytes may be due now. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  blackholed(dir: Direction): boolean {
    for (const i of this.active) if (i.kind === 'blackhole' && affects(i.direction, dir)) return true;
    return false;
  }

  /** any blackhole stops new connections from being set up: the handshake needs both ways */
  get anyBlackhole(): boolean {
    for (const i of this.active) if (i.kind === 'blackhole') return true;
    return false;
  }

  private rate(dir: Direction): number | undefined {
    let rate: number | undefined;
    for (const i of this.active) {
      if (i.kind === 'bandwidth' && affects(i.direction, dir)) rate = Math.min(rate ?? Infinity, i.bytesPerSecond);
    }
    return rate;
  }

  /** The largest piece a chunk is cut into so a bandwidth limit releases it smoothly. */
  maxChunk(dir: Direction): number {
    const rate = this.rate(dir);
    return rate === undefined ? Infinity : Math.max(1, Math.floor((rate * BANDWIDTH_SLICE_MS) / 1000));
  }

  /**
   * When `bytes` arriving at `now` may be delivered: after the bandwidth bottleneck has let
   * them through (it is shared by every session of the link, as a real link is), plus the
   * delay with uniform jitter. Ordering against earlier chunks is the pipe's business.
   */
  dueTime(dir: Direction, bytes: number, now: number): number {
    let t = now;
    const rate = this.rate(dir);
    if (rate !== undefined) {
      const start = Math.max(now, this.nextFree[dir]);
      t = start + (bytes * 1000) / rate;
      this.nextFree[dir] = t;
    }
    for (const i of this.active) {
      if (i.kind === 'latency' && affects(i.direction, dir)) {
        t += Math.max(0, i.delayMs + i.jitterMs * (2 * this.random() - 1));
      }
    }
    return t;
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

/** Above this many held bytes the sending socket is paused, as a full TCP window would stop it. */
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;

/**
 * Moves bytes from `source` to `sink` in one direction, holding each chunk until its due time
 * (order kept: TCP delivers a stream in order whatever the jitter). When the source ends or
 * breaks, what is held is still delivered, then the sink is ended (or destroyed after an
 * error), as bytes already on the wire arrive before the FIN or RST that follows them.
 * drop() loses what is held: the host that sent it is gone.
 */
export class ShapedPipe {
  private readonly queue: { chunk: Buffer; due: number }[] = [];
  private queuedBytes = 0;
  private lastDue = 0;
  private timer?: NodeJS.Timeout;
  private sourceDone: 'no' | 'end' | 'error' = 'no';
  private waitingDrain = false;
  private pausedByUs = false;
  private dropped = false;
  private finished = false;

  constructor(
    private readonly source: net.Socket,
    private readonly sink: net.Socket,
    private readonly dir: Direction,
    private readonly conditions: LinkConditions,
    private readonly traffic: DirectionTraffic,
    private readonly clock: () => number = () => performance.now(),
  ) {
    source.on('data', (chunk: Buffer) => this.receive(chunk));
    source.on('end', () => this.sourceFinished('end'));
    source.on('close', (hadError: boolean) => this.sourceFinished(hadError ? 'error' : 'end'));
    sink.on('close', () => this.drop());
  }

  /** bytes received and not delivered yet */
  get held(): number {
    return this.queuedBytes;
  }

  /** true once everything is delivered (or dropped) and the sink was told the source is done */
  get done(): boolean {
    return this.finished || this.dropped;
  }

  /** Loses whatever is held and stops forwarding. */
  drop(): void {
    if (this.dropped) return;
    this.dropped = true;
    clearTimeout(this.timer);
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  /** Re-evaluates held bytes (a blackhole lifted, an impairment ended). */
  pump(): void {
    if (this.dropped || this.finished) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.waitingDrain) return;
    if (this.queue.length > 0 && this.conditions.blackholed(this.dir)) return; // held until it lifts
    const now = this.clock();
    while (this.queue.length > 0 && this.queue[0].due <= now) {
      const { chunk } = this.queue.shift()!;
      this.queuedBytes -= chunk.length;
      if (!this.deliver(chunk)) return; // resumes on 'drain'
    }
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => this.pump(), Math.max(0, this.queue[0].due - now));
      return;
    }
    if (this.pausedByUs && this.queuedBytes < LOW_WATER) {
      this.pausedByUs = false;
      this.source.resume();
    }
    if (this.sourceDone !== 'no') this.finish();
  }

  private receive(chunk: Buffer): void {
    this.traffic.received += chunk.length;
    if (this.dropped) return;
    if (!this.conditions.impaired && this.queue.length === 0 && !this.waitingDrain) {
      this.deliver(chunk);
      return;
    }
    const now = this.clock();
    const max = this.conditions.maxChunk(this.dir);
    for (let offset = 0; offset < chunk.length; offset += max) {
      const piece = chunk.subarray(offset, Math.min(chunk.length, offset + max));
      const due = Math.max(this.lastDue, this.conditions.dueTime(this.dir, piece.length, now));
      this.lastDue = due;
      this.queue.push({ chunk: piece, due });
      this.queuedBytes += piece.length;
    }
    if (this.queuedBytes > HIGH_WATER && !this.pausedByUs) {
      this.pausedByUs = true;
      this.source.pause();
    }
    if (this.timer === undefined) this.pump();
  }

  private deliver(chunk: Buffer): boolean {
    if (this.sink.destroyed) {
      this.drop();
      return false;
    }
    this.traffic.delivered += chunk.length;
    if (this.sink.write(chunk)) return true;
    this.waitingDrain = true;
    if (!this.pausedByUs) {
      this.pausedByUs = true;
      this.source.pause();
    }
    this.sink.once('drain', () => {
      this.waitingDrain = false;
      this.pump();
    });
    return false;
  }

  private sourceFinished(how: 'end' | 'error'): void {
    // 'close' follows 'end': the first word is the one that counts
    if (this.sourceDone === 'no') this.sourceDone = how;
    this.pump();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.sink.destroyed) return;
    if (this.sourceDone === 'error') this.sink.destroy();
    else this.sink.end();
  }
}
