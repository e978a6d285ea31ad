// Numbers as the reports print them, on top of util/units: latencies keep two significant
// digits below 10 ms (a laptop's 1.6 ms p50 must not read "2ms"), a run's length reads to the second.

import { formatDuration } from '../util/units.js';

export function formatMs(ms: number | null): string {
  if (ms === null) return '–';
  if (ms > 0 && ms < 10) return `${Number(ms.toPrecision(2))}ms`;
  return formatDuration(ms);
}

/** "1m 3s" rather than formatDuration's "1m". */
export function formatRunTime(ms: number): string {
  if (ms < 60_000) return formatDuration(ms);
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m ${s % 60}s`;
}

/** 99.98%, never a rounded-up 100% while something failed. */
export function formatPercent(ratio: number): string {
  if (ratio === 1) return '100%';
  return `${Math.min(99.99, Number((ratio * 100).toFixed(2)))}%`;
}
