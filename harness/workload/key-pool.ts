// Existing keys for pick(table.column): sampled from the database after the seed, kept up to
// date by the scripts' own ledgered inserts and deletes, and refreshed in small steps while the
// run goes (rows also come and go through cascades, triggers and timeline steps): each step
// checks a slice of the pool against the table and adds a few sampled keys. Small, because the
// rows a step reads are parsed on the event loop every operation's timing shares.

import type { KeySource } from './generators.js';
import type { StatementRunner } from './write-ops.js';

/** How the pool's table is read: the relation and column as SQL, and the column's type. */
export interface KeyTable {
  /** the relation as the catalog names it ("notes", "app.notes"): what ledgered writes name */
  name: string;
  /** schema-qualified and quoted, for SQL */
  sql: string;
  column: string;
  /** format_type() of the column, for casting an array of keys (so its index is used) */
  type: string;
  /** the planner's row estimate when the pool was made */
  estimatedRows: number;
}

/** At most this many keys are sampled before the load: enough to spread it, quick to read. */
export const POOL_SAMPLE = 100_000;
/** Keys checked and keys added per refresh step. */
export const REFRESH_BATCH = 1_000;

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A query for up to `limit` keys: every key of a small table, a block sample of a big one
 * (reltuples is the planner's estimate, known without a scan).
 */
export function sampleSql(table: Pick<KeyTable, 'sql' | 'column' | 'estimatedRows'>, limit: number): string {
  const column = quoteIdent(table.column);
  const sample = table.estimatedRows > 2 * limit ? ` TABLESAMPLE SYSTEM (${Math.min(100, (150 * limit) / table.estimatedRows).toFixed(4)})` : '';
  return `SELECT ${column}::text AS k FROM ${table.sql}${sample} WHERE ${column} IS NOT NULL LIMIT ${limit}`;
}

/** Keys (as text) with O(1) add, remove and uniform pick. */
export class KeyPool implements KeySource {
  private readonly keys: string[] = [];
  private readonly index = new Map<string, number>();
  /** where the next refresh step starts checking */
  private cursor = 0;

  constructor(
    readonly table: KeyTable,
    initial: Iterable<string> = [],
  ) {
    for (const k of initial) this.add(k);
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
    if (this.index.has(key)) return;
    this.index.set(key, this.keys.length);
    this.keys.push(key);
  }

  remove(key: string): void {
    const at = this.index.get(key);
    if (at === undefined) return;
    const last = this.keys.pop()!;
    if (last !== key) {
      this.keys[at] = last;
      this.index.set(last, at);
    }
    this.index.delete(key);
  }

  /** The next slice of keys to check, going round the pool. */
  nextSlice(size: number): string[] {
    if (this.keys.length === 0) return [];
    if (this.cursor >= this.keys.length) this.cursor = 0;
    const slice = this.keys.slice(this.cursor, this.cursor + size);
    this.cursor += slice.length;
    return slice;
  }

  /**
   * One refresh step: the keys of `checked` the table no longer holds leave the pool, the
   * sampled ones join it. Either result may be missing (the query failed in an outage).
   */
  applyRefresh(checked: string[], stillThere: string[] | undefined, sampled: string[] | undefined): void {
    if (stillThere) {
      const present = new Set(stillThere);
      for (const k of checked) if (!present.has(k)) this.remove(k);
    }
    if (sampled) for (const k of sampled) this.add(k);
  }
}

/** The run's pools, found by a pick's table as the script wrote it. */
export class KeyPools {
  private readonly byName = new Map<string, KeyPool>();
  private readonly byRelation = new Map<string, KeyPool>();

  /** `written` is the table as a script names it, the pool's own table the catalog's name */
  register(written: string, pool: KeyPool): void {
    this.byName.set(`${written}\u0000${pool.table.column}`, pool);
    this.byRelation.set(`${pool.table.name}\u0000${pool.table.column}`, pool);
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

  /** One refresh step of every pool through `runner`; a query that fails (an outage) changes nothing. */
  async refreshAll(runner: StatementRunner, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    for (const pool of this.all) {
      if (signal?.aborted) return;
      const { table } = pool;
      const checked = pool.nextSlice(REFRESH_BATCH);
      const column = quoteIdent(table.column);
      const present = checked.length
        ? await runner.query(
            { text: `SELECT ${column}::text AS k FROM ${table.sql} WHERE ${column} = ANY($1::${table.type}[])`, values: [checked] },
            timeoutMs,
            signal,
          )
        : undefined;
      const sampled = await runner.query({ text: sampleSql(table, REFRESH_BATCH) }, timeoutMs, signal);
      pool.applyRefresh(
        checked,
        present?.outcome === 'ok' ? present.rows.map((r) => String(r.k)) : checked.length ? undefined : [],
        sampled.outcome === 'ok' ? sampled.rows.map((r) => String(r.k)) : undefined,
      );
    }
  }
}
