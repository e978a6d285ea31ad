// The scenarios shipped in the package's scenarios/ folder, and resolving a CLI argument that is
// either a path or the name of one of them (`pgdrill run streaming-cutover`).
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../util/package-info.js';
import YAML from 'yaml';
import { InvalidInputError } from '../errors.js';
import { didYouMean } from './scenario-schema.js';

export interface BundledScenario {
  /** absolute path of the .yaml file */
  file: string;
  name: string;
  description: string;
}


/**
 * The folder holding pgdrill's package.json. Walks up rather than using a fixed `../..` because
 * this module runs both compiled (dist/harness/scenario) and from source under vitest.
 */
export function bundledScenariosDir(): string {
  return path.join(packageRoot(), 'scenarios');
}

/**
 * Lists bundled scenarios sorted by file name. Reads only name and description, tolerantly: a
 * broken file still appears (named after the file) so that `run` reports its problems in full.
 */
export async function listBundledScenarios(dir: string = bundledScenariosDir()): Promise<BundledScenario[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  const files = entries.filter((f) => /\.ya?ml$/i.test(f)).sort();
  return Promise.all(
    files.map(async (f): Promise<BundledScenario> => {
      const file = path.join(dir, f);
      const fallback = f.replace(/\.ya?ml$/i, '');
      let doc: unknown;
      try {
        doc = YAML.parse(await readFile(file, 'utf8'));
      } catch {
        doc = undefined;
      }
      const fields = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>) : {};
      return {
        file,
        name: typeof fields.name === 'string' ? fields.name : fallback,
        description: typeof fields.description === 'string' ? fields.description.trim() : '',
      };
    }),
  );
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/**
 * An existing file wins; otherwise a bundled scenario whose name or file name matches. Throws
 * InvalidInputError (exit 2) naming the bundled scenarios when neither fits.
 */
export async function resolveScenarioPath(arg: string, dir?: string): Promise<string> {
  if (await isFile(arg)) return path.resolve(arg);
  const bundled = await listBundledScenarios(dir);
  const bare = arg.replace(/\.ya?ml$/i, '');
  const hit = bundled.find((s) => s.name === bare || path.basename(s.file).replace(/\.ya?ml$/i, '') === bare);
  if (hit) return hit.file;

  const names = bundled.map((s) => s.name);
  const known = names.length ? `bundled scenarios: ${names.join(', ')}` : 'no scenarios are bundled';
  const looksLikePath = /[\\/]/.test(arg) || /\.ya?ml$/i.test(arg);
  const message = looksLikePath
    ? existsSync(arg)
      ? `${arg} is not a file; give a scenario .yaml file or a bundled scenario name (${known})`
      : `scenario file not found: ${arg} (${known})`
    : `${JSON.stringify(arg)} is neither a file nor a bundled scenario; ${known}${didYouMean(arg, names)}`;
  throw new InvalidInputError([{ path: 'scenario', message }], 'command line');
}
