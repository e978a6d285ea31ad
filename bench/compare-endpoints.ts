// The same streaming cutover through each endpoint kind, several times over, and the median of
// each figure per kind: client write downtime, writes not acknowledged, the longest an
// acknowledged write waited, and each of the endpoint's own cutover steps. Not a test: run
// `npm run build && node dist/bench/compare-endpoints.js` (flags: --runs 3 --file scenarios/compare-endpoints.yaml).

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Table from 'cli-table3';
import { loadComparisonFile } from '../harness/scenario/comparison.js';
import { runComparison } from '../harness/run/run-comparison.js';
import { compareRow, ENDPOINT_STEP_NAMES } from '../harness/report/compare.js';
import type { Results } from '../harness/results/results.js';
import { benchArgs, numberFlag } from './support/bench-args.js';

const { args, runs } = benchArgs(
  `node dist/bench/compare-endpoints.js [flags]     (after npm run build)

The same streaming cutover through each endpoint kind, several times, and the median of each figure.`,
  {
    runs: { type: 'string', default: '3', value: 'N', help: 'runs of the comparison' },
    file: { type: 'string', default: 'scenarios/compare-endpoints.yaml', value: 'PATH', help: 'the comparison file' },
    keep: { type: 'boolean', default: false, help: 'keep the run folders' },
  },
  (args) => ({ args, runs: numberFlag('runs', args.runs, { min: 1, integer: true }) }),
);

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const ms = (v: number | null) => (v === null ? '–' : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`);
const range = (values: number[], show: (v: number) => string) => (values.length ? `${show(Math.min(...values))}-${show(Math.max(...values))}` : '–');

// Ctrl-C / SIGTERM stop the run in progress the way the CLI does: everything it started is torn down
const controller = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => controller.abort());

const byVariant = new Map<string, Results[]>();
const out = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-compare-endpoints-'));
const comparison = await loadComparisonFile(args.file);
const started = Date.now();
let failures = 0;
for (let i = 0; i < runs && !controller.signal.aborted; i++) {
  const outcome = await runComparison(comparison, { out: path.join(out, `round-${i + 1}`), signal: controller.signal });
  for (const run of outcome.runs) {
    if (run.exitCode !== 0) failures++;
    byVariant.set(run.variant, [...(byVariant.get(run.variant) ?? []), run.results]);
  }
  const each = outcome.runs.map((r) => {
    const row = compareRow(r.results, r.variant);
    return `${r.variant} exit ${r.exitCode} downtime ${ms(row.writeDowntimeMs)} failed ${row.failedWrites} stall ${ms(row.longestStallMs)}`;
  });
  process.stderr.write(`round ${i + 1}/${runs}: ${each.join('; ')}\n`);
}

const table = new Table({
  head: ['endpoint', 'client write downtime', 'failed writes', 'longest stall', 'lost writes', 'endpoint steps (median)'],
  style: { head: [], border: [] },
});
for (const [variant, results] of byVariant) {
  const rows = results.map((r) => compareRow(r, variant));
  const downtime = rows.map((r) => r.writeDowntimeMs ?? 0);
  const failed = rows.map((r) => r.failedWrites ?? 0);
  const stall = rows.map((r) => r.longestStallMs ?? 0);
  const lost = rows.map((r) => r.lostWrites ?? -1);
  const steps = ENDPOINT_STEP_NAMES.map((name) => {
    const durations = results.flatMap((r) => r.cutover?.steps.filter((s) => s.name === name).map((s) => s.endMs - s.startMs) ?? []);
    return durations.length ? `${name} ${ms(median(durations))}` : '';
  }).filter(Boolean);
  table.push([
    variant,
    `${ms(median(downtime))} (${range(downtime, (v) => ms(v))})`,
    `${median(failed)} (${range(failed, String)})`,
    `${ms(median(stall))} (${range(stall, (v) => ms(v))})`,
    lost.map((n) => (n < 0 ? '?' : String(n))).join(', '),
    steps.join(', '),
  ]);
}
console.log(`${comparison.name}: ${runs} run(s) per endpoint kind, median (range); ${Math.round((Date.now() - started) / 1000)} s; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(table.toString());
if (failures) console.log(`${failures} run(s) did not pass: see ${out}`);
if (!args.keep && failures === 0) await rm(out, { recursive: true, force: true });
else console.log(`run folders kept in ${out}`);
