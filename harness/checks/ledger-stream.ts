// The ledger check for a run of any length, in bounded memory. The pure checkLedger() needs,
// for each write, the other writes to the same row and what the final primary holds; rows
// are independent of each other, so a long run's writes are split by row into partitions
// (files of at most ~25k writes) and each partition is checked on its own with the same
// checkLedger() and fetchObservedState(), then the counts are added up and the first
// findings merged in intended order. A short run is one partition: exactly the old path.
//
// An insert whose answer was lost has no key; the final primary is asked first which row
// carries its request id, and it joins that row's partition (as checkLedger would find it
// through keysByRequestId).

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { OpRecord } from '../record/records.js';
import { readJsonl } from '../record/read-jsonl.js';
import { JsonlWriter } from '../record/jsonl-writer.js';
import { checkLedger, hasKey, isLedgerCheckable, keysOfInterest, keyText, MAX_FINDINGS, normalizeRequestId, type LedgerCheck, type LedgerOp } from './ledger-check.js';
import { fetchObservedState, type FetchObservedOptions } from './ledger-state.js';

/** Where the writes the ledger check looks at come from. */
export interface LedgerSource {
  /** how many checkable writes (ok or indeterminate, with a ledger entry) were recorded */
  count: number;
  /** hands every checkable write to fn, once, in any order; throws when they cannot all be read */
  forEach(fn: (op: LedgerOp) => void): Promise<void>;
}

/** A source over operations in memory (tests, short histories). */
export function ledgerSourceOf(ops: readonly OpRecord[]): LedgerSource {
  const checkable = ops.filter(isLedgerCheckable);
  return {
    count: checkable.length,
    async forEach(fn) {
      for (const op of checkable) fn(op);
    },
  };
}

/**
 * A source over operations.jsonl. `recorded` is how many checkable writes the run recorded
 * (its aggregates counted them): a file that holds fewer lost lines, and the check must
 * then not pass on what is left.
 */
export function ledgerSourceFromFile(file: string, recorded: number, writeError?: Error): LedgerSource {
  return {
    count: recorded,
    async forEach(fn) {
      if (writeError) throw new Error(`${path.basename(file)} could not be written completely (${writeError.message}), so not every write can be checked`);
      let found = 0;
      const read = await readJsonl<OpRecord>(file, (op) => {
        if (isLedgerCheckable(op)) {
          found++;
          fn(op);
        }
      });
      if (found !== recorded) {
        throw new Error(
          `${path.basename(file)} holds ${found} acknowledged or indeterminate writes (the workload's and the app's) but the run recorded ${recorded}` +
            (read.badLines ? ` (${read.badLines} unreadable lines)` : ''),
        );
      }
    },
  };
}

export interface StreamingLedgerOptions extends FetchObservedOptions {
  /** writes per partition (default 25k: a partition costs ~60 MB of RSS while it is checked, 100k cost ~280 MB) */
  partitionSize?: number;
  /** where partition files go (default the system temp dir); removed afterwards */
  tmpDir?: string;
}

export async function checkLedgerStreaming(client: pg.ClientBase, source: LedgerSource, options: StreamingLedgerOptions = {}): Promise<LedgerCheck> {
  const partitionSize = options.partitionSize ?? 25_000;
  const partitions = Math.max(1, Math.ceil(source.count / partitionSize));
  if (partitions === 1) {
    const ops: LedgerOp[] = [];
    await source.forEach((op) => ops.push(op));
    return checkLedger(ops, await fetchObservedState(client, keysOfInterest(ops), options));
  }

  const dir = await fsp.mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), 'pgdrill-ledger-'));
  try {
    const files = Array.from({ length: partitions }, (_, i) => path.join(dir, `partition-${i}.jsonl`));
    const writers = files.map((f) => new JsonlWriter(f));
    const keyless: LedgerOp[] = [];
    await source.forEach((op) => {
      if (!hasKey(op.ledger)) keyless.push(compact(op));
      else writers[partitionOf(op.ledger.table, keyText(op.ledger.key), partitions)].write(compact(op));
    });
    // inserts whose answer was lost: the row carrying the request id says which row they wrote
    const unplaced: LedgerOp[] = [];
    if (keyless.length > 0) {
      const found = await fetchObservedState(client, keysOfInterest(keyless), options);
      for (const op of keyless) {
        const key = found.tables[op.ledger.table]?.keysByRequestId.get(normalizeRequestId(op.ledger.requestId));
        if (key === undefined) unplaced.push(op);
        else writers[partitionOf(op.ledger.table, key, partitions)].write(op);
      }
    }
    for (const w of writers) {
      w.close();
      if (w.error) throw new Error(`writing the ledger partition ${w.file} failed: ${w.error.message}`);
    }

    const total: LedgerCheck = { acknowledgedWrites: 0, lostWrites: 0, recoveredWrites: 0, indeterminateWrites: 0, lost: [] };
    const findings: { order: [number, number]; finding: LedgerCheck['lost'][number] }[] = [];
    for (const [i, file] of files.entries()) {
      const ops: LedgerOp[] = i === 0 ? [...unplaced] : [];
      if (fs.existsSync(file)) await readJsonl<LedgerOp>(file, (op) => ops.push(op));
      if (ops.length === 0) continue;
      const part = checkLedger(ops, await fetchObservedState(client, keysOfInterest(ops), options));
      total.acknowledgedWrites += part.acknowledgedWrites;
      total.lostWrites += part.lostWrites;
      total.recoveredWrites += part.recoveredWrites;
      total.indeterminateWrites += part.indeterminateWrites;
      if (part.lost.length > 0) {
        // each partition lists its first findings in intended order; the run's first are among them
        const order = new Map<string, [number, number]>();
        for (const op of [...ops].sort((a, b) => a.intendedMs - b.intendedMs || a.id - b.id)) {
          if (!order.has(op.ledger.requestId)) order.set(op.ledger.requestId, [op.intendedMs, op.id]);
        }
        for (const finding of part.lost) findings.push({ order: order.get(finding.requestId) ?? [Infinity, Infinity], finding });
      }
    }
    findings.sort((a, b) => a.order[0] - b.order[0] || a.order[1] - b.order[1]);
    total.lost = findings.slice(0, MAX_FINDINGS).map((f) => f.finding);
    return total;
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/** Only what checkLedger reads, so a partition costs as little memory as it can. */
function compact(op: LedgerOp): LedgerOp {
  return { id: op.id, stream: 'write', kind: op.kind, intendedMs: op.intendedMs, endMs: op.endMs, outcome: op.outcome, ledger: op.ledger };
}

/** FNV-1a over the row's identity: the same row always lands in the same partition. */
function partitionOf(table: string, key: string, partitions: number): number {
  let h = 0x811c9dc5;
  const text = `${table}\u0000${key}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}
