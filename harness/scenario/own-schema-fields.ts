// The scenario fields of "your own schema, data and workload": seed.sql / seed.dump and the
// weighted scripts of workload.writes / workload.reads, as zod schemas, plus the rules that
// relate them (a variable used but not declared, a file seed with the shop's workload...).
// Nothing here reads a file: whether the seed files exist is seed/seed-files.ts's business.

import { z } from 'zod';
import type { Problem } from '../errors.js';
import type { ScriptConfig, SeedConfig, WorkloadConfig } from './scenario.js';
import { GENERATOR_FORMS, parseGenerator } from '../workload/generators.js';
import { scanSql } from '../workload/script-sql.js';

export const VAR_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const DEFAULT_RESTORE_JOBS = 2;
export const MAX_RESTORE_JOBS = 64;
/** the shop's fields: they mean nothing to a seed from your own file */
export const SHOP_SEED_FIELDS = ['users', 'products', 'orders', 'itemsPerOrder'] as const;

function quote(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 60 ? text.slice(0, 57) + '...' : text;
}

const nonEmpty = (what: string, example: string) =>
  z
    .string({ error: (iss) => (iss.input === undefined ? `required: ${what}, e.g. ${example}` : `expected ${what} (a string), got ${quote(iss.input)}`) })
    .refine((s) => s.trim() !== '', { error: `must not be empty: give ${what}, e.g. ${example}` });

const fileField = (what: string, example: string) => nonEmpty(`the path of ${what}, relative to the scenario file`, example).optional();

export const seedFileFields = {
  sql: fileField('a SQL file run with psql', '"./schema-and-data.sql"'),
  variables: z
    .record(
      z.string().regex(VAR_NAME_RE, { error: (iss) => `${quote(iss.input)} is not a psql variable name (letters, digits and "_")` }),
      z
        .union([z.string(), z.number(), z.boolean()], { error: (iss) => `expected a value (string, number or boolean), got ${quote(iss.input)}` })
        .transform((v) => String(v)),
      { error: (iss) => `expected a mapping of psql variable -> value, e.g. { scale: 10 }, got ${quote(iss.input)}` },
    )
    .optional(),
  dump: fileField('a pg_dump archive (custom, directory or tar format)', '"./prod.dump"'),
  jobs: z
    .number({ error: (iss) => `expected pg_restore's parallel jobs, an integer from 1 to ${MAX_RESTORE_JOBS}, got ${quote(iss.input)}` })
    .int({ error: `must be a whole number of jobs from 1 to ${MAX_RESTORE_JOBS}` })
    .min(1, { error: `must be at least 1 (1 restores serially)` })
    .max(MAX_RESTORE_JOBS, { error: `must be at most ${MAX_RESTORE_JOBS}` })
    .optional(),
};

const nameField = z
  .string({ error: (iss) => `expected a label (a string), got ${quote(iss.input)}` })
  .regex(/^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,63}$/, {
    error: (iss) => `${quote(iss.input)} is not a usable label: 1-64 characters, letters, digits, space, "_", ".", ":", "-"`,
  });

const generatorField = z
  .string({ error: (iss) => `expected a generator such as "random(1, 1000)" (a string), got ${quote(iss.input)}; generators: ${GENERATOR_FORMS}` })
  .superRefine((text, ctx) => {
    const parsed = parseGenerator(text);
    if ('error' in parsed) ctx.addIssue({ code: 'custom', input: text, message: parsed.error });
  });

const varsField = z
  .record(
    z.string().regex(VAR_NAME_RE, {
      error: (iss) => `${quote(iss.input)} is not a variable name: letters, digits and "_", starting with a letter or "_" (used as :name)`,
    }),
    generatorField,
    { error: (iss) => `expected a mapping of variable -> generator, e.g. { author: "random(1, 1000)" }, got ${quote(iss.input)}` },
  )
  .default({});

const columnName = nonEmpty('a column name', 'id');

export const scriptLedgerSchema = z.strictObject(
  {
    table: nonEmpty('the table the statement writes', 'notes'),
    key: z
      .union([columnName, z.array(columnName).min(1, { error: 'needs at least one column' })], {
        error: (iss) => `expected the key column the statement RETURNs (id), or a list of them for a composite key ([note_id, tag]), got ${quote(iss.input)}`,
      })
      .transform((k) => (Array.isArray(k) ? k : [k])),
    op: z.enum(['insert', 'update', 'delete'], {
      error: (iss) => `${quote(iss.input)} is not a ledger op; allowed: insert, update, delete`,
    }),
  },
  { error: (iss) => (iss.code === 'invalid_type' ? `expected { table, key, op } (or false: not checked by the ledger), got ${quote(iss.input)}` : undefined) },
);

/**
 * `false`, or the ledger mapping validated field by field: a union would swallow the inner
 * problem ("upsert" is not a ledger op) into "expected { table, key, op }" for the whole value.
 */
const ledgerField = z.unknown().transform((value, ctx) => {
  if (value === false) return false as const;
  const parsed = scriptLedgerSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path as (string | number)[] });
  return z.NEVER;
});

export const scriptSchema = z.strictObject(
  {
    name: nameField.optional(),
    weight: z
      .number({ error: (iss) => `expected a relative weight, a number from 0 to 1000000, got ${quote(iss.input)}` })
      .min(0, { error: 'must be at least 0' })
      .max(1_000_000, { error: 'must be at most 1000000' })
      .default(1),
    sql: nonEmpty('one SQL statement', '"UPDATE notes SET body = :body WHERE id = :id RETURNING id"'),
    vars: varsField,
    ledger: ledgerField.optional(),
  },
  { error: (iss) => (iss.code === 'invalid_type' ? `expected a script { weight, sql, vars, ledger }, got ${quote(iss.input)}` : undefined) },
);

export const scriptsSchema = z
  .array(scriptSchema, { error: (iss) => `expected a list of scripts ({ weight, sql, vars, ledger } each), got ${quote(iss.input)}` })
  .min(1, { error: 'needs at least one script; remove scripts to use the built-in statements' })
  .optional();

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type Stream = 'writes' | 'reads';

/** Whether the seed is the user's own (a file), judged on what the file says. */
export function seedSource(seed: Pick<SeedConfig, 'sql' | 'dump'>): 'shop' | 'sql' | 'dump' {
  return seed.sql !== undefined ? 'sql' : seed.dump !== undefined ? 'dump' : 'shop';
}

/** The problems of the own-schema fields that involve more than one field. `parsed` holds the sections that are valid. */
export function ownSchemaProblems(
  raw: Record<string, unknown>,
  parsed: { seed?: SeedConfig; workload?: WorkloadConfig },
): Problem[] {
  const problems: Problem[] = [];
  const rawSeed = isMapping(raw.seed) ? raw.seed : {};
  const hasSql = rawSeed.sql !== undefined;
  const hasDump = rawSeed.dump !== undefined;
  const fileSeed = hasSql || hasDump;
  if (hasSql && hasDump) {
    problems.push({
      path: 'seed',
      message: 'has both sql and dump; give one: sql for a SQL file (run with psql), dump for a pg_dump archive (restored with pg_restore)',
    });
  }
  if (fileSeed) {
    const from = hasSql ? 'seed.sql' : 'seed.dump';
    for (const field of SHOP_SEED_FIELDS) {
      if (rawSeed[field] !== undefined) {
        problems.push({ path: `seed.${field}`, message: `applies to the built-in shop schema only, and ${from} loads your own; remove it` });
      }
    }
  }
  if (rawSeed.variables !== undefined && !hasSql) {
    problems.push({ path: 'seed.variables', message: 'are psql variables for seed.sql, which is not given; remove them or add sql: ./your-file.sql' });
  }
  if (rawSeed.jobs !== undefined && !hasDump) {
    problems.push({ path: 'seed.jobs', message: "is pg_restore's parallelism for seed.dump, which is not given; remove it" });
  }

  const rawWorkload = isMapping(raw.workload) ? raw.workload : {};
  for (const stream of ['writes', 'reads'] as const) {
    const rawStream = isMapping(rawWorkload[stream]) ? rawWorkload[stream] : {};
    const config = parsed.workload?.[stream];
    const scripts = config?.scripts;
    if (stream === 'writes' && rawStream.scripts !== undefined && rawStream.mix !== undefined) {
      problems.push({
        path: 'workload.writes.mix',
        message: 'is the built-in statements\' mix, and scripts replaces them; remove mix (each script has its own weight)',
      });
    }
    if (scripts) problems.push(...scriptProblems(stream, scripts, rawStream.scripts));
    if (fileSeed && !scripts && rawStream.scripts === undefined && config && config.rate > 0) {
      const builtIn = stream === 'writes' ? 'write orders, products and users' : 'read orders';
      problems.push({
        path: `workload.${stream}.scripts`,
        message:
          `required with ${hasSql ? 'seed.sql' : 'seed.dump'}: the built-in ${stream} ${builtIn} of the shop schema, which your seed does not create; ` +
          `add scripts with your own statements (\`pgdrill init --from <dump>\` writes a starting set) or set workload.${stream}.rate: 0`,
      });
    }
  }
  return problems;
}

function scriptProblems(stream: Stream, scripts: ScriptConfig[] | Omit<ScriptConfig, 'name'>[], rawScripts: unknown): Problem[] {
  const problems: Problem[] = [];
  const raws = Array.isArray(rawScripts) ? rawScripts : [];
  const base = `workload.${stream}.scripts`;
  const keyOfTable = new Map<string, { key: string[]; at: number }>();
  const names = new Map<string, number>();
  if (scripts.every((s) => s.weight === 0)) {
    problems.push({ path: base, message: 'every weight is 0; give at least one script a weight above 0' });
  }
  scripts.forEach((script, i) => {
    const at = `${base}[${i}]`;
    const raw = isMapping(raws[i]) ? raws[i] : {};
    const name = (script as Partial<ScriptConfig>).name;
    if (name !== undefined) {
      const first = names.get(name);
      if (first !== undefined) problems.push({ path: `${at}.name`, message: `${quote(name)} is already the name of ${base}[${first}]; give each script its own` });
      else names.set(name, i);
    }
    const scan = scanSql(script.sql);
    for (const p of scan.problems) problems.push({ path: `${at}.sql`, message: p });
    const declared = Object.keys(script.vars);
    const used = [...new Set(scan.uses.map((u) => u.name))];
    for (const v of used.filter((u) => !declared.includes(u))) {
      problems.push({
        path: `${at}.sql`,
        message: `uses :${v}, which vars does not declare; add it, e.g. vars: { ${v}: "random(1, 1000)" } (generators: ${GENERATOR_FORMS})`,
      });
    }
    for (const v of declared.filter((d) => !used.includes(d))) {
      problems.push({ path: `${at}.vars.${v}`, message: `is declared but the statement never uses :${v}; remove it, or use :${v} in sql` });
    }
    if (stream === 'reads') {
      if (raw.ledger !== undefined) {
        problems.push({ path: `${at}.ledger`, message: 'reads write nothing, so there is no ledger for them; remove it (writes go in workload.writes.scripts)' });
      }
      return;
    }
    if (raw.ledger === undefined && script.ledger === undefined) {
      problems.push({
        path: `${at}.ledger`,
        message:
          'required: what the statement writes, for the exact ledger, e.g. ledger: { table: notes, key: id, op: insert } ' +
          '(the key is read from its RETURNING); or ledger: false to leave its writes unchecked',
      });
      return;
    }
    const ledger = script.ledger;
    if (!ledger) return;
    if (!scan.hasReturning) {
      problems.push({
        path: `${at}.sql`,
        message: `needs RETURNING ${ledger.key.join(', ')}: the ledger reads the key of the row written from it (or set ledger: false)`,
      });
    }
    const dup = ledger.key.find((k, j) => ledger.key.indexOf(k) !== j);
    if (dup !== undefined) problems.push({ path: `${at}.ledger.key`, message: `names ${quote(dup)} twice; list each key column once` });
    const known = keyOfTable.get(ledger.table);
    if (known && known.key.join(',') !== ledger.key.join(',')) {
      problems.push({
        path: `${at}.ledger.key`,
        message: `${quote(ledger.key.join(', '))} differs from ${base}[${known.at}].ledger.key (${quote(known.key.join(', '))}) for the same table ${quote(ledger.table)}; a table has one key for the ledger`,
      });
    } else if (!known) keyOfTable.set(ledger.table, { key: ledger.key, at: i });
  });
  return problems;
}

/** Fills what the own-schema fields leave implicit: script names, the shop's counts (0) under a file seed, pg_restore's jobs. */
export function resolveOwnSchema<S extends SeedConfig, W extends WorkloadConfig>(seed: S, workload: W): { seed: S; workload: W } {
  let outSeed = seed;
  if (seedSource(seed) !== 'shop') {
    outSeed = { ...seed, users: 0, products: 0, orders: 0 };
    if (seed.dump !== undefined) outSeed.jobs ??= DEFAULT_RESTORE_JOBS;
  }
  const named = (stream: Stream, scripts: ScriptConfig[] | undefined) =>
    scripts?.map((s, i): ScriptConfig => ({ ...s, name: s.name ?? `${stream}[${i}]` }));
  const writes = workload.writes.scripts ? { ...workload.writes, scripts: named('writes', workload.writes.scripts) } : workload.writes;
  const reads = workload.reads.scripts ? { ...workload.reads, scripts: named('reads', workload.reads.scripts) } : workload.reads;
  return { seed: outSeed, workload: { ...workload, writes, reads } };
}
