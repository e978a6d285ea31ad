// Every check a run's verdict rests on, each a small pure function over what was recorded:
// the run itself, the cutover, the timeline's steps and faults, the accounting of every
// intended operation, downtime that never ended, the ledger, the tables, the schema, the
// sequences, split brain and the thresholds. `runChecks` lists them; `verdictOf` composes.

import type { Scenario } from '../scenario/scenario.js';
import type { OpStream } from '../record/records.js';
import { eventsOf, type RunEvent } from '../record/events.js';
import type { AppResults, CheckResult, Integrity, IntegrityFact, Results, ThresholdResult } from '../results/results.js';
import { formatDuration } from '../util/units.js';
import { safeCheck } from './check.js';
import { appVerdictChecks } from './app-verdict.js';
import { leaderChangesCheck } from './patroni-checks.js';
import type { PatroniResults } from '../patroni/patroni-results.js';

/** How one stream's operations were accounted for, counted from the record itself. */
export interface StreamAccounting {
  stream: OpStream;
  /** intended operations per second (0 = the stream was off) */
  rate: number;
  /** operations the scheduler says it intended */
  intended: number;
  /** records found, each op once: ok + failed + indeterminate + dropped */
  recorded: number;
  /** op ids recorded more than once */
  duplicates: number;
  /** why the count cannot be checked (the scheduler never said how many it intended: the load did not finish) */
  unknown?: string;
}

export interface RunFacts {
  scenario: Scenario;
  error: Results['error'];
  events: readonly RunEvent[];
  accounting: StreamAccounting[];
  /** ms the load's schedule ran (its intended span), or null when it never started */
  loadMs: number | null;
  /** the load's schedule in run time (ms), or null when it never started */
  loadWindow?: { startMs: number; endMs: number } | null;
  downtime: Results['downtime'];
  load: Results['load'];
  cutover: Results['cutover'];
  integrity: Integrity | null;
  thresholds: ThresholdResult[];
  /** the application in the loop, when the scenario has one */
  app?: AppResults;
  /** a Patroni cluster's roles and leader changes, when the scenario has one */
  patroni?: PatroniResults;
}

type Check = Omit<CheckResult, 'name'>;
const pass = (detail: string): Check => ({ valid: true, detail });
const fail = (detail: string): Check => ({ valid: false, detail });
const unknown = (detail: string): Check => ({ valid: 'unknown', detail });

export function runChecks(facts: RunFacts): CheckResult[] {
  const checks: CheckResult[] = [];
  const add = (name: string, check: () => Check | undefined) => {
    const result = safeCheck(name, () => check() ?? { valid: true, detail: '' });
    // a check that does not apply to this run returns undefined and is left out
    if (result.detail !== '' || result.valid !== true) checks.push(result);
  };
  add('run finished', () => runFinished(facts));
  add('cutover', () => cutoverCheck(facts));
  for (const step of stepChecks(facts)) checks.push(step);
  add('faults', () => faultsCheck(facts));
  add('operations accounted for', () => accountingCheck(facts));
  add('downtime recovered', () => recoveredCheck(facts));
  add('write ledger', () => ledgerCheck(facts.integrity));
  add('tables', () => tablesCheck(facts.integrity));
  add('schema', () => schemaCheck(facts.integrity));
  add('standbys', () => standbysCheck(facts.integrity));
  add('sequences', () => sequencesCheck(facts.integrity));
  add('split brain', () => splitBrainCheck(facts.integrity));
  for (const check of appVerdictChecks(facts.scenario.app, facts.app)) checks.push(check);
  add('tls', () => tlsCheck(facts));
  add('leader changes', () => leaderChangesCheck(facts.scenario, facts.patroni, facts.cutover));
  for (const t of facts.thresholds) {
    checks.push({ name: `threshold ${t.name} ${t.limit}`, valid: t.valid, detail: `${t.name}: measured ${t.actualText} (limit ${t.limit})` });
  }
  return checks;
}

function runFinished({ error }: RunFacts): Check {
  return error ? fail(`the run did not finish: ${error.message} (${error.code})`) : pass('the run finished');
}

function cutoverCheck({ scenario, cutover, events, loadWindow }: RunFacts): Check | undefined {
  const planned = scenario.timeline.find((e) => e.cutover && !e.cutover.dryRun);
  const dryRun = scenario.timeline.find((e) => e.cutover?.dryRun);
  const unplanned = scenario.strategy?.kind === 'failover';
  if (!planned && !dryRun && !unplanned) return undefined;
  if (!cutover) {
    if (unplanned) {
      const why = eventsOf(events, 'failover-not-triggered')[0]?.reason;
      return unknown(`no failover happened${why ? `: ${why}` : ''}; the scenario rehearses one, so nothing was rehearsed`);
    }
    const at = (planned ?? dryRun)!.at;
    return unknown(`the cutover planned at ${formatDuration(at)} never ran (the run ended before it)`);
  }
  const label = `${cutover.strategy} ${cutover.from} -> ${cutover.to}${cutover.dryRun ? ' (dry run)' : ''}`;
  if (!cutover.ok) {
    const failed = cutover.steps.find((s) => !s.ok);
    return fail(`${label} failed${failed ? ` at step ${failed.name}: ${failed.detail}` : ''}${cutover.rolledBack ? ' (rolled back)' : ''}`);
  }
  if (planned && cutover.dryRun) return unknown(`only the dry run of ${label} ran; the real cutover never did`);
  // a cutover after the load stopped has nothing to say about downtime or lost writes under load
  const promote = cutover.steps.find((s) => s.name === 'promote') ?? cutover.steps[cutover.steps.length - 1];
  if (!cutover.dryRun && promote && loadWindow && promote.startMs > loadWindow.endMs) {
    return unknown(`${label} promoted at ${formatDuration(promote.startMs)}, after the load had stopped (${formatDuration(loadWindow.endMs)}): it was not rehearsed under load; give the sync gate less to wait for or the run a longer duration`);
  }
  return pass(`${label}: ${cutover.steps.length} steps ok`);
}

function stepChecks({ scenario, events }: RunFacts): CheckResult[] {
  const ends = eventsOf(events, 'step-end');
  const out: CheckResult[] = [];
  scenario.timeline.forEach((entry, index) => {
    const kind = entry.sql ? 'sql' : entry.command ? 'command' : undefined;
    if (!kind) return;
    const end = ends.find((e) => e.index === index);
    const what = entry.sql ? `sql on ${entry.sql.node}` : 'command';
    const name = `step timeline[${index}] (${what})`;
    if (!end) {
      out.push({ name, valid: 'unknown', detail: `planned at ${formatDuration(entry.at)} but never ran (the run ended before it)` });
      return;
    }
    const outcome = end.ok ? 'succeeded' : `failed: ${end.error ?? (end.exitCode !== undefined && end.exitCode !== null ? `exit code ${end.exitCode}` : 'no detail')}`;
    const detail = `${end.label} ${outcome} in ${end.durationMs} ms`;
    if (end.ok) out.push({ name, valid: true, detail });
    else if (end.allowFailure) out.push({ name, valid: true, detail: `${detail} (allowFailure: true)` });
    else out.push({ name, valid: false, detail });
  });
  return out;
}

function faultsCheck({ scenario, events }: RunFacts): Check | undefined {
  const planned = scenario.timeline.filter((e) => e.fault).length;
  const failed = eventsOf(events, 'fault-failed');
  const healFailed = eventsOf(events, 'fault-heal-failed');
  const unconfirmed = eventsOf(events, 'fault-check-failed');
  const started = eventsOf(events, 'fault-start').length;
  if (planned === 0 && started === 0 && failed.length === 0) return undefined;
  const target = (e: { fault: string; node?: string; link?: string }) => `${e.fault} ${e.node ?? e.link ?? ''}`.trim();
  if (failed.length || healFailed.length) {
    const what = [...failed.map((e) => `${target(e)} could not be injected: ${e.error}`), ...healFailed.map((e) => `${target(e)} could not be healed: ${e.error}`)];
    return fail(what.join('; '));
  }
  if (unconfirmed.length) return unknown(`not seen to take effect: ${unconfirmed.map((e) => `${target(e)} (${e.detail})`).join('; ')}`);
  if (started < planned) return unknown(`${planned - started} of ${planned} planned faults never started (the run ended before them)`);
  return pass(`${started} fault${started === 1 ? '' : 's'} injected, seen to act and healed`);
}

/**
 * Every intended operation recorded exactly once, and as many intended as the rate and the
 * duration say: a scheduler that silently loses operations would make every other number
 * look better than it was.
 */
function accountingCheck({ accounting, loadMs, error }: RunFacts): Check | undefined {
  const streams = accounting.filter((a) => a.rate > 0);
  if (streams.length === 0) return undefined;
  if (loadMs === null) return unknown('the load never started');
  const uncounted = streams.filter((a) => a.unknown);
  if (uncounted.length) return unknown(uncounted.map((a) => `${a.stream}: ${a.unknown}`).join('; '));
  const problems: string[] = [];
  const lines: string[] = [];
  for (const a of streams) {
    const expected = Math.ceil((loadMs * a.rate) / 1000 - 1e-9);
    if (a.recorded !== a.intended) problems.push(`${a.stream}: ${a.intended} intended but ${a.recorded} recorded`);
    if (a.duplicates > 0) problems.push(`${a.stream}: ${a.duplicates} operation ids recorded twice`);
    // an interrupted load intends fewer; that run fails on its error anyway
    if (!error && Math.abs(a.intended - expected) > 1) problems.push(`${a.stream}: ${a.intended} intended, but ${a.rate}/s for ${formatDuration(loadMs)} is ${expected}`);
    lines.push(`${a.stream} ${a.recorded}/${expected}`);
  }
  return problems.length ? fail(problems.join('; ')) : pass(`every intended operation recorded once (${lines.join(', ')})`);
}

function recoveredCheck({ downtime, load }: RunFacts): Check | undefined {
  const streams: (readonly [string, Results['downtime']['writes'] | undefined, number])[] = [
    ['writes', downtime.writes, load.writes.intended],
    ['reads', downtime.reads, load.reads.intended],
    ['app requests', downtime.app, load.app?.intended ?? 0],
  ];
  const ran = streams.filter(([, , intended]) => intended > 0);
  if (ran.length === 0) return undefined;
  const open = ran.flatMap(([name, d]) => (d?.windows ?? []).filter((w) => w.openAtEnd).map((w) => ({ name, w })));
  if (open.length) {
    return fail(open.map(({ name, w }) => `${name} were still down when the load ended (down for the last ${formatDuration(w.durationMs)}, ${w.failedOps} operations not served)`).join('; '));
  }
  return pass(`${ran.map(([name]) => name).join(' and ')} were served again before the load ended`);
}

/** What integrity says of a fact: undefined (not applicable), unknown, or the value to judge. */
function fact(integrity: Integrity | null, name: IntegrityFact): { skip: true } | { unknown: string } | { integrity: Integrity } {
  if (!integrity) return { unknown: 'integrity was not verified: the run stopped before the verify phase' };
  if (integrity.unknown[name]) return { unknown: integrity.unknown[name]! };
  if (integrity.notApplicable[name]) return { skip: true };
  return { integrity };
}

function ledgerCheck(integrity: Integrity | null): Check | undefined {
  const f = fact(integrity, 'ledger');
  if ('skip' in f) return undefined;
  if ('unknown' in f) return unknown(`the write ledger could not be checked: ${f.unknown}`);
  const i = f.integrity;
  if (i.lostWrites === null || i.acknowledgedWrites === null) return unknown('the write ledger was not checked');
  const summary = `${i.acknowledgedWrites} acknowledged on ${i.finalPrimary ?? 'the final primary'}, ${i.recoveredWrites ?? 0} of ${i.indeterminateWrites ?? 0} indeterminate found committed`;
  if (i.lostWrites > 0) {
    const examples = i.lost.slice(0, 3).map((l) => `${l.table} ${l.key} (${l.op}: ${l.reason})`).join('; ');
    return fail(`${i.lostWrites} acknowledged write(s) lost; ${summary}; e.g. ${examples}`);
  }
  return pass(`0 lost: ${summary}`);
}

function tablesCheck(integrity: Integrity | null): Check | undefined {
  const f = fact(integrity, 'tables');
  if ('skip' in f) return undefined;
  if ('unknown' in f) return unknown(`tables were not compared: ${f.unknown}`);
  const i = f.integrity;
  if (i.tables.length === 0) return unknown(`no table was compared (${i.comparison})`);
  const bad = i.tables.filter((t) => !t.match);
  const side = `${i.source} vs ${i.target}`;
  if (bad.length) {
    const list = bad.slice(0, 5).map((t) => (t.sourceRows !== t.targetRows ? `${t.table} (${t.sourceRows ?? 'missing'} vs ${t.targetRows ?? 'missing'} rows)` : `${t.table} (same ${t.sourceRows} rows, different content)`));
    return fail(`${bad.length} of ${i.tables.length} tables differ (${side}): ${list.join(', ')}${bad.length > 5 ? ', ...' : ''}`);
  }
  return pass(`${i.tables.length} tables match: row counts and content hashes (${side})`);
}

function schemaCheck(integrity: Integrity | null): Check | undefined {
  const f = fact(integrity, 'schema');
  if ('skip' in f) return undefined;
  if ('unknown' in f) return unknown(`the schemas were not compared: ${f.unknown}`);
  const diffs = f.integrity.schemaDifferences;
  if (diffs === null) return unknown('the schemas were not compared');
  if (diffs.length) {
    const list = diffs.slice(0, 5).map((d) => `${d.kind} ${d.name}: ${d.source ?? 'missing'} on the source, ${d.target ?? 'missing'} on the target`);
    return fail(`${diffs.length} schema difference(s): ${list.join('; ')}${diffs.length > 5 ? '; ...' : ''}`);
  }
  return pass(`columns, constraints, indexes, triggers and sequences match (${f.integrity.source} vs ${f.integrity.target})`);
}

/**
 * With tls: every standby's replication connection, read in pg_stat_ssl on its upstream each
 * time it began streaming (setup, a re-point, a rejoin), was encrypted.
 */
export function tlsCheck({ scenario, events }: Pick<RunFacts, 'scenario' | 'events'>): Check | undefined {
  if (!scenario.tls) return undefined;
  if (eventsOf(events, 'tls-ready').length === 0) return unknown('the run never made its certificates (it stopped during setup)');
  const seen = eventsOf(events, 'replication-tls');
  const plain = seen.filter((e) => !e.ssl);
  if (plain.length) return fail(`replication not encrypted: ${plain.map((e) => `${e.node} from ${e.upstream}`).join(', ')} (pg_stat_ssl.ssl = false, or the connection was not found)`);
  const standbys = Object.values(scenario.nodes).filter((n) => n.replicaOf).map((n) => n.name);
  const unread = standbys.filter((s) => !seen.some((e) => e.node === s));
  if (unread.length) return unknown(`the replication connection of ${unread.join(', ')} was never read in pg_stat_ssl`);
  const versions = [...new Set(seen.map((e) => e.version ?? '?'))].join(', ');
  return pass(
    seen.length
      ? `${seen.length} replication connection(s) read in pg_stat_ssl, every one encrypted (${versions}${scenario.tls.clientCerts ? `, client certificate ${[...new Set(seen.map((e) => e.clientDn ?? 'none'))].join(', ')}` : ''})`
      : `sslmode ${scenario.tls.mode} for the workload; no standby to replicate to`,
  );
}

/** Every other standby of the final primary (followers, the rejoined old primary) holds its tables and schema. */
export function standbysCheck(integrity: Integrity | null): Check | undefined {
  const f = fact(integrity, 'standbys');
  if ('skip' in f) return undefined;
  if ('unknown' in f) return unknown(`the standbys were not compared with the final primary: ${f.unknown}`);
  const standbys = f.integrity.standbys ?? [];
  if (standbys.length === 0) return undefined;
  const primary = f.integrity.finalPrimary ?? 'the final primary';
  const label = (s: (typeof standbys)[number]) => (s.role === 'rejoined' ? `${s.node} (rejoined)` : s.node);
  const bad = standbys.filter((s) => s.tables.length === 0 || s.tables.some((t) => !t.match) || s.schemaDifferences.length > 0);
  if (bad.length) {
    const why = bad.map((s) => {
      if (s.tables.length === 0) return `${label(s)}: no table compared`;
      const tables = s.tables.filter((t) => !t.match).map((t) => `${t.table} (${t.sourceRows ?? 'missing'} vs ${t.targetRows ?? 'missing'} rows${t.sourceRows === t.targetRows ? ', different content' : ''})`);
      const schema = s.schemaDifferences.slice(0, 3).map((d) => `${d.kind} ${d.name}`);
      return `${label(s)}: ${[...tables, ...schema].slice(0, 5).join(', ')}`;
    });
    return fail(`${bad.length} of ${standbys.length} standbys differ from ${primary}: ${why.join('; ')}`);
  }
  return pass(`${standbys.map(label).join(', ')}: every table (${standbys[0].tables.length}) and the schema match ${primary}`);
}

function sequencesCheck(integrity: Integrity | null): Check | undefined {
  const f = fact(integrity, 'sequences');
  if ('skip' in f) return undefined;
  if ('unknown' in f) return unknown(`sequences were not checked: ${f.unknown}`);
  const seqs = f.integrity.sequences;
  if (seqs === null) return unknown('sequences were not checked');
  const behind = seqs.filter((s) => !s.ok);
  if (behind.length) return fail(behind.map((s) => `sequence ${s.sequence} is behind ${s.table}.${s.column} (${s.lastValue} < ${s.maxValue})`).join('; '));
  return pass(`${seqs.length} sequence(s) ahead of their columns on ${f.integrity.finalPrimary ?? 'the final primary'}`);
}

function splitBrainCheck(integrity: Integrity | null): Check | undefined {
  const f = fact(integrity, 'splitBrain');
  if ('skip' in f) return undefined;
  if ('unknown' in f) return unknown(`split brain could not be ruled out: ${f.unknown}`);
  const n = f.integrity.writesAfterPromotion;
  if (n === null) return unknown(`split brain could not be ruled out: ${f.integrity.splitBrainDetail}`);
  if (n > 0) return fail(`${n} write(s) accepted by the old primary after the promotion (split brain): ${f.integrity.splitBrainDetail}`);
  return pass(f.integrity.splitBrainDetail);
}
