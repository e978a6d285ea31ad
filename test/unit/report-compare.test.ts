// `pgdrill compare`: runs side by side in a terminal table with a downtime bar per run, and
// as an HTML page that opens offline; rendered from results files alone.

import { describe, expect, it } from 'vitest';
import { compareRow, downtimeBars, renderCompareHtml, renderCompareTable, workloadDifferences } from '../../harness/report/compare.js';
import { runLabels } from '../../harness/report/read-results.js';
import { crashedRun, failingRun, realRun } from '../fixtures/report-results.js';

describe('compare', () => {
  const rows = [compareRow(realRun(), 'streaming'), compareRow(failingRun(), 'with-pause'), compareRow(crashedRun(), 'crashed')];

  it('takes each column from the run: strategy, downtime, server gap, lost writes, lag, p99, verdict', () => {
    const r = realRun();
    expect(rows[0]).toEqual({
      label: 'streaming',
      scenario: 'streaming-cutover',
      strategy: 'streaming',
      endpoint: 'proxy',
      runtime: 'local',
      durationMs: r.durationMs,
      writeDowntimeMs: r.downtime.writes.longestMs,
      serverGapMs: r.downtime.serverWriteGapMs,
      lostWrites: 0,
      maxLagBytes: r.lag.maxReplayBytes,
      p99WriteMs: r.load.writes.latencyMs.p99,
      failedWrites: r.load.writes.failed + r.load.writes.indeterminate + r.load.writes.dropped,
      longestStallMs: r.load.writes.okLatencyMs.max,
      endpointSteps: expect.stringContaining('repoint-endpoint'),
      verdict: 'pass',
    });
    // what was not measured is absent, not zero
    expect(rows[2]).toMatchObject({ writeDowntimeMs: null, lostWrites: null, maxLagBytes: null, p99WriteMs: null, verdict: 'fail', strategy: 'streaming' });
  });

  it('prints a table with a row per run and a downtime bar scaled to the longest', () => {
    const text = renderCompareTable(rows);
    for (const head of ['scenario', 'strategy', 'endpoint', 'runtime', 'write downtime', 'failed writes', 'longest stall', 'server gap', 'lost writes', 'max lag', 'p99 write', 'endpoint steps', 'verdict']) {
      expect(text).toContain(head);
    }
    expect(text).toContain('not verified');
    const bars = downtimeBars(rows).split('\n');
    expect(bars).toHaveLength(3);
    expect(bars[1]).toContain('█'.repeat(40));
    expect(bars[1]).toContain('7.4s');
    // 190 ms of 7.4 s is about one character
    expect(bars[0]).toMatch(/^streaming\s+█?[▏▎▍▌▋▊▉]?\s+190ms$/);
    expect(bars[2]).toMatch(/^crashed\s+–$/);
  });

  it('writes one offline HTML page with the table and a downtime chart', () => {
    const html = renderCompareHtml(rows);
    for (const label of ['streaming', 'with-pause', 'crashed']) expect(html).toContain(`<code>${label}</code></td>`);
    expect(html).toContain('<canvas id="chart-downtime"');
    expect(html).not.toMatch(/\b(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i);
    expect(html).toContain('>FAIL</span>');
  });

  it('warns when the runs do not share one workload', () => {
    expect(workloadDifferences([realRun(), realRun()])).toEqual([]);
    const shorter = realRun();
    shorter.scenario.duration = 45_000;
    shorter.scenario.workload.writes.rate = 500;
    const differences = workloadDifferences([realRun(), shorter]);
    expect(differences).toEqual(['duration', 'workload.writes']);
    expect(renderCompareTable(rows, differences)).toContain('do not share one workload (duration, workload.writes differ)');
  });

  it('names runs by their folder, numbering folders that share a name', () => {
    expect(runLabels(['reports/a/results.json', 'x/b/results.json', 'y/b/results.json'])).toEqual(['a', 'b #2', 'b #3']);
  });
});
