// How much write load pgdrill's load generator can drive on this machine: a throwaway local
// PostgreSQL, then the open-loop write load at increasing rates, one fresh database per step.
// Not a test: run `npm run build && npm run bench:mix` (flags: --rates 200,500 --seconds 10 --version 15).

import hdr from 'hdr-histogram-js';
import pg from 'pg';
import { Recorder } from '../harness/record/recorder.js';
import { benchRuntime } from './support/bench-runtime.js';
import type { SeedConfig, WorkloadConfig } from '../harness/scenario/scenario.js';
import { seedDatabase } from '../harness/seed/schema.js';
import { startWorkload } from '../harness/workload/workload.js';
import { benchArgs, numberFlag, numberListFlag } from './support/bench-args.js';

const { rates, seconds, version } = benchArgs(
  `npm run bench:mix -- [flags]     (node dist/bench/workload-bench.js, after npm run build)

The open-loop write load alone at increasing rates on a throwaway local PostgreSQL.`,
  {
    rates: { type: 'string', default: '200,500,1000,2000,4000', value: 'LIST', help: 'intended writes per second, comma-separated' },
    seconds: { type: 'string', default: '10', value: 'N', help: 'seconds per rate' },
    version: { type: 'string', default: '15', value: 'N', help: 'PostgreSQL major' },
  },
  (args) => ({
    rates: numberListFlag('rates', args.rates, { min: 1 }),
    seconds: numberFlag('seconds', args.seconds, { min: 1 }),
    version: numberFlag('version', args.version, { min: 13, integer: true }),
  }),
);
const SEED: SeedConfig = { users: 1000, products: 500, orders: 2000, itemsPerOrder: 3 };
const MAX_CONNECTIONS = 100;

/** Enough connections that a slow second does not turn into drops, without drowning 2 cores. */
function connectionsFor(rate: number): number {
  return Math.max(10, Math.min(MAX_CONNECTIONS, Math.ceil(rate / 40)));
}

interface Row {
  rate: number;
  connections: number;
  intended: number;
  achieved: number;
  ok: number;
  failed: number;
  indeterminate: number;
  dropped: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  /** CPU this process used over the step, % of one core: is the generator the bottleneck? */
  clientCpu: number;
  balanced: boolean;
}

async function main(): Promise<void> {
  const { runtime, password } = benchRuntime('bench');
  const interrupted = new AbortController();
  process.once('SIGINT', () => interrupted.abort());
  const rows: Row[] = [];
  try {
    const node = await runtime.createNode({ name: 'bench', version });
    await node.initdb();
    await node.configure({ max_connections: String(MAX_CONNECTIONS + 20) });
    await node.start();
    const credentials = { user: 'pgdrill', password };
    process.stderr.write(`PostgreSQL ${version} on ${node.address.host}:${node.address.port}; ${seconds}s per rate\n`);

    for (const [step, rate] of rates.entries()) {
      if (interrupted.signal.aborted) break;
      // a fresh database per step: earlier steps' deletes and growth do not skew later ones
      const database = `bench_${step}`;
      const admin = new pg.Client({ ...node.address, ...credentials, database: 'postgres' });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${database}`);
      await admin.end();
      const seeder = new pg.Client({ ...node.address, ...credentials, database });
      await seeder.connect();
      await seedDatabase(seeder, SEED);
      await seeder.end();

      const connections = connectionsFor(rate);
      const config: WorkloadConfig = {
        writes: { rate, connections, mix: { insert: 50, update: 40, delete: 10 }, timeout: 2000 },
        reads: { rate: 0, connections: 1, timeout: 2000 },
        probe: { interval: 0, timeout: 1000 },
      };
      const recorder = new Recorder();
      const latency = hdr.build({ numberOfSignificantValueDigits: 3 });
      const counted = { ok: 0, failed: 0, indeterminate: 0, dropped: 0 };
      let recordedWrites = 0;
      recorder.onOp((op) => {
        if (op.stream !== 'write') return;
        recordedWrites++;
        counted[op.outcome]++;
        if (op.outcome === 'ok') latency.recordValue(Math.max(1, Math.round((op.endMs - op.intendedMs) * 1000)));
      });
      const cpuBefore = process.cpuUsage();
      const wallBefore = performance.now();
      const workload = startWorkload({
        target: node.address,
        credentials: { ...credentials, database },
        config,
        seed: SEED,
        recorder,
        signal: interrupted.signal,
        durationMs: seconds * 1000,
      });
      const summary = await workload.done;
      const cpu = process.cpuUsage(cpuBefore);
      const clientCpu = (100 * (cpu.user + cpu.system)) / 1000 / (performance.now() - wallBefore);

      const pct = (p: number) => (latency.totalCount ? latency.getValueAtPercentile(p) / 1000 : null);
      const row: Row = {
        rate,
        connections,
        intended: summary.writes.intended,
        achieved: counted.ok / ((summary.endMs - summary.startMs) / 1000),
        ...counted,
        p50: pct(50),
        p99: pct(99),
        max: latency.totalCount ? latency.maxValue / 1000 : null,
        clientCpu,
        balanced:
          recordedWrites === summary.writes.intended &&
          counted.ok + counted.failed + counted.indeterminate + counted.dropped === summary.writes.intended,
      };
      rows.push(row);
      process.stderr.write(`  ${rate}/s done: ${row.ok} ok, ${row.dropped} dropped, p99 ${fmt(row.p99)}ms\n`);
    }
  } finally {
    await runtime.dispose();
  }
  printTable(rows);
}

function fmt(n: number | null, digits = 1): string {
  return n === null ? '-' : n.toFixed(digits);
}

function printTable(rows: Row[]): void {
  const header = ['rate/s', 'conns', 'intended', 'achieved/s', 'ok', 'failed', 'indet', 'dropped', 'p50 ms', 'p99 ms', 'max ms', 'client cpu', 'sum==intended'];
  const lines = rows.map((r) => [
    String(r.rate),
    String(r.connections),
    String(r.intended),
    r.achieved.toFixed(0),
    String(r.ok),
    String(r.failed),
    String(r.indeterminate),
    `${r.dropped} (${((100 * r.dropped) / Math.max(1, r.intended)).toFixed(1)}%)`,
    fmt(r.p50),
    fmt(r.p99),
    fmt(r.max),
    `${r.clientCpu.toFixed(0)}%`,
    r.balanced ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const print = (cells: string[]) => console.log(cells.map((c, i) => c.padStart(widths[i])).join('  '));
  print(header);
  print(widths.map((w) => '-'.repeat(w)));
  for (const l of lines) print(l);
  const sustained = rows.filter((r) => r.intended > 0 && r.dropped / r.intended < 0.01 && r.failed + r.indeterminate === 0);
  const best = sustained.length ? sustained.reduce((a, b) => (b.rate > a.rate ? b : a)) : null;
  console.log(
    `\nhighest rate sustained (< 1% dropped, no failures): ${best === null ? 'none' : `${best.rate}/s (p99 ${fmt(best.p99)} ms)`}`,
  );
  console.log('latency is from each op\'s intended start; achieved/s = ok ops / (last outcome - first intended)');
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
