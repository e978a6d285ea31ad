// junit.xml: each threshold and each integrity check of a run as a testcase, so CI systems
// list them, keep their history and fail the build on them. Testcase names are stable across
// runs (the measured value goes in the output and the failure message, never in the name).

import type { Results } from '../results/results.js';
import { formatDuration } from '../util/units.js';

interface Case {
  suite: 'thresholds' | 'integrity' | 'run';
  name: string;
  /** what was measured, for people: "measured 1.2s (limit < 5s)" */
  message: string;
  outcome: 'pass' | 'failure' | 'error';
}

export function renderJunit(results: Results): string {
  const cases = [...runCases(results), ...thresholdCases(results), ...integrityCases(results)];
  const prefix = `pgdrill.${results.scenario.name}`;
  const seconds = (results.durationMs / 1000).toFixed(3);
  const suites = (['run', 'thresholds', 'integrity'] as const)
    .map((suite) => {
      const mine = cases.filter((c) => c.suite === suite);
      const failures = mine.filter((c) => c.outcome === 'failure').length;
      const errors = mine.filter((c) => c.outcome === 'error').length;
      return `  <testsuite name="${attr(`${prefix}.${suite}`)}" tests="${mine.length}" failures="${failures}" errors="${errors}" skipped="0" time="${suite === 'run' ? seconds : '0'}" timestamp="${attr(results.startedAt.replace(/\.\d+Z$/, ''))}">
${mine.map((c) => testcase(`${prefix}.${suite}`, c)).join('\n')}
  </testsuite>`;
    })
    .join('\n');
  const failures = cases.filter((c) => c.outcome === 'failure').length;
  const errors = cases.filter((c) => c.outcome === 'error').length;
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="${attr(`pgdrill ${results.scenario.name}`)}" tests="${cases.length}" failures="${failures}" errors="${errors}" time="${seconds}">
${suites}
</testsuites>
`;
}

function testcase(classname: string, c: Case): string {
  const open = `    <testcase classname="${attr(classname)}" name="${attr(c.name)}" time="0">`;
  const out = `      <system-out>${text(c.message)}</system-out>`;
  if (c.outcome === 'pass') return `${open}\n${out}\n    </testcase>`;
  const tag = c.outcome === 'failure' ? 'failure' : 'error';
  return `${open}
      <${tag} message="${attr(c.message)}" type="${attr(c.suite)}">${text(c.message)}</${tag}>
${out}
    </testcase>`;
}

function runCases(r: Results): Case[] {
  const cases: Case[] = [
    {
      suite: 'run',
      name: 'run finished',
      message: r.error ? `the run did not finish: ${r.error.message} (${r.error.code})` : `finished in ${formatDuration(r.durationMs)} on ${r.runtime}`,
      outcome: r.error ? 'error' : 'pass',
    },
  ];
  if (r.cutover) {
    const failed = r.cutover.steps.find((s) => !s.ok);
    const span = r.cutover.steps.length ? r.cutover.steps[r.cutover.steps.length - 1].endMs - r.cutover.steps[0].startMs : 0;
    cases.push({
      suite: 'run',
      name: 'cutover ok',
      message: r.cutover.ok
        ? `${r.cutover.strategy} ${r.cutover.from} -> ${r.cutover.to}${r.cutover.dryRun ? ' (dry run)' : ''}: ${r.cutover.steps.length} steps in ${formatDuration(span)}`
        : `${r.cutover.strategy} ${r.cutover.from} -> ${r.cutover.to} failed${failed ? ` at step ${failed.name}: ${failed.detail}` : ''}${r.cutover.rolledBack ? ' (rolled back)' : ''}`,
      outcome: r.cutover.ok ? 'pass' : 'failure',
    });
  }
  return cases;
}

function thresholdCases(r: Results): Case[] {
  return r.thresholds.map((t) => ({
    suite: 'thresholds',
    name: `${t.name} ${t.limit}`,
    message: `${t.name}: measured ${t.actualText} (limit ${t.limit})`,
    outcome: t.pass ? 'pass' : 'failure',
  }));
}

function integrityCases(r: Results): Case[] {
  const i = r.integrity;
  if (!i) {
    return [{ suite: 'integrity', name: 'integrity verified', message: 'integrity was not verified: the run stopped before the verify phase', outcome: 'failure' }];
  }
  const cases: Case[] = [];
  const check = (name: string, pass: boolean, message: string) => cases.push({ suite: 'integrity', name, message, outcome: pass ? 'pass' : 'failure' });
  const examples = i.lost
    .slice(0, 5)
    .map((l) => `${l.table} key ${l.key} (${l.op} v${l.version}: ${l.found})`)
    .join('; ');
  check(
    'no lost writes',
    i.lostWrites === 0,
    `${i.lostWrites} lost of ${i.acknowledgedWrites} acknowledged writes (${i.recoveredWrites} recovered, ${i.indeterminateWrites} indeterminate)${examples ? `; e.g. ${examples}` : ''}`,
  );
  check('no writes after promotion', i.writesAfterPromotion === 0, `${i.writesAfterPromotion} write(s) accepted by the old primary after the promotion`);
  for (const t of i.tables) {
    const counts = t.sourceRows === t.targetRows;
    check(`row count ${t.table}`, counts, `${t.table}: ${t.sourceRows ?? 'n/a'} rows on ${i.source}, ${t.targetRows ?? 'n/a'} on ${i.target}`);
    const hashes = t.sourceHash !== null && t.sourceHash === t.targetHash;
    check(`hash ${t.table}`, hashes, `${t.table}: hash ${t.sourceHash ?? 'n/a'} on ${i.source}, ${t.targetHash ?? 'n/a'} on ${i.target}`);
  }
  for (const s of i.sequences) {
    check(`sequence ${s.sequence}`, s.ok, `${s.sequence}: last value ${s.lastValue}, max ${s.table}.${s.column} ${s.maxValue}`);
  }
  return cases;
}

// XML 1.0 forbids most control characters even escaped; error messages can carry them.
// eslint-disable-next-line no-control-regex
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

function text(value: string): string {
  return value.replace(INVALID_XML, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function attr(value: string): string {
  return text(value).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}
