// What every HTML page pgdrill writes shares: escaping, the page shell and stylesheet,
// chart.js read from node_modules and inlined (pages must open offline, with no CDN), and the
// in-page script that draws the chart configurations and marks each canvas once drawn.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { windowsPluginSource } from './chart-configs.js';

export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** JSON safe inside <script>: nothing in the data can close the element or start a comment. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

let chartJs: string | undefined;

/**
 * chart.js's UMD build, as text. Its package exports hide dist/chart.umd.js from resolution,
 * so the package entry is resolved and the UMD file found beside it.
 */
export function chartJsSource(): string {
  if (chartJs === undefined) {
    const entry = createRequire(import.meta.url).resolve('chart.js');
    const text = readFileSync(path.join(path.dirname(entry), 'chart.umd.js'), 'utf8');
    chartJs = text.replace(/<\/script/gi, '<\\/script');
  }
  return chartJs;
}

/**
 * The in-page script: draws every chart listed in #pgdrill-charts onto the canvas of the
 * same id, then marks the canvas (data-rendered, data-painted-pixels, data-points) so a
 * headless browser test can tell a drawn chart from a blank one.
 */
export function chartsScript(): string {
  return `(function () {
  'use strict';
  var specs = JSON.parse(document.getElementById('pgdrill-charts').textContent);
  Chart.defaults.font.family = ${JSON.stringify(FONT_STACK)};
  Chart.defaults.color = '#424a53';
  var windowsPlugin = ${windowsPluginSource()};
  function paintedPixels(canvas) {
    var ctx = canvas.getContext('2d');
    var pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    var painted = 0;
    for (var i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
    return painted;
  }
  var marker = {
    id: 'pgdrillRendered',
    afterRender: function (chart) {
      var canvas = chart.canvas;
      var painted = paintedPixels(canvas);
      var points = 0;
      chart.data.datasets.forEach(function (d) {
        d.data.forEach(function (p) { var y = Array.isArray(p) ? p[1] : p !== null && typeof p === 'object' ? p.y : p; if (y !== null && y !== undefined) points++; });
      });
      canvas.setAttribute('data-painted-pixels', String(painted));
      canvas.setAttribute('data-points', String(points));
      canvas.setAttribute('data-rendered', painted > 0 ? 'true' : 'false');
    }
  };
  var drawn = 0;
  specs.forEach(function (spec) {
    var canvas = document.getElementById('chart-' + spec.id);
    if (!canvas) return;
    var config = spec.config;
    config.options.responsive = true;
    config.options.maintainAspectRatio = false;
    config.plugins = [windowsPlugin, marker];
    try {
      new Chart(canvas, config);
      drawn++;
    } catch (err) {
      canvas.setAttribute('data-rendered', 'false');
      canvas.setAttribute('data-error', String(err && err.message || err));
      var note = document.createElement('p');
      note.className = 'chart-error';
      note.textContent = 'This chart could not be drawn: ' + String(err && err.message || err);
      canvas.parentNode.parentNode.appendChild(note);
    }
  });
  document.body.setAttribute('data-charts-drawn', String(drawn));
})();`;
}

export const FONT_STACK = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Liberation Sans", Arial, sans-serif';

export interface PageParts {
  title: string;
  body: string;
  /** chart specs to inline and draw; none = no chart.js in the page */
  charts?: { id: string; config: unknown }[];
}

export function renderPage({ title, body, charts }: PageParts): string {
  const withCharts = charts !== undefined && charts.length > 0;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pgdrill">
<title>${escapeHtml(title)}</title>
<style>${STYLESHEET}</style>
</head>
<body data-charts-expected="${withCharts ? charts.length : 0}">
${body}
${
  withCharts
    ? `<script type="application/json" id="pgdrill-charts">${jsonForScript(charts)}</script>
<script>${chartJsSource()}</script>
<script>${chartsScript()}</script>`
    : ''
}
</body>
</html>
`;
}

const STYLESHEET = `
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; --accent: #0969da; }
* { box-sizing: border-box; }
html { font-size: 15px; }
body { margin: 0; background: var(--soft); color: var(--fg); font-family: ${FONT_STACK}; line-height: 1.45; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 28px 48px; }
h1 { font-size: 1.6rem; margin: 0; font-weight: 650; }
h2 { font-size: 1.15rem; margin: 0 0 12px; font-weight: 650; }
h3 { font-size: 0.95rem; margin: 18px 0 8px; font-weight: 650; }
p { margin: 6px 0; }
a { color: var(--accent); }
code, pre { font-family: ui-monospace, SFMono-Regular, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.85rem; }
section.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 18px 22px; margin: 16px 0; }
.muted { color: var(--muted); }
.small { font-size: 0.85rem; }
nav.sections { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 0.88rem; margin: 10px 0 0; }
nav.sections a { text-decoration: none; }
nav.sections a:hover { text-decoration: underline; }
header.run { display: flex; gap: 20px; align-items: flex-start; }
header.run .titles { flex: 1; min-width: 0; }
.verdict { display: inline-block; font-weight: 750; letter-spacing: 0.06em; font-size: 1.35rem; padding: 8px 18px; border-radius: 6px; color: #fff; white-space: nowrap; }
.verdict.pass { background: var(--pass); }
.verdict.fail { background: var(--fail); }
.verdict.incomplete { background: #b7791f; }
.meta { display: flex; flex-wrap: wrap; gap: 2px 18px; color: var(--muted); font-size: 0.88rem; margin-top: 6px; }
.reasons { margin: 12px 0 0; padding: 10px 14px; border-radius: 6px; background: #ffebe9; border: 1px solid #ffcecb; color: #82071e; }
.reasons ul { margin: 4px 0 0; padding-left: 20px; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin-top: 16px; }
.figure { border: 1px solid var(--line); border-left: 4px solid var(--line); border-radius: 6px; padding: 8px 12px; background: #fff; }
.figure.good { border-left-color: var(--pass); }
.figure.bad { border-left-color: var(--fail); }
.figure .label { font-size: 0.75rem; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
.figure .value { font-size: 1.35rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.figure .sub { font-size: 0.8rem; color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e6eaef; vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.03em; background: var(--soft); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.hash { font-family: ui-monospace, SFMono-Regular, "DejaVu Sans Mono", Menlo, monospace; font-size: 0.8rem; color: var(--muted); }
tr.bad td { background: #fff5f5; }
.status { display: inline-block; min-width: 44px; text-align: center; font-size: 0.75rem; font-weight: 700; padding: 1px 6px; border-radius: 10px; }
.status.pass { background: #dafbe1; color: #116329; }
.status.fail { background: #ffebe9; color: #a40e26; }
.status.info { background: #ddf4ff; color: #0a3069; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
@media (max-width: 900px) { .two { grid-template-columns: 1fr; } }
.chart { margin: 22px 0 6px; }
.chart .box { position: relative; height: 260px; }
.chart .caption { color: var(--muted); font-size: 0.83rem; margin: 0 0 6px; }
.chart h3 { margin: 0 0 2px; }
.chart-error { color: var(--fail); }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; font-size: 0.83rem; color: var(--muted); }
.swatch { display: inline-block; width: 14px; height: 12px; border-radius: 2px; vertical-align: -1px; margin-right: 5px; border: 1px solid rgba(0,0,0,0.08); }
.swatch.strip { height: 5px; vertical-align: 2px; }
.gantt { margin: 8px 0 4px; }
.gantt .row { display: flex; align-items: center; height: 26px; }
.gantt .name { width: 130px; flex: none; font-size: 0.83rem; color: var(--muted); }
.gantt .track { position: relative; flex: 1; height: 18px; background: var(--soft); border-radius: 3px; }
.gantt .seg { position: absolute; top: 0; bottom: 0; min-width: 2px; border-radius: 2px; font-size: 0.72rem; line-height: 18px; color: #fff; overflow: hidden; white-space: nowrap; padding: 0 4px; }
.gantt .axis { position: relative; margin-left: 130px; height: 18px; font-size: 0.72rem; color: var(--muted); }
.gantt .axis span { position: absolute; transform: translateX(-50%); white-space: nowrap; }
.seg.phase-setup { background: #8c959f; } .seg.phase-seed { background: #6e7781; } .seg.phase-sync { background: #57606a; }
.seg.phase-load { background: #4c9a6a; } .seg.phase-cutover { background: #0969da; } .seg.phase-verify { background: #8250df; } .seg.phase-teardown { background: #8c959f; }
.seg.fault { background: #d1242f; } .seg.cutover { background: #0969da; } .seg.step-fail { background: #d1242f; }
.seg.write-downtime { background: #82071e; } .seg.read-downtime { background: #bf8700; }
.seg.role-leader { background: #0969da; } .seg.role-sync { background: #54aeff; } .seg.role-replica { background: #8c959f; } .seg.role-down { background: #d1242f; }
.waterfall { position: relative; height: 12px; min-width: 160px; background: var(--soft); border-radius: 2px; }
.waterfall span { position: absolute; top: 0; bottom: 0; min-width: 2px; background: #0969da; border-radius: 2px; }
.waterfall span.fail { background: var(--fail); }
details > summary { cursor: pointer; color: var(--accent); font-size: 0.9rem; margin: 8px 0; }
pre.scenario { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; max-height: 520px; overflow: auto; margin: 0; }
.bars td.bar { width: 45%; }
.hbar { height: 14px; background: #0969da; border-radius: 2px; min-width: 1px; }
.hbar.fail { background: var(--fail); }
.nowrap { white-space: nowrap; }
.table-wrap { overflow-x: auto; }
footer { color: var(--muted); font-size: 0.8rem; margin-top: 20px; text-align: center; }
`;
