// Runs a comparison: every variant (x matrix entry) one after the other through runScenario,
// each into its own folder under one comparison folder, then puts them side by side with the
// report's compare renderer (a terminal table and comparison.html). Runs go in sequence: they
// would otherwise share the machine's cores and skew each other's downtime.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Comparison, ComparisonRun } from '../scenario/comparison.js';
import type { Results } from '../results/results.js';
import { compareRow, renderCompareHtml, renderCompareTable, workloadDifferences } from '../report/compare.js';
import { EXIT, InterruptedError } from '../errors.js';
import { runScenario, type RunOptions, type RunResult } from './run-scenario.js';

export interface ComparisonOptions extends Pick<RunOptions, 'runtime' | 'keep' | 'signal' | 'onEvent' | 'onTick'> {
  /** the comparison folder; default reports/<name>-<timestamp> */
  out?: string;
  /** told before each run starts */
  onRunStart?: (run: ComparisonRun, index: number, total: number) => void;
  onRunEnd?: (run: ComparisonRun, result: RunResult) => void | Promise<void>;
}

export interface ComparisonRunResult {
  label: string;
  variant: string;
  matrix?: string;
  folder: string;
  exitCode: number;
  results: Results;
}

export interface ComparisonResult {
  folder: string;
  runs: ComparisonRunResult[];
  /** the terminal table */
  table: string;
  /** comparison.html */
  page: string;
  exitCode: number;
}

/**
 * The comparison's exit code, from its runs': interrupted wins, then an environment failure
 * (the comparison is incomplete), then a failed run, else 0.
 */
export function comparisonExitCode(codes: number[], interrupted: boolean): number {
  if (interrupted) return EXIT.interrupted;
  if (codes.includes(EXIT.environment)) return EXIT.environment;
  if (codes.includes(EXIT.invalid)) return EXIT.invalid;
  return codes.some((c) => c !== EXIT.ok) ? EXIT.failed : EXIT.ok;
}

/** Workload differences that matter: only between runs of the same matrix entry, which must share one. */
function unfairParts(runs: ComparisonRunResult[]): string[] {
  const groups = new Map<string, Results[]>();
  for (const r of runs) groups.set(r.matrix ?? '', [...(groups.get(r.matrix ?? '') ?? []), r.results]);
  return [...new Set([...groups.values()].flatMap((g) => workloadDifferences(g)))];
}

export async function runComparison(comparison: Comparison, options: ComparisonOptions = {}): Promise<ComparisonResult> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '');
  const folder = path.resolve(options.out ?? path.join('reports', `${comparison.name}-${stamp}`));
  await mkdir(folder, { recursive: true });
  const done: ComparisonRunResult[] = [];
  let interrupted = false;
  for (const [i, run] of comparison.runs.entries()) {
    if (options.signal?.aborted) {
      interrupted = true;
      break;
    }
    options.onRunStart?.(run, i, comparison.runs.length);
    const result = await runScenario(run.scenario, {
      runtime: options.runtime,
      keep: options.keep,
      signal: options.signal,
      onEvent: options.onEvent,
      onTick: options.onTick,
      // '@' is legal in a path but awkward in a shell
      out: path.join(folder, run.label.replace('@', '-')),
    });
    await options.onRunEnd?.(run, result);
    done.push({ label: run.label, variant: run.variant, matrix: run.matrix, folder: result.folder, exitCode: result.exitCode, results: result.results });
    if (result.exitCode === EXIT.interrupted || result.results.error?.code === new InterruptedError().code) {
      interrupted = true;
      break;
    }
  }
  const rows = done.map((r) => compareRow(r.results, r.label));
  const differences = unfairParts(done);
  const table = rows.length ? renderCompareTable(rows, differences) : '(no run finished)';
  const page = path.join(folder, 'comparison.html');
  await writeFile(page, renderCompareHtml(rows, differences));
  await writeFile(
    path.join(folder, 'comparison.json'),
    JSON.stringify(
      {
        name: comparison.name,
        description: comparison.description,
        runs: done.map(({ results, ...r }) => ({ ...r, verdict: results.verdict })),
      },
      null,
      2,
    ) + '\n',
  );
  return { folder, runs: done, table, page, exitCode: comparisonExitCode(done.map((r) => r.exitCode), interrupted) };
}
