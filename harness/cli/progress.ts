// Live progress while a run goes: one line rewritten in place on a TTY, plain periodic
// lines otherwise (CI logs), plus the timeline's notable events as they happen.

import type { RunTick } from '../run/run-scenario.js';
import type { RunEvent } from '../record/events.js';
import { formatBytes, formatDuration } from '../util/units.js';

const QUIET_EVENTS = new Set(['cutover-step-start', 'phase-end']);

export class ProgressPrinter {
  private lastPlain = 0;
  private lineOpen = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly plainEveryMs = 5000,
  ) {}

  private get tty(): boolean {
    return Boolean(this.stream.isTTY);
  }

  tick(tick: RunTick): void {
    const lag = tick.lag.map((l) => `${l.node} ${l.replayBytes === null ? '?' : formatBytes(l.replayBytes)}`).join(' ');
    const w = tick.writes;
    const line =
      `[${tick.phase} ${formatDuration(tick.elapsedMs)}] writes ok ${w.ok} failed ${w.failed + w.indeterminate} dropped ${w.dropped}` +
      ` | p99 ${tick.p99Ms === null ? '-' : formatDuration(tick.p99Ms)}` +
      (tick.app ? ` | app ok ${tick.app.ok} failed ${tick.app.failed + tick.app.indeterminate} dropped ${tick.app.dropped}` : '') +
      (lag ? ` | lag ${lag}` : '');
    if (this.tty) {
      this.stream.write(`\r\x1b[2K${line}`);
      this.lineOpen = true;
    } else if (tick.elapsedMs - this.lastPlain >= this.plainEveryMs) {
      this.lastPlain = tick.elapsedMs;
      this.stream.write(line + '\n');
    }
  }

  event(event: RunEvent): void {
    if (QUIET_EVENTS.has(event.kind)) return;
    let text: string;
    if (event.kind === 'phase-start') text = `phase ${event.phase}`;
    else if (event.kind === 'cutover-step') text = `cutover step ${event.step}: ${event.ok ? 'ok' : 'FAILED'} in ${event.durationMs}ms - ${event.detail}`;
    else {
      const { t: _t, kind, ...rest } = event;
      text = `${kind} ${JSON.stringify(rest)}`;
    }
    this.print(`${formatDuration(event.t).padStart(7)}  ${text}`);
  }

  print(text: string): void {
    if (this.lineOpen) {
      this.stream.write('\r\x1b[2K');
      this.lineOpen = false;
    }
    this.stream.write(text + '\n');
  }

  done(): void {
    if (this.lineOpen) this.stream.write('\n');
    this.lineOpen = false;
  }
}
