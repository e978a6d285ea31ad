// Patroni switchover and failover downtime as clients see it, several runs each, and the
// median: the bundled patroni-switchover (through HAProxy's REST /primary checks and through
// discovery over REST /cluster) and patroni-failover (the leader's host SIGKILLed, ttl 10 s),
// then the ttl comparison (compare-patroni-ttl: ttl 10/20/30 s -> failover downtime). Not a
// test: `npm run build && node dist/bench/patroni-bench.js` (flags: --runs 3 --ttl-runs 1
// --only switchover,failover,ttl).

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import Table from 'cli-table3';
import { parseScenarioText } from '../harness/scenario/load-scenario.js';
import { resolveScenarioPath } from '../harness/scenario/bundled.js';
import { loadComparisonFile } from '../harness/scenario/comparison.js';
import { runComparison } from '../harness/run/run-comparison.js';
import { runScenario } from '../harness/run/run-scenario.js';
import type { Results } from '../harness/results/results.js';
import { benchArgs, choiceFlag, numberFlag } from './support/bench-args.js';

const PARTS = ['switchover', 'failover', 'ttl'] as const;
const { args, runs, ttlRuns, only } = benchArgs(
  `node dist/bench/patroni-bench.js [flags]     (after npm run build)

Patroni switchover and failover downtime as clients see it, several runs each, and the ttl comparison.`,
  {
    runs: { type: 'string', default: '3', value: 'N', help: 'runs of each scenario' },
    'ttl-runs': { type: 'string', default: '1', value: 'N', help: 'runs of each ttl in the comparison' },
    only: { type: 'string', default: PARTS.join(','), value: 'LIST', help: 'which parts, comma-separated' },
    keep: { type: 'boolean', default: false, help: 'keep the run folders' },
  },
  (args) => ({
    args,
    runs: numberFlag('runs', args.runs, { min: 1, integer: true }),
    ttlRuns: numberFlag('ttl-runs', args['ttl-runs'], { min: 0, integer: true }),
    only: new Set<string>(args.only.split(',').map((p) => choiceFlag('only', p.trim(), PARTS))),
  }),
);

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
const s = (v: number | null) => (v === null ? '–' : `${(v / 1000).toFixed(2)} s`);
const spread = (values: number[]) => (values.length ? `${s(Math.min(...values))}-${s(Math.max(...values))}` : '–');

const controller = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => controller.abort());

/** What one run measured: client write downtime and the first leader change's timings. */
interface Figures {
  exit: number;
  downtimeMs: number;
  detectedMs: number | null;
  electedMs: number | null;
  servedMs: number | null;
  lost: number | null;
}
function figures(r: Results, exit: number): Figures {
  const change = r.patroni?.leaderChanges[0];
  return {
    exit,
    downtimeMs: r.downtime.writes.longestMs,
    detectedMs: change?.detectedAfterMs ?? null,
    electedMs: change?.electedAfterMs ?? null,
    servedMs: change?.servedAfterMs ?? null,
    lost: r.integrity?.lostWrites ?? null,
  };
}

const out = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-patroni-bench-'));
const rows = new Map<string, Figures[]>();

async function bundledWith(name: string, endpoint?: Record<string, unknown>) {
  const file = await resolveScenarioPath(name);
  const doc = YAML.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  if (endpoint) doc.endpoint = endpoint;
  return parseScenarioText(YAML.stringify(doc), file);
}

const cases: { label: string; scenario: () => Promise<ReturnType<typeof parseScenarioText>> }[] = [];
if (only.has('switchover')) {
  cases.push({ label: 'switchover, HAProxy (REST /primary)', scenario: () => bundledWith('patroni-switchover') });
  cases.push({ label: 'switchover, discovery (REST /cluster)', scenario: () => bundledWith('patroni-switchover', { kind: 'discovery' }) });
}
if (only.has('failover')) cases.push({ label: 'failover, host SIGKILL, ttl 10 s, HAProxy', scenario: () => bundledWith('patroni-failover') });

const started = Date.now();
for (const c of cases) {
  for (let i = 0; i < runs && !controller.signal.aborted; i++) {
    const run = await runScenario(await c.scenario(), { out: path.join(out, `${c.label.replace(/\W+/g, '-')}-${i + 1}`), signal: controller.signal });
    const f = figures(run.results, run.exitCode);
    rows.set(c.label, [...(rows.get(c.label) ?? []), f]);
    process.stderr.write(`${c.label} ${i + 1}/${runs}: exit ${f.exit}, write downtime ${s(f.downtimeMs)}, detected ${s(f.detectedMs)}, elected ${s(f.electedMs)}, served ${s(f.servedMs)}, lost ${f.lost}\n`);
    // a failed run says why (and, with --keep, its folder stays for a look)
    for (const check of run.results.checks.filter((x) => x.valid !== true)) process.stderr.write(`  ${check.name}: ${check.valid} ${check.detail}\n`);
    if (run.exitCode !== 0) process.stderr.write(`  folder: ${run.folder}\n`);
  }
}
if (only.has('ttl') && ttlRuns > 0) {
  const comparison = await loadComparisonFile(await resolveScenarioPath('compare-patroni-ttl'));
  for (let i = 0; i < ttlRuns && !controller.signal.aborted; i++) {
    const outcome = await runComparison(comparison, { out: path.join(out, `ttl-${i + 1}`), signal: controller.signal });
    for (const run of outcome.runs) {
      const label = `compare-patroni-ttl ${run.variant}: failover, host SIGKILL, HAProxy`;
      const f = figures(run.results, run.exitCode);
      rows.set(label, [...(rows.get(label) ?? []), f]);
      process.stderr.write(`${label} ${i + 1}/${ttlRuns}: exit ${f.exit}, write downtime ${s(f.downtimeMs)}, detected ${s(f.detectedMs)}, elected ${s(f.electedMs)}, lost ${f.lost}\n`);
    }
  }
}

const table = new Table({
  head: ['case', 'runs', 'client write downtime (median)', 'range', 'leader lost after', 'new leader after', 'writes served after', 'lost writes', 'exit codes'],
  style: { head: [], border: [] },
});
for (const [label, list] of rows) {
  const pick = (k: keyof Figures) => list.map((f) => f[k]).filter((v): v is number => v !== null);
  table.push([label, list.length, s(median(pick('downtimeMs'))), spread(pick('downtimeMs')), s(median(pick('detectedMs'))), s(median(pick('electedMs'))), s(median(pick('servedMs'))), pick('lost').join(', '), list.map((f) => f.exit).join(', ')]);
}
process.stdout.write(`${table.toString()}\nleader timings are medians, from the cause (switchover request or kill); ${Math.round((Date.now() - started) / 1000)} s in all\n`);
if (!args.keep) await rm(out, { recursive: true, force: true });
