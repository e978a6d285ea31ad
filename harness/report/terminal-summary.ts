// The end-of-run summary printed to the terminal, rendered from results.json alone.

import Table from 'cli-table3';
import type { Results } from '../results/results.js';
import { formatBytes, formatDuration } from '../util/units.js';
import { formatMs, formatRunTime } from './format.js';

export function renderSummary(results: Results, folder?: string): string {
  const { load, downtime, lag, integrity, cutover } = results;
  const w = load.writes;
  const table = new Table({ style: { head: [], border: [] }, colWidths: [26, 60], wordWrap: true });
  const verdict = results.verdict.toUpperCase();
  table.push(
    [{ colSpan: 2, content: `${results.scenario.name}  ${verdict}  (${results.runtime}, ${formatRunTime(results.durationMs)})` }],
    ...(results.incomplete
      ? [[{ colSpan: 2, content: `the run did not finish: it stopped ${results.incomplete.stoppedAt}. Rebuilt from ${results.incomplete.rebuiltFrom.join(', ')}.${results.incomplete.reaped ? ` ${results.incomplete.reaped}` : ''}` }]]
      : []),
    ['writes', `${w.intended} intended: ${w.ok} ok, ${w.failed} failed, ${w.indeterminate} indeterminate, ${w.dropped} dropped`],
    ['write rate / latency', `${w.achievedRate.toFixed(1)}/s achieved; p50 ${ms(w.latencyMs.p50)} p95 ${ms(w.latencyMs.p95)} p99 ${ms(w.latencyMs.p99)} max ${ms(w.latencyMs.max)}`],
  );
  const errors = Object.entries(w.errors).sort((a, b) => b[1] - a[1]);
  if (errors.length) table.push(['write errors', errors.map(([kind, n]) => `${n} ${kind}`).join(', ')]);
  if (load.reads.intended > 0) {
    const r = load.reads;
    table.push(['reads', `${r.intended} intended: ${r.ok} ok, ${r.failed + r.indeterminate} failed, ${r.dropped} dropped; p99 ${ms(r.latencyMs.p99)}`]);
  }
  table.push(
    ['write downtime', `longest ${formatDuration(downtime.writes.longestMs)}, total ${formatDuration(downtime.writes.totalMs)} in ${downtime.writes.windows.length} window(s)`],
    ['server write gap', downtime.serverWriteGapMs === null ? 'not measured' : formatDuration(downtime.serverWriteGapMs)],
    ['max replay lag', lag.maxReplayBytes === null ? 'no replica sampled' : `${formatBytes(lag.maxReplayBytes)}${lag.maxReplayLagMs !== null ? `, ${formatMs(lag.maxReplayLagMs)}` : ''}`],
  );
  if (cutover) {
    const state = cutover.dryRun ? 'dry run' : cutover.ok ? 'done' : cutover.rolledBack ? 'FAILED, rolled back' : 'FAILED';
    table.push(['cutover', `${cutover.strategy} ${cutover.from} -> ${cutover.to}: ${state}`]);
    for (const step of cutover.steps) {
      table.push([`  ${step.ok ? 'ok ' : 'ERR'} ${step.name}`, `${formatDuration(step.endMs - step.startMs)}  ${step.detail}`]);
    }
  }
  if (integrity) {
    const tables = integrity.tables.length
      ? `${integrity.tables.filter((t) => t.match).length}/${integrity.tables.length} tables match (${integrity.source} vs ${integrity.target})`
      : `no table comparison: ${integrity.comparison}`;
    const n = (v: number | null) => (v === null ? '?' : String(v));
    table.push(
      ['integrity', tables],
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
