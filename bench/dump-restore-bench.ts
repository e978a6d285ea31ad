// dump-restore's final sync, by itself: PostgreSQL 13 (blue, seeded with the shop) and 17
// (green), the strategy's own copy functions (pg-copy.ts) run as the final sync runs them,
// with each way of copying, repeated and interleaved: custom format (-Fc, one process each,
// what the strategy did before) and directory format with parallel jobs (-Fd -j N). Prints
// each run's dump, fresh-database and restore times with the exact commands. Not a test:
// `npm run build && npm run bench:dump-restore -- --orders 200000 --users 20000 --products 5000`
// (flags: --jobs 1,2,4 --reps 3).

import os from 'node:os';
import pg from 'pg';
import { benchRuntime } from './support/bench-runtime.js';
import type { SeedConfig } from '../harness/scenario/scenario.js';
import { seedDatabase } from '../harness/seed/schema.js';
import { databaseSize, dumpDatabase, prepareDumpDirectory, recreateDatabase, restoreDatabase, type CopyPlan } from '../harness/strategies/pg-copy.js';
import { DATABASE } from '../harness/topology/connect.js';
import { formatBytes } from '../harness/util/units.js';
import { benchArgs, numberFlag, numberListFlag } from './support/bench-args.js';

const { SEED, variants, reps } = benchArgs(
  `npm run bench:dump-restore -- [flags]     (node dist/bench/dump-restore-bench.js, after npm run build)

dump-restore's final sync alone, PostgreSQL 13 -> 17: -Fc and -Fd -j N, repeated and interleaved.`,
  {
    users: { type: 'string', default: '1000', value: 'N', help: 'seeded users' },
    products: { type: 'string', default: '500', value: 'N', help: 'seeded products' },
    orders: { type: 'string', default: '2000', value: 'N', help: 'seeded orders' },
    jobs: { type: 'string', default: '1,2,4', value: 'LIST', help: 'parallel jobs of the directory format, comma-separated' },
    reps: { type: 'string', default: '3', value: 'N', help: 'repetitions' },
  },
  (args) => ({
    SEED: {
      users: numberFlag('users', args.users, { min: 1, integer: true }),
      products: numberFlag('products', args.products, { min: 1, integer: true }),
      orders: numberFlag('orders', args.orders, { min: 0, integer: true }),
      itemsPerOrder: 3,
    } satisfies SeedConfig,
    /** 0 = custom format (-Fc), as before; N = directory format with N jobs */
    variants: [0, ...numberListFlag('jobs', args.jobs, { min: 1, integer: true })],
    reps: numberFlag('reps', args.reps, { min: 1, integer: true }),
  }),
);

interface Sample {
  variant: number;
  dumpMs: number;
  freshMs: number;
  restoreMs: number;
}

const label = (v: number) => (v === 0 ? 'pg_dump -Fc / pg_restore' : `pg_dump -Fd -j ${v} / pg_restore -j ${v}`);

async function main(): Promise<void> {
  const { runtime, password } = benchRuntime('bench-dr');
  const samples: Sample[] = [];
  try {
    const [blue, green] = await Promise.all(
      [
        { name: 'blue', version: 13 },
        { name: 'green', version: 17 },
      ].map(async (spec) => {
        const node = await runtime.createNode(spec);
        await node.initdb();
        await node.start();
        const admin = new pg.Client({ ...node.address, user: 'pgdrill', password, database: 'postgres' });
        await admin.connect();
        await admin.query(`CREATE DATABASE ${DATABASE}`);
        await admin.end();
        return node;
      }),
    );
    const seeder = new pg.Client({ ...blue.address, user: 'pgdrill', password, database: DATABASE });
    await seeder.connect();
    await seedDatabase(seeder, SEED);
    await seeder.query('VACUUM ANALYZE');
    const size = await databaseSize(seeder);
    await seeder.end();
    const plan: CopyPlan = { source: blue, target: green, host: green };
    process.stderr.write(
      `blue PostgreSQL 13 (${formatBytes(size)}: ${SEED.orders} orders) -> green PostgreSQL 17, tools on green; ` +
        `${reps} repetition(s) of ${variants.map(label).join(', ')}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`,
    );
    for (let rep = 0; rep < reps; rep++) {
      // interleaved, the order turned each repetition, so a noisy neighbour hits every variant
      const order = rep % 2 === 0 ? variants : [...variants].reverse();
      for (const variant of order) {
        const dir = variant > 0 ? await prepareDumpDirectory(green, `bench-${variant}.dump`) : undefined;
        const dump = await dumpDatabase(plan, dir ? { parallel: { jobs: variant, dir } } : {});
        const freshStart = performance.now();
        await recreateDatabase(green);
        const freshMs = performance.now() - freshStart;
        const restore = await restoreDatabase(plan, dump.file, variant > 0 ? variant : 1);
        await dir?.remove();
        const sample = { variant, dumpMs: dump.ms, freshMs, restoreMs: restore.ms };
        samples.push(sample);
        process.stderr.write(
          `  ${label(variant)}: dump ${ms(sample.dumpMs)}, fresh database ${ms(freshMs)}, restore ${ms(sample.restoreMs)}, ` +
            `dump + restore ${ms(sample.dumpMs + sample.restoreMs)}; load ${os.loadavg()[0].toFixed(2)}\n`,
        );
      }
    }
  } finally {
    await runtime.dispose();
  }
  console.log(`\n| copy | dump | restore | dump + restore | (median of ${reps}, range) |\n| --- | --- | --- | --- | --- |`);
  for (const variant of variants) {
    const mine = samples.filter((s) => s.variant === variant);
    const col = (f: (s: Sample) => number) => {
      const v = mine.map(f).sort((a, b) => a - b);
      return `${ms(v[Math.floor(v.length / 2)])} (${ms(v[0])}-${ms(v[v.length - 1])})`;
    };
    console.log(`| ${label(variant)} | ${col((s) => s.dumpMs)} | ${col((s) => s.restoreMs)} | ${col((s) => s.dumpMs + s.restoreMs)} | |`);
  }
  console.log(
    `\ncommands (tools on green): pg_dump -h H -p P -U pgdrill -d pgdrill {-Fc | -Fd -j N} -Z 0 -f FILE; ` +
      `DROP DATABASE pgdrill WITH (FORCE); CREATE DATABASE pgdrill; pg_restore -h H -p P -U pgdrill -d pgdrill --exit-on-error [-j N] FILE`,
  );
}

function ms(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
