// The charts of a run as chart.js configurations built from results.json: plain JSON (no
// callbacks), so the same configuration draws the PNGs in Node and is inlined into
// report.html. Time runs in seconds from the start of the load phase; fault and cutover
// windows are shaded by the `pgdrillWindows` plugin below, downtime is a strip along the bottom.

import type { Results, SecondBucket } from '../results/results.js';
import { cutoverWindows, downtimeRunWindows, faultWindows, loadStartMs, type RunWindow, type WindowKind } from './report-model.js';

export type ChartId = 'writes' | 'reads' | 'latency' | 'lag-bytes' | 'lag-time' | 'app' | 'app-latency';

export interface ChartSpec {
  id: ChartId;
  title: string;
  /** one sentence under the title: how to read the chart */
  caption: string;
  /** a chart.js configuration, JSON-serialisable */
  config: ChartConfigJson;
}

/** The subset of a chart.js configuration built here (kept loose: it is serialised anyway). */
export interface ChartConfigJson {
  type: 'bar' | 'line';
  data: { datasets: Record<string, unknown>[] };
  options: Record<string, unknown> & { plugins: Record<string, unknown> & { pgdrillWindows: WindowsPluginOptions } };
}

/** A window in chart coordinates: seconds from the start of the load phase. */
export interface ChartWindow {
  from: number;
  to: number;
  kind: WindowKind;
  label: string;
}

export interface WindowsPluginOptions {
  windows: ChartWindow[];
}

export const OUTCOME_COLORS = { ok: '#4c9a6a', failed: '#d1242f', indeterminate: '#e8912d', dropped: '#8c959f' } as const;
const PERCENTILE_COLORS = { p50: '#7cb7f0', p95: '#2f6fd6', p99: '#0a2f6b' } as const;
const NODE_COLORS = ['#0969da', '#bf3989', '#1a7f37', '#9a6700', '#8250df', '#57606a'];

/** More points than this per series are merged (keeping peaks): long runs stay small. */
const MAX_POINTS = 1500;

type Point = [number, number | null];

export function buildChartSpecs(results: Results): ChartSpec[] {
  const t0 = loadStartMs(results);
  const windows = chartWindows(results, t0);
  const range = xRange(results, t0);
  const specs: ChartSpec[] = [];
  const { writes, reads } = results.load;

  if (writes.intended > 0) {
    specs.push({
      id: 'writes',
      title: 'Writes per second by outcome',
      caption: 'Each bar is one second of intended writes: acknowledged (ok), refused (failed), unknown (indeterminate) or never started (dropped).',
      config: outcomeChart(writes.perSecond, 'writes / s', windows, range),
    });
  }
  if (reads.intended > 0) {
    specs.push({
      id: 'reads',
      title: 'Reads per second by outcome',
      caption: 'Intended reads per second by outcome.',
      config: outcomeChart(reads.perSecond, 'reads / s', windows, range),
    });
  }
  if (writes.intended > 0 || reads.intended > 0) {
    specs.push({
      id: 'latency',
      title: 'Latency per second',
      caption: 'Percentiles of acknowledged operations, measured from their intended start (a stall counts in full). Log scale.',
      config: latencyChart(results, windows, range),
    });
  }
  const app = results.load.app;
  if (app && app.intended > 0) {
    specs.push({
      id: 'app',
      title: 'App requests per second by outcome',
      caption: "Each bar is one second of intended HTTP requests to the app: answered below 500 (ok), 5xx or a connection error (failed), no answer in time (timeout), never started (dropped).",
      config: outcomeChart(app.perSecond, 'requests / s', windows, range, { indeterminate: 'timeout' }),
    });
    specs.push({
      id: 'app-latency',
      title: 'App latency per second',
      caption: "Percentiles of the app's answered requests, from their intended start, its pool and the database included. Log scale.",
      config: percentileChart([['app', app.perSecond]], windows, range),
    });
  }
  const samples = results.lag.samples;
  if (samples.length > 0) {
    specs.push({
      id: 'lag-bytes',
      title: 'Replication lag (bytes not yet replayed)',
      caption: 'WAL bytes each replica has not replayed yet, as its primary reports them.',
      config: lagChart(results, t0, 'bytes', windows, range),
    });
    if (samples.some((s) => s.replayLagMs !== null)) {
      specs.push({
        id: 'lag-time',
        title: 'Replication lag (time)',
        caption: 'replay_lag from pg_stat_replication: how old the newest replayed change is. Empty while the replica is idle and caught up.',
        config: lagChart(results, t0, 'time', windows, range),
      });
    }
  }
  return specs;
}

function chartWindows(results: Results, t0: number): ChartWindow[] {
  const toChart = (w: RunWindow): ChartWindow => ({
    from: round((w.startMs - t0) / 1000, 3),
    to: round((w.endMs - t0) / 1000, 3),
    kind: w.kind,
    label: w.label,
  });
  return [...faultWindows(results), ...cutoverWindows(results), ...downtimeRunWindows(results)].map(toChart);
}

function xRange(results: Results, t0: number): { min: number; max: number } {
  let max = results.scenario.duration / 1000;
  let min = 0;
  for (const b of [...results.load.writes.perSecond, ...results.load.reads.perSecond, ...(results.load.app?.perSecond ?? [])]) {
    max = Math.max(max, b.second + 1);
    min = Math.min(min, b.second);
  }
  for (const s of results.lag.samples) {
    const x = (s.t - t0) / 1000;
    max = Math.max(max, x);
    min = Math.min(min, x);
  }
  return { min: Math.floor(min), max: Math.ceil(max) };
}

function baseOptions(yTitle: string, windows: ChartWindow[], range: { min: number; max: number }, yExtra: Record<string, unknown> = {}) {
  return {
    animation: false as const,
    responsive: false,
    maintainAspectRatio: false,
    parsing: true,
    normalized: true,
    interaction: { mode: 'nearest', axis: 'x', intersect: false },
    plugins: {
      legend: { position: 'top', align: 'end', labels: { boxWidth: 12, boxHeight: 12 } },
      tooltip: { enabled: true },
      pgdrillWindows: { windows },
    },
    scales: {
      x: {
        type: 'linear',
        min: range.min,
        max: range.max,
        offset: false,
        title: { display: true, text: 'seconds from the start of the load' },
        // no tick at a bound that is not a round number ("45 46" printed on top of each other)
        ticks: { maxTicksLimit: 20, includeBounds: false },
        grid: { color: '#eaeef2' },
      },
      y: { beginAtZero: true, grace: '12%', title: { display: true, text: yTitle }, grid: { color: '#eaeef2' }, ...yExtra },
    },
  };
}

function outcomeChart(
  buckets: SecondBucket[],
  yTitle: string,
  windows: ChartWindow[],
  range: { min: number; max: number },
  names: Partial<Record<keyof typeof OUTCOME_COLORS, string>> = {},
): ChartConfigJson {
  // a bucket counts [s, s+1): its bar is centred on s+0.5 so it sits over the second it counts
  // objects, not [x, y] pairs: a bar chart reads a pair as a floating bar from x to y
  const series = (pick: (b: SecondBucket) => number) =>
    downsample(buckets.map((b) => [b.second + 0.5, pick(b)] as Point), 'mean').map(([x, y]) => ({ x, y }));
  const bar = (label: keyof typeof OUTCOME_COLORS, pick: (b: SecondBucket) => number) => ({
    label: names[label] ?? label,
    data: series(pick),
    backgroundColor: OUTCOME_COLORS[label],
    borderWidth: 0,
    barPercentage: 0.92,
    categoryPercentage: 1,
    stack: 'outcome',
  });
  const options = baseOptions(yTitle, windows, range);
  (options.scales.x as Record<string, unknown>).stacked = true;
  (options.scales.y as Record<string, unknown>).stacked = true;
  return {
    type: 'bar',
    data: {
      datasets: [
        bar('ok', (b) => b.ok),
        bar('failed', (b) => b.failed),
        bar('indeterminate', (b) => b.indeterminate),
        bar('dropped', (b) => b.dropped),
      ],
    },
    options,
  };
}

function latencyChart(results: Results, windows: ChartWindow[], range: { min: number; max: number }): ChartConfigJson {
  const { writes, reads } = results.load;
  // a log axis cannot place 0; an empty second is a gap, not a fast second
  const series = (buckets: SecondBucket[], p: 'p50' | 'p95' | 'p99'): Point[] =>
    downsample(
      buckets.map((b) => [b.second + 0.5, b.latencyMs && b.latencyMs[p] > 0 ? round(b.latencyMs[p], 3) : null] as Point),
      'max',
    );
  const line = (label: string, data: Point[], color: string, dashed = false) => ({
    label,
    data,
    borderColor: color,
    backgroundColor: color,
    borderWidth: dashed ? 1.5 : 2,
    borderDash: dashed ? [5, 4] : [],
    pointRadius: 0,
    pointHitRadius: 4,
    spanGaps: false,
    tension: 0,
  });
  const datasets = [];
  if (writes.intended > 0) {
    datasets.push(
      line('writes p50', series(writes.perSecond, 'p50'), PERCENTILE_COLORS.p50),
      line('writes p95', series(writes.perSecond, 'p95'), PERCENTILE_COLORS.p95),
      line('writes p99', series(writes.perSecond, 'p99'), PERCENTILE_COLORS.p99),
    );
  }
  if (reads.intended > 0) datasets.push(line('reads p99', series(reads.perSecond, 'p99'), '#bf8700', true));
  return { type: 'line', data: { datasets }, options: baseOptions('milliseconds (log)', windows, range, { type: 'logarithmic', beginAtZero: false }) };
}

/** p50/p95/p99 lines of each named stream's answered operations per second (log scale). */
function percentileChart(streams: [string, SecondBucket[]][], windows: ChartWindow[], range: { min: number; max: number }): ChartConfigJson {
  const series = (buckets: SecondBucket[], p: 'p50' | 'p95' | 'p99'): Point[] =>
    downsample(
      buckets.map((b) => [b.second + 0.5, b.latencyMs && b.latencyMs[p] > 0 ? round(b.latencyMs[p], 3) : null] as Point),
      'max',
    );
  const datasets = streams.flatMap(([name, buckets]) =>
    (['p50', 'p95', 'p99'] as const).map((p) => ({
      label: `${name} ${p}`,
      data: series(buckets, p),
      borderColor: APP_PERCENTILE_COLORS[p],
      backgroundColor: APP_PERCENTILE_COLORS[p],
      borderWidth: 2,
      pointRadius: 0,
      pointHitRadius: 4,
      spanGaps: false,
      tension: 0,
    })),
  );
  return { type: 'line', data: { datasets }, options: baseOptions('milliseconds (log)', windows, range, { type: 'logarithmic', beginAtZero: false }) };
}

const APP_PERCENTILE_COLORS = { p50: '#c297e8', p95: '#8250df', p99: '#3d1a78' } as const;

function lagChart(results: Results, t0: number, measure: 'bytes' | 'time', windows: ChartWindow[], range: { min: number; max: number }): ChartConfigJson {
  const samples = results.lag.samples;
  const nodes = [...new Set(samples.map((s) => s.node))];
  const raw = (s: (typeof samples)[number]) => (measure === 'bytes' ? s.replayBytes : s.replayLagMs);
  const max = Math.max(0, ...samples.map((s) => raw(s) ?? 0));
  const unit = measure === 'bytes' ? byteUnit(max) : timeUnit(max);
  const datasets = nodes.map((node, i) => {
    const color = NODE_COLORS[i % NODE_COLORS.length];
    const points = samples
      .filter((s) => s.node === node)
      .map((s) => {
        const v = raw(s);
        return [round((s.t - t0) / 1000, 3), v === null ? null : round(v / unit.divisor, 3)] as Point;
      });
    return {
      label: node,
      data: downsample(points, 'max'),
      borderColor: color,
      backgroundColor: color,
      borderWidth: 2,
      // replay_lag is null between bursts of WAL, leaving short segments: dots keep lone samples visible
      pointRadius: measure === 'time' ? 1.5 : 0,
      pointHitRadius: 4,
      spanGaps: false,
      tension: 0,
    };
  });
  return { type: 'line', data: { datasets }, options: baseOptions(unit.name, windows, range) };
}

function byteUnit(max: number): { name: string; divisor: number } {
  if (max >= 1024 ** 3) return { name: 'GB', divisor: 1024 ** 3 };
  if (max >= 1024 ** 2) return { name: 'MB', divisor: 1024 ** 2 };
  if (max >= 1024) return { name: 'kB', divisor: 1024 };
  return { name: 'bytes', divisor: 1 };
}

function timeUnit(max: number): { name: string; divisor: number } {
  return max >= 2000 ? { name: 'seconds', divisor: 1000 } : { name: 'milliseconds', divisor: 1 };
}

/**
 * Merges neighbouring points until at most MAX_POINTS remain. Counts are averaged (the
 * y axis stays "per second"); latencies and lag keep the maximum so a spike stays visible.
 */
export function downsample(points: Point[], how: 'mean' | 'max', maxPoints = MAX_POINTS): Point[] {
  if (points.length <= maxPoints) return points;
  const size = Math.ceil(points.length / maxPoints);
  const out: Point[] = [];
  for (let i = 0; i < points.length; i += size) {
    const chunk = points.slice(i, i + size);
    const values = chunk.map((p) => p[1]).filter((v): v is number => v !== null);
    const x = chunk.reduce((sum, p) => sum + p[0], 0) / chunk.length;
    const y = values.length === 0 ? null : how === 'max' ? Math.max(...values) : values.reduce((a, b) => a + b, 0) / values.length;
    out.push([round(x, 3), y === null ? null : round(y, 3)]);
  }
  return out;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Colours of the windows for the HTML legend; the plugin functions keep their own copy (they must be self-contained). */
export const WINDOW_COLORS: Record<WindowKind, string> = {
  fault: 'rgba(209, 36, 47, 0.10)',
  cutover: 'rgba(9, 105, 218, 0.12)',
  'write-downtime': 'rgba(130, 7, 30, 0.85)',
  'read-downtime': 'rgba(191, 135, 0, 0.85)',
  'app-downtime': 'rgba(130, 80, 223, 0.85)',
};

// Minimal shapes of what the plugin touches, so it type-checks without chart.js internals.
interface PluginScale {
  getPixelForValue(value: number): number;
}
interface PluginChart {
  ctx: CanvasRenderingContext2D;
  chartArea: { left: number; right: number; top: number; bottom: number };
  scales: Record<string, PluginScale>;
}

/**
 * chart.js plugin hook (beforeDatasetsDraw): shades fault and cutover windows behind the data.
 * It and markWindows must stay self-contained: report.html inlines their source text
 * (Function.prototype.toString), so the browser and the PNGs draw windows with the same code.
 */
export function shadeWindows(chart: PluginChart, _args: unknown, options: WindowsPluginOptions): void {
  const windows = (options && options.windows) || [];
  const area = chart.chartArea;
  const x = chart.scales.x;
  if (!area || !x || windows.length === 0) return;
  const ctx = chart.ctx;
  ctx.save();
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i];
    if (w.kind !== 'fault' && w.kind !== 'cutover') continue;
    const left = Math.max(area.left, x.getPixelForValue(w.from));
    const right = Math.min(area.right, x.getPixelForValue(w.to));
    if (right < area.left || left > area.right) continue;
    ctx.fillStyle = w.kind === 'fault' ? 'rgba(209, 36, 47, 0.10)' : 'rgba(9, 105, 218, 0.12)';
    // an instant (a restart, a 50 ms step) still gets a visible band
    ctx.fillRect(left, area.top, Math.max(3, right - left), area.bottom - area.top);
  }
  ctx.restore();
}

/**
 * chart.js plugin hook (afterDatasetsDraw): over the data, a dashed line where each fault or
 * cutover starts with its label, and client downtime as strips along the bottom, so a window
 * stays visible when bars fill the whole plot.
 */
export function markWindows(chart: PluginChart, _args: unknown, options: WindowsPluginOptions): void {
  const windows = (options && options.windows) || [];
  const area = chart.chartArea;
  const x = chart.scales.x;
  if (!area || !x || windows.length === 0) return;
  const ctx = chart.ctx;
  ctx.save();
  ctx.beginPath();
  ctx.rect(area.left, area.top, area.right - area.left, area.bottom - area.top);
  ctx.clip();
  ctx.font = '11px system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif';
  ctx.textBaseline = 'top';
  // right edge of the last label in each of three rows: a label takes the first row it fits in
  const rowEnds = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i];
    const left = Math.max(area.left, x.getPixelForValue(w.from));
    const right = Math.min(area.right, x.getPixelForValue(w.to));
    if (right < area.left || left > area.right) continue;
    if (w.kind === 'write-downtime' || w.kind === 'read-downtime' || w.kind === 'app-downtime') {
      // strips from the bottom up: writes, reads, the app
      const h = 5;
      const row = w.kind === 'write-downtime' ? 0 : w.kind === 'read-downtime' ? 1 : 2;
      ctx.fillStyle = w.kind === 'write-downtime' ? 'rgba(130, 7, 30, 0.9)' : w.kind === 'read-downtime' ? 'rgba(191, 135, 0, 0.9)' : 'rgba(130, 80, 223, 0.9)';
      ctx.fillRect(left, area.bottom - (row + 1) * h - row, Math.max(2, right - left), h);
      continue;
    }
    const color = w.kind === 'fault' ? 'rgba(160, 20, 35, 0.95)' : 'rgba(9, 80, 180, 0.95)';
    ctx.strokeStyle = color;
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(Math.round(left) + 0.5, area.top);
    ctx.lineTo(Math.round(left) + 0.5, area.bottom);
    ctx.stroke();
    ctx.setLineDash([]);
    const label = w.label;
    const width = ctx.measureText(label).width;
    let row = 0;
    while (row < rowEnds.length - 1 && rowEnds[row] > left) row++;
    rowEnds[row] = left + width + 12;
    const y = area.top + 4 + 15 * row;
    ctx.fillStyle = 'rgba(255, 255, 255, 0.85)';
    ctx.fillRect(left + 3, y - 1, width + 6, 14);
    ctx.fillStyle = color;
    ctx.fillText(label, left + 6, y);
  }
  ctx.restore();
}

/** The plugin's JavaScript source, for pages that draw the same configurations in a browser. */
export function windowsPluginSource(): string {
  return `{ id: 'pgdrillWindows', beforeDatasetsDraw: ${shadeWindows.toString()}, afterDatasetsDraw: ${markWindows.toString()} }`;
}
