// The ledger check of a long run, split into row partitions, against a real PostgreSQL: the
// same counts and the same first findings as the one-pass check, for a history with lost
// writes, recovered indeterminate ones, inserts whose answer was lost (found by request id)
// and rows touched many times; and a file that lost lines is refused, not passed.

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLedger, keysOfInterest } from '../../harness/checks/ledger-check.js';
import { fetchObservedState } from '../../harness/checks/ledger-state.js';
import { checkLedgerStreaming, ledgerSourceFromFile, ledgerSourceOf } from '../../harness/checks/ledger-stream.js';
import type { OpOutcome, OpRecord } from '../../harness/record/records.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from './support/throwaway-postgres.js';

let server: ThrowawayPostgres;
let client: pg.Client;
let tmp: string;

beforeAll(async () => {
  server = await startThrowawayPostgres();
  client = new pg.Client({ ...server.address, ...server.credentials });
  await client.connect();
  await client.query(`CREATE SCHEMA _pgdrill; CREATE TABLE _pgdrill.ledger (request_id uuid PRIMARY KEY);
    CREATE TABLE orders (id bigint PRIMARY KEY, version int NOT NULL, request_id uuid)`);
  tmp = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-ledger-test-'));
});

afterAll(async () => {
  await client?.end();
  await server?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

/**
 * 600 writes over 150 keys: inserts, updates (versions 2..n) and deletes, applied on the
 * server as a real workload would leave it, except for a few acknowledged writes that are
 * left out (lost), indeterminate ones that committed or not, and keyless inserts whose answer
 * was lost but which committed.
 */
async function history(): Promise<OpRecord[]> {
  await client.query('TRUNCATE _pgdrill.ledger, orders');
  const ops: OpRecord[] = [];
  const committed: string[] = [];
  const rows = new Map<number, { version: number; rid: string } | null>();
  let id = 0;
  const push = (outcome: OpOutcome, ledger: OpRecord['ledger']) => {
    id++;
    ops.push({ id, stream: 'write', kind: ledger!.op, intendedMs: id * 5, endMs: id * 5 + 2, outcome, ledger });
  };
  for (let i = 0; i < 600; i++) {
    const key = 1 + (i % 150);
    const rid = randomUUID();
    const row = rows.get(key);
    const lost = i % 97 === 13;
    const indeterminate = i % 41 === 7;
    const applies = indeterminate ? i % 2 === 0 : !lost;
    const outcome: OpOutcome = indeterminate ? 'indeterminate' : 'ok';
    if (row === undefined || row === null) {
      // an insert; some indeterminate ones never learnt their key
      const keyless = indeterminate && i % 4 === 0;
      push(outcome, { table: 'orders', key: keyless ? 0 : key, op: 'insert', version: 1, requestId: rid });
      if (applies) {
        rows.set(key, { version: 1, rid });
        committed.push(rid);
      }
    } else if (i % 11 === 5) {
      push(outcome, { table: 'orders', key, op: 'delete', version: row.version, requestId: rid });
      if (applies) {
        rows.set(key, null);
        committed.push(rid);
      }
    } else {
      push(outcome, { table: 'orders', key, op: 'update', version: row.version + 1, requestId: rid });
      if (applies) {
        rows.set(key, { version: row.version + 1, rid });
        committed.push(rid);
      }
    }
  }
  await client.query('INSERT INTO _pgdrill.ledger SELECT unnest($1::uuid[])', [committed]);
  const live = [...rows].filter(([, r]) => r !== null) as [number, { version: number; rid: string }][];
  await client.query('INSERT INTO orders SELECT * FROM unnest($1::bigint[], $2::int[], $3::uuid[])', [live.map(([k]) => k), live.map(([, r]) => r.version), live.map(([, r]) => r.rid)]);
  // and a row deleted behind the workload's back
  await client.query('DELETE FROM orders WHERE id = 77');
  // failed writes carry a ledger entry too; the check does not look at them
  push('failed', { table: 'orders', key: 0, op: 'insert', version: 1, requestId: randomUUID() });
  return ops.sort((a, b) => a.endMs - b.endMs);
}

describe('checkLedgerStreaming', () => {
  it('gives the one-pass answer whatever the partition size, lost writes and their order included', async () => {
    const ops = await history();
    const onePass = checkLedger(ops, await fetchObservedState(client, keysOfInterest(ops)));
    expect(onePass.lostWrites).toBeGreaterThan(3);
    expect(onePass.recoveredWrites).toBeGreaterThan(3);
    // inserts whose answer was lost are found by request id and join their row's partition
    expect(ops.filter((o) => o.ledger?.key === 0 && o.outcome === 'indeterminate').length).toBeGreaterThan(0);
    for (const partitionSize of [7, 50, 100_000]) {
      const streamed = await checkLedgerStreaming(client, ledgerSourceOf(ops), { partitionSize, tmpDir: tmp });
      expect(streamed).toEqual(onePass);
    }
  });

  it('reads operations.jsonl, and refuses to decide when it holds fewer writes than the run recorded', async () => {
    const ops = await history();
    const file = path.join(tmp, 'operations.jsonl');
    await writeFile(file, ops.map((o) => JSON.stringify(o)).join('\n') + '\n');
    const checkable = ledgerSourceOf(ops).count;
    const fromFile = await checkLedgerStreaming(client, ledgerSourceFromFile(file, checkable), { partitionSize: 64, tmpDir: tmp });
    expect(fromFile.acknowledgedWrites + fromFile.indeterminateWrites).toBe(checkable);
    await expect(checkLedgerStreaming(client, ledgerSourceFromFile(file, checkable + 1))).rejects.toThrow(/holds \d+ acknowledged or indeterminate writes but the run recorded \d+/);
    await expect(checkLedgerStreaming(client, ledgerSourceFromFile(file, checkable, new Error('ENOSPC')))).rejects.toThrow(/could not be written completely \(ENOSPC\)/);
  });
});
