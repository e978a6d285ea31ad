// Several runs side by side (typically one workload through different strategies): one row
// per run, as a cli-table3 table with a downtime bar for the terminal and as an HTML page
// with the same table and a bar chart. Rendered from results files alone.

import Table from 'cli-table3';
import type { Results } from '../results/results.js';
import { formatBytes } from '../util/units.js';
import { escapeHtml as h, renderPage } from './html-kit.js';
import { formatMs as ms, formatRunTime } from './format.js';

export interface CompareRow {
  /** how the run is named in the comparison: its folder, usually */
  label: string;
  scenario: string;
  strategy: string;
  /** the endpoint kind clients went through ("proxy" for runs from before endpoints had kinds) */
  endpoint: string;
  runtime: string;
  durationMs: number;
  writeDowntimeMs: number | null;
  serverGapMs: number | null;
  lostWrites: number | null;
  maxLagBytes: number | null;
  p99WriteMs: number | null;
  /** writes that did not succeed: failed, indeterminate and dropped */
  failedWrites: number | null;
  /** the longest an acknowledged write waited (a write held by a PAUSE is slow, not failed) */
  longestStallMs: number | null;
  /** the endpoint's own cutover steps and their durations, e.g. "pause-endpoint 52ms, repoint-endpoint 2ms" */
  endpointSteps: string;
  verdict: Results['verdict'];
}

/** The cutover steps that are the endpoint's, whichever it took. */
export const ENDPOINT_STEP_NAMES = ['pause-endpoint', 'repoint-endpoint', 'drain-old-primary', 'endpoint-follows', 'resume'];

export function compareRow(results: Results, label: string): CompareRow {
  const writes = results.load.writes;
  return {
    label,
    scenario: results.scenario.name,
    strategy: results.cutover ? `${results.cutover.strategy}${results.cutover.dryRun ? ' (dry run)' : ''}` : (results.scenario.strategy?.kind ?? 'none'),
    endpoint: results.endpoint?.kind ?? results.scenario.endpoint?.kind ?? 'proxy',
    runtime: results.runtime,
    durationMs: results.durationMs,
    writeDowntimeMs: writes.intended > 0 ? results.downtime.writes.longestMs : null,
    serverGapMs: results.downtime.serverWriteGapMs,
    lostWrites: results.integrity ? results.integrity.lostWrites : null,
    maxLagBytes: results.lag.maxReplayBytes,
    p99WriteMs: writes.ok > 0 ? writes.latencyMs.p99 : null,
    failedWrites: writes.intended > 0 ? writes.failed + writes.indeterminate + writes.dropped : null,
    longestStallMs: writes.ok > 0 ? writes.okLatencyMs.max : null,
    endpointSteps: (results.cutover?.steps ?? [])
      .filter((st) => ENDPOINT_STEP_NAMES.includes(st.name))
      .map((st) => `${st.name} ${ms(st.endMs - st.startMs)}`)
      .join(', '),
    verdict: results.verdict,
  };
}

/**
 * What makes runs a fair comparison is one workload: the same duration, seed and load. Names
 * the parts that differ between the runs given (empty when they all match), for a warning.
 */
export function workloadDifferences(runs: Results[]): string[] {
  const parts: [string, (r: Results) => unknown][] = [
    ['duration', (r) => r.scenario.duration],
    ['seed', (r) => r.scenario.seed],
    ['workload.writes', (r) => r.scenario.workload.writes],
    ['workload.reads', (r) => r.scenario.workload.reads],
    ['workload.probe', (r) => r.scenario.workload.probe],
  ];
  return parts.filter(([, pick]) => new Set(runs.map((r) => JSON.stringify(pick(r)))).size > 1).map(([name]) => name);
}

const HEAD = ['run', 'scenario', 'strategy', 'endpoint', 'runtime', 'took', 'write downtime', 'failed writes', 'longest stall', 'server gap', 'lost writes', 'max lag', 'p99 write', 'endpoint steps', 'verdict'];
/** the columns that hold figures (right-aligned in HTML) */
const NUMERIC = new Set(['took', 'write downtime', 'failed writes', 'longest stall', 'server gap', 'lost writes', 'max lag', 'p99 write']);

export function renderCompareTable(rows: CompareRow[], differences: string[] = []): string {
  const table = new Table({ head: HEAD, style: { head: [], border: [] } });
  for (const r of rows) {
    table.push([
      r.label,
      r.scenario,
      r.strategy,
      r.endpoint,
      r.runtime,
      formatRunTime(r.durationMs),
      ms(r.writeDowntimeMs),
      r.failedWrites === null ? '–' : String(r.failedWrites),
      ms(r.longestStallMs),
      ms(r.serverGapMs),
      r.lostWrites === null ? 'not verified' : String(r.lostWrites),
      r.maxLagBytes === null ? '–' : formatBytes(r.maxLagBytes),
      ms(r.p99WriteMs),
      r.endpointSteps || '–',
      r.verdict.toUpperCase(),
    ]);
  }
  const warning = differences.length ? `\nnote: these runs do not share one workload (${differing(differences)}): compare with care\n` : '';
  return `${table.toString()}\n${warning}\nwrite downtime per run\n${downtimeBars(rows)}`;
}

const BAR_WIDTH = 40;
const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A horizontal bar per run, scaled to the longest downtime, in eighths of a character. */
export function downtimeBars(rows: CompareRow[]): string {
  const max = Math.max(0, ...rows.map((r) => r.writeDowntimeMs ?? 0));
  const labelWidth = Math.max(...rows.map((r) => r.label.length), 3);
  return rows
    .map((r) => {
      const v = r.writeDowntimeMs;
      const eighths = v === null || max === 0 ? 0 : Math.round((v / max) * BAR_WIDTH * 8);
      const bar = '█'.repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8];
      return `${r.label.padEnd(labelWidth)}  ${(bar || (v === null ? '' : '▏')).padEnd(BAR_WIDTH)}  ${ms(v)}`;
    })
    .join('\n');
}

export function renderCompareHtml(rows: CompareRow[], differences: string[] = []): string {
  const body = rows
    .map(
      (r) => `<tr><td class="nowrap"><code>${h(r.label)}</code></td><td>${h(r.scenario)}</td><td>${h(r.strategy)}</td><td>${h(r.endpoint)}</td><td>${h(r.runtime)}</td><td class="num">${h(formatRunTime(r.durationMs))}</td><td class="num">${h(ms(r.writeDowntimeMs))}</td><td class="num">${r.failedWrites === null ? '–' : r.failedWrites}</td><td class="num">${h(ms(r.longestStallMs))}</td><td class="num">${h(ms(r.serverGapMs))}</td><td class="num">${r.lostWrites === null ? 'not verified' : r.lostWrites}</td><td class="num">${r.maxLagBytes === null ? '–' : h(formatBytes(r.maxLagBytes))}</td><td class="num">${h(ms(r.p99WriteMs))}</td><td>${h(r.endpointSteps || '–')}</td><td><span class="status ${r.verdict === 'pass' ? 'pass' : 'fail'}">${r.verdict.toUpperCase()}</span></td></tr>`,
    )
    .join('');
  const labels = rows.map((r) => r.label);
  const chart = {
    id: 'downtime',
    config: {
      type: 'bar',
      data: {
        labels,
        datasets: [
          { label: 'write downtime (longest, s)', data: rows.map((r) => seconds(r.writeDowntimeMs)), backgroundColor: '#82071e' },
          { label: 'server write gap (s)', data: rows.map((r) => seconds(r.serverGapMs)), backgroundColor: '#0969da' },
        ],
      },
      options: {
        indexAxis: 'y',
        animation: false,
        plugins: { legend: { position: 'top', align: 'end' }, pgdrillWindows: { windows: [] } },
        scales: { x: { beginAtZero: true, title: { display: true, text: 'seconds' } } },
      },
    },
  };
  const height = Math.max(160, 60 + rows.length * 56);
  const page = `<main>
<section class="card">
<h1>pgdrill comparison</h1>
<p class="muted">${rows.length} runs side by side. Each column comes from the run's results.json.</p>
${differences.length ? `<p class="reasons">These runs do not share one workload (${h(differing(differences))}): compare with care.</p>` : ''}
<div class="table-wrap"><table><thead><tr>${HEAD.map((x) => `<th class="${NUMERIC.has(x) ? 'num' : ''}">${h(x)}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table></div>
</section>
<section class="card">
<h2>Downtime per run</h2>
<div class="chart"><div class="box" style="height:${height}px"><canvas id="chart-downtime" role="img" aria-label="downtime per run"></canvas></div></div>
</section>
</main>`;
  return renderPage({ title: 'pgdrill comparison', body: page, charts: [chart] });
}

function differing(parts: string[]): string {
  return `${parts.join(', ')} ${parts.length === 1 ? 'differs' : 'differ'}`;
}

function seconds(v: number | null): number | null {
  return v === null ? null : Math.round(v) / 1000;
}
