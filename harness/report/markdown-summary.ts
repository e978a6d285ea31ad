// summary.md: the run in Markdown for a CI system (GitHub's $GITHUB_STEP_SUMMARY, a pull
// request comment): the verdict, every check, the thresholds, the downtime views, the cutover
// steps and integrity. Rendered from results.json alone, like every other report.

import type { CheckResult, Downtime, Results } from '../results/results.js';
import { formatBytes, formatDuration } from '../util/units.js';
import { formatMs, formatRunTime } from './format.js';
import { formatLoadTime, loadStartMs } from './report-model.js';

const MAX_WINDOWS = 10;
const MAX_TABLES = 30;

export function renderMarkdownSummary(results: Results): string {
  const out: string[] = [];
  const t0 = loadStartMs(results);
  out.push(`## ${verdictBadge(results.verdict)} · ${cell(results.scenario.name)} (${results.runtime}, ${formatRunTime(results.durationMs)})`);
  out.push('');
  if (results.scenario.description) out.push(`${cell(results.scenario.description)}`, '');
  if (results.verdict === 'incomplete' && results.incomplete) {
    out.push(`> **The run did not finish:** it stopped ${cell(results.incomplete.stoppedAt)}. This summary is rebuilt from its logs (${results.incomplete.rebuiltFrom.join(', ')}); what they could not establish is unknown.`, '');
  }

  const w = results.load.writes;
  const r = results.load.reads;
  const rows: [string, string][] = [
    ['writes', `${w.intended} intended: ${w.ok} ok, ${w.failed} failed, ${w.indeterminate} indeterminate, ${w.dropped} dropped; ${w.achievedRate.toFixed(1)}/s achieved, p99 ${formatMs(w.latencyMs.p99)}`],
  ];
  if (r.intended > 0) rows.push(['reads', `${r.intended} intended: ${r.ok} ok, ${r.failed + r.indeterminate} failed, ${r.dropped} dropped; p99 ${formatMs(r.latencyMs.p99)}`]);
  rows.push(['write downtime', downtimeLine(results.downtime.writes, w.intended)]);
  if (r.intended > 0) rows.push(['read downtime', downtimeLine(results.downtime.reads, r.intended)]);
  rows.push(['server write gap', results.downtime.serverWriteGapMs === null ? 'not measured' : formatDuration(results.downtime.serverWriteGapMs)]);
  rows.push(['max replay lag', results.lag.maxReplayBytes === null ? 'no replica sampled' : `${formatBytes(results.lag.maxReplayBytes)}${results.lag.maxReplayLagMs !== null ? `, ${formatMs(results.lag.maxReplayLagMs)}` : ''}`]);
  if (results.cutover) rows.push(['cutover', `${results.cutover.strategy} ${results.cutover.from} → ${results.cutover.to}: ${cutoverState(results.cutover)}`]);
  rows.push(['integrity', integrityLine(results)]);
  out.push('| | |', '| --- | --- |', ...rows.map(([k, v]) => `| ${k} | ${cell(v)} |`), '');

  const checks = results.checks ?? [];
  const valid = checks.filter((c) => c.valid === true).length;
  out.push(`### Checks: ${valid} of ${checks.length} valid`, '');
  if (checks.length) {
    out.push('| | check | detail |', '| --- | --- | --- |', ...checks.map((c) => `| ${mark(c.valid)} | ${cell(c.name)} | ${cell(c.detail)} |`), '');
  } else out.push('No checks were recorded.', '');

  out.push('### Thresholds', '');
  if (results.thresholds.length) {
    out.push('| threshold | limit | measured | |', '| --- | --- | --- | --- |');
    for (const t of results.thresholds) out.push(`| ${cell(t.name)} | \`${cell(t.limit)}\` | ${cell(t.actualText)} | ${mark(t.valid)} |`);
    out.push('');
  } else out.push('The scenario sets no thresholds.', '');

  out.push('### Downtime', '');
  out.push('| view | longest | total | windows |', '| --- | --- | --- | --- |');
  const view = (name: string, d: Downtime, intended: number) =>
    intended > 0 ? `| ${name} | ${formatDuration(d.longestMs)} | ${formatDuration(d.totalMs)} | ${d.windows.length}${d.openAtEnd ? ' (one still open at the end: not recovered)' : ''} |` : `| ${name} | – | – | no load |`;
  out.push(view('writes, as clients saw them', results.downtime.writes, w.intended));
  out.push(view('reads, as clients saw them', results.downtime.reads, r.intended));
  out.push(`| server write gap (probe rows, server clock) | ${results.downtime.serverWriteGapMs === null ? '–' : formatDuration(results.downtime.serverWriteGapMs)} | | |`);
  out.push('');
  const windows = [
    ...results.downtime.writes.windows.map((win) => ({ stream: 'writes', win })),
    ...results.downtime.reads.windows.map((win) => ({ stream: 'reads', win })),
  ].sort((a, b) => a.win.startMs - b.win.startMs);
  if (windows.length) {
    out.push('| stream | from | to | duration | ops not served |', '| --- | --- | --- | --- | --- |');
    for (const { stream, win } of windows.slice(0, MAX_WINDOWS)) {
      out.push(`| ${stream} | ${formatLoadTime(win.startMs, t0)} | ${formatLoadTime(win.endMs, t0)}${win.openAtEnd ? ' (open at end)' : ''} | ${formatMs(win.durationMs)} | ${win.failedOps}${win.merged && win.merged > 1 ? ` (${win.merged} outages merged)` : ''} |`);
    }
    if (windows.length > MAX_WINDOWS) out.push(`| | | | | ${windows.length - MAX_WINDOWS} more in report.html |`);
    out.push('');
  }

  if (results.cutover) {
    const c = results.cutover;
    out.push(`### Cutover: ${c.strategy} ${cell(c.from)} → ${cell(c.to)}, ${cutoverState(c)}`, '');
    if (c.steps.length) {
      out.push('| | step | at | took | detail |', '| --- | --- | --- | --- | --- |');
      for (const s of c.steps) out.push(`| ${mark(s.ok)} | ${cell(s.name)} | ${formatLoadTime(s.startMs, t0)} | ${formatMs(s.endMs - s.startMs)} | ${cell(s.detail)} |`);
      out.push('');
    }
  }

  out.push('### Integrity', '');
  const i = results.integrity;
  if (!i) out.push('Not verified: the run stopped before the verify phase.', '');
  else {
    if (i.comparison) out.push(`${capitalize(cell(i.comparison))}.`, '');
    if (i.tables.length) {
      out.push('| table | source rows | target rows | |', '| --- | --- | --- | --- |');
      const shown = [...i.tables].sort((a, b) => Number(a.match) - Number(b.match)).slice(0, MAX_TABLES);
      for (const t of shown) out.push(`| ${cell(t.table)} | ${t.sourceRows ?? 'missing'} | ${t.targetRows ?? 'missing'} | ${t.match ? '✅ match' : '❌ differ'} |`);
      if (i.tables.length > MAX_TABLES) out.push(`| ${i.tables.length - MAX_TABLES} more | | | |`);
      out.push('');
    }
    const n = (v: number | null) => (v === null ? 'unknown' : String(v));
    out.push(`- write ledger on ${cell(i.finalPrimary ?? 'the final primary')}: ${n(i.acknowledgedWrites)} acknowledged, **${n(i.lostWrites)} lost**, ${n(i.recoveredWrites)} of ${n(i.indeterminateWrites)} indeterminate found committed`);
    for (const l of i.lost.slice(0, 5)) out.push(`  - lost: ${cell(`${l.table} ${l.key} (${l.op}, version ${l.version}): ${l.reason}`)}`);
    if (i.schemaDifferences) out.push(`- schema: ${i.schemaDifferences.length === 0 ? 'columns, constraints, indexes, triggers, sequences and views match' : `${i.schemaDifferences.length} difference(s)`}`);
    if (i.sequences) out.push(`- sequences: ${i.sequences.filter((s) => !s.ok).length === 0 ? `${i.sequences.length} ahead of their columns` : `${i.sequences.filter((s) => !s.ok).length} behind their columns`}`);
    if (i.splitBrainDetail) out.push(`- split brain: ${cell(i.splitBrainDetail)}`);
    for (const [fact, why] of Object.entries(i.unknown)) out.push(`- ❓ ${fact} unknown: ${cell(why ?? '')}`);
    for (const [fact, why] of Object.entries(i.notApplicable)) out.push(`- ${fact} not applicable: ${cell(why ?? '')}`);
    out.push('');
  }
  out.push(`<sub>pgdrill ${cell(results.pgdrillVersion)} · run ${cell(results.runId)} · started ${cell(results.startedAt)} · rendered from results.json</sub>`, '');
  return out.join('\n');
}

function verdictBadge(verdict: Results['verdict']): string {
  if (verdict === 'pass') return '✅ PASS';
  if (verdict === 'incomplete') return '⚠️ INCOMPLETE';
  return '❌ FAIL';
}

function mark(valid: CheckResult['valid'] | boolean): string {
  return valid === true ? '✅' : valid === 'unknown' ? '❓' : '❌';
}

function downtimeLine(d: Downtime, intended: number): string {
  if (intended === 0) return 'no load';
  return `longest ${formatDuration(d.longestMs)}, total ${formatDuration(d.totalMs)} in ${d.windows.length} window(s)${d.openAtEnd ? '; still down when the load ended' : ''}`;
}

function cutoverState(c: NonNullable<Results['cutover']>): string {
  return c.dryRun ? 'dry run' : c.ok ? 'done' : c.rolledBack ? 'FAILED, rolled back' : 'FAILED';
}

function integrityLine(results: Results): string {
  const i = results.integrity;
  if (!i) return 'not verified';
  const tables = i.tables.length ? `${i.tables.filter((t) => t.match).length}/${i.tables.length} tables match (${i.source} vs ${i.target})` : `no table comparison (${i.comparison})`;
  return `${tables}; ${i.lostWrites === null ? 'ledger unknown' : `${i.lostWrites} lost writes`}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Text safe inside a Markdown table cell: one line, pipes escaped, HTML-ish brackets defused. */
function cell(text: string): string {
  // only what could open a tag: '< 5s' reads as it is
  return String(text).replace(/\r?\n/g, ' ').replace(/\|/g, '\\|').replace(/<(?=[A-Za-z/!?])/g, '&lt;');
}
