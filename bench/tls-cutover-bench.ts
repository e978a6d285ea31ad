// What TLS costs a streaming cutover: the bundled streaming-cutover-tls scenario run N times
// with its tls section and N times without it (the same seed, load and cutover), alternating,
// and the medians printed: client write downtime, the server's write gap, freeze to resume, and
// the reconnects' handshakes (write p99). Not a test: `npm run build && node
// dist/bench/tls-cutover-bench.js` (flags: --runs 3 --scenario streaming-cutover-tls --set k=v).

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runScenario } from '../harness/run/run-scenario.js';
import { loadScenarioFile } from '../harness/scenario/load-scenario.js';
import { resolveScenarioPath } from '../harness/scenario/bundled.js';
import type { Results } from '../harness/results/results.js';
import { benchArgs, numberFlag } from './support/bench-args.js';

const { args, runs } = benchArgs(
  `node dist/bench/tls-cutover-bench.js [flags]     (after npm run build)

A TLS streaming cutover against the same cutover without TLS, alternating, and the medians.`,
  {
    runs: { type: 'string', default: '3', value: 'N', help: 'runs of each' },
    scenario: { type: 'string', default: 'streaming-cutover-tls', value: 'NAME', help: 'bundled scenario or file' },
    set: { type: 'string', multiple: true, default: [], value: 'KEY=VALUE', help: 'override a scenario field, as pgdrill run --set (repeatable)' },
  },
  (args) => ({ args, runs: numberFlag('runs', args.runs, { min: 1, integer: true }) }),
);

interface Figures {
  exitCode: number;
  downtimeMs: number;
  serverGapMs: number | null;
  freezeToResumeMs: number | null;
  p99Ms: number;
  lost: number | null;
}

function figures(results: Results, exitCode: number): Figures {
  const steps = results.cutover?.steps ?? [];
  const freeze = steps.find((s) => s.name === 'freeze-writes');
  const resume = steps.find((s) => s.name === 'resume');
  return {
    exitCode,
    downtimeMs: results.downtime.writes.longestMs,
    serverGapMs: results.downtime.serverWriteGapMs,
    freezeToResumeMs: freeze && resume ? Math.round(resume.endMs - freeze.startMs) : null,
    p99Ms: Math.round(results.load.writes.latencyMs.p99 * 10) / 10,
    lost: results.integrity?.lostWrites ?? null,
  };
}

function median(values: (number | null)[]): string {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return '-';
  const m = v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  return `${Math.round(m)} (${v.map(Math.round).join(', ')})`;
}

const file = await resolveScenarioPath(args.scenario);
const out = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-tls-bench-'));
const byVariant: Record<'tls' | 'plain', Figures[]> = { tls: [], plain: [] };
try {
  for (let i = 0; i < runs; i++) {
    // alternating, so a machine that gets busier halfway does not favour one side
    for (const variant of ['tls', 'plain'] as const) {
      const scenario = await loadScenarioFile(file, [...args.set, ...(variant === 'plain' ? ['tls=null'] : [])]);
      const { results, exitCode } = await runScenario(scenario, { out: path.join(out, `${variant}-${i}`) });
      const f = figures(results, exitCode);
      byVariant[variant].push(f);
      process.stdout.write(`${variant} run ${i + 1}: exit ${f.exitCode}, write downtime ${f.downtimeMs}ms, server write gap ${f.serverGapMs}ms, freeze to resume ${f.freezeToResumeMs}ms, p99 ${f.p99Ms}ms, lost ${f.lost}\n`);
    }
  }
} finally {
  await rm(out, { recursive: true, force: true });
}
process.stdout.write(`\n${args.scenario}, ${runs} runs each, median (each run), ms:\n`);
process.stdout.write('| | client write downtime | server write gap | freeze to resume | write p99 |\n| --- | --- | --- | --- | --- |\n');
for (const variant of ['tls', 'plain'] as const) {
  const f = byVariant[variant];
  process.stdout.write(`| ${variant === 'tls' ? 'TLS (verify-full, client certs)' : 'plain TCP'} | ${median(f.map((x) => x.downtimeMs))} | ${median(f.map((x) => x.serverGapMs))} | ${median(f.map((x) => x.freezeToResumeMs))} | ${median(f.map((x) => x.p99Ms))} |\n`);
}
