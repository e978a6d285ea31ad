// `pgdrill init`'s output: a starting scenario written from what a database holds: its tables
// and sizes as comments, the seed (your dump), a write script per table (an INSERT where the
// key fills itself, an UPDATE of an existing row otherwise, with generators picked by column
// type and pick() for foreign keys), reads of the biggest tables, and a dump-restore cutover.
// Pure: the text is made from a DatabaseInfo, for the user to edit.

import { DEFAULT_MAJOR, SUPPORTED_MAJORS } from '../scenario/scenario.js';
import { formatBytes } from '../util/units.js';
import type { ColumnInfo, DatabaseInfo, TableInfo } from './introspect.js';

export interface ScaffoldOptions {
  name: string;
  /** what the scenario seeds from, relative to the scenario file */
  seed: { dump: string } | { sql: string };
  /** where the database came from, for the header ("prod.dump", "postgres://...@host/db") */
  source: string;
}

interface Value {
  /** the SQL for the value: `:name` or an expression */
  sql: string;
  vars: [string, string][];
  /** a note for the user, as a YAML comment */
  note?: string;
}

interface Script {
  table: string;
  name: string;
  sql: string;
  vars: [string, string][];
  ledger?: { key: string[]; op: 'insert' | 'update' };
  notes: string[];
}

/** A column or table name as SQL needs it: quoted unless plain lower case. */
function ident(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

function varName(column: string, taken: Set<string>): string {
  let base = column.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '') || 'v';
  if (/^[0-9]/.test(base)) base = `v_${base}`;
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

const NUMERIC = new Set(['int2', 'int4', 'int8', 'numeric', 'float4', 'float8']);
const TEXT = new Set(['text', 'varchar', 'bpchar', 'citext', 'name']);
const MOMENT = new Set(['timestamp', 'timestamptz', 'date']);

/** A generator for a column's type, or undefined when none fits it. */
function generatorFor(col: ColumnInfo): string | undefined {
  if (NUMERIC.has(col.baseType)) {
    if (col.baseType === 'int2') return col.unique ? 'random(1, 32000)' : 'random(1, 1000)';
    return col.unique ? 'random(1, 2000000000)' : 'random(1, 1000)';
  }
  if (TEXT.has(col.baseType)) {
    const length = col.baseType === 'bpchar' && col.maxLength ? col.maxLength : Math.min(col.maxLength ?? 16, 16);
    return `text(${Math.max(1, length)})`;
  }
  if (MOMENT.has(col.baseType)) return 'now()';
  if (col.baseType === 'uuid') return 'uuid()';
  if (col.baseType === 'bool') return 'random(0, 1)';
  return undefined;
}

/** The value an INSERT gives a column it must fill. */
function valueFor(table: TableInfo, col: ColumnInfo, taken: Set<string>): Value {
  if (col.references) {
    const v = varName(col.name, taken);
    return { sql: `:${v}`, vars: [[v, `pick(${col.references.table}.${ident(col.references.column)})`]] };
  }
  if (col.baseType === 'json' || col.baseType === 'jsonb') return { sql: `'{}'`, vars: [], note: `${col.name}: an empty JSON object; put a realistic one here` };
  const generator = col.checked ? undefined : generatorFor(col);
  if (generator) {
    const v = varName(col.name, taken);
    return { sql: `:${v}`, vars: [[v, generator]] };
  }
  // a value the table already holds satisfies its CHECKs and type, whatever they are
  return {
    sql: `(SELECT ${ident(col.name)} FROM ${table.name} WHERE ${ident(col.name)} IS NOT NULL LIMIT 1)`,
    vars: [],
    note: `${col.name} (${col.type}${col.checked ? ', under a CHECK' : ''}): copies a value the table holds; give it one of yours`,
  };
}

function writeScript(table: TableInfo): Script | undefined {
  if (table.key.length === 0) return undefined;
  const byName = new Map(table.columns.map((c) => [c.name, c]));
  const keyCols = table.key.map((k) => byName.get(k)!).filter(Boolean);
  const returning = table.key.map(ident).join(', ');
  const taken = new Set<string>();
  const notes: string[] = [];
  const selfFilling = keyCols.length === 1 && (keyCols[0].hasDefault || keyCols[0].generated);
  const others = table.columns.filter((c) => !table.key.includes(c.name) && !c.generated);

  if (selfFilling || others.length === 0) {
    // an INSERT: the columns it must fill (NOT NULL, no default); a key without default too
    const fill = table.columns.filter((c) => !c.generated && c.notNull && !c.hasDefault);
    const values = fill.map((c) => valueFor(table, c, taken));
    for (const v of values) if (v.note) notes.push(v.note);
    const conflict = selfFilling ? '' : ' ON CONFLICT DO NOTHING';
    const sql = fill.length
      ? `INSERT INTO ${table.name} (${fill.map((c) => ident(c.name)).join(', ')}) VALUES (${values.map((v) => v.sql).join(', ')})${conflict} RETURNING ${returning}`
      : `INSERT INTO ${table.name} DEFAULT VALUES${conflict} RETURNING ${returning}`;
    return { table: table.name, name: `insert-${plainName(table.name)}`, sql, vars: values.flatMap((v) => v.vars), ledger: { key: table.key, op: 'insert' }, notes };
  }

  // an UPDATE of an existing row: a column with a generator of its type, or a column set to
  // itself (a real write of a new row version, valid for any type)
  const target =
    others.find((c) => !c.references && !c.unique && !c.checked && generatorFor(c) !== undefined) ??
    others.find((c) => !c.unique) ??
    others[0];
  const vars: [string, string][] = [];
  let set: string;
  const generator = !target.references && !target.unique && !target.checked ? generatorFor(target) : undefined;
  if (generator) {
    const v = varName(target.name, taken);
    vars.push([v, generator]);
    set = `${ident(target.name)} = :${v}`;
  } else {
    set = `${ident(target.name)} = ${ident(target.name)}`;
    notes.push(`${target.name} is set to itself (a new row version); set it to a value of yours`);
  }
  let where: string;
  const first = varName(table.key[0], taken);
  vars.push([first, `pick(${table.name}.${ident(table.key[0])})`]);
  if (table.key.length === 1) where = `${ident(table.key[0])} = :${first}`;
  else {
    // one existing row of the composite key: the first column picked, the rest read with it
    where = `(${returning}) IN (SELECT ${returning} FROM ${table.name} WHERE ${ident(table.key[0])} = :${first} LIMIT 1)`;
  }
  return {
    table: table.name,
    name: `update-${plainName(table.name)}`,
    sql: `UPDATE ${table.name} SET ${set} WHERE ${where} RETURNING ${returning}`,
    vars,
    ledger: { key: table.key, op: 'update' },
    notes,
  };
}

function plainName(table: string): string {
  return table.replace(/"/g, '').replace(/[^A-Za-z0-9_.:-]+/g, '-').replace(/\./g, '-').slice(0, 50);
}

const q = (s: string) => JSON.stringify(s);

function varsYaml(vars: [string, string][]): string {
  return `{ ${vars.map(([k, v]) => `${k}: ${q(v)}`).join(', ')} }`;
}

function ledgerYaml(table: string, ledger: NonNullable<Script['ledger']>): string {
  const key = ledger.key.length === 1 ? q(ledger.key[0]) : `[${ledger.key.map(q).join(', ')}]`;
  return `{ table: ${q(table)}, key: ${key}, op: ${ledger.op} }`;
}

export function scaffoldScenario(info: DatabaseInfo, options: ScaffoldOptions): string {
  const tables = info.tables;
  const sourceMajor = (SUPPORTED_MAJORS as readonly number[]).includes(info.major) ? info.major : DEFAULT_MAJOR;
  const scripts = tables.map(writeScript);
  const keyless = tables.filter((t) => t.key.length === 0).map((t) => t.name);
  const noPrimaryKey = tables.filter((t) => !t.primaryKey).map((t) => t.name);
  const nameWidth = Math.min(40, Math.max(5, ...tables.map((t) => t.name.length)));
  const lines: string[] = [];
  lines.push(
    `# Written by pgdrill init from ${options.source}: a starting point, edit it.`,
    `# PostgreSQL ${info.version}, database ${formatBytes(info.bytes)}, ${tables.length} table${tables.length === 1 ? '' : 's'}:`,
    ...tables.map((t) => `#   ${t.name.padEnd(nameWidth)} ${String(t.rows.toLocaleString('en-US')).padStart(12)} rows ${formatBytes(t.bytes).padStart(9)}${t.key.length ? `  key (${t.key.join(', ')})` : '  NO KEY'}`),
    '#',
    '# Each table has a write script below; their weights, rates and values are guesses. The',
    '# ledger checks every write by the key its RETURNING gives. Check it with',
    `#   pgdrill validate <this file>   and run it with   pgdrill run <this file>`,
    '',
    `name: ${options.name}`,
    `description: ${q(`Rehearse the upgrade of ${options.source} (${tables.length} tables) from ${sourceMajor} to 17 by dump and restore.`)}`,
    'duration: 30s',
    '',
    'nodes:',
    `  blue: { version: ${sourceMajor} }        # the major your database runs now`,
    '  green: { version: 17 }       # the one you move to',
    '',
    'strategy:',
    '  kind: dump-restore           # or logical (publication/subscription: downtime does not grow with the data)',
    '  from: blue',
    '  to: green',
  );
  if (noPrimaryKey.length) {
    lines.push(`  # logical would refuse ${noPrimaryKey.length} table(s) without a primary key: ${noPrimaryKey.join(', ')}`);
  }
  lines.push('', 'seed:');
  if ('dump' in options.seed) lines.push(`  dump: ${q(options.seed.dump)}`);
  else lines.push(`  sql: ${q(options.seed.sql)}`);
  lines.push('', 'workload:', '  writes:', '    rate: 100', '    connections: 8', '    scripts:');
  let written = 0;
  tables.forEach((t, i) => {
    const s = scripts[i];
    if (!s) {
      lines.push(`      # ${t.name}: no primary key or unique NOT NULL key, so no write script (the ledger needs a key)`);
      return;
    }
    written++;
    lines.push(`      - name: ${q(s.name)}`, '        weight: 1');
    for (const note of s.notes) lines.push(`        # ${note}`);
    lines.push(`        sql: ${q(s.sql)}`);
    if (s.vars.length) lines.push(`        vars: ${varsYaml(s.vars)}`);
    lines.push(`        ledger: ${ledgerYaml(s.table, s.ledger!)}`);
  });
  if (written === 0) {
    lines.splice(lines.indexOf('    scripts:'), 1);
    lines.push('    # no table has a key to write through the ledger: add scripts of your own, or leave writes off');
    lines[lines.indexOf('    rate: 100')] = '    rate: 0';
  }
  const readable = [...tables].filter((t) => t.key.length === 1).sort((a, b) => b.rows - a.rows).slice(0, 2);
  if (readable.length) {
    lines.push('  reads:', '    rate: 50', '    connections: 4', '    scripts:');
    for (const t of readable) {
      const v = varName(t.key[0], new Set());
      lines.push(
        `      - name: ${q(`read-${plainName(t.name)}`)}`,
        `        sql: ${q(`SELECT * FROM ${t.name} WHERE ${ident(t.key[0])} = :${v}`)}`,
        `        vars: { ${v}: ${q(`pick(${t.name}.${ident(t.key[0])})`)} }`,
      );
    }
  }
  lines.push(
    '  probe: { interval: 20ms }',
    '',
    'timeline:',
    '  - at: 2s',
    '    cutover: { dryRun: true }   # a rehearsal copy while blue takes writes',
    '  - at: 15s',
    '    cutover: {}',
    '',
    'thresholds:',
    '  writeDowntime: "< 30s"',
    '  lostWrites: "== 0"',
    '  rowCountMismatches: "== 0"',
    '',
  );
  if (keyless.length) lines.splice(lines.indexOf('#'), 0, `#   (no key: ${keyless.join(', ')})`);
  return lines.join('\n');
}
