// What the ledger check of a long run costs at the end: N acknowledged inserts (each its own
// row, the most keys a history can have) on a throwaway PostgreSQL 15, their records in an
// operations.jsonl, then checkLedgerStreaming over that file, with this process's RSS sampled.
// Not a test: `npm run build && node dist/bench/ledger-bench.js --writes 1800000 --partition 100000`.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { benchRuntime } from './support/bench-runtime.js';
import { JsonlWriter } from '../harness/record/jsonl-writer.js';
import { checkLedgerStreaming, ledgerSourceFromFile } from '../harness/checks/ledger-stream.js';
import { benchArgs, numberFlag } from './support/bench-args.js';

const { n, partition, version } = benchArgs(
  `node dist/bench/ledger-bench.js [flags]     (after npm run build)

The ledger check of N acknowledged inserts over their operations.jsonl, with RSS sampled.`,
  {
    writes: { type: 'string', default: '1800000', value: 'N', help: 'acknowledged inserts' },
    partition: { type: 'string', default: '100000', value: 'N', help: 'keys per partition of the check' },
    version: { type: 'string', default: '15', value: 'N', help: 'PostgreSQL major' },
  },
  (args) => ({
    n: numberFlag('writes', args.writes, { min: 1, integer: true }),
    partition: numberFlag('partition', args.partition, { min: 1, integer: true }),
    version: numberFlag('version', args.version, { min: 13, integer: true }),
  }),
);

async function main(): Promise<void> {
  const { runtime, password } = benchRuntime('ledger-bench');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-ledger-bench-'));
  try {
    const node = await runtime.createNode({ name: 'bench', version });
    await node.initdb();
    await node.start();
    const client = new pg.Client({ ...node.address, user: 'pgdrill', password, database: 'postgres' });
    await client.connect();
    await client.query(`CREATE SCHEMA _pgdrill; CREATE TABLE _pgdrill.ledger (request_id uuid PRIMARY KEY);
      CREATE TABLE orders (id bigint PRIMARY KEY, version int NOT NULL, request_id uuid)`);
    await client.query(`INSERT INTO orders SELECT g, 1, gen_random_uuid() FROM generate_series(1, ${n}) g`);
    await client.query('INSERT INTO _pgdrill.ledger SELECT request_id FROM orders');
    await client.query('VACUUM ANALYZE');
    const file = path.join(dir, 'operations.jsonl');
    const out = new JsonlWriter(file);
    for (let from = 1; from <= n; from += 100_000) {
      const { rows } = await client.query<{ id: string; rid: string }>('SELECT id::text, request_id::text AS rid FROM orders WHERE id BETWEEN $1 AND $2 ORDER BY id', [from, from + 99_999]);
      for (const r of rows) {
        const id = Number(r.id);
        out.write({ id, stream: 'write', kind: 'insert', intendedMs: id, startMs: id, endMs: id + 2, outcome: 'ok', ledger: { table: 'orders', key: id, op: 'insert', version: 1, requestId: r.rid } });
      }
    }
    out.close();
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    const t0 = performance.now();
    const result = await checkLedgerStreaming(client, ledgerSourceFromFile(file, n), { partitionSize: partition, tmpDir: dir });
    const took = performance.now() - t0;
    clearInterval(timer);
    await client.end();
    const mb = (b: number) => (b / 1024 / 1024).toFixed(0);
    console.log(`ledger check of ${n} acknowledged writes, partitions of ${partition}: ${(took / 1000).toFixed(1)} s; RSS ${mb(before)} MB before, peak ${mb(peak)} MB`);
    console.log(`result: ${result.acknowledgedWrites} acknowledged, ${result.lostWrites} lost`);
  } finally {
    await runtime.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
