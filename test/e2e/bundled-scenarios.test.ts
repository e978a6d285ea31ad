// Every bundled scenario, run as shipped (no overrides), must end the way its description
// promises: all pass, except async-failover-loses-writes, a proof that must fail with lost
// writes. A scenario added to scenarios/ without an entry here fails this file.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listBundledScenarios } from '../../harness/scenario/bundled.js';
import { loadScenarioFile } from '../../harness/scenario/load-scenario.js';
import { loadComparisonFile } from '../../harness/scenario/comparison.js';
import { runComparison } from '../../harness/run/run-comparison.js';
import type { Results } from '../../harness/results/results.js';
import { leftovers, removeRunFolders, runInTemp } from './support/runs.js';
import { tempDir } from '../support/temp-dir.js';
import { appExplanation } from '../../harness/report/app-view.js';
import { finalUpstreams } from '../../harness/report/replication-model.js';

type Expectation = { exitCode: number; check?: (results: Results) => void };

const passesClean: Expectation = {
  exitCode: 0,
  check: (r) => {
    expect(r.integrity?.lostWrites).toBe(0);
    expect(r.integrity?.tables.every((t) => t.match)).toBe(true);
  },
};

const EXPECTED: Record<string, Expectation> = {
  'streaming-cutover': passesClean,
  'upgrade-13-to-17-dump-restore': passesClean,
  'upgrade-13-to-17-logical': passesClean,
  'pause-primary': { exitCode: 0, check: (r) => expect(r.downtime.serverWriteGapMs).toBeGreaterThan(1500) },
  'replication-latency': { exitCode: 0, check: (r) => expect(r.lag.maxReplayLagMs).toBeGreaterThan(100) },
  'sync-failover': { exitCode: 0, check: (r) => expect(r.integrity?.lostWrites).toBe(0) },
  'streaming-cutover-pgbouncer': {
    exitCode: 0,
    check: (r) => {
      passesClean.check!(r);
      expect(r.endpoint?.kind).toBe('pgbouncer');
      // writes waited in PgBouncer through the PAUSE: none failed, none was dropped
      const w = r.load.writes;
      expect([w.failed, w.indeterminate, w.dropped]).toEqual([0, 0, 0]);
      const steps = new Map(r.cutover!.steps.map((s) => [s.name, s]));
      // the PAUSE came while writes were running, and held some of them
      const load = r.phases.find((p) => p.name === 'load')!;
      expect(steps.get('pause-endpoint')!.startMs).toBeLessThan(load.startMs + r.scenario.duration - 2000);
      expect(steps.get('pause-endpoint')?.detail).toMatch(/^PAUSE returned/);
      expect(steps.get('repoint-endpoint')?.detail).toContain('RELOAD');
      expect(steps.get('drain-old-primary')?.ok).toBe(true);
      expect(steps.get('resume')?.detail).toMatch(/^RESUME: [1-9]/);
    },
  },
  'failover-haproxy': {
    exitCode: 0,
    check: (r) => {
      expect(r.integrity?.lostWrites).toBe(0);
      expect(r.endpoint?.kind).toBe('haproxy');
      const follows = r.cutover!.steps.find((s) => s.name === 'endpoint-follows')!;
      expect(follows.detail).toMatch(/HAProxy marked replica UP/);
      // timed from the promotion to the state change seen on HAProxy's stats socket
      const promote = r.cutover!.steps.find((s) => s.name === 'promote')!;
      expect(follows.startMs).toBeGreaterThanOrEqual(promote.startMs);
      expect(follows.startMs).toBeLessThanOrEqual(promote.endMs);
      expect(r.endpoint?.serverStates.some((s) => s.backend === 'pgdrill_write' && s.server === 'replica' && s.state === 'UP' && Math.abs(s.t - follows.endMs) < 1)).toBe(true);
    },
  },
  'async-failover-loses-writes': {
    exitCode: 1,
    check: (r) => {
      expect(r.integrity?.lostWrites).toBeGreaterThan(0);
      expect(r.thresholds.find((t) => t.name === 'lostWrites')?.pass).toBe(false);
    },
  },
  'app-streaming-cutover': {
    exitCode: 0,
    check: (r) => {
      passesClean.check!(r);
      // the app's view, measured next to the database clients' and the server's
      expect(r.downtime.app?.openAtEnd).toBe(false);
      expect(r.downtime.app?.longestMs).toBeGreaterThan(0);
      expect(r.downtime.serverWriteGapMs).toBeGreaterThan(0);
      expect(r.load.app!.statusCodes['201']).toBeGreaterThan(0);
      // every app check passed after the cutover, and the log was scanned from its end
      expect(r.app!.checks.map((c) => [c.ok, c.when])).toEqual(r.scenario.app!.checks.map(() => [true, 'after the cutover']));
      expect(r.checks.filter((c) => c.name.startsWith('app ')).every((c) => c.valid === true)).toBe(true);
      expect(r.app!.logScan).toMatchObject({ from: 'cutover end', matched: expect.any(Number) });
    },
  },
  'app-clinging-pool': {
    exitCode: 1,
    check: (r) => {
      // the database's side of the cutover is fine
      expect(r.cutover?.ok).toBe(true);
      expect(r.integrity?.lostWrites).toBe(0);
      expect(r.thresholds.filter((t) => t.pass).map((t) => t.name).sort()).toEqual(['lostWrites', 'writeDowntime']);
      // its users were down much longer, and its log says why
      expect(r.downtime.app!.longestMs).toBeGreaterThan(r.downtime.writes.longestMs);
      expect(r.app!.logScan!.matched).toBeGreaterThan(0);
      expect(r.thresholds.filter((t) => !t.pass).map((t) => t.name).sort()).toEqual(['appDowntime', 'appLogErrors']);
      expect(appExplanation(r).join(' ')).toMatch(/longer than the database's clients .* database connection errors? after the cutover/);
    },
  },
  // after the cutover the other replica follows the new primary and the old primary rejoins it
  'ha-three-nodes': {
    exitCode: 0,
    check: (r) => {
      passesClean.check!(r);
      const last = finalUpstreams(r);
      for (const node of ['replica2', 'primary']) {
        expect(last.get(node), `${node}'s last lag samples`).toMatchObject({ upstream: 'replica1' });
        expect(last.get(node)!.streaming).toBeGreaterThan(0);
      }
      // each catch-up is a timed step of the cutover
      for (const step of ['follow replica2', 'rejoin-streaming']) {
        expect(r.cutover?.steps.find((s) => s.name === step)?.detail, step).toMatch(/streams from replica1 on timeline 2.*caught up .* after \d+ms/);
      }
      expect(r.integrity?.standbys?.map((s) => [s.node, s.role, s.tables.every((t) => t.match)])).toEqual([
        ['replica2', 'standby', true],
        ['primary', 'rejoined', true],
      ]);
      expect(r.checks.find((c) => c.name === 'standbys')?.valid).toBe(true);
    },
  },
  'failover-rejoin': {
    exitCode: 0,
    check: (r) => {
      expect(r.integrity?.lostWrites).toBe(0);
      expect(r.cutover?.steps.find((s) => s.name === 'rejoin-rewind')?.detail).toContain('servers diverged');
      // the rejoined old primary is what the new primary's tables were compared with
      expect(r.integrity?.target).toBe('primary');
      expect(r.integrity?.tables.length).toBeGreaterThan(0);
      expect(r.integrity?.tables.every((t) => t.match)).toBe(true);
      expect(finalUpstreams(r).get('primary')).toMatchObject({ upstream: 'replica' });
    },
  },
  'streaming-cutover-tls': {
    exitCode: 0,
    check: (r) => {
      passesClean.check!(r);
      const tls = r.events.filter((e) => e.kind === 'replication-tls');
      expect(tls.length).toBeGreaterThan(0);
      expect(tls.every((e) => e.ssl === true && e.clientDn === '/CN=replicator')).toBe(true);
      expect(r.checks.find((c) => c.name === 'tls')?.valid).toBe(true);
    },
  },
};
const COMPARISONS = ['compare-strategies', 'compare-endpoints'];
// run as shipped, with assertions of their own, by the file named (so CI does not run them twice)
const RUN_ELSEWHERE: Record<string, string> = {
  'patroni-switchover': 'test/e2e/patroni-switchover.test.ts',
  'patroni-failover': 'test/e2e/patroni-failover.test.ts',
  'patroni-sync-failover': 'test/e2e/patroni-failover.test.ts',
  'patroni-async-failover-loses-writes': 'test/e2e/patroni-failover.test.ts',
  'single-to-patroni': 'test/e2e/patroni-migration.test.ts',
  // three failovers of 45 s at ttl 10/20/30 s: measured, and checked to load in test/unit/patroni.test.ts
  'compare-patroni-ttl': 'bench/patroni-bench.ts',
};

const bundled = await listBundledScenarios();

afterAll(removeRunFolders);

describe('bundled scenarios, as shipped', () => {
  it('each has an expected outcome here', () => {
    const known = [...Object.keys(EXPECTED), ...COMPARISONS, ...Object.keys(RUN_ELSEWHERE)].sort();
    expect(bundled.map((s) => s.name).sort()).toEqual(known);
    const root = path.resolve(import.meta.dirname, '../..');
    for (const [name, file] of Object.entries(RUN_ELSEWHERE)) expect(readFileSync(path.join(root, file), 'utf8'), `${file} runs ${name}`).toContain(name);
  });

  for (const name of Object.keys(EXPECTED)) {
    it(`${name} ends with exit ${EXPECTED[name].exitCode}`, async () => {
      const file = bundled.find((s) => s.name === name)!.file;
      const run = await runInTemp(await loadScenarioFile(file));
      expect(run.results.error, JSON.stringify(run.results.error)).toBeNull();
      const notValid = run.results.checks.filter((c) => c.valid !== true).map((c) => `${c.name}: ${c.detail}`);
      expect(run.exitCode, `checks not valid:\n${notValid.join('\n')}`).toBe(EXPECTED[name].exitCode);
      EXPECTED[name].check?.(run.results);
      expect(leftovers(run.results.runId)).toEqual([]);
    });
  }

  for (const name of COMPARISONS) {
    it(`${name} runs every variant and passes`, async () => {
      const file = bundled.find((s) => s.name === name)!.file;
      const outcome = await runComparison(await loadComparisonFile(file), { out: tempDir('compare') });
      // each failed variant with the checks that failed it, so a red run says why
      const failed = outcome.runs
        .filter((r) => r.exitCode !== 0)
        .map((r) => `${r.label} (exit ${r.exitCode}): ${r.results.checks.filter((c) => c.valid !== true).map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
      expect(failed).toEqual([]);
      expect(outcome.exitCode).toBe(0);
      expect(outcome.runs.length).toBeGreaterThanOrEqual(3);
    }, 1_800_000);
  }
});
