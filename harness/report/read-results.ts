// Reads a results.json back for `pgdrill report` and `pgdrill compare`, refusing (exit 2,
// with the path and what is missing) a file that is not a pgdrill results file.

import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Results } from '../results/results.js';
import { InvalidInputError, errorMessage } from '../errors.js';

/** The keys every renderer reads; a file without them is not something we can render. */
const REQUIRED: (keyof Results)[] = ['verdict', 'scenario', 'phases', 'events', 'load', 'downtime', 'lag', 'thresholds', 'durationMs'];

export async function readResultsFile(file: string): Promise<Results> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError([{ path: file, message: `cannot read it: ${errorMessage(err)}` }], 'command line');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError([{ path: file, message: `not JSON: ${errorMessage(err)}` }], 'results file');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidInputError([{ path: file, message: 'not a pgdrill results.json: expected a JSON object' }], 'results file');
  }
  const missing = REQUIRED.filter((key) => !(key in parsed));
  if (missing.length) {
    throw new InvalidInputError(
      [{ path: file, message: `not a pgdrill results.json: missing ${missing.join(', ')} (run folders hold results.json next to events.jsonl)` }],
      'results file',
    );
  }
  return parsed as Results;
}

/** A results.json path from what a user typed: the file itself or the run folder holding it. */
export async function resolveResultsPath(arg: string): Promise<string> {
  const info = await stat(arg).catch(() => null);
  return info?.isDirectory() ? path.join(arg, 'results.json') : arg;
}

/** How each run is named in a comparison: its folder's name, made unique. */
export function runLabels(files: string[]): string[] {
  const labels = files.map((f) => path.basename(path.dirname(path.resolve(f))));
  return labels.map((label, i) => (labels.indexOf(label) === i && labels.lastIndexOf(label) === i ? label : `${label} #${i + 1}`));
}
