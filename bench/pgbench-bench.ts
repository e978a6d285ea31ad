// pgdrill's write load against pgbench on the same statement and the same server: a ladder
// of rates, interleaved, every run's achieved rate, drops, latency and client CPU per op, and
// the two ratios (capacity, CPU per op). Not a test: `npm run build && npm run bench`
// (flags: --rates 1000,2000,3000,3500,4000,5000 --seconds 8 --reps 2 --connections 16 --profile 3000).

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import hdr from 'hdr-histogram-js';
import pg from 'pg';
import { OpAggregates } from '../harness/checks/op-aggregates.js';
import { Recorder } from '../harness/record/recorder.js';
import { benchRuntime } from './support/bench-runtime.js';
import type { SeedConfig, WorkloadConfig } from '../harness/scenario/scenario.js';
import { seedDatabase } from '../harness/seed/schema.js';
import { checkScripts } from '../harness/workload/script-check.js';
import { startWorkload } from '../harness/workload/workload.js';
import { benchArgs, numberFlag, numberListFlag } from './support/bench-args.js';

const { args, rates, seconds, reps, connections, profileRate } = benchArgs(
  `npm run bench -- [flags]     (node dist/bench/pgbench-bench.js, after npm run build)

pgdrill's write load and pgbench on the same statement, one PostgreSQL 15, interleaved.`,
  {
    rates: { type: 'string', default: '1000,2000,3000,3500,4000,5000', value: 'LIST', help: 'intended writes per second, comma-separated' },
    seconds: { type: 'string', default: '8', value: 'N', help: 'seconds per run' },
    reps: { type: 'string', default: '2', value: 'N', help: 'repetitions of the whole ladder' },
    connections: { type: 'string', default: '16', value: 'N', help: 'connections of both tools' },
    profile: { type: 'string', value: 'RATE', help: "profile pgdrill's run at this rate (node:inspector), print the top functions" },
    pgbench: { type: 'string', default: '/usr/lib/postgresql/15/bin/pgbench', value: 'PATH', help: 'the pgbench binary' },
  },
  (args) => ({
    args,
    rates: numberListFlag('rates', args.rates, { min: 1 }),
    seconds: numberFlag('seconds', args.seconds, { min: 1 }),
    reps: numberFlag('reps', args.reps, { min: 1, integer: true }),
    connections: numberFlag('connections', args.connections, { min: 1, integer: true }),
    profileRate: args.profile === undefined ? undefined : numberFlag('profile', args.profile, { min: 1 }),
  }),
);
const SEED: SeedConfig = { users: 1000, products: 500, orders: 2000, itemsPerOrder: 3 };
/** ms an op may wait behind its schedule before it is dropped: pgdrill's default, pgbench's -L */
const LATE_MS = 1000;
const WARMUP_SECONDS = 3;

// The one statement both tools run. pgdrill wraps a ledgered write in its ledger CTE (the
// request id comes from the client); pgbench gets that same text with the id made by the
// server, so both do the same work on the server: the insert, its audit trigger, the ledger row.
const USER_SQL = "INSERT INTO orders (user_id, status, total) VALUES (:user_id, 'new', :total) RETURNING id";
const VARS = { user_id: 'random(1, 1000)', total: 'random(1, 1000)' };
const PGBENCH_SCRIPT = [
  '\\set user_id random(1, 1000)',
  '\\set total random(1, 1000)',
  "WITH pgdrill_w AS (INSERT INTO orders (user_id, status, total) VALUES (:user_id, 'new', :total) RETURNING id), " +
    'pgdrill_ledger AS (INSERT INTO _pgdrill.ledger (request_id, row_key) SELECT gen_random_uuid(), pgdrill_w.id::text FROM pgdrill_w LIMIT 1) ' +
    'SELECT pgdrill_w.id::text AS key FROM pgdrill_w LIMIT 1;',
  '',
].join('\n');

interface Row {
  tool: 'pgbench' | 'pgdrill';
  rep: number;
  /** intended per second; null = pgbench unthrottled */
  rate: number | null;
  done: number;
  achieved: number;
  dropped: number;
  /** dropped as % of intended */
  droppedPct: number;
  failed: number;
  p50: number | null;
  p99: number | null;
  /** client CPU (user + system) ms per 1,000 completed ops */
  cpuPer1000: number;
  /** of which in the kernel (system time): syscalls, the loopback TCP stack */
  sysPer1000: number;
}

async function main(): Promise<void> {
  if (!fs.existsSync(args.pgbench)) {
    throw new Error(`pgbench is not at ${args.pgbench}: install Debian's postgresql-15 (apt-get install postgresql-15; .ci/run does) or pass --pgbench PATH`);
  }
  const { runtime, password } = benchRuntime('bench');
  const interrupted = new AbortController();
  process.once('SIGINT', () => interrupted.abort());
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pgdrill-bench-'));
  const rows: Row[] = [];
  try {
    const node = await runtime.createNode({ name: 'bench', version: 15 });
    await node.initdb();
    await node.configure({ max_connections: String(connections * 2 + 20) });
    await node.start();
    const credentials = { user: 'pgdrill', password, database: 'bench' };
    const admin = new pg.Client({ ...node.address, ...credentials, database: 'postgres' });
    await admin.connect();
    await admin.query('CREATE DATABASE bench');
    await admin.end();
    const seeder = new pg.Client({ ...node.address, ...credentials });
    await seeder.connect();
    await seedDatabase(seeder, SEED);
    const workload: WorkloadConfig = {
      writes: {
        rate: 0,
        connections,
        mix: { insert: 1, update: 0, delete: 0 },
        timeout: 2000,
        scripts: [{ name: 'insert-order', weight: 1, sql: USER_SQL, vars: VARS, ledger: { table: 'orders', key: ['id'], op: 'insert' } }],
      },
      reads: { rate: 0, connections: 1, timeout: 2000 },
      probe: { interval: 0, timeout: 1000 },
    };
    const scripts = await checkScripts(seeder, { workload });
    await seeder.end();
    const scriptFile = path.join(work, 'insert-order.sql');
    fs.writeFileSync(scriptFile, PGBENCH_SCRIPT);
    const env = { ...process.env, PGPASSWORD: password };
    const pgbenchArgs = ['-h', node.address.host, '-p', String(node.address.port), '-U', 'pgdrill', '-n', '-M', 'prepared',
      '-c', String(connections), '-j', '1', '-T', String(seconds), '-f', scriptFile, '-l', 'bench'];
    process.stderr.write(
      `PostgreSQL 15 on ${node.address.host}:${node.address.port}, ${connections} connections per tool, ${seconds}s per run, ` +
        `${reps} repetition(s), rates ${rates.join(', ')}/s; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`,
    );

    const runPgbench = async (rep: number, rate: number | null): Promise<Row> => {
      const prefix = path.join(work, `pgbench-${rep}-${rate ?? 'max'}`);
      const extra = rate === null ? [] : ['-R', String(rate), '-L', String(LATE_MS)];
      // bash's `times` prints the CPU its children used: pgbench's rusage, exact to the tick
      const { stdout, stderr } = await run('bash', ['-c', '"$@"; rc=$?; times >&2; exit $rc', 'bash', args.pgbench, ...pgbenchArgs, ...extra, '--log-prefix', prefix], env);
      const { cpuMs, sysMs } = childCpuMs(stderr);
      const latency = hdr.build({ numberOfSignificantValueDigits: 3 });
      let done = 0;
      let skipped = 0;
      for (const file of fs.readdirSync(work).filter((f) => path.join(work, f).startsWith(prefix + '.'))) {
        for (const line of fs.readFileSync(path.join(work, file), 'utf8').split('\n')) {
          if (!line) continue;
          const fields = line.split(' ');
          if (fields[2] === 'skipped') skipped++;
          else {
            done++;
            latency.recordValue(Math.max(1, Number(fields[2])));
          }
        }
        fs.rmSync(path.join(work, file));
      }
      const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1] ?? NaN);
      const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
      const pct = (p: number) => (latency.totalCount ? latency.getValueAtPercentile(p) / 1000 : null);
      return {
        tool: 'pgbench', rep, rate, done, achieved: tps, dropped: skipped, droppedPct: (100 * skipped) / Math.max(1, done + skipped),
        failed, p50: pct(50), p99: pct(99), cpuPer1000: (1000 * cpuMs) / Math.max(1, done), sysPer1000: (1000 * sysMs) / Math.max(1, done),
      };
    };

    const runPgdrill = async (rep: number, rate: number, runSeconds = seconds): Promise<Row> => {
      const folder = fs.mkdtempSync(path.join(work, `pgdrill-${rep}-${rate}-`));
      // as in a run: operations.jsonl and events.jsonl written, the aggregates built as ops arrive
      const recorder = new Recorder(folder);
      const aggregates = new OpAggregates({ loadStartMs: 0, timeoutMs: { write: 2000 } });
      recorder.onOp((op) => aggregates.add(op));
      const latency = hdr.build({ numberOfSignificantValueDigits: 3 });
      const counted = { ok: 0, failed: 0, indeterminate: 0, dropped: 0 };
      recorder.onOp((op) => {
        counted[op.outcome]++;
        if (op.outcome === 'ok') latency.recordValue(Math.max(1, Math.round((op.endMs - op.intendedMs) * 1000)));
      });
      const profile = profileRate === rate && rep === 0 ? await startProfile() : undefined;
      const cpuBefore = process.cpuUsage();
      const handle = startWorkload({
        target: node.address,
        credentials,
        config: { ...workload, writes: { ...workload.writes, rate } },
        seed: SEED,
        scripts,
        recorder,
        signal: interrupted.signal,
        durationMs: runSeconds * 1000,
      });
      const summary = await handle.done;
      await recorder.close();
      const cpu = process.cpuUsage(cpuBefore);
      if (profile) await stopProfile(profile, path.join(work, `pgdrill-${rate}.cpuprofile`));
      fs.rmSync(folder, { recursive: true, force: true });
      const pct = (p: number) => (latency.totalCount ? latency.getValueAtPercentile(p) / 1000 : null);
      if (counted.ok + counted.failed + counted.indeterminate + counted.dropped !== summary.writes.intended) {
        throw new Error(`pgdrill at ${rate}/s recorded ${counted.ok + counted.failed + counted.indeterminate + counted.dropped} ops of ${summary.writes.intended} intended: an op was lost by the recorder`);
      }
      return {
        tool: 'pgdrill', rep, rate, done: counted.ok, achieved: counted.ok / ((summary.endMs - summary.startMs) / 1000),
        dropped: counted.dropped, droppedPct: (100 * counted.dropped) / Math.max(1, summary.writes.intended),
        failed: counted.failed + counted.indeterminate, p50: pct(50), p99: pct(99),
        cpuPer1000: (cpu.user + cpu.system) / 1000 / Math.max(1, counted.ok / 1000),
        sysPer1000: cpu.system / 1000 / Math.max(1, counted.ok / 1000),
      };
    };

    // V8 compiles the hot path during the first seconds of a process: pgdrill's first run would
    // pay for it (a real run lasts minutes). A warm-up run at the first rate, not counted.
    const warm = await runPgdrill(-1, rates[0] ?? 1000, WARMUP_SECONDS);
    process.stderr.write(`  (warm-up, not counted: ${describe(warm)})\n`);
    for (let rep = 0; rep < reps && !interrupted.signal.aborted; rep++) {
      // interleaved: each rate runs both tools back to back, the first tool alternating per rep
      for (const rate of [null, ...rates]) {
        if (interrupted.signal.aborted) break;
        const order: Array<'pgbench' | 'pgdrill'> = rep % 2 === 0 ? ['pgbench', 'pgdrill'] : ['pgdrill', 'pgbench'];
        for (const tool of order) {
          if (rate === null && tool === 'pgdrill') continue; // open loop: its max is the ladder's
          const row = tool === 'pgbench' ? await runPgbench(rep, rate) : await runPgdrill(rep, rate!);
          rows.push(row);
          process.stderr.write(`  ${describe(row)}\n`);
        }
      }
    }
  } finally {
    await runtime.dispose();
    const profiles = fs.readdirSync(work).filter((f) => f.endsWith('.cpuprofile'));
    for (const f of profiles) summarizeProfile(path.join(work, f));
    fs.rmSync(work, { recursive: true, force: true });
  }
  printTable(rows);
  printWakeCost(await wakeCost(2000));
}

/**
 * CPU this process spends per event-loop wake-up that does nothing (a 1 ms timer re-armed,
 * as the scheduler's loop sleeps), measured for `ms`. Below ~1,000 ops/s every op costs the
 * client at least two of them (its scheduler timer, its reply arriving): that floor, not the
 * work per op, sets pgdrill's CPU per op at low rates.
 */
async function wakeCost(ms: number): Promise<{ wakes: number; usPerWake: number }> {
  const began = performance.now();
  const cpu = process.cpuUsage();
  let wakes = 0;
  while (performance.now() - began < ms) {
    await new Promise<void>((resolve) => setTimeout(resolve, 1));
    wakes++;
  }
  const used = process.cpuUsage(cpu);
  return { wakes, usPerWake: (used.user + used.system) / wakes };
}

function printWakeCost(cost: { wakes: number; usPerWake: number }): void {
  console.log(
    `\nevent-loop floor: an empty wake-up (a 1 ms timer) costs this process ${cost.usPerWake.toFixed(0)} us of CPU (${cost.wakes} wakes measured); ` +
      `an op below ~1,000/s takes at least two (its timer, its reply): >= ${((2 * cost.usPerWake) / 1000).toFixed(2)} ms of CPU per op before any work, ` +
      `i.e. >= ${(2 * cost.usPerWake).toFixed(0)} ms per 1,000 ops`,
  );
}

function run(cmd: string, argv: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${argv.slice(3, 4).join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** bash `times`: the second line is the children's user and system time ("0m1.234s 0m0.567s"). */
function childCpuMs(stderr: string): { cpuMs: number; sysMs: number } {
  const lines = stderr.trim().split('\n');
  const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s/.exec(lines[lines.length - 1] ?? '');
  if (!m) throw new Error(`no CPU times from bash's times in: ${stderr.slice(-200)}`);
  const sysMs = (Number(m[3]) * 60 + Number(m[4])) * 1000;
  return { cpuMs: (Number(m[1]) * 60 + Number(m[2])) * 1000 + sysMs, sysMs };
}

async function startProfile(): Promise<Session> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return session;
}

async function stopProfile(session: Session, file: string): Promise<void> {
  const { profile } = await session.post('Profiler.stop');
  fs.writeFileSync(file, JSON.stringify(profile));
  session.disconnect();
}

/** Self time per function (and per file) of a .cpuprofile, the top ones: where pgdrill's CPU goes. */
function summarizeProfile(file: string): void {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  let busy = 0;
  for (const id of profile.samples) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    if (f.functionName === '(idle)' || f.functionName === '(program)') continue;
    busy++;
    const where = f.url ? f.url.replace(/^.*\/(node_modules\/|dist\/)/, '$1') : '(native)';
    const key = `${f.functionName || '(anonymous)'}  ${where}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + 1);
    const group = f.functionName === '(garbage collector)' ? '(garbage collector)' : where.replace(/:\d+$/, '').replace(/^(node_modules\/[^/]+).*/, '$1');
    byFile.set(group, (byFile.get(group) ?? 0) + 1);
  }
  const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
  console.log(`\nprofile of pgdrill at ${path.basename(file)} (self time, % of non-idle samples):`);
  for (const [k, v] of top(byFile, 10)) console.log(`  ${((100 * v) / busy).toFixed(1).padStart(5)}%  ${k}`);
  console.log('  top functions:');
  for (const [k, v] of top(self, 15)) console.log(`  ${((100 * v) / busy).toFixed(1).padStart(5)}%  ${k}`);
}

function fmt(n: number | null, digits = 1): string {
  return n === null || Number.isNaN(n) ? '-' : n.toFixed(digits);
}

function describe(r: Row): string {
  return `${r.tool} ${r.rate === null ? 'unthrottled' : `${r.rate}/s`} (rep ${r.rep + 1}): ${r.achieved.toFixed(0)}/s, dropped ${fmt(r.droppedPct)}%, ` +
    `p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, CPU ${r.cpuPer1000.toFixed(0)} ms/1000 ops (${r.sysPer1000.toFixed(0)} system)`;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const spread = (xs: number[], digits = 0) => (xs.length > 1 ? `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}` : '');

function printTable(rows: Row[]): void {
  const header = ['tool', 'rate/s', 'rep', 'achieved/s', 'dropped', 'failed', 'p50 ms', 'p99 ms', 'CPU ms/1000 ops', 'of it system'];
  const lines = rows
    .slice()
    .sort((a, b) => a.tool.localeCompare(b.tool) || (a.rate ?? Infinity) - (b.rate ?? Infinity) || a.rep - b.rep)
    .map((r) => [r.tool, r.rate === null ? 'max' : String(r.rate), String(r.rep + 1), r.achieved.toFixed(0), `${fmt(r.droppedPct)}%`, String(r.failed),
      fmt(r.p50), fmt(r.p99), r.cpuPer1000.toFixed(0), r.sysPer1000.toFixed(0)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const print = (cells: string[]) => console.log(cells.map((c, i) => c.padStart(widths[i])).join('  '));
  console.log('');
  print(header);
  print(widths.map((w) => '-'.repeat(w)));
  for (const l of lines) print(l);

  // capacity: pgdrill's highest rate held (< 1 % dropped, no failures, and >= 99 % of the rate
  // achieved: a load that falls behind by less than the drop limit is not keeping up) in every repetition,
  // and the rate it achieved there, against pgbench's unthrottled tps (median of repetitions)
  const drill = rows.filter((r) => r.tool === 'pgdrill');
  const held = rates.filter((rate) => {
    const runs = drill.filter((r) => r.rate === rate);
    return runs.length > 0 && runs.every((r) => r.droppedPct < 1 && r.failed === 0 && r.achieved >= 0.99 * rate);
  });
  const maxHeld = held.length ? Math.max(...held) : null;
  // the capacity is measured only when a higher rate of the ladder was not held: otherwise it is a lower bound
  const notHeld = rates.filter((rate) => rate > (maxHeld ?? 0) && !held.includes(rate));
  const bound =
    maxHeld === null
      ? ''
      : notHeld.length
        ? ` (not ${Math.min(...notHeld)}/s)`
        : ` (the top of the ladder: a lower bound, add higher --rates)`;
  const drillCapacity = maxHeld === null ? null : median(drill.filter((r) => r.rate === maxHeld).map((r) => r.achieved));
  const benchMax = rows.filter((r) => r.tool === 'pgbench' && r.rate === null).map((r) => r.achieved);
  const benchBest = Math.max(...rows.filter((r) => r.tool === 'pgbench' && r.droppedPct < 1).map((r) => r.achieved));
  console.log(
    `\ncapacity: pgdrill holds ${maxHeld === null ? 'none of the rates' : `${maxHeld}/s${bound} (achieved ${drillCapacity!.toFixed(0)}/s)`} with < 1% dropped and >= 99% achieved in every repetition; ` +
      `pgbench unthrottled ${median(benchMax).toFixed(0)} tps (${spread(benchMax)}); ratio ${drillCapacity === null ? '-' : (drillCapacity / median(benchMax)).toFixed(2)}x` +
      ` (vs pgbench's best run of any kind, ${benchBest.toFixed(0)}/s: ${drillCapacity === null ? '-' : (drillCapacity / benchBest).toFixed(2)}x)`,
  );
  for (const rate of rates) {
    const d = drill.filter((r) => r.rate === rate && r.droppedPct < 1).map((r) => r.cpuPer1000);
    const b = rows.filter((r) => r.tool === 'pgbench' && r.rate === rate && r.droppedPct < 1).map((r) => r.cpuPer1000);
    if (!d.length || !b.length) continue;
    console.log(
      `CPU per op at ${rate}/s: pgdrill ${median(d).toFixed(0)} ms/1000 (${spread(d)}), pgbench ${median(b).toFixed(0)} (${spread(b)}); ratio ${(median(d) / median(b)).toFixed(2)}x`,
    );
  }
  console.log(
    `\nboth tools: the same INSERT (+ audit trigger + ledger row), ${connections} connections, one client thread (pgbench -j 1 -M prepared), ` +
      `latency from each op's scheduled start, dropped = more than ${LATE_MS} ms behind schedule (pgbench -L). ` +
      `Client CPU: process.cpuUsage() over pgdrill's load, bash times (rusage) of pgbench. Load average now ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}.`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
