// A comparison file: one workload (`base`: a scenario without its nodes and strategy) run
// through several variants (`variants`: nodes + strategy each), optionally at several sizes
// or rates (`matrix`: overrides applied to the base). Every variant x matrix entry resolves to
// an ordinary scenario, validated like any other, so a comparison is fair by construction.
//
//   name: compare-strategies
//   base: { duration: 40s, seed: {...}, workload: {...}, timeline: [...], thresholds: {...} }
//   variants:
//     streaming: { nodes: {...}, strategy: { kind: streaming, ... } }
//     logical:   { nodes: {...}, strategy: { kind: logical, ... } }
//   matrix:
//     - { label: small, set: { seed.orders: 2000 } }
//     - { label: large, set: { seed.orders: 200000 } }

import { readFile } from 'node:fs/promises';
import nodePath from 'node:path';
import YAML from 'yaml';
import { InvalidInputError, errorMessage, type Problem } from '../errors.js';
import { applyOverrides } from './overrides.js';
import { validateScenario } from './load-scenario.js';
import { NODE_NAME_RE, SCENARIO_NAME_RE, show } from './scenario-schema.js';
import type { Scenario } from './scenario.js';
import { seedFileProblems } from '../seed/seed-files.js';

export interface ComparisonRun {
  /** "<variant>" or "<variant>@<matrix label>": names the run's folder and its row */
  label: string;
  variant: string;
  /** the matrix entry's label, when the file has a matrix */
  matrix?: string;
  scenario: Scenario;
}

export interface Comparison {
  name: string;
  description: string;
  runs: ComparisonRun[];
}

const TOP_KEYS = ['name', 'description', 'base', 'variants', 'matrix'];
/** what a variant may set; the rest of a scenario is the base's, shared by all (endpoint: the same cutover through each kind) */
const VARIANT_KEYS = ['nodes', 'strategy', 'description', 'thresholds', 'endpoint', 'patroni'];
const LABEL_RE = NODE_NAME_RE;

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A YAML document is a comparison when it has `variants` at the top level. */
export function isComparisonDocument(raw: unknown): boolean {
  return isMapping(raw) && 'variants' in raw;
}

/** Whether the file holds a comparison; an unreadable or broken file is not (the scenario loader says why). */
export async function isComparisonFile(file: string): Promise<boolean> {
  try {
    return isComparisonDocument(YAML.parse(await readFile(file, 'utf8'), { merge: true }));
  } catch {
    return false;
  }
}

/** Objects merge key by key (the variant wins); anything else is replaced. */
function deepMerge(base: unknown, over: unknown): unknown {
  if (!isMapping(base) || !isMapping(over)) return over === undefined ? structuredClone(base) : structuredClone(over);
  const out: Record<string, unknown> = structuredClone(base);
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? deepMerge(out[k], v) : structuredClone(v);
  return out;
}

/**
 * `--set` on a comparison: paths that start with one of its own keys apply as written
 * (variants.logical.strategy.syncGate.lagBytes=2MB); any other path is the base's, so the
 * same `--set seed.orders=200000` works on a scenario and on a comparison.
 */
export function comparisonOverridePaths(sets: string[]): string[] {
  return sets.map((set) => {
    const key = set.slice(0, Math.max(0, set.indexOf('='))).trim();
    const first = /^[^.[]+/.exec(key)?.[0] ?? '';
    return TOP_KEYS.includes(first) || !key ? set : `base.${set.trimStart()}`;
  });
}

/** Validates a parsed comparison document (overrides already applied) into its runs; every problem at once. */
export function validateComparison(raw: unknown): { comparison?: Comparison; problems: Problem[] } {
  const problems: Problem[] = [];
  if (!isMapping(raw)) return { problems: [{ path: '', message: `expected a mapping (name:, base:, variants:), got ${show(raw)}` }] };
  for (const key of Object.keys(raw)) {
    if (!TOP_KEYS.includes(key)) problems.push({ path: key, message: `unknown key in a comparison file; allowed: ${TOP_KEYS.join(', ')}` });
  }
  const name = raw.name;
  if (typeof name !== 'string' || !SCENARIO_NAME_RE.test(name)) {
    problems.push({ path: 'name', message: `expected a name made of a-z, 0-9, "-" and "_", got ${show(name)}` });
  }
  const description = raw.description === undefined ? '' : raw.description;
  if (typeof description !== 'string') problems.push({ path: 'description', message: `expected text, got ${show(description)}` });
  const base = raw.base === undefined || raw.base === null ? {} : raw.base;
  if (!isMapping(base)) problems.push({ path: 'base', message: `expected a mapping: the scenario every variant shares (duration, seed, workload, timeline, thresholds), got ${show(base)}` });
  else {
    for (const key of ['name', 'nodes', 'strategy']) {
      if (key in base) problems.push({ path: `base.${key}`, message: `${key} is set per variant (or by the comparison, for name); remove it from base` });
    }
  }
  const variants = raw.variants;
  if (!isMapping(variants) || Object.keys(variants).length === 0) {
    problems.push({ path: 'variants', message: 'expected a mapping of variant name -> { nodes, strategy }, with at least one variant' });
  }
  const matrix = raw.matrix === undefined || raw.matrix === null ? [{ label: undefined, set: {} }] : raw.matrix;
  const entries: { label?: string; sets: string[]; index: number }[] = [];
  if (!Array.isArray(matrix) || matrix.length === 0) {
    problems.push({ path: 'matrix', message: 'expected a list of { label, set: { path: value } } entries' });
  } else {
    matrix.forEach((entry, i) => {
      if (!isMapping(entry)) return problems.push({ path: `matrix[${i}]`, message: `expected { label, set }, got ${show(entry)}` });
      const label = entry.label;
      if (raw.matrix !== undefined && (typeof label !== 'string' || !LABEL_RE.test(label))) {
        problems.push({ path: `matrix[${i}].label`, message: `expected a label of a-z, 0-9, "-" and "_" starting with a letter, got ${show(label)}` });
      }
      const set = entry.set ?? {};
      if (!isMapping(set)) return problems.push({ path: `matrix[${i}].set`, message: `expected a mapping of path -> value, e.g. { seed.orders: 200000 }, got ${show(set)}` });
      entries.push({ label: label as string | undefined, sets: Object.entries(set).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`), index: i });
    });
    const labels = entries.map((e) => e.label);
    entries.forEach((e, i) => {
      if (e.label !== undefined && labels.indexOf(e.label) !== i) problems.push({ path: `matrix[${e.index}].label`, message: `label ${show(e.label)} is used twice` });
    });
  }
  if (problems.length || !isMapping(base) || !isMapping(variants)) return { problems };

  const runs: ComparisonRun[] = [];
  // the same problem in every run is the base's: said once, not once per variant
  const found = new Map<string, { path: string; message: string; where: string[] }>();
  let total = 0;
  for (const entry of entries) {
    for (const [variant, body] of Object.entries(variants)) {
      const where = `variants.${variant}${entry.label ? ` (matrix ${entry.label})` : ''}`;
      if (!LABEL_RE.test(variant)) {
        problems.push({ path: `variants.${variant}`, message: 'a variant name is made of a-z, 0-9, "-" and "_", starting with a letter' });
        continue;
      }
      if (!isMapping(body)) {
        problems.push({ path: `variants.${variant}`, message: `expected { nodes, strategy }, got ${show(body)}` });
        continue;
      }
      const extra = Object.keys(body).filter((k) => !VARIANT_KEYS.includes(k));
      if (extra.length) {
        problems.push({ path: `variants.${variant}`, message: `${extra.join(', ')} belong in base (the variants share them); a variant sets ${VARIANT_KEYS.join(', ')}` });
        continue;
      }
      const label = entry.label ? `${variant}@${entry.label}` : variant;
      const merged = deepMerge(base, body) as Record<string, unknown>;
      merged.name = `${name as string}-${variant}${entry.label ? `-${entry.label}` : ''}`.slice(0, 64);
      merged.description = `${(body.description as string | undefined) ?? description} [${label}]`.trim();
      const applied = applyOverrides(merged, entry.sets);
      const { scenario, problems: invalid } = validateScenario(applied.value);
      total++;
      for (const p of [...applied.problems, ...invalid]) {
        const key = `${p.path}\u0000${p.message}`;
        const seen = found.get(key) ?? { path: p.path, message: p.message, where: [] };
        seen.where.push(where);
        found.set(key, seen);
      }
      if (scenario) runs.push({ label, variant, matrix: entry.label, scenario });
    }
  }
  for (const p of found.values()) {
    const where = p.where.length === total && total > 1 ? 'base (every variant)' : p.where.join(', ');
    problems.push({ path: `${where}: ${p.path}`, message: p.message });
  }
  if (problems.length) return { problems };
  return { comparison: { name: name as string, description: description as string, runs }, problems };
}

/** Parses a comparison file's text, applies `--set` overrides, validates; throws one InvalidInputError listing every problem. */
export function parseComparisonText(text: string, sourceName: string, overrides: string[] = []): Comparison {
  const doc = YAML.parseDocument(text, { merge: true });
  if (doc.errors.length > 0) {
    throw new InvalidInputError(doc.errors.map((e) => ({ path: 'yaml', message: e.message.split('\n')[0] })), sourceName);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new InvalidInputError([{ path: 'yaml', message: errorMessage(err) }], sourceName);
  }
  const applied = applyOverrides(raw, comparisonOverridePaths(overrides));
  const { comparison, problems } = validateComparison(applied.value);
  const all = [...applied.problems, ...problems];
  if (all.length || !comparison) throw new InvalidInputError(all, sourceName);
  return comparison;
}

export async function loadComparisonFile(file: string, overrides: string[] = []): Promise<Comparison> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError([{ path: '', message: `cannot read comparison file ${file}: ${errorMessage(err)}` }], file);
  }
  const comparison = parseComparisonText(text, file, overrides);
  // relative paths in the file (seed files, command steps) mean the same from any cwd
  const baseDir = nodePath.dirname(nodePath.resolve(file));
  for (const run of comparison.runs) run.scenario.baseDir = baseDir;
  // a missing seed file stops the comparison before its first run, not after some ran
  const missing = comparison.runs.flatMap((run) => seedFileProblems(run.scenario).map((p) => ({ ...p, path: `${run.label}: ${p.path}` })));
  if (missing.length) throw new InvalidInputError(missing.filter((p, i) => missing.findIndex((q) => q.message === p.message) === i), file);
  return comparison;
}
