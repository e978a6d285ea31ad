import { describe, expect, it } from 'vitest';
import { renderMarkdownSummary } from '../../harness/report/markdown-summary.js';
import { crashedRun, failingRun, HOSTILE, realRun } from '../fixtures/report-results.js';

describe('summary.md', () => {
  it('gives the verdict, every check, the thresholds, the downtime views, the cutover steps and integrity', () => {
    const md = renderMarkdownSummary(realRun());
    expect(md).toMatch(/^## ✅ PASS · streaming-cutover \(local, /);
    expect(md).toContain('### Checks: ');
    for (const c of realRun().checks) expect(md).toContain(`| ✅ | ${c.name} |`);
    expect(md).toMatch(/\| writeDowntime \| `< 5s` \| \d/);
    expect(md).toContain('| writes, as clients saw them |');
    expect(md).toContain('| server write gap (probe rows, server clock) |');
    expect(md).toMatch(/### Cutover: streaming primary → replica, done/);
    for (const step of realRun().cutover!.steps) expect(md).toContain(`| ${step.name} | T+`);
    expect(md).toMatch(/\| orders \| \d+ \| \d+ \| ✅ match \|/);
    expect(md).toContain('**0 lost**');
  });

  it('puts the failures first where a reviewer looks: failed checks, failing thresholds, the differing table, lost writes', () => {
    const md = renderMarkdownSummary(failingRun());
    expect(md).toMatch(/^## ❌ FAIL/);
    expect(md).toMatch(/\| ❌ \| threshold writeDowntime < 5s \|/);
    expect(md).toMatch(/\| writeDowntime \| `< 5s` \| 7\.4s \| ❌ \|/);
    expect(md).toMatch(/\| writes \| T\+20\.0s \| T\+27\.4s \| 7\.4s \| 1480 \|/);
    // the differing table is listed first
    expect(md.indexOf('❌ differ')).toBeLessThan(md.indexOf('✅ match'));
    expect(md).toContain('**3 lost**');
    expect(md).toContain('lost: orders 377 (update, version 4): the row is at version 3');
  });

  it('keeps every cell one table cell: pipes escaped, markup defused, newlines folded', () => {
    const r = failingRun();
    r.checks.push({ name: 'odd | name', valid: false, detail: `line one\nline two ${HOSTILE}` });
    const md = renderMarkdownSummary(r);
    expect(md).toContain('| ❌ | odd \\| name | line one line two &lt;/script>&lt;script>');
    expect(md).not.toContain('<script>');
    for (const line of md.split('\n').filter((l) => l.startsWith('| '))) expect(line.endsWith('|')).toBe(true);
  });

  it('says what a run that died in setup could not establish', () => {
    const md = renderMarkdownSummary(crashedRun());
    expect(md).toMatch(/^## ❌ FAIL/);
    expect(md).toContain('Not verified: the run stopped before the verify phase.');
    expect(md).toContain('| ❌ | run finished | the run did not finish: replica never became ready');
  });

  it('marks a rebuilt run incomplete and says where it stopped', () => {
    const r = crashedRun();
    r.verdict = 'incomplete';
    r.incomplete = { stoppedAt: 'in the load phase at 12s', phase: 'load', lastRecordMs: 12_000, rebuiltFrom: ['run.json', 'events.jsonl'], reaped: null, unreadableLines: 0 };
    const md = renderMarkdownSummary(r);
    expect(md).toMatch(/^## ⚠️ INCOMPLETE/);
    expect(md).toContain('> **The run did not finish:** it stopped in the load phase at 12s.');
  });
});
