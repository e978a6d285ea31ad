// Memory over a long run: one whole pgdrill run (runScenario, the same code `pgdrill run`
// uses) of a primary and a streaming replica under a steady write load, with this process's
// RSS sampled every few seconds. Prints RSS at minutes 1, 5, 10, 30... of the load, the peak
// (verify and results included), and how the operations were accounted for.
// Not a test: `npm run build && npm run bench:soak` (flags below). With --check it exits 1
// when RSS at the end of the load is more than --max-growth-mb above RSS at minute 1, when
// the peak is above --max-rss-mb, or when an operation is unaccounted for (CI's soak step).

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseScenarioText } from '../harness/scenario/load-scenario.js';
import { runScenario } from '../harness/run/run-scenario.js';
import { parseDuration } from '../harness/util/units.js';
import { BenchArgsError, benchArgs, numberFlag } from './support/bench-args.js';

const { args, minutes, rate, sampleMs, connections, version, maxGrowthMb, maxRssMb } = benchArgs(
  `npm run bench:soak -- [flags]     (node dist/bench/soak-bench.js, after npm run build)

One whole pgdrill run (primary + streaming replica, steady writes) with this process's RSS sampled.`,
  {
    minutes: { type: 'string', default: '30', value: 'N', help: 'length of the load' },
    rate: { type: 'string', default: '1000', value: 'N', help: 'writes per second' },
    connections: { type: 'string', default: '25', value: 'N', help: 'connections' },
    version: { type: 'string', default: '17', value: 'N', help: 'PostgreSQL major' },
    'sample-every': { type: 'string', default: '5s', value: 'DUR', help: 'how often RSS is sampled, e.g. 5s or 500ms' },
    check: { type: 'boolean', default: false, help: "exit 1 when RSS grew, peaked or an operation went unaccounted for (CI's soak step)" },
    'max-growth-mb': { type: 'string', default: '50', value: 'N', help: '--check: RSS growth allowed from minute 1 to the end of the load' },
    'max-rss-mb': { type: 'string', default: '300', value: 'N', help: '--check: peak RSS allowed' },
    keep: { type: 'boolean', default: false, help: 'keep the run folder' },
  },
  (args) => {
    const sampleMs = parseDuration(args['sample-every']);
    if (sampleMs === undefined || sampleMs <= 0) throw new BenchArgsError(`--sample-every must be a duration such as 5s or 500ms, not '${args['sample-every']}'`);
    return {
      args,
      minutes: numberFlag('minutes', args.minutes, { min: 0.1 }),
      rate: numberFlag('rate', args.rate, { min: 1 }),
      sampleMs,
      connections: numberFlag('connections', args.connections, { min: 1, integer: true }),
      version: numberFlag('version', args.version, { min: 13, integer: true }),
      maxGrowthMb: numberFlag('max-growth-mb', args['max-growth-mb'], { min: 1 }),
      maxRssMb: numberFlag('max-rss-mb', args['max-rss-mb'], { min: 1 }),
    };
  },
);

interface Sample {
  /** ms since the load's first intended operation (negative: before it) */
  loadMs: number;
  phase: string;
  rssMb: number;
  heapMb: number;
  writesRecorded: number;
}

const mb = (bytes: number) => bytes / 1024 / 1024;

async function main(): Promise<void> {
  const scenario = parseScenarioText(
    `name: soak
description: memory over a long run
duration: ${minutes}m
nodes:
  primary: { version: ${version}, settings: { max_connections: "200" } }
  replica: { version: ${version}, replicaOf: primary }
seed: { users: 1000, products: 500, orders: 2000 }
workload:
  writes: { rate: ${rate}, connections: ${connections}, mix: { insert: 50, update: 40, delete: 10 } }
  reads: { rate: 50, connections: 2 }
  probe: { interval: 20ms }
`,
    'soak bench',
  );
  const out = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-soak-'));
  const samples: Sample[] = [];
  let loadStart: number | undefined;
  let phase = 'setup';
  let writesRecorded = 0;
  const t0 = performance.now();
  const sample = () => {
    const m = process.memoryUsage();
    const now = performance.now() - t0;
    samples.push({ loadMs: loadStart === undefined ? -1 : now - loadStart, phase, rssMb: mb(m.rss), heapMb: mb(m.heapUsed), writesRecorded });
  };
  const timer = setInterval(sample, sampleMs);
  let lastPrinted = -1;
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.stderr.write(`soak: ${rate} writes/s for ${minutes} min, PostgreSQL ${version} primary + replica, run folder ${out}\n`);
  let result;
  try {
    result = await runScenario(scenario, {
      out,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.kind === 'phase-start') phase = e.phase;
        if (e.kind === 'workload-start') loadStart = performance.now() - t0;
      },
      onTick: (t) => {
        writesRecorded = t.writes.ok + t.writes.failed + t.writes.indeterminate + t.writes.dropped;
        if (loadStart === undefined) return;
        const minute = Math.floor((performance.now() - t0 - loadStart) / 60_000);
        if (minute !== lastPrinted) {
          lastPrinted = minute;
          process.stderr.write(`  minute ${minute}: rss ${mb(process.memoryUsage().rss).toFixed(0)} MB, ${writesRecorded} writes recorded\n`);
        }
      },
    });
  } finally {
    clearInterval(timer);
    sample();
  }
  const { results } = result;
  if (!args.keep) await rm(out, { recursive: true, force: true });

  const during = samples.filter((s) => s.phase === 'load' && s.loadMs >= 0);
  const at = (minute: number) => {
    const target = minute * 60_000;
    // the sample nearest the minute mark, within one sampling interval
    const near = during.filter((s) => Math.abs(s.loadMs - target) <= sampleMs);
    return near.sort((a, b) => Math.abs(a.loadMs - target) - Math.abs(b.loadMs - target))[0];
  };
  const marks = [1, 5, 10, 15, 20, 30, 45, 60].filter((m) => m <= minutes);
  const lastLoad = during[during.length - 1];
  const peak = samples.reduce((a, b) => (b.rssMb > a.rssMb ? b : a), samples[0]);
  console.log(`\nsoak: ${rate} writes/s for ${minutes} min (pgdrill ${results.pgdrillVersion}, node ${process.version})`);
  console.log('minute  rss MB  heap MB  writes recorded');
  for (const m of marks) {
    const s = at(m);
    if (s) console.log(`${String(m).padStart(6)}  ${s.rssMb.toFixed(0).padStart(6)}  ${s.heapMb.toFixed(0).padStart(7)}  ${String(s.writesRecorded).padStart(15)}`);
  }
  if (lastLoad) console.log(`   end  ${lastLoad.rssMb.toFixed(0).padStart(6)}  ${lastLoad.heapMb.toFixed(0).padStart(7)}  ${String(lastLoad.writesRecorded).padStart(15)}  (last sample of the load, ${(lastLoad.loadMs / 60_000).toFixed(1)} min)`);
  console.log(`peak rss ${peak.rssMb.toFixed(0)} MB (phase ${peak.phase})`);
  const w = results.load.writes;
  console.log(`writes: ${w.intended} intended: ${w.ok} ok, ${w.failed} failed, ${w.indeterminate} indeterminate, ${w.dropped} dropped; p99 ${w.latencyMs.p99} ms`);
  const accounting = results.checks.find((c) => c.name === 'operations accounted for');
  console.log(`operations accounted for: ${accounting?.valid} (${accounting?.detail ?? 'no such check'})`);
  console.log(`verdict: ${results.verdict}${results.error ? ` (${results.error.message})` : ''}`);
  for (const c of results.checks.filter((x) => x.valid !== true)) console.log(`  ${c.valid === 'unknown' ? 'unknown' : 'invalid'}: ${c.name}: ${c.detail}`);
  const verify = results.phases.find((p) => p.name === 'verify');
  if (verify) console.log(`verify took ${((verify.endMs - verify.startMs) / 1000).toFixed(1)} s; whole run ${(results.durationMs / 60_000).toFixed(1)} min`);

  if (args.check) {
    const problems: string[] = [];
    const first = at(1);
    if (!first || !lastLoad) problems.push('no RSS sample at minute 1 or at the end of the load (run at least 2 minutes)');
    else if (lastLoad.rssMb - first.rssMb > maxGrowthMb) {
      problems.push(`RSS grew ${(lastLoad.rssMb - first.rssMb).toFixed(0)} MB between minute 1 and the end of the load (limit ${maxGrowthMb} MB)`);
    }
    if (peak.rssMb > maxRssMb) problems.push(`peak RSS ${peak.rssMb.toFixed(0)} MB (limit ${maxRssMb} MB)`);
    if (accounting?.valid !== true) problems.push(`operations not accounted for: ${accounting?.detail ?? 'no accounting check'}`);
    if (w.ok + w.failed + w.indeterminate + w.dropped !== w.intended) problems.push(`writes: ${w.intended} intended but ${w.ok + w.failed + w.indeterminate + w.dropped} recorded`);
    if (results.verdict !== 'pass') problems.push(`verdict ${results.verdict}: ${results.checks.filter((c) => c.valid !== true).map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
    for (const p of problems) console.log(`SOAK FAILED: ${p}`);
    if (problems.length) process.exitCode = 1;
    else console.log('soak check passed');
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
