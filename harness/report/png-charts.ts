// PNG charts for CI artifacts and pull-request comments: the report's chart.js
// configurations drawn on @napi-rs/canvas (a prebuilt binary from npm, no system libraries),
// one file per subject, panels stacked vertically on a white background.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createCanvas, type SKRSContext2D } from '@napi-rs/canvas';
import { Chart, registerables, type ChartConfiguration, type Plugin } from 'chart.js';
import type { Results } from '../results/results.js';
import { buildChartSpecs, markWindows, shadeWindows, type ChartId, type ChartSpec } from './chart-configs.js';

Chart.register(...registerables);

const windowsPlugin = {
  id: 'pgdrillWindows',
  beforeDatasetsDraw: shadeWindows,
  afterDatasetsDraw: markWindows,
} as unknown as Plugin;

const WIDTH = 1200;
const PANEL_HEIGHT = 400;
const TITLE_HEIGHT = 34;

/** Which charts each PNG holds; a PNG whose charts are all absent says so in a placeholder. */
export const PNG_FILES: { file: string; title: string; charts: ChartId[]; onlyWith?: 'app' }[] = [
  { file: 'throughput.png', title: 'Throughput and errors', charts: ['writes', 'reads'] },
  { file: 'latency.png', title: 'Latency', charts: ['latency'] },
  { file: 'lag.png', title: 'Replication lag', charts: ['lag-bytes', 'lag-time'] },
  // only for runs with an app: a run without one gets no placeholder file
  { file: 'app.png', title: 'The app: requests and latency', charts: ['app', 'app-latency'], onlyWith: 'app' },
];

export interface RenderedPng {
  file: string;
  png: Buffer;
}

export async function renderPngCharts(results: Results): Promise<RenderedPng[]> {
  const specs = buildChartSpecs(results);
  const out: RenderedPng[] = [];
  for (const target of PNG_FILES) {
    if (target.onlyWith === 'app' && !results.app) continue;
    const panels = target.charts.map((id) => specs.find((s) => s.id === id)).filter((s): s is ChartSpec => s !== undefined);
    const header = `${results.scenario.name}: ${target.title}`;
    out.push({ file: target.file, png: await renderPanels(header, panels) });
  }
  return out;
}

export async function writePngCharts(results: Results, folder: string): Promise<string[]> {
  const files: string[] = [];
  for (const { file, png } of await renderPngCharts(results)) {
    const target = path.join(folder, file);
    await writeFile(target, png);
    files.push(target);
  }
  return files;
}

async function renderPanels(header: string, panels: ChartSpec[]): Promise<Buffer> {
  const height = TITLE_HEIGHT + Math.max(1, panels.length) * PANEL_HEIGHT;
  const canvas = createCanvas(WIDTH, height);
  const ctx = canvas.getContext('2d');
  // transparent PNGs turn unreadable on dark pull-request pages
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, WIDTH, height);
  ctx.fillStyle = '#1f2328';
  ctx.font = 'bold 16px "Liberation Sans", "DejaVu Sans", Arial, sans-serif';
  ctx.textBaseline = 'middle';
  ctx.fillText(header, 16, TITLE_HEIGHT / 2 + 2);
  if (panels.length === 0) {
    ctx.fillStyle = '#57606a';
    ctx.font = '14px "Liberation Sans", "DejaVu Sans", Arial, sans-serif';
    ctx.fillText('nothing was measured for this chart in this run', 16, TITLE_HEIGHT + PANEL_HEIGHT / 2);
  }
  panels.forEach((panel, i) => {
    const panelCanvas = createCanvas(WIDTH, PANEL_HEIGHT);
    const chart = drawChart(panelCanvas.getContext('2d'), panel);
    ctx.drawImage(panelCanvas, 0, TITLE_HEIGHT + i * PANEL_HEIGHT);
    // destroy() clears the canvas, so only once the panel is copied
    chart.destroy();
  });
  return canvas.encode('png');
}

function drawChart(ctx: SKRSContext2D, spec: ChartSpec): Chart {
  // a deep copy: chart.js writes into the configuration it is given
  const config = JSON.parse(JSON.stringify(spec.config)) as ChartConfiguration & { options: Record<string, unknown> };
  config.options.responsive = false;
  config.options.animation = false;
  config.options.devicePixelRatio = 1;
  config.options.layout = { padding: { left: 12, right: 18, top: 6, bottom: 6 } };
  const plugins = config.options.plugins as Record<string, unknown>;
  plugins.title = { display: true, text: spec.title, align: 'start', font: { size: 14, weight: 'bold' }, color: '#1f2328' };
  config.plugins = [windowsPlugin];
  // chart.js accepts a 2D context as its item; @napi-rs/canvas's is close enough to the DOM's
  return new Chart(ctx as unknown as CanvasRenderingContext2D, config);
}
