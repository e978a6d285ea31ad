// Live progress while a run goes. On a TTY one status line, rewritten in place (phase,
// elapsed / duration, writes per second by outcome, p99, lag, the current cutover step and
// faults); otherwise the same line every few seconds (CI logs). Above it the timeline's
// notable events, one line each, with bursts of the same event (16 connections lost at a
// cutover) folded into one line with a count. --verbose prints every event as recorded
// instead; events.jsonl always holds them all.

import type { RunTick } from '../run/run-scenario.js';
import type { EventOf, RunEvent } from '../record/events.js';
import { describeEvent, faultLabel } from '../report/report-model.js';
import { formatBytes, formatDuration } from '../util/units.js';

export interface ProgressOptions {
  /** every event as recorded, one line each (the old dump) */
  verbose?: boolean;
  /** non-TTY: a status line this often (ms) */
  plainEveryMs?: number;
}

/** Events that say nothing new to someone watching (their effect shows in the status line or the next event). */
const QUIET = new Set<RunEvent['kind']>([
  'phase-end',
  'cutover-step-start',
  'node-binaries',
  'reaper-started',
  'failover-health-recovered',
]);

/** Events that come in bursts, folded into one line per burst. */
type FoldKind = 'workload-connection-lost' | 'workload-connection-restored' | 'failover-health-check-failed';
const FOLDED = new Set<RunEvent['kind']>(['workload-connection-lost', 'workload-connection-restored', 'failover-health-check-failed']);

interface Fold {
  kind: FoldKind;
  firstT: number;
  events: RunEvent[];
}

export class ProgressPrinter {
  private lastPlain = -Infinity;
  private lineOpen = false;
  private phase = 'setup';
  private loadStartT: number | undefined;
  private loadDurationMs: number | undefined;
  private cutoverStep: string | undefined;
  private readonly faults = new Map<string, number>();
  private readonly folds = new Map<FoldKind, Fold>();
  private readonly verbose: boolean;
  private readonly plainEveryMs: number;
  private lastTick: RunTick | undefined;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    options: ProgressOptions | number = {},
  ) {
    const o = typeof options === 'number' ? { plainEveryMs: options } : options;
    this.verbose = o.verbose ?? false;
    this.plainEveryMs = o.plainEveryMs ?? 5000;
  }

  private get tty(): boolean {
    return Boolean(this.stream.isTTY);
  }

  tick(tick: RunTick): void {
    this.lastTick = tick;
    // a burst is over once a second passed without more of it
    for (const fold of [...this.folds.values()]) if (tick.elapsedMs - lastT(fold) >= 1000) this.flushFold(fold.kind);
    const line = this.statusLine(tick);
    if (this.tty) {
      this.stream.write(`\r\x1b[2K${line}`);
      this.lineOpen = true;
    } else if (tick.elapsedMs - this.lastPlain >= this.plainEveryMs) {
      this.lastPlain = tick.elapsedMs;
      this.stream.write(line + '\n');
    }
  }

  /** "[load 12s/60s] writes/s 199 ok, 0 failed, 0 dropped | p99 3.1ms | lag replica 1.4kB | cutover: promote" */
  statusLine(tick: RunTick): string {
    const parts: string[] = [];
    const inLoad = this.phase === 'load' && this.loadStartT !== undefined;
    const clock = inLoad
      ? `${formatDuration(Math.max(0, tick.elapsedMs - this.loadStartT!))}${this.loadDurationMs ? `/${formatDuration(this.loadDurationMs)}` : ''}`
      : formatDuration(tick.elapsedMs);
    parts.push(`[${this.phase} ${clock}]`);
    if (inLoad || tick.writes.ok + tick.writes.failed + tick.writes.indeterminate + tick.writes.dropped > 0) {
      const s = tick.lastSecond;
      parts.push(`writes/s ${s.ok} ok, ${s.failed + s.indeterminate} failed, ${s.dropped} dropped`);
      parts.push(`p99 ${tick.p99Ms === null ? '-' : formatDuration(tick.p99Ms)}`);
    }
    if (tick.app) parts.push(`app ok ${tick.app.ok} failed ${tick.app.failed + tick.app.indeterminate} dropped ${tick.app.dropped}`);
    const lag = tick.lag.map((l) => `${l.node} ${l.replayBytes === null ? '?' : formatBytes(l.replayBytes)}`).join(', ');
    if (lag) parts.push(`lag ${lag}`);
    if (this.cutoverStep) parts.push(`cutover: ${this.cutoverStep}`);
    if (this.faults.size) parts.push(`fault: ${[...this.faults.keys()].join(', ')}`);
    const [clockPart, ...rest] = parts;
    return rest.length ? `${clockPart} ${rest.join(' | ')}` : clockPart;
  }

  event(event: RunEvent): void {
    this.follow(event);
    if (this.verbose) {
      const { t: _t, kind, ...rest } = event;
      this.print(`${stamp(event.t)}  ${kind} ${JSON.stringify(rest)}`);
      return;
    }
    if (FOLDED.has(event.kind)) {
      const kind = event.kind as FoldKind;
      const fold = this.folds.get(kind);
      if (fold) fold.events.push(event);
      else this.folds.set(kind, { kind, firstT: event.t, events: [event] });
      return;
    }
    if (QUIET.has(event.kind)) return;
    this.print(`${stamp(event.t)}  ${this.describe(event)}`);
  }

  /** What the status line shows: the phase, the load's clock, the current step and faults. */
  private follow(e: RunEvent): void {
    switch (e.kind) {
      case 'phase-start':
        this.phase = e.phase;
        break;
      case 'workload-start':
        this.loadStartT = e.t;
        this.loadDurationMs = e.durationMs;
        break;
      case 'cutover-step-start':
        this.cutoverStep = e.step;
        break;
      case 'cutover-step':
      case 'cutover-end':
        this.cutoverStep = undefined;
        break;
      case 'fault-start': {
        const label = faultLabel(e);
        this.faults.set(label, (this.faults.get(label) ?? 0) + 1);
        break;
      }
      case 'fault-end':
      case 'fault-heal-failed': {
        const label = faultLabel(e);
        const n = (this.faults.get(label) ?? 1) - 1;
        if (n > 0) this.faults.set(label, n);
        else this.faults.delete(label);
        break;
      }
    }
  }

  private describe(e: RunEvent): string {
    switch (e.kind) {
      case 'run-start':
        return `run ${e.runId} started (${e.runtime}); record in ${e.folder}`;
      case 'phase-start':
        return `phase ${e.phase}`;
      case 'workload-end': {
        const w = e.writes;
        return `load stopped: ${w.intended} writes intended, ${w.ok} ok, ${w.failed} failed, ${w.indeterminate} indeterminate, ${w.dropped} dropped`;
      }
      case 'reaper-unavailable':
        return `warning: ${e.reason}`;
      default:
        return describeEvent(e);
    }
  }

  private flushFold(kind: FoldKind): void {
    const fold = this.folds.get(kind);
    if (!fold) return;
    this.folds.delete(kind);
    this.write(`${stamp(fold.firstT)}  ${foldText(fold)}`);
  }

  /** A line above the status line; pending folds go first so that lines stay in time order. */
  print(text: string): void {
    for (const kind of [...this.folds.keys()]) this.flushFold(kind);
    this.write(text);
  }

  private write(text: string): void {
    if (this.lineOpen) {
      this.stream.write('\r\x1b[2K');
      this.lineOpen = false;
    }
    this.stream.write(text + '\n');
    if (this.tty && this.lastTick) {
      this.stream.write(this.statusLine(this.lastTick));
      this.lineOpen = true;
    }
  }

  done(): void {
    for (const kind of [...this.folds.keys()]) this.flushFold(kind);
    if (this.lineOpen) this.stream.write('\r\x1b[2K');
    this.lineOpen = false;
    this.lastTick = undefined;
  }
}

function lastT(fold: Fold): number {
  return fold.events[fold.events.length - 1].t;
}

function stamp(t: number): string {
  return formatDuration(t).padStart(7);
}

/** "write connections lost x10 (slots 0-9), read x4, probe x2: 57P01 admin_shutdown" */
export function foldText(fold: { kind: FoldKind; events: RunEvent[] }): string {
  const n = fold.events.length;
  const times = n > 1 ? ` over ${formatDuration(lastT(fold as Fold) - fold.events[0].t)}` : '';
  if (fold.kind === 'failover-health-check-failed') {
    const events = fold.events as EventOf<'failover-health-check-failed'>[];
    const nodes = [...new Set(events.map((e) => e.node))].join(', ');
    return `health check of ${nodes} failed x${n}${times}: ${events[events.length - 1].error}`;
  }
  const byStream = new Map<string, number[]>();
  for (const e of fold.events as (EventOf<'workload-connection-lost'> | EventOf<'workload-connection-restored'>)[]) {
    byStream.set(e.stream, [...(byStream.get(e.stream) ?? []), e.slot]);
  }
  const streams = [...byStream].map(([stream, slots]) => `${stream} x${slots.length}`).join(', ');
  if (fold.kind === 'workload-connection-lost') {
    const errors = new Map<string, number>();
    for (const e of fold.events as EventOf<'workload-connection-lost'>[]) {
      const key = e.error.sqlstate ? `${e.error.sqlstate} ${e.error.class}` : e.error.class;
      errors.set(key, (errors.get(key) ?? 0) + 1);
    }
    return `connections lost x${n}${times} (${streams}): ${[...errors].map(([k, c]) => (c === n ? k : `${c} ${k}`)).join(', ')}`;
  }
  const down = (fold.events as EventOf<'workload-connection-restored'>[]).map((e) => e.downMs);
  const range = down.length > 1 ? `${formatDuration(Math.min(...down))}-${formatDuration(Math.max(...down))}` : formatDuration(down[0]);
  return `connections restored x${n}${times} (${streams}), each after ${range} down`;
}
