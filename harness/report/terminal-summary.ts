// The end-of-run summary printed to the terminal, rendered from results.json alone.

import { criticalPathSummary } from '../strategies/critical-path.js';
import Table from 'cli-table3';
import type { Results } from '../results/results.js';
import { formatBytes, formatDuration } from '../util/units.js';
import { formatMs, formatRunTime } from './format.js';
import { appExplanation, downtimeViews, formatView } from './app-view.js';
import { patroniLeaderText } from './patroni-view.js';
import { describeTls, streamSpans, tlsView } from './replication-model.js';
import { formatLoadTime, loadStartMs } from './report-model.js';

export function renderSummary(results: Results, folder?: string): string {
  const { load, downtime, lag, integrity, cutover } = results;
  const w = load.writes;
  const table = new Table({ style: { head: [], border: [] }, colWidths: [26, 60], wordWrap: true });
  const verdict = results.verdict.toUpperCase();
  table.push(
    [{ colSpan: 2, content: `${results.scenario.name}  ${verdict}  (${results.runtime}, ${formatRunTime(results.durationMs)})` }],
    ...(results.endpoint ? [['endpoint', `${results.endpoint.kind}: ${results.endpoint.origin}`]] : []),
    ...(results.incomplete
      ? [[{ colSpan: 2, content: `the run did not finish: it stopped ${results.incomplete.stoppedAt}. Rebuilt from ${results.incomplete.rebuiltFrom.join(', ')}.${results.incomplete.reaped ? ` ${results.incomplete.reaped}` : ''}` }]]
      : []),
    ['writes', `${w.intended} intended: ${w.ok} ok, ${w.failed} failed, ${w.indeterminate} indeterminate, ${w.dropped} dropped`],
    ['write rate / latency', `${w.achievedRate.toFixed(1)}/s achieved; p50 ${ms(w.latencyMs.p50)} p95 ${ms(w.latencyMs.p95)} p99 ${ms(w.latencyMs.p99)} max ${ms(w.latencyMs.max)}`],
  );
  const errors = Object.entries(w.errors).sort((a, b) => b[1] - a[1]);
  if (errors.length) table.push(['write errors', errors.map(([kind, n]) => `${n} ${kind}`).join(', ')]);
  for (const sc of load.scripts ?? []) {
    if (sc.failed + sc.indeterminate === 0) continue;
    const [kind] = Object.entries(sc.errors).sort((a, b) => b[1] - a[1])[0] ?? [''];
    table.push([`  ${sc.stream} ${sc.name}`.slice(0, 25), `${sc.ok} ok, ${sc.failed} failed, ${sc.indeterminate} indeterminate${kind ? `; mostly ${kind}` : ''}`]);
  }
  if (load.reads.intended > 0) {
    const r = load.reads;
    table.push(['reads', `${r.intended} intended: ${r.ok} ok, ${r.failed + r.indeterminate} failed, ${r.dropped} dropped; p99 ${ms(r.latencyMs.p99)}`]);
  }
  table.push(
    ['write downtime', `longest ${formatDuration(downtime.writes.longestMs)}, total ${formatDuration(downtime.writes.totalMs)} in ${downtime.writes.windows.length} window(s)`],
    ['server write gap', downtime.serverWriteGapMs === null ? 'not measured' : formatDuration(downtime.serverWriteGapMs)],
    ['max replay lag', lag.maxReplayBytes === null ? 'no replica sampled' : `${formatBytes(lag.maxReplayBytes)}${lag.maxReplayLagMs !== null ? `, ${formatMs(lag.maxReplayLagMs)}` : ''}`],
  );
  if (results.app) {
    const a = load.app;
    if (a) {
      const codes = Object.entries(a.statusCodes).sort((x, y) => Number(x[0]) - Number(y[0])).map(([c, n]) => `${c}: ${n}`).join(', ');
      table.push([
        'app requests',
        `${a.intended} intended: ${a.ok} ok, ${a.failed} failed, ${a.timeouts} timed out, ${a.dropped} dropped; p99 ${ms(a.latencyMs.p99)}${codes ? `; status ${codes}` : ''}`,
      ]);
    }
    table.push(['downtime: 3 views', downtimeViews(results).map((v) => `${v.name} ${formatView(v)}`).join('; ')]);
    const scan = results.app.logScan;
    if (scan) {
      const kinds = Object.entries(scan.byPattern).map(([k, n]) => `${n} ${k}`).join(', ');
      table.push(['app log', `${scan.matched} database connection error line(s) after the ${scan.from === 'cutover end' ? 'cutover' : 'load started'}${kinds ? ` (${kinds})` : ''}; ${scan.before} before`]);
    }
    const why = appExplanation(results);
    if (why.length) table.push(['app view', why.join(' ')]);
  }
  if (cutover) {
    const state = cutover.dryRun ? 'dry run' : cutover.ok ? 'done' : cutover.rolledBack ? 'FAILED, rolled back' : 'FAILED';
    table.push(['cutover', `${cutover.strategy} ${cutover.from} -> ${cutover.to}: ${state}`]);
    for (const step of cutover.steps) {
      table.push([`  ${step.ok ? 'ok ' : 'ERR'} ${step.name}${step.criticalPath ? ' *' : ''}`, `${formatDuration(step.endMs - step.startMs)}  ${step.detail}`]);
    }
    const critical = criticalPathSummary(cutover.steps);
    if (critical) table.push(['  critical path (*)', `${formatDuration(critical.sumMs)}: ${critical.names.join(' + ')}`]);
  }
  // who streamed from whom, when that changed (followers re-pointed, a rejoined old primary)
  const spans = streamSpans(results);
  if (spans.some((s, i) => spans.findIndex((o) => o.node === s.node) !== i)) {
    const t0 = loadStartMs(results);
    const nodes = [...new Set(spans.map((s) => s.node))];
    table.push(['replication', nodes.map((n) => `${n}: ${spans.filter((s) => s.node === n).map((s) => `from ${s.upstream} ${formatLoadTime(s.fromMs, t0)}..${formatLoadTime(s.toMs, t0)}`).join(', then ')}`).join('; ')]);
  }
  if (results.scenario.tls) table.push(['tls', describeTls(tlsView(results))]);
  if (results.patroni) table.push(['patroni leader', patroniLeaderText(results)]);
  if (integrity) {
    const differ = integrity.tables.filter((t) => !t.match);
    const named = differ.length ? `; differ: ${differ.slice(0, 8).map((t) => `${t.table} (${t.sourceRows ?? '-'} vs ${t.targetRows ?? '-'} rows)`).join(', ')}${differ.length > 8 ? ', ...' : ''}` : '';
    const tables = integrity.tables.length
      ? `${integrity.tables.length - differ.length}/${integrity.tables.length} tables match (${integrity.source} vs ${integrity.target})${named}`
      : `no table comparison: ${integrity.comparison}`;
    const n = (v: number | null) => (v === null ? '?' : String(v));
    table.push(
      ['integrity', tables],
      ...(integrity.standbys?.length
        ? [['standbys', integrity.standbys.map((sb) => `${sb.node}${sb.role === 'rejoined' ? ' (rejoined)' : ''}: ${sb.tables.filter((t) => t.match).length}/${sb.tables.length} tables match ${integrity.finalPrimary}`).join('; ')]]
        : []),
      ['write ledger', `${n(integrity.acknowledgedWrites)} acknowledged, ${n(integrity.lostWrites)} lost, ${n(integrity.recoveredWrites)} recovered, ${n(integrity.indeterminateWrites)} indeterminate`],
    );
  }
  // the checks as recorded: every one the verdict rests on, thresholds included
  const checks = results.checks ?? [];
  const valid = checks.filter((c) => c.valid === true).length;
  table.push(['checks', `${valid} of ${checks.length} valid${checks.length === valid ? '' : '; the others fail the run:'}`]);
  for (const c of checks) {
    if (c.valid === true && !c.name.startsWith('threshold ')) continue;
    const mark = c.valid === true ? 'ok ' : c.valid === 'unknown' ? '???' : 'ERR';
    table.push([`${mark} ${c.name}`, c.detail]);
  }
  let out = table.toString();
  if (folder) out += `\nReport written to ${folder}`;
  return out;
}

function ms(v: number): string {
  return formatMs(v);
}
