// report.html: one self-contained page (chart.js and the data inlined, opens offline) that
// tells a run from the verdict down: thresholds, downtime, timeline, charts, cutover steps,
// integrity and the scenario as run. Rendered from a Results object alone.

import YAML from 'yaml';
import type { Downtime, LoadSummary, Results } from '../results/results.js';
import { formatBytes, formatDuration } from '../util/units.js';
import { buildChartSpecs, OUTCOME_COLORS, WINDOW_COLORS, type ChartSpec } from './chart-configs.js';
import {
  cutoverWindows,
  downtimeRunWindows,
  faultWindows,
  formatLoadTime,
  loadStartMs,
  timelineRows,
  type RunWindow,
} from './report-model.js';
import { escapeHtml as h, renderPage } from './html-kit.js';
import { describeTls, streamSpans, tlsView } from './replication-model.js';
import { formatMs, formatPercent, formatRunTime } from './format.js';
import { appExplanation, downtimeViews, formatView } from './app-view.js';
import { memberRoleSpans, patroniSection, roleClass } from './patroni-view.js';
import { rowCountTableHtml } from './row-counts.js';
import { scriptsTableHtml } from './scripts-table.js';

export function renderHtml(results: Results): string {
  const charts = buildChartSpecs(results);
  const t0 = loadStartMs(results);
  const body = `<main>
${headerSection(results)}
${thresholdsSection(results)}
${downtimeSection(results, t0)}
${appSection(results, t0)}
${timelineSection(results, t0)}
${patroniSection(results, t0)}
${chartsSection(charts, results)}
${cutoverSection(results, t0)}
${replicationSection(results, t0)}
${integritySection(results)}
${loadSection(results)}
${scenarioSection(results)}
<footer>pgdrill ${h(results.pgdrillVersion)} · run ${h(results.runId)} · rendered from results.json</footer>
</main>`;
  return renderPage({
    title: `${results.verdict.toUpperCase()} · ${results.scenario.name} · pgdrill`,
    body,
    charts: charts.map((c) => ({ id: c.id, config: c.config })),
  });
}

/** Why the run failed: the checks that are not valid, as recorded (an unknown one says why it could not run). */
export function failureReasons(results: Results): string[] {
  const checks = results.checks ?? [];
  if (checks.length === 0) return ['no checks were recorded (results.json from an older pgdrill, or a run that never got that far)'];
  return checks.filter((c) => c.valid !== true).map((c) => `${c.name}${c.valid === 'unknown' ? ' (unknown)' : ''}: ${c.detail}`);
}

function headerSection(r: Results): string {
  const verdict = r.verdict === 'pass' ? 'pass' : r.verdict === 'incomplete' ? 'incomplete' : 'fail';
  const reasons = verdict !== 'pass' ? failureReasons(r) : [];
  const banner = r.incomplete
    ? `<div class="reasons" id="incomplete-banner" data-incomplete="true"><strong>The run did not finish: it stopped ${h(r.incomplete.stoppedAt)}.</strong> This page is rebuilt from the run's logs (${h(r.incomplete.rebuiltFrom.join(', '))}); what they could not establish is unknown.${r.incomplete.reaped ? ` ${h(r.incomplete.reaped)}` : ''}</div>`
    : '';
  const strategy = r.cutover ? `${r.cutover.strategy}: ${r.cutover.from} → ${r.cutover.to}` : r.scenario.strategy ? `${r.scenario.strategy.kind} (no cutover ran)` : 'no cutover';
  const meta = [
    `started ${h(r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))}`,
    `took ${h(formatRunTime(r.durationMs))}`,
    `runtime ${h(r.runtime)}`,
    ...(r.endpoint ? [`endpoint <span title="${h(r.endpoint.origin)}">${h(r.endpoint.kind)}</span>`] : []),
    h(strategy),
    `nodes ${r.nodes.map((n) => `${h(n.name)} (PG ${n.version})`).join(', ')}`,
  ];
  return `<section class="card" id="verdict-section">
<header class="run">
  <div class="titles">
    <h1>${h(r.scenario.name)}</h1>
    ${r.scenario.description ? `<p class="muted">${h(r.scenario.description)}</p>` : ''}
    <div class="meta">${meta.map((m) => `<span>${m}</span>`).join('')}</div>
  </div>
  <div id="verdict" class="verdict ${verdict}" data-verdict="${r.verdict}" title="verdict">${r.verdict.toUpperCase()}</div>
</header>
${banner}
${reasons.length ? `<div class="reasons"><strong>Why it failed</strong><ul>${reasons.map((x) => `<li>${h(x)}</li>`).join('')}</ul></div>` : ''}
${keyFigures(r)}
<nav class="sections">${[
    ['thresholds', 'Thresholds'],
    ['downtime', 'Downtime'],
    ...(r.app ? [['app', 'App']] : []),
    ['timeline', 'Timeline'],
    ['charts', 'Charts'],
    ['cutover', 'Cutover'],
    ['replication', 'Replication'],
    ['integrity', 'Integrity'],
    ['load', 'Load'],
    ['scenario', 'Scenario as run'],
  ]
    .map(([id, label]) => `<a href="#${id}">${label}</a>`)
    .join('')}</nav>
</section>`;
}

type FigureState = 'good' | 'bad' | 'neutral';

function keyFigures(r: Results): string {
  const byThreshold = (name: string): FigureState => {
    const t = r.thresholds.find((x) => x.name === name);
    return t ? (t.pass ? 'good' : 'bad') : 'neutral';
  };
  const w = r.load.writes;
  const figures: { label: string; value: string; sub: string; state: FigureState }[] = [];
  const dw = r.downtime.writes;
  figures.push({
    label: 'Write downtime',
    value: w.intended > 0 ? formatDuration(dw.longestMs) : '–',
    sub: w.intended > 0 ? `longest of ${dw.windows.length} window${dw.windows.length === 1 ? '' : 's'}, ${formatDuration(dw.totalMs)} in all` : 'no write load',
    state: byThreshold('writeDowntime'),
  });
  if (r.app) {
    const view = downtimeViews(r).find((v) => v.name === 'app view')!;
    const a = r.load.app;
    figures.push({
      label: 'App downtime',
      value: formatView(view),
      sub: a && a.intended > 0 ? `as its users saw it; ${r.app.logScan ? `${r.app.logScan.matched} connection errors in its log after the cutover` : 'log not scanned'}` : 'no app load',
      state: byThreshold('appDowntime'),
    });
  }
  figures.push({
    label: 'Server write gap',
    value: r.downtime.serverWriteGapMs === null ? '–' : formatDuration(r.downtime.serverWriteGapMs),
    sub: 'largest gap between committed probe writes',
    state: byThreshold('serverWriteGap'),
  });
  const i = r.integrity;
  const ledger = checkNamed(r, 'write ledger');
  figures.push({
    label: 'Lost writes',
    value: i && i.lostWrites !== null ? String(i.lostWrites) : 'unknown',
    sub: i && i.acknowledgedWrites !== null ? `of ${i.acknowledgedWrites} acknowledged` : ledger?.detail ?? 'not verified',
    state: ledger?.valid === true ? 'good' : 'bad',
  });
  figures.push({
    label: 'Max replay lag',
    value: r.lag.maxReplayBytes === null ? '–' : formatBytes(r.lag.maxReplayBytes),
    sub: r.lag.maxReplayLagMs === null ? (r.lag.samples.length ? 'no time lag reported' : 'no replica sampled') : `${formatMs(r.lag.maxReplayLagMs)} at most`,
    state: byThreshold('maxReplayLagBytes'),
  });
  figures.push({
    label: 'p99 write latency',
    value: w.intended > 0 ? formatMs(w.latencyMs.p99) : '–',
    sub: w.intended > 0 ? `every intended write; acknowledged only: p99 ${formatMs((w.okLatencyMs ?? w.latencyMs).p99)}` : 'no write load',
    state: byThreshold('p99WriteLatency'),
  });
  const notOk = w.failed + w.indeterminate + w.dropped;
  figures.push({
    label: 'Writes acknowledged',
    value: w.intended > 0 ? formatPercent(w.ok / w.intended) : '–',
    sub: `${w.ok} of ${w.intended}; ${notOk} not ok`,
    state: byThreshold('writeErrorRate'),
  });
  if (r.cutover) {
    const c = r.cutover;
    // followers catching up and the old primary's rejoin come after clients were back: told apart
    const after = c.steps.filter((s) => s.name.startsWith('follow ') || s.name.startsWith('rejoin-'));
    const own = c.steps.filter((s) => !after.includes(s));
    const span = own.length ? Math.max(...own.map((s) => s.endMs)) - own[0].startMs : 0;
    const afterSpan = after.length ? Math.max(...after.map((s) => s.endMs)) - Math.min(...after.map((s) => s.startMs)) : 0;
    figures.push({
      label: c.dryRun ? 'Cutover (dry run)' : 'Cutover',
      value: c.ok ? formatDuration(span) : 'failed',
      sub: `${own.length} steps${c.rolledBack ? ', rolled back' : ''}${after.length ? `; then followers and rejoin: ${after.length} steps, ${formatDuration(afterSpan)}` : ''}`,
      state: c.ok ? 'good' : 'bad',
    });
  }
  return `<div class="figures">${figures
    .map(
      (f) => `<div class="figure ${f.state === 'neutral' ? '' : f.state}"><div class="label">${h(f.label)}</div><div class="value">${h(f.value)}</div><div class="sub">${h(f.sub)}</div></div>`,
    )
    .join('')}</div>`;
}

function thresholdsSection(r: Results): string {
  const rows = r.thresholds
    .map(
      (t) => `<tr class="${t.pass ? '' : 'bad'}"><td><code>${h(t.name)}</code></td><td><code>${h(t.limit)}</code></td><td class="num">${h(t.actualText)}</td><td>${validity(t.valid ?? t.pass)}</td></tr>`,
    )
    .join('');
  const checks = (r.checks ?? [])
    .filter((c) => !c.name.startsWith('threshold '))
    .map((c) => `<tr class="${c.valid === true ? '' : 'bad'}"><td>${h(c.name)}</td><td>${h(c.detail)}</td><td>${validity(c.valid)}</td></tr>`)
    .join('');
  return `<section class="card" id="thresholds">
<div class="two">
<div><h2>Thresholds</h2>
${
  r.thresholds.length
    ? `<table><thead><tr><th>threshold</th><th>limit</th><th class="num">measured</th><th>result</th></tr></thead><tbody>${rows}</tbody></table>`
    : '<p class="muted">The scenario sets no thresholds: the verdict rests on the checks beside this.</p>'
}</div>
<div><h2>Checks</h2>
<table><thead><tr><th>check</th><th>found</th><th>result</th></tr></thead><tbody>${checks}</tbody></table>
<p class="small muted">These fail a run whatever its thresholds say. A check that could not run is unknown, and unknown fails.</p></div>
</div>
</section>`;
}

function checkNamed(r: Results, name: string) {
  return (r.checks ?? []).find((c) => c.name === name);
}

function downtimeSection(r: Results, t0: number): string {
  const table = (name: string, d: Downtime, stream: LoadSummary) => {
    if (stream.intended === 0) return `<div><h3>${name}</h3><p class="muted">No ${name.toLowerCase()} load in this run.</p></div>`;
    if (d.windows.length === 0) return `<div><h3>${name}</h3><p>No downtime: every second had acknowledged ${name.toLowerCase()}.</p></div>`;
    const rows = [...d.windows]
      .sort((a, b) => a.startMs - b.startMs)
      .map(
        (w) => `<tr><td class="num">${formatLoadTime(w.startMs, t0)}</td><td class="num">${formatLoadTime(w.endMs, t0)}</td><td class="num"><strong>${h(formatDuration(w.durationMs))}</strong></td><td class="num">${w.failedOps}</td><td>${w.openAtEnd ? '<strong class="bad">not recovered: still down at the end</strong>' : ''}${(w.merged ?? 1) > 1 ? ` ${w.merged} outages merged` : ''}</td></tr>`,
      )
      .join('');
    return `<div><h3>${name}: longest ${h(formatDuration(d.longestMs))}, total ${h(formatDuration(d.totalMs))}</h3>
<table><thead><tr><th class="num">from</th><th class="num">to</th><th class="num">duration</th><th class="num">ops not served</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>`;
  };
  const gap = r.downtime.serverWriteGapMs;
  const views = r.app
    ? `<h3>Three views of the same run</h3>
<table id="downtime-views"><thead><tr>${downtimeViews(r).map((v) => `<th>${h(v.name)}</th>`).join('')}</tr></thead><tbody>
<tr>${downtimeViews(r).map((v) => `<td class="num"><strong class="${v.open ? 'bad' : ''}">${h(formatView(v))}</strong></td>`).join('')}</tr>
<tr>${downtimeViews(r).map((v) => `<td class="small muted">${h(v.what)}</td>`).join('')}</tr>
</tbody></table>
${appExplanation(r).map((line) => `<p class="app-why">${h(line)}</p>`).join('\n')}`
    : '';
  return `<section class="card" id="downtime">
<h2>Downtime</h2>
${views}
<p class="small muted">As the clients saw it: a window opens at the intended start of the first operation that was not served (failed, unknown, dropped, or answered only after more than the stall threshold, <strong>${h(formatDuration(r.downtime.writes.stallMs ?? 250))}</strong>) and closes at the next one served promptly, or when the last one that hung on the server was answered (operations that only waited in pgdrill's own queue do not hold it open). Windows less than <strong>${h(formatDuration(r.downtime.writes.mergeGapMs ?? 0))}</strong> apart count as one outage; a window still open when the load ended means the service never recovered, and fails the run. Times are from the start of the load phase (T).</p>
<div class="two">${table('Writes', r.downtime.writes, r.load.writes)}${table('Reads', r.downtime.reads, r.load.reads)}</div>
${r.app && r.downtime.app && r.load.app ? `<div class="two">${table('App requests', r.downtime.app, r.load.app)}<div></div></div>` : ''}
<h3>Server write gap: ${gap === null ? 'not measured' : h(formatDuration(gap))}</h3>
<p class="small muted">The largest gap between two consecutive committed probe writes by the servers' own clock (one probe every ${h(formatDuration(r.scenario.workload.probe.interval))}): the time no write could commit anywhere, whatever the clients saw.</p>
</section>`;
}

function timelineSection(r: Results, t0: number): string {
  const end = Math.max(r.durationMs, ...r.phases.map((p) => p.endMs));
  const pos = (ms: number) => Math.max(0, Math.min(100, (ms / end) * 100));
  // a label only where it fits; the title (hover) always carries it
  const seg = (cls: string, startMs: number, endMs: number, label: string, title: string) => {
    const width = pos(endMs) - pos(startMs);
    return `<div class="seg ${cls}" style="left:${pos(startMs).toFixed(3)}%;width:${width.toFixed(3)}%" title="${h(title)}">${width > label.length * 0.7 ? h(label) : ''}</div>`;
  };
  const row = (name: string, segs: string) => `<div class="row"><div class="name">${h(name)}</div><div class="track">${segs}</div></div>`;
  const windowSegs = (ws: RunWindow[]) =>
    ws.map((w) => seg(w.kind, w.startMs, w.endMs, w.label, `${w.label}: ${formatLoadTime(w.startMs, t0)} to ${formatLoadTime(w.endMs, t0)} (${formatDuration(w.endMs - w.startMs)})${w.open ? ', never closed' : ''}`)).join('');
  const phases = r.phases
    .filter((p) => p.name !== 'cutover')
    .map((p) => seg(`phase-${p.name}`, p.startMs, p.endMs, p.name, `${p.name}: ${formatDuration(p.endMs - p.startMs)}`))
    .join('');
  const faults = faultWindows(r);
  const cutovers = cutoverWindows(r);
  const downtime = downtimeRunWindows(r);
  const rows = [
    row('phases', phases),
    row('cutover', windowSegs(cutovers)),
    row('faults', windowSegs(faults)),
    row('write downtime', windowSegs(downtime.filter((w) => w.kind === 'write-downtime'))),
  ];
  if (r.load.reads.intended > 0) rows.push(row('read downtime', windowSegs(downtime.filter((w) => w.kind === 'read-downtime'))));
  if (r.load.app && r.load.app.intended > 0) rows.push(row('app downtime', windowSegs(downtime.filter((w) => w.kind === 'app-downtime'))));
  // a Patroni cluster: each member's role, right under the downtime it caused
  for (const m of memberRoleSpans(r, end)) rows.push(row(`${m.member} (Patroni)`, m.spans.map((sp) => seg(roleClass(sp.role), sp.startMs, sp.endMs, sp.role, `${m.member}: ${sp.label} ${formatLoadTime(sp.startMs, t0)} to ${formatLoadTime(sp.endMs, t0)}`)).join('')));
  const ticks = timeTicks(end, t0)
    .map((t) => `<span style="left:${pos(t.ms).toFixed(3)}%">${h(t.label)}</span>`)
    .join('');
  const events = timelineRows(r);
  const eventRows = events
    .map(
      (e) => `<tr class="${e.bad ? 'bad' : ''}"><td class="num">${formatLoadTime(e.t, t0)}</td><td class="num muted">${h(formatDuration(e.t))}</td><td><code>${h(e.kind)}</code></td><td>${h(e.text)}</td></tr>`,
    )
    .join('');
  return `<section class="card" id="timeline">
<h2>Timeline</h2>
<p class="small muted">The whole run; T is the start of the load phase, ${h(formatDuration(t0))} into the run.${faults.length === 0 ? ' No fault was injected.' : ''} Hover a bar for exact times.</p>
<div class="gantt">${rows.join('')}<div class="axis">${ticks}</div></div>
<p class="small">${r.phases.map((p) => `<span class="muted">${h(p.name)}</span> ${h(formatDuration(p.endMs - p.startMs))}`).join(' · ')}</p>
<details open><summary>${events.length} timeline events</summary>
<div style="max-height:340px;overflow:auto">
<table><thead><tr><th class="num">T</th><th class="num">run time</th><th>event</th><th>what happened</th></tr></thead><tbody>${eventRows}</tbody></table>
</div></details>
</section>`;
}

/** About ten labelled ticks over the run, at round load-relative seconds. */
function timeTicks(endMs: number, t0: number): { ms: number; label: string }[] {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const span = endMs / 1000;
  const step = steps.find((s) => span / s <= 12) ?? Math.ceil(span / 12);
  const ticks: { ms: number; label: string }[] = [];
  const first = Math.ceil(-t0 / 1000 / step) * step;
  for (let s = first; t0 + s * 1000 <= endMs; s += step) {
    ticks.push({ ms: t0 + s * 1000, label: s === 0 ? 'T' : `${s > 0 ? '+' : '−'}${formatDuration(Math.abs(s) * 1000)}` });
  }
  return ticks;
}

function chartsSection(charts: ChartSpec[], r: Results): string {
  const legend = `<div class="legend">
<span><span class="swatch" style="background:${WINDOW_COLORS.cutover}"></span>cutover</span>
<span><span class="swatch" style="background:${WINDOW_COLORS.fault}"></span>fault</span>
<span><span class="swatch strip" style="background:${WINDOW_COLORS['write-downtime']}"></span>write downtime</span>
<span><span class="swatch strip" style="background:${WINDOW_COLORS['read-downtime']}"></span>read downtime</span>
${r.app ? `<span><span class="swatch strip" style="background:${WINDOW_COLORS['app-downtime']}"></span>app downtime</span>` : ''}
<span>outcomes: ${(Object.keys(OUTCOME_COLORS) as (keyof typeof OUTCOME_COLORS)[])
    .map((k) => `<span class="swatch" style="background:${OUTCOME_COLORS[k]}"></span>${k}`)
    .join(' ')}</span>
</div>`;
  const blocks = charts
    .map(
      (c) => `<div class="chart"><h3>${h(c.title)}</h3><p class="caption">${h(c.caption)}</p><div class="box"><canvas id="chart-${c.id}" role="img" aria-label="${h(c.title)}"></canvas></div></div>`,
    )
    .join('\n');
  return `<section class="card" id="charts">
<h2>Over time</h2>
${legend}
${charts.length ? blocks : '<p class="muted">Nothing was measured over time in this run.</p>'}
</section>`;
}

function cutoverSection(r: Results, t0: number): string {
  const c = r.cutover;
  if (!c) {
    return `<section class="card" id="cutover"><h2>Cutover</h2><p class="muted">${r.scenario.strategy ? 'No cutover ran in this run.' : 'This scenario has no cutover.'}</p></section>`;
  }
  const first = c.steps.length ? c.steps[0].startMs : 0;
  const last = c.steps.length ? Math.max(...c.steps.map((s) => s.endMs)) : 0;
  const span = Math.max(1, last - first);
  const rows = c.steps
    .map((s, i) => {
      const left = ((s.startMs - first) / span) * 100;
      const width = ((s.endMs - s.startMs) / span) * 100;
      return `<tr class="${s.ok ? '' : 'bad'}"><td class="num">${i + 1}</td><td><code>${h(s.name)}</code></td><td class="num">${formatLoadTime(s.startMs, t0)}</td><td class="num">${h(formatMs(s.endMs - s.startMs))}</td><td><div class="waterfall"><span class="${s.ok ? '' : 'fail'}" style="left:${left.toFixed(2)}%;width:${width.toFixed(2)}%"></span></div></td><td>${status(s.ok)}</td><td class="small">${h(s.detail)}</td></tr>`;
    })
    .join('');
  const state = c.dryRun ? 'dry run' : c.ok ? 'done' : c.rolledBack ? 'failed, rolled back' : 'failed';
  return `<section class="card" id="cutover">
<h2>Cutover: ${h(c.strategy)} ${h(c.from)} → ${h(c.to)}, ${h(state)} in ${h(formatDuration(last - first))}</h2>
<table><thead><tr><th class="num">#</th><th>step</th><th class="num">start</th><th class="num">took</th><th>when</th><th>result</th><th>detail</th></tr></thead><tbody>${rows}</tbody></table>
</section>`;
}

/**
 * Who streamed from whom over time (from the lag samples' upstream), whether replication was
 * encrypted, and how each standby of the final primary compared with it.
 */
function replicationSection(r: Results, t0: number): string {
  const spans = streamSpans(r);
  const tls = tlsView(r);
  const standbys = r.integrity?.standbys ?? [];
  if (spans.length === 0 && !tls && standbys.length === 0) {
    const why = r.lag.samples.length ? 'The lag samples name no upstream (results of an older pgdrill).' : 'No standby was sampled in this run.';
    return `<section class="card" id="replication"><h2>Replication</h2><p class="muted">${why}</p></section>`;
  }
  const spanRows = spans
    .map(
      (s) =>
        `<tr><td><code>${h(s.node)}</code></td><td><code>${h(s.upstream)}</code></td><td class="num">${formatLoadTime(s.fromMs, t0)}</td><td class="num">${formatLoadTime(s.toMs, t0)}</td><td class="num">${s.streaming} of ${s.samples}</td></tr>`,
    )
    .join('');
  const tlsRows = (tls?.connections ?? [])
    .map(
      (c) =>
        `<tr class="${c.ssl ? '' : 'bad'}"><td class="num">${formatLoadTime(c.t, t0)}</td><td><code>${h(c.node)}</code> ← <code>${h(c.upstream)}</code></td><td>${status(c.ssl, c.ssl ? 'ssl = true' : 'ssl = false')}</td><td>${h(c.version ?? '–')}</td><td class="small">${h(c.cipher ?? '–')}</td><td class="small">${h(c.clientDn ?? '–')}</td></tr>`,
    )
    .join('');
  const standbyRows = standbys
    .map((sb) => {
      const ok = sb.tables.length > 0 && sb.tables.every((t) => t.match) && sb.schemaDifferences.length === 0;
      const bad = sb.tables.filter((t) => !t.match).map((t) => t.table);
      return `<tr class="${ok ? '' : 'bad'}"><td><code>${h(sb.node)}</code></td><td>${sb.role === 'rejoined' ? 'rejoined old primary' : 'standby'}</td><td class="num">${sb.tables.filter((t) => t.match).length} of ${sb.tables.length}</td><td class="num">${sb.schemaDifferences.length}</td><td>${status(ok, ok ? 'match' : `differ${bad.length ? `: ${bad.join(', ')}` : ''}`)}</td></tr>`;
    })
    .join('');
  return `<section class="card" id="replication">
<h2>Replication</h2>
${spans.length ? `<h3>Who streamed from whom</h3><p class="small muted">From the lag samples: each names the node its standby streamed from at that moment; "streaming" counts the samples in which that node listed it as streaming.</p>
<table><thead><tr><th>standby</th><th>streamed from</th><th class="num">from</th><th class="num">until</th><th class="num">streaming</th></tr></thead><tbody>${spanRows}</tbody></table>` : ''}
<h3>TLS: ${h(tls ? 'on' : 'off')}</h3><p class="small">${h(describeTls(tls))}${tls?.ca ? `. CA <code>${h(tls.ca.subject)}</code>, SHA-256 <span class="hash">${h(tls.ca.fingerprint)}</span>; the server certificate names ${h(tls.ca.serverNames.join(', '))}` : ''}.</p>
${tlsRows ? `<table><thead><tr><th class="num">read at</th><th>standby ← upstream</th><th>pg_stat_ssl</th><th>version</th><th>cipher</th><th>client certificate</th></tr></thead><tbody>${tlsRows}</tbody></table>` : ''}
${standbyRows ? `<h3>Standbys of ${h(r.integrity?.finalPrimary ?? 'the final primary')}, compared with it</h3><table><thead><tr><th>node</th><th>role</th><th class="num">tables matching</th><th class="num">schema differences</th><th>result</th></tr></thead><tbody>${standbyRows}</tbody></table>` : ''}
</section>`;
}

function integritySection(r: Results): string {
  const i = r.integrity;
  if (!i) {
    return `<section class="card" id="integrity"><h2>Integrity</h2><p class="reasons">Integrity was not verified: the run stopped before the verify phase${r.error ? ` (${h(r.error.message)})` : ''}.</p></section>`;
  }
  const unknown = Object.entries(i.unknown ?? {});
  const notes = [
    ...unknown.map(([fact, why]) => `<li class="bad"><strong>${h(fact)} unknown</strong>: ${h(why)}</li>`),
    ...Object.entries(i.notApplicable ?? {}).map(([fact, why]) => `<li class="muted">${h(fact)} not applicable: ${h(why)}</li>`),
  ];
  const tables = i.tables.length
    ? rowCountTableHtml(i, status)
    : `<p class="muted">No table comparison: ${h(i.comparison || 'no second copy of the data to compare with')}.</p>`;
  const schema =
    i.schemaDifferences === null || i.schemaDifferences === undefined
      ? ''
      : i.schemaDifferences.length === 0
        ? '<p class="small">Schema: columns, constraints, indexes, triggers and sequences match.</p>'
        : `<h3>Schema: ${i.schemaDifferences.length} difference(s)</h3><table><thead><tr><th>object</th><th>name</th><th>on ${h(i.source)}</th><th>on ${h(i.target)}</th></tr></thead><tbody>${i.schemaDifferences
            .map((d) => `<tr class="bad"><td>${h(d.kind)}</td><td><code>${h(d.name)}</code></td><td><code>${h(d.source ?? 'missing')}</code></td><td><code>${h(d.target ?? 'missing')}</code></td></tr>`)
            .join('')}</tbody></table>`;
  const n = (v: number | null) => (v === null ? 'unknown' : String(v));
  const ledger: [string, string, boolean][] = [
    ['acknowledged', n(i.acknowledgedWrites), i.acknowledgedWrites === null],
    ['lost', n(i.lostWrites), i.lostWrites === null || i.lostWrites > 0],
    ['recovered', n(i.recoveredWrites), false],
    ['indeterminate', n(i.indeterminateWrites), false],
  ];
  if (!i.notApplicable?.splitBrain) {
    ledger.push(['written to the old primary after promotion', n(i.writesAfterPromotion), i.writesAfterPromotion === null || i.writesAfterPromotion > 0]);
  }
  const lost = i.lost.length
    ? `<h3>Lost writes (${i.lost.length === i.lostWrites ? 'all' : `${i.lost.length} examples of ${i.lostWrites}`})</h3>
<table><thead><tr><th>table</th><th class="num">key</th><th>operation</th><th class="num">version</th><th>request id</th><th>on the final primary</th><th>why it is lost</th></tr></thead><tbody>${i.lost
        .map((l) => `<tr class="bad"><td><code>${h(l.table)}</code></td><td class="num">${h(String(l.key))}</td><td>${h(l.op)}</td><td class="num">${l.version}</td><td class="hash">${h(l.requestId)}</td><td>${h(l.found)}</td><td>${h(l.reason ?? '')}</td></tr>`)
        .join('')}</tbody></table>`
    : '';
  const seqs = i.sequences ?? [];
  const sequences = seqs.length
    ? `<details><summary>${seqs.length} sequences checked, ${seqs.filter((s) => !s.ok).length} behind</summary><table><thead><tr><th>sequence</th><th>column</th><th class="num">last value</th><th class="num">max in column</th><th>result</th></tr></thead><tbody>${seqs
        .map((s) => `<tr class="${s.ok ? '' : 'bad'}"><td><code>${h(s.sequence)}</code></td><td><code>${h(s.table)}.${h(s.column)}</code></td><td class="num">${s.lastValue}</td><td class="num">${s.maxValue}</td><td>${status(s.ok)}</td></tr>`)
        .join('')}</tbody></table></details>`
    : '';
  return `<section class="card" id="integrity">
<h2>Integrity${i.source ? `: ${h(i.source)} vs ${h(i.target ?? '?')}` : ''}</h2>
${i.comparison ? `<p class="small muted">${h(i.comparison)}. The ledger is checked on ${h(i.finalPrimary ?? 'the final primary')}.</p>` : ''}
${notes.length ? `<ul class="reasons">${notes.join('')}</ul>` : ''}
<h3>Row Count Comparison. Tables: ${i.tables.filter((t) => t.match).length} of ${i.tables.length} match</h3>
${tables}${schema}
<div class="two">
<div><h3>Write ledger</h3>
<p class="small muted">Every write the server acknowledged, checked by its request id (committed in the same transaction) and by the row it wrote, on the final primary. Lost: acknowledged but not there. Recovered: outcome unknown to the client, yet committed.</p>
<table><tbody>${ledger.map(([label, v, bad]) => `<tr class="${bad ? 'bad' : ''}"><td>${h(label)}</td><td class="num"><strong>${h(v)}</strong></td></tr>`).join('')}</tbody></table>
</div>
<div><h3>Sequences</h3>${sequences || '<p class="muted small">No sequence feeds a column.</p>'}</div>
</div>
${lost}
</section>`;
}

function loadSection(r: Results): string {
  const streams: [string, LoadSummary][] = [
    ['writes', r.load.writes],
    ['reads', r.load.reads],
    ['probe', r.load.probe],
    ...(r.load.app ? [['app requests', r.load.app] as [string, LoadSummary]] : []),
  ];
  const rows = streams
    .filter(([, s]) => s.intended > 0)
    .map(
      ([name, s]) => `<tr><td>${name}</td><td class="num">${s.intended}</td><td class="num">${s.ok}</td><td class="num">${s.failed}</td><td class="num">${s.indeterminate}</td><td class="num">${s.dropped}</td><td class="num">${s.achievedRate.toFixed(1)}/s</td><td class="num">${formatMs(s.latencyMs.p50)}</td><td class="num">${formatMs(s.latencyMs.p95)}</td><td class="num">${formatMs(s.latencyMs.p99)}</td><td class="num">${formatMs(s.latencyMs.max)}</td></tr>`,
    )
    .join('');
  const errors = streams.flatMap(([name, s]) => Object.entries(s.errors).map(([kind, n]) => ({ name, kind, n })));
  const nodes = r.nodes
    .map((n) => `<tr><td><code>${h(n.name)}</code></td><td class="num">${n.version}</td><td>${h(n.role)}</td><td class="small muted">${h(n.binaries)}</td></tr>`)
    .join('');
  const w = r.scenario.workload;
  const writesAre = w.writes.scripts
    ? `${w.writes.scripts.length} statement${w.writes.scripts.length === 1 ? '' : 's'} of yours, by weight`
    : `insert ${w.writes.mix.insert}%, update ${w.writes.mix.update}%, delete ${w.writes.mix.delete}%`;
  return `<section class="card" id="load">
<h2>Load</h2>
<p class="small muted">Open loop: ${w.writes.rate} writes/s on ${w.writes.connections} connections (${h(writesAre)}), ${w.reads.rate} reads/s${w.reads.scripts ? ` (${w.reads.scripts.length} statement${w.reads.scripts.length === 1 ? '' : 's'} of yours)` : ''}, a probe write every ${h(formatDuration(w.probe.interval))}. Latency counts from each operation's intended start.</p>
${r.load.scripts?.length ? scriptsTableHtml(r.load.scripts) : ''}
<table><thead><tr><th>stream</th><th class="num">intended</th><th class="num">ok</th><th class="num">failed</th><th class="num">indeterminate</th><th class="num">dropped</th><th class="num">achieved</th><th class="num">p50</th><th class="num">p95</th><th class="num">p99</th><th class="num">max</th></tr></thead><tbody>${rows}</tbody></table>
<div class="two">
<div><h3>Errors by kind</h3>${
    errors.length
      ? `<table><thead><tr><th>stream</th><th>kind</th><th class="num">count</th></tr></thead><tbody>${errors.map((e) => `<tr><td>${e.name}</td><td><code>${h(e.kind)}</code></td><td class="num">${e.n}</td></tr>`).join('')}</tbody></table>`
      : '<p class="muted">No operation failed.</p>'
  }</div>
<div><h3>Nodes</h3><table><thead><tr><th>node</th><th class="num">version</th><th>role</th><th>binaries</th></tr></thead><tbody>${nodes}</tbody></table></div>
</div>
</section>`;
}

/** The app: what ran, its status codes, the log scan and the checks after the cutover. */
function appSection(r: Results, t0: number): string {
  const app = r.app;
  if (!app) return '';
  const a = r.load.app;
  const codes = a ? Object.entries(a.statusCodes).sort((x, y) => Number(x[0]) - Number(y[0])) : [];
  const facts: [string, string][] = [
    ['command', app.command + (app.sample ? ' (the bundled sample service)' : '')],
    ['port', app.port === null ? '–' : `127.0.0.1:${app.port}`],
    ['ready after', app.readyAfterMs === null ? 'never' : formatDuration(app.readyAfterMs)],
    ['exited by itself', app.exited ? `at ${formatLoadTime(app.exited.t, t0)} (${app.exited.signal ? `killed by ${app.exited.signal}` : `exit code ${app.exited.code}`})` : 'no'],
  ];
  if (a) {
    facts.push(
      ['requests', `${a.intended} intended: ${a.ok} ok, ${a.failed} failed, ${a.timeouts} timed out, ${a.dropped} dropped; ${a.achievedRate.toFixed(1)}/s answered below 500`],
      ['latency (every request)', `p50 ${formatMs(a.latencyMs.p50)}, p95 ${formatMs(a.latencyMs.p95)}, p99 ${formatMs(a.latencyMs.p99)}, max ${formatMs(a.latencyMs.max)}`],
      ['status codes', codes.length ? codes.map(([code, n]) => `${code}: ${n}`).join(', ') : 'none answered'],
    );
  }
  const scan = app.logScan;
  const scanBlock = !scan
    ? '<p class="muted">app.log was not scanned (the app never started).</p>'
    : `<p><strong class="${scan.matched > 0 ? 'bad' : ''}">${scan.matched}</strong> line${scan.matched === 1 ? '' : 's'} that look like database connection errors from ${h(scan.from === 'cutover end' ? `the end of the cutover (${formatLoadTime(scan.fromMs, t0)})` : `the start of the load (${formatLoadTime(scan.fromMs, t0)})`)} until pgdrill stopped the app (${formatLoadTime(scan.toMs, t0)}); ${scan.before} before that; ${scan.lines} lines in all.</p>
${Object.keys(scan.byPattern).length ? `<table><thead><tr><th>looks like</th><th class="num">lines</th></tr></thead><tbody>${Object.entries(scan.byPattern).map(([k, n]) => `<tr><td><code>${h(k)}</code></td><td class="num">${n}</td></tr>`).join('')}</tbody></table>` : ''}
${scan.examples.length ? `<pre class="scenario" style="white-space:pre-wrap">${scan.examples.map((e) => `${formatLoadTime(e.t, t0)}  ${h(e.line)}`).join('\n')}</pre>` : ''}`;
  const checks = app.checks.length
    ? `<table><thead><tr><th>request</th><th class="num">expected</th><th class="num">answered</th><th>when</th><th class="num">attempts</th><th>result</th></tr></thead><tbody>${app.checks
        .map((c) => `<tr class="${c.ok ? '' : 'bad'}"><td><code>${h(`${c.method} ${c.path}`)}</code></td><td class="num">${c.expect}</td><td class="num">${c.status ?? '–'}</td><td>${h(c.when)}</td><td class="num">${c.attempts}</td><td>${status(c.ok)}${c.error ? ` <span class="small">${h(c.error)}</span>` : ''}</td></tr>`)
        .join('')}</tbody></table>`
    : `<p class="muted">${r.scenario.app?.checks.length ? 'The checks never ran.' : 'The scenario lists no app checks.'}</p>`;
  return `<section class="card" id="app">
<h2>The app</h2>
<table><tbody>${facts.map(([k, v]) => `<tr><td>${h(k)}</td><td>${h(v)}</td></tr>`).join('')}</tbody></table>
<h3>Checks after the cutover</h3>
${checks}
<h3>Log scan (app.log)</h3>
${scanBlock}
</section>`;
}

function scenarioSection(r: Results): string {
  return `<section class="card" id="scenario">
<h2>Scenario as run</h2>
<p class="small muted">Every default filled in; durations in milliseconds, sizes in bytes.</p>
<details open><summary>YAML</summary><pre class="scenario">${h(YAML.stringify(r.scenario))}</pre></details>
</section>`;
}

function validity(valid: true | false | 'unknown'): string {
  if (valid === 'unknown') return '<span class="status fail" title="the check could not run; unknown fails">UNKNOWN</span>';
  return status(valid);
}

function status(ok: boolean, text?: string): string {
  return `<span class="status ${ok ? 'pass' : 'fail'}">${h(text ?? (ok ? 'pass' : 'FAIL'))}</span>`;
}
