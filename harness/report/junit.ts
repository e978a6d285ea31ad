// junit.xml: each check of a run (thresholds included) and each compared table as a testcase,
// so CI systems list them, keep their history and fail the build on them. Testcase names are stable across
// runs (the measured value goes in the output and the failure message, never in the name).

import type { Results } from '../results/results.js';

interface Case {
  suite: 'thresholds' | 'integrity' | 'run';
  name: string;
  /** what was measured, for people: "measured 1.2s (limit < 5s)" */
  message: string;
  outcome: 'pass' | 'failure' | 'error';
}

export function renderJunit(results: Results): string {
  const cases = [...checkCases(results), ...tableCases(results)];
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

// every check the verdict rests on, as recorded: invalid is a failure, unknown an error
// (the check could not run); thresholds get a suite of their own, as CI users look for them
function checkCases(r: Results): Case[] {
  const checks = r.checks ?? [];
  if (checks.length === 0) {
    return [{ suite: 'run', name: 'checks recorded', message: 'results.json holds no checks (an older pgdrill, or a run that never got that far)', outcome: 'error' }];
  }
  return checks.map((c) => ({
    suite: c.name.startsWith('threshold ') ? 'thresholds' : 'run',
    name: c.name.startsWith('threshold ') ? c.name.slice('threshold '.length) : c.name,
    message: c.valid === 'unknown' ? `unknown (could not run): ${c.detail}` : c.detail,
    outcome: c.valid === true ? 'pass' : c.valid === 'unknown' ? 'error' : 'failure',
  }));
}

// one case per compared table, so a CI history shows which table broke
function tableCases(r: Results): Case[] {
  const i = r.integrity;
  if (!i) return [];
  return i.tables.map((t) => ({
    suite: 'integrity',
    name: `table ${t.table}`,
    message: `${t.table}: ${t.sourceRows ?? 'missing'} rows on ${i.source}, ${t.targetRows ?? 'missing'} on ${i.target}; hash ${t.sourceHash ?? 'n/a'} vs ${t.targetHash ?? 'n/a'}`,
    outcome: t.match ? 'pass' : 'failure',
  }));
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
