// The scripts held against the seeded database, after the seed and before the load: every
// ledger table and key column exists, every pick(table.column) too, and every statement is
// prepared once (PREPARE parses and plans it without running it), so a misspelt column is
// found before a single operation is counted. Also samples the keys pick() draws from.
// What only the seeded database can tell is the environment's verdict: exit 3, nothing loaded.

import type pg from 'pg';
import { EnvironmentError, errorMessage, type Problem } from '../errors.js';
import type { Scenario } from '../scenario/scenario.js';
import { closest } from '../scenario/scenario-schema.js';
import { listUserTables } from '../checks/integrity.js';
import { KeyPool, KeyPools, POOL_SAMPLE, sampleSql } from './key-pool.js';
import { compileScripts, picksOf, type CompiledScript } from './script-plan.js';

export class ScriptCheckError extends EnvironmentError {
  constructor(readonly problems: Problem[]) {
    super(
      `the workload's scripts do not fit the seeded database (checked after the seed, before the load; nothing was loaded) ` +
        `(${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p.path}: ${p.message}`).join('\n'),
      'PGDRILL_SCRIPT_MISMATCH',
    );
  }
}

/** The scripts ready to run: compiled, checked, with their key pools sampled. */
export interface CheckedScripts {
  scripts: CompiledScript[];
  pools: KeyPools;
  /** ledger table as written -> the relation as the catalog names it */
  relations: Map<string, string>;
}

interface Relation {
  oid: string;
  /** regclass text, as listUserTables names tables */
  name: string;
  /** schema-qualified and quoted, for SQL */
  sql: string;
  columns: string[];
  /** column -> format_type() */
  types: Record<string, string>;
  estimatedRows: number;
}

async function findRelation(client: pg.ClientBase, written: string): Promise<Relation | undefined> {
  let rows: { oid: string | null }[];
  try {
    ({ rows } = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::oid::text AS oid', [written]));
  } catch {
    return undefined; // not even a valid name ("a b c")
  }
  const oid = rows[0]?.oid;
  if (!oid) return undefined;
  const rel = await client.query<{ name: string; sql: string; columns: string[]; types: string[]; estimated: string }>(
    `SELECT c.oid::regclass::text AS name, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS sql,
            coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}') AS columns,
            coalesce((SELECT array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum) FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}') AS types,
            greatest(c.reltuples, 0)::bigint::text AS estimated
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid`,
    [oid],
  );
  const r = rel.rows[0];
  const types = Object.fromEntries(r.columns.map((c, i) => [c, r.types[i]]));
  return { oid, name: r.name, sql: r.sql, columns: r.columns, types, estimatedRows: Number(r.estimated) };
}

function missingTable(written: string, tables: string[]): string {
  const hint = closest(written, tables);
  const listed = tables.length > 12 ? `${tables.slice(0, 12).join(', ')}, ... (${tables.length} in all)` : tables.join(', ') || '(none)';
  return (
    `table ${JSON.stringify(written)} does not exist after the seed (user tables: ${listed})` +
    `${hint ? `; did you mean ${JSON.stringify(hint)}?` : ''}; name a table your seed creates`
  );
}

function missingColumn(column: string, rel: Relation, what: string): string {
  const hint = closest(column, rel.columns);
  return `${what} ${JSON.stringify(column)} is not a column of ${rel.name} (columns: ${rel.columns.join(', ')})${hint ? `; did you mean ${JSON.stringify(hint)}?` : ''}`;
}

/** A few characters of the sent statement around a server error's position (1-based), to show where. */
function near(script: CompiledScript, position: number | undefined): string {
  if (!position || position < 1) return '';
  const around = script.text.slice(Math.max(0, position - 21), position + 20).replace(/\s+/g, ' ').trim();
  return around ? ` (near "${around}")` : '';
}

/**
 * Checks every script against the database `client` is connected to and samples the keys its
 * picks draw from. Throws ScriptCheckError listing every problem. Undefined when the workload
 * runs the built-in statements.
 */
export async function checkScripts(client: pg.ClientBase, scenario: Pick<Scenario, 'workload'>): Promise<CheckedScripts | undefined> {
  const scripts = compileScripts(scenario.workload);
  if (scripts.length === 0) return undefined;
  const problems: Problem[] = [];
  const tables = (await listUserTables(client)).map((t) => t.table);
  const found = new Map<string, Relation | undefined>();
  const relation = async (written: string) => {
    if (!found.has(written)) found.set(written, await findRelation(client, written));
    return found.get(written);
  };
  const relations = new Map<string, string>();
  const unfit = new Set<CompiledScript>();

  for (const script of scripts) {
    if (!script.ledger) continue;
    const rel = await relation(script.ledger.table);
    if (!rel) {
      problems.push({ path: `${script.path}.ledger.table`, message: missingTable(script.ledger.table, tables) });
      unfit.add(script);
      continue;
    }
    relations.set(script.ledger.table, rel.name);
    for (const key of script.ledger.key) {
      if (!rel.columns.includes(key)) {
        problems.push({ path: `${script.path}.ledger.key`, message: missingColumn(key, rel, 'the ledger key') });
        unfit.add(script);
      }
    }
  }

  const pools = new KeyPools();
  for (const pick of picksOf(scripts)) {
    const rel = await relation(pick.table);
    if (!rel) {
      problems.push({ path: pick.usedBy, message: `pick(${pick.table}.${pick.column}): ${missingTable(pick.table, tables)}` });
      continue;
    }
    if (!rel.columns.includes(pick.column)) {
      problems.push({ path: pick.usedBy, message: `pick(${pick.table}.${pick.column}): ${missingColumn(pick.column, rel, 'the column')}` });
      continue;
    }
    const existing = pools.ofRelation(rel.name, pick.column);
    if (existing) {
      pools.register(pick.table, existing);
      continue;
    }
    const table = { name: rel.name, sql: rel.sql, column: pick.column, type: rel.types[pick.column], estimatedRows: rel.estimatedRows };
    const { rows } = await client.query<{ k: string }>(sampleSql(table, POOL_SAMPLE));
    pools.register(pick.table, new KeyPool(table, rows.map((r) => r.k)));
  }
  for (const script of scripts) {
    if (script.params.some((p) => p.spec.kind === 'pick' && problems.some((x) => x.path === `${script.path}.vars.${p.name}`))) unfit.add(script);
  }

  // PREPARE parses, analyses and plans without running: undefined columns, syntax errors, a
  // RETURNING without the ledger's key and parameters of no inferable type all show here
  for (const script of scripts) {
    if (unfit.has(script)) continue;
    const name = `pgdrill_check_${script.statementName}`;
    try {
      await client.query(`PREPARE ${name} AS ${script.text}`);
      await client.query(`DEALLOCATE ${name}`);
    } catch (err) {
      const e = err as { code?: string; position?: string; hint?: string };
      const keyMissing = e.code === '42703' && script.ledger && script.ledger.key.some((k) => errorMessage(err).includes(`pgdrill_w.${k}`));
      const message = keyMissing
        ? `its RETURNING does not return the ledger key ${script.ledger!.key.join(', ')}; add it (RETURNING ${script.ledger!.key.join(', ')})`
        : `the server refuses the statement: ${e.code ? `${e.code} ` : ''}${errorMessage(err)}${near(script, e.position ? Number(e.position) - `PREPARE ${name} AS `.length : undefined)}` +
          `${e.hint ? ` (hint: ${e.hint})` : ''}${e.code === '42P18' ? '; give the variable a type where it is used, e.g. :name::int' : ''}`;
      problems.push({ path: `${script.path}.sql`, message });
    }
  }
  if (problems.length) throw new ScriptCheckError(problems);
  return { scripts, pools, relations };
}
