// The executor of your own statements: per operation it picks a script by weight, draws its
// variables, sends the prepared statement (a write with its ledger in the same statement) and
// turns the answer into an OpResult with a ledger entry whose key came from RETURNING. Kept lean
// for the hot path: per op, one values array, one request object and the drawn values.

import { randomUUID } from 'node:crypto';
import { EnvironmentError } from '../errors.js';
import type { OpError, OpKind } from '../record/records.js';
import type { ScriptLoad } from '../results/results.js';
import { drawFor, type Draw } from './generators.js';
import type { KeyPool, KeyPools } from './key-pool.js';
import type { OpExecutor, OpResult, ScheduledOp } from './open-loop.js';
import type { CompiledScript } from './script-plan.js';
import { newHealth, recordAnswer, type StatementHealth } from './statement-health.js';
import type { StatementRunner } from './write-ops.js';

/** A statement that fails on the server before it ever succeeded: the run stops (exit 3). */
export class BrokenStatementError extends EnvironmentError {
  constructor(script: CompiledScript, error: OpError, answers: number) {
    const first = answers === 1 ? 'on its first execution' : `on each of its first ${answers} executions`;
    super(
      `${script.path} (${JSON.stringify(script.label)}) failed on the server ${first}, before it ever succeeded: ` +
        `${error.sqlstate ?? ''} ${error.message}`.trim() +
        `. The statement is broken, not the server, so the run stopped instead of counting thousands of failed operations. ` +
        `Statement: ${oneLine(script.sql)}. Fix it in the scenario and run again.`,
      'PGDRILL_STATEMENT_BROKEN',
    );
  }
}

function oneLine(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 197)}...` : flat;
}

interface Runtime {
  script: CompiledScript;
  draws: Draw[];
  /** the pool a ledgered insert adds its key to, a ledgered delete takes it from */
  tracked?: KeyPool;
  health: StatementHealth;
  stats: ScriptLoad;
}

export interface ScriptOpsOptions {
  /** the scripts of one stream, each with weight > 0 or not (0 never runs) */
  scripts: CompiledScript[];
  pools: KeyPools;
  /** the catalog's name of each ledger table, as the check found it (written -> relation) */
  relations: ReadonlyMap<string, string>;
  /** one statement runner per connection slot */
  runners: StatementRunner[];
  random?: () => number;
  /** told once when a statement turns out broken; the run stops */
  onBroken?: (error: BrokenStatementError) => void;
}

/** The executor and planner of one stream's scripts. */
export class ScriptOps {
  private readonly runtimes: Runtime[];
  /** per kind: the scripts of that kind and their cumulative weights, for the executor's draw */
  private readonly byKind = new Map<OpKind, { runtimes: Runtime[]; cumulative: number[]; total: number }>();
  /** every script's kind with the cumulative weights, for the planner */
  private readonly kinds: OpKind[] = [];
  private readonly cumulative: number[] = [];
  private readonly total: number;
  private readonly random: () => number;
  private brokenReported = false;

  constructor(private readonly options: ScriptOpsOptions) {
    this.random = options.random ?? Math.random;
    const keys = (table: string, column: string) => options.pools.get(table, column);
    this.runtimes = options.scripts.map((script) => {
      const relation = script.ledger ? options.relations.get(script.ledger.table) : undefined;
      const tracked = script.ledger && relation && script.ledger.key.length === 1 && script.ledger.op !== 'update'
        ? options.pools.ofRelation(relation, script.ledger.key[0])
        : undefined;
      return {
        script,
        draws: script.params.map((p) => drawFor(p.spec, keys, this.random)),
        tracked,
        health: newHealth(),
        stats: {
          stream: script.stream,
          index: script.index,
          name: script.label,
          sql: script.sql,
          weight: script.weight,
          ledger: script.ledger ? `${script.ledger.table} (${script.ledger.key.join(', ')}), ${script.ledger.op}` : null,
          ok: 0,
          failed: 0,
          indeterminate: 0,
          noKey: 0,
          errors: {},
          firstError: null,
        },
      };
    });
    let total = 0;
    for (const rt of this.runtimes) {
      if (!(rt.script.weight > 0)) continue;
      total += rt.script.weight;
      this.kinds.push(rt.script.kind);
      this.cumulative.push(total);
      let group = this.byKind.get(rt.script.kind);
      if (!group) this.byKind.set(rt.script.kind, (group = { runtimes: [], cumulative: [], total: 0 }));
      group.total += rt.script.weight;
      group.runtimes.push(rt);
      group.cumulative.push(group.total);
    }
    if (!(total > 0)) throw new Error('every script has weight 0; give one a weight above 0');
    this.total = total;
  }

  /** The kind of the next intended op: a script drawn by weight (the executor draws within the kind again, which keeps the weights). */
  readonly plan = (): OpKind => this.kinds[pickIndex(this.cumulative, this.random() * this.total)];

  readonly execute: OpExecutor = async (op: ScheduledOp): Promise<OpResult> => {
    const group = this.byKind.get(op.kind) ?? this.byKind.values().next().value!;
    const rt = group.runtimes.length === 1 ? group.runtimes[0] : group.runtimes[pickIndex(group.cumulative, this.random() * group.total)];
    const script = rt.script;
    const n = rt.draws.length;
    const values: unknown[] = new Array(script.requestParam ?? n);
    for (let i = 0; i < n; i++) {
      const v = rt.draws[i]();
      if (v === undefined) return this.noKey(rt, i);
      values[i] = v;
    }
    let requestId: string | undefined;
    if (script.requestParam !== undefined) values[n] = requestId = randomUUID();

    const result = await this.options.runners[op.slot].query({ name: script.statementName, text: script.text, values }, op.timeoutMs, op.signal);
    const ledger = script.ledger;
    if (result.outcome === 'ok') {
      rt.stats.ok++;
      recordAnswer(rt.health, true);
      if (!ledger) return { outcome: 'ok', kind: script.kind };
      const row = result.rows[0];
      // the statement wrote no row (an update whose row is gone): nothing for the ledger
      if (!row) return { outcome: 'ok', kind: script.kind };
      const key = String(row.key);
      if (rt.tracked) {
        if (ledger.op === 'insert') rt.tracked.add(key);
        else rt.tracked.remove(key);
      }
      return { outcome: 'ok', kind: script.kind, ledger: { table: ledger.table, key, op: ledger.op, version: 0, requestId: requestId! } };
    }
    rt.stats[result.outcome]++;
    this.countError(rt, result.error);
    if (recordAnswer(rt.health, false, result.error.sqlstate)) this.broken(rt, result.error);
    // the key is unknown: a committed one is found through the ledger's row_key
    return {
      outcome: result.outcome,
      kind: script.kind,
      error: result.error,
      ...(ledger ? { ledger: { table: ledger.table, key: '', op: ledger.op, version: 0, requestId: requestId! } } : {}),
    };
  };

  /** How each script went so far. */
  stats(): ScriptLoad[] {
    return this.runtimes.map((rt) => ({ ...rt.stats, errors: { ...rt.stats.errors } }));
  }

  private noKey(rt: Runtime, param: number): OpResult {
    const p = rt.script.params[param];
    const error: OpError = {
      class: 'no-key',
      message: `${rt.script.path}: pick(${p.spec.kind === 'pick' ? `${p.spec.table}.${p.spec.column}` : '?'}) for :${p.name} found no key left; not sent`,
    };
    rt.stats.failed++;
    rt.stats.noKey++;
    this.countError(rt, error);
    return { outcome: 'failed', kind: rt.script.kind, error };
  }

  private countError(rt: Runtime, error: OpError): void {
    const key = error.sqlstate ? `${error.sqlstate} ${error.class}` : error.class;
    rt.stats.errors[key] = (rt.stats.errors[key] ?? 0) + 1;
    rt.stats.firstError ??= `${error.sqlstate ? `${error.sqlstate}: ` : ''}${error.message}`;
  }

  private broken(rt: Runtime, error: OpError): void {
    if (this.brokenReported) return;
    this.brokenReported = true;
    this.options.onBroken?.(new BrokenStatementError(rt.script, error, rt.health.strikes));
  }
}

/** The first index whose cumulative weight is above `r` (binary search: scripts may be many). */
function pickIndex(cumulative: readonly number[], r: number): number {
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] > r) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
