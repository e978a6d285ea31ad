import { describe, expect, it } from 'vitest';
import { ProgressPrinter } from '../../harness/cli/progress.js';
import type { RunEvent } from '../../harness/record/events.js';
import type { RunTick } from '../../harness/run/run-scenario.js';

/** A stream that keeps what was written, a TTY or not. */
function sink(tty: boolean) {
  const chunks: string[] = [];
  const stream = { isTTY: tty, write: (s: string) => (chunks.push(s), true) } as unknown as NodeJS.WriteStream;
  const lines = () => chunks.join('').split('\n').map((l) => l.replace(/^.*\r\x1b\[2K/, '')).filter((l) => l.trim() !== '');
  return { stream, chunks, lines };
}

const tick = (elapsedMs: number, extra: Partial<RunTick> = {}): RunTick => ({
  elapsedMs,
  phase: 'load',
  writes: { ok: 1000, failed: 3, indeterminate: 1, dropped: 0 },
  lastSecond: { ok: 198, failed: 2, indeterminate: 0, dropped: 0 },
  p99Ms: 3.1,
  lag: [{ node: 'replica', replayBytes: 1400 }],
  ...extra,
});

function cutoverBurst(): RunEvent[] {
  const events: RunEvent[] = [
    { t: 1000, kind: 'phase-start', phase: 'load' },
    { t: 1010, kind: 'workload-start', writes: 200, reads: 100, probeIntervalMs: 20, durationMs: 60_000, startMs: 1010 },
    { t: 31_000, kind: 'cutover-start', strategy: 'streaming', dryRun: false },
    { t: 31_001, kind: 'cutover-step-start', step: 'freeze-writes' },
  ];
  for (let slot = 0; slot < 10; slot++) events.push({ t: 31_040 + slot, kind: 'workload-connection-lost', stream: 'write', slot, error: { sqlstate: '57P01', class: 'admin_shutdown', message: 'terminating connection' } });
  for (let slot = 0; slot < 4; slot++) events.push({ t: 31_050 + slot, kind: 'workload-connection-lost', stream: 'read', slot, error: { sqlstate: '57P01', class: 'admin_shutdown', message: 'terminating connection' } });
  for (let slot = 0; slot < 2; slot++) events.push({ t: 31_055 + slot, kind: 'workload-connection-lost', stream: 'probe', slot, error: { class: 'connection', message: 'reset' } });
  events.push({ t: 31_060, kind: 'cutover-step', step: 'freeze-writes', ok: true, durationMs: 59, detail: 'primary read-only' });
  for (let slot = 0; slot < 16; slot++) events.push({ t: 31_200 + slot, kind: 'workload-connection-restored', stream: slot < 10 ? 'write' : slot < 14 ? 'read' : 'probe', slot: slot % 10, downMs: 150 + slot, attempts: 2 });
  events.push({ t: 31_300, kind: 'cutover-end', ok: true, dryRun: false, rolledBack: false });
  return events;
}

describe('ProgressPrinter', () => {
  it('folds a burst of lost connections into one line with a count, in time order with the steps', () => {
    const out = sink(false);
    const p = new ProgressPrinter(out.stream);
    for (const e of cutoverBurst()) p.event(e);
    p.done();
    const lines = out.lines();
    const lost = lines.filter((l) => l.includes('connections lost'));
    expect(lost).toEqual([expect.stringMatching(/31\.04s {2}connections lost x16 over 16ms \(write x10, read x4, probe x2\): 14 57P01 admin_shutdown, 2 connection/)]);
    expect(lines.filter((l) => l.includes('connections restored'))).toEqual([expect.stringMatching(/connections restored x16 over 15ms \(write x10, read x4, probe x2\), each after 150ms-165ms down/)]);
    // the lost line comes before the step that ended after it, the restored one before the cutover's end
    expect(lines.findIndex((l) => l.includes('connections lost'))).toBeLessThan(lines.findIndex((l) => l.includes('freeze-writes')));
    expect(lines.findIndex((l) => l.includes('restored'))).toBeLessThan(lines.findIndex((l) => l.includes('cutover done')));
    expect(lines.length).toBe(7);
  });

  it('prints every event as recorded with --verbose', () => {
    const out = sink(false);
    const p = new ProgressPrinter(out.stream, { verbose: true });
    const events = cutoverBurst();
    for (const e of events) p.event(e);
    p.done();
    expect(out.lines().length).toBe(events.length);
    expect(out.lines().filter((l) => l.includes('workload-connection-lost {"stream":"write"')).length).toBe(10);
  });

  it('keeps one status line on a TTY: phase, load clock, writes per second, p99, lag, the cutover step and faults', () => {
    const out = sink(true);
    const p = new ProgressPrinter(out.stream);
    for (const e of cutoverBurst().slice(0, 4)) p.event(e);
    p.event({ t: 31_002, kind: 'fault-start', fault: 'pause', node: 'primary', injectMs: 1 });
    p.tick(tick(31_500));
    const status = out.chunks[out.chunks.length - 1];
    expect(status).toMatch(/^\r\x1b\[2K\[load 30\.49s\/1m\] writes\/s 198 ok, 2 failed, 0 dropped \| p99 3ms \| lag replica 1\.4kB \| cutover: freeze-writes \| fault: pause primary$/);
    // an event line goes above it and the status line is drawn again
    p.event({ t: 31_600, kind: 'cutover-step', step: 'freeze-writes', ok: true, durationMs: 599, detail: 'primary read-only' });
    const after = out.chunks.join('');
    expect(after).toMatch(/step freeze-writes done in 599 ms: primary read-only\n\[load 30\.49s\/1m\] writes\/s/);
    expect(out.chunks[out.chunks.length - 1]).not.toContain('cutover:');
  });

  it('writes a plain status line every few seconds when not on a TTY', () => {
    const out = sink(false);
    const p = new ProgressPrinter(out.stream, { plainEveryMs: 5000 });
    for (let s = 1; s <= 12; s++) p.tick(tick(s * 1000));
    expect(out.lines().length).toBe(3);
    expect(out.chunks.join('')).not.toContain('\r');
  });
});
