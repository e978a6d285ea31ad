// Existing keys for pick(table.column): sampled from the database after the seed, kept up to
// date by the scripts' own ledgered inserts and deletes, and re-sampled now and then during the
// run (rows also come and go through cascades, triggers and timeline steps).

import type { KeySource } from './generators.js';
import type { StatementRunner } from './write-ops.js';

/** Keys (as text) with O(1) add, remove and uniform pick. */
export class KeyPool implements KeySource {
  private keys: string[] = [];
  private index = new Map<string, number>();
  /** changes made while a re-sample is in flight, replayed over its result */
  private journal: { add: boolean; key: string }[] | undefined;

  constructor(
    /** the relation and column, as the catalog names them ("notes", "app.notes") */
    readonly table: string,
    readonly column: string,
    /** the query that samples its keys (one text column `k`) */
    readonly sampleSql: string,
    initial: Iterable<string> = [],
  ) {
    for (const k of initial) this.insert(k);
  }

  get size(): number {
    return this.keys.length;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  pick(random: () => number): string | undefined {
    const n = this.keys.length;
    return n === 0 ? undefined : this.keys[Math.floor(random() * n)];
  }

  add(key: string): void {
    this.journal?.push({ add: true, key });
    this.insert(key);
  }

  remove(key: string): void {
    this.journal?.push({ add: false, key });
    this.delete(key);
  }

  /** Replaces the keys with a fresh sample, keeping what changed since the sample was asked for. */
  async refresh(sample: () => Promise<string[] | undefined>): Promise<boolean> {
    if (this.journal) return false;
    this.journal = [];
    try {
      const keys = await sample();
      if (!keys) return false;
      const changes = this.journal;
      this.keys = [];
      this.index = new Map();
      for (const k of keys) this.insert(k);
      for (const c of changes) (c.add ? this.insert(c.key) : this.delete(c.key));
      return true;
    } finally {
      this.journal = undefined;
    }
  }

  private insert(key: string): void {
    if (this.index.has(key)) return;
    this.index.set(key, this.keys.length);
    this.keys.push(key);
  }

  private delete(key: string): void {
    const at = this.index.get(key);
    if (at === undefined) return;
    const last = this.keys.pop()!;
    if (last !== key) {
      this.keys[at] = last;
      this.index.set(last, at);
    }
    this.index.delete(key);
  }
}

/** At most this many keys per pool: enough to spread the load, small enough to sample in a moment. */
export const POOL_SAMPLE = 100_000;

/**
 * The sampling query: every key of a small table, a block sample of a big one (reltuples is
 * the planner's estimate, known without a scan).
 */
export function sampleSql(relation: string, column: string, estimatedRows: number): string {
  const sample = estimatedRows > 2 * POOL_SAMPLE ? ` TABLESAMPLE SYSTEM (${Math.min(100, (150 * POOL_SAMPLE) / estimatedRows).toFixed(4)})` : '';
  return `SELECT ${column}::text AS k FROM ${relation}${sample} WHERE ${column} IS NOT NULL LIMIT ${POOL_SAMPLE}`;
}

/** The run's pools, found by a pick's table as the script wrote it. */
export class KeyPools {
  private readonly byName = new Map<string, KeyPool>();
  private readonly byRelation = new Map<string, KeyPool>();

  /** `written` is the table as a script names it, the pool's own table the catalog's name */
  register(written: string, pool: KeyPool): void {
    this.byName.set(`${written}\u0000${pool.column}`, pool);
    this.byRelation.set(`${pool.table}\u0000${pool.column}`, pool);
  }

  get(written: string, column: string): KeyPool {
    const pool = this.byName.get(`${written}\u0000${column}`);
    if (!pool) throw new Error(`no key pool for pick(${written}.${column}); the scripts were not checked against the database`);
    return pool;
  }

  /** The pool a ledgered write to `relation` (the catalog's name) keyed by `column` keeps up to date, if any. */
  ofRelation(relation: string, column: string): KeyPool | undefined {
    return this.byRelation.get(`${relation}\u0000${column}`);
  }

  get all(): KeyPool[] {
    return [...new Set(this.byRelation.values())];
  }

  /** Re-samples every pool through `runner`; a failed sample (an outage) leaves a pool as it was. */
  async refreshAll(runner: StatementRunner, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    for (const pool of this.all) {
      if (signal?.aborted) return;
      await pool.refresh(async () => {
        const result = await runner.query({ text: pool.sampleSql }, timeoutMs, signal);
        return result.outcome === 'ok' ? result.rows.map((r) => String(r.k)) : undefined;
      });
    }
  }
}
