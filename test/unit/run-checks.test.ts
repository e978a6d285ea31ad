// The checks a verdict rests on, each proven both ways on crafted facts, and their
// composition: false beats unknown beats true, a throwing check is unknown, none is unknown.
import { describe, it, expect } from 'vitest';
import { compose, safeCheck, verdictOf } from '../../harness/checks/check.js';
import { runChecks, type RunFacts } from '../../harness/checks/run-checks.js';
import { parseScenarioText } from '../../harness/scenario/load-scenario.js';
import type { CheckResult, Integrity, LoadSummary, Results } from '../../harness/results/results.js';
import type { RunEvent } from '../../harness/record/events.js';
import { integrity } from '../fixtures/integrity.js';

const SCENARIO = `
name: checks
duration: 10s
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary }
strategy: { kind: streaming, from: primary, to: replica }
workload:
  writes: { rate: 100 }
  probe: { interval: 50ms }
timeline:
  - at: 5s
    cutover: {}
  - at: 6s
    sql: { node: replica, statement: "SELECT 1" }
  - at: 7s
    fault: { kind: pause, node: primary, for: 1s }
thresholds:
  writeDowntime: "< 5s"
`;

function load(intended: number): LoadSummary {
  const latency = { p50: 1, p95: 2, p99: 3, max: 4, mean: 1 };
  return { intended, ok: intended, failed: 0, indeterminate: 0, dropped: 0, achievedRate: intended / 10, latencyMs: latency, okLatencyMs: latency, histogram: null, okHistogram: null, errors: {}, perSecond: [] };
}

function facts(overrides: Partial<RunFacts> = {}): RunFacts {
  const scenario = parseScenarioText(SCENARIO, 'checks.yaml');
  const events: RunEvent[] = [
    { t: 6100, kind: 'step-end', step: 'sql', index: 1, label: 'sql on replica: SELECT 1', ok: true, allowFailure: false, durationMs: 3, rowCount: 1, outputTail: '1' },
    { t: 7000, kind: 'fault-start', fault: 'pause', node: 'primary', injectMs: 1 },
    { t: 7010, kind: 'fault-check', fault: 'pause', node: 'primary', ok: true, afterMs: 10, detail: 'silent' },
    { t: 8000, kind: 'fault-end', fault: 'pause', node: 'primary', durationMs: 1000 },
  ];
  return {
    scenario,
    error: null,
    events,
    accounting: [
      { stream: 'write', rate: 100, intended: 1000, recorded: 1000, duplicates: 0 },
      { stream: 'probe', rate: 20, intended: 200, recorded: 200, duplicates: 0 },
    ],
    loadMs: 10_000,
    downtime: { writes: { longestMs: 120, totalMs: 120, windows: [{ startMs: 5000, endMs: 5120, durationMs: 120, failedOps: 12, openAtEnd: false }] }, reads: { longestMs: 0, totalMs: 0, windows: [] }, serverWriteGapMs: 150 },
    load: { writes: load(1000), reads: load(0), probe: load(200) },
    cutover: { strategy: 'streaming', from: 'primary', to: 'replica', dryRun: false, ok: true, rolledBack: false, steps: [{ name: 'promote', startMs: 5010, endMs: 5060, ok: true, detail: 'replica promoted' }] },
    integrity: integrity({ finalPrimary: 'replica' }),
    thresholds: [{ name: 'writeDowntime', limit: '< 5s', actual: 120, actualText: '120ms', valid: true, pass: true }],
    ...overrides,
  };
}

const named = (checks: CheckResult[], name: string) => checks.find((c) => c.name === name);
const verdict = (f: RunFacts) => verdictOf(runChecks(f));

describe('compose and the verdict', () => {
  it('is false if any check is false, else unknown if any is unknown, else true', () => {
    expect(compose([{ valid: true }, { valid: false }, { valid: 'unknown' }])).toBe(false);
    expect(compose([{ valid: true }, { valid: 'unknown' }])).toBe('unknown');
    expect(compose([{ valid: true }, { valid: true }])).toBe(true);
  });

  it('is unknown with no check at all: nothing checked is not a pass', () => {
    expect(compose([])).toBe('unknown');
    expect(verdictOf([])).toBe('fail');
  });

  it('fails on unknown, not only on false', () => {
    expect(verdictOf([{ name: 'a', valid: true, detail: '' }, { name: 'b', valid: 'unknown', detail: 'could not run' }])).toBe('fail');
    expect(verdictOf([{ name: 'a', valid: true, detail: '' }])).toBe('pass');
  });

  it('turns a check that throws into unknown, never a pass', () => {
    const c = safeCheck('exploding', () => {
      throw new Error('no server');
    });
    expect(c).toEqual({ name: 'exploding', valid: 'unknown', detail: 'the check could not run: no server' });
  });
});

describe('runChecks', () => {
  it('passes a clean run and lists every check the verdict rests on', () => {
    const checks = runChecks(facts());
    expect(checks.map((c) => c.name)).toEqual([
      'run finished',
      'cutover',
      'step timeline[1] (sql on replica)',
      'faults',
      'operations accounted for',
      'downtime recovered',
      'write ledger',
      'tables',
      'schema',
      'sequences',
      'split brain',
      'threshold writeDowntime < 5s',
    ]);
    expect(checks.filter((c) => c.valid !== true)).toEqual([]);
    expect(verdictOf(checks)).toBe('pass');
  });

  it('fails a run that did not finish', () => {
    const checks = runChecks(facts({ error: { message: 'primary never became ready', code: 'PGDRILL_ENVIRONMENT' } }));
    expect(named(checks, 'run finished')).toMatchObject({ valid: false, detail: expect.stringContaining('primary never became ready') });
  });

  it('fails a failed cutover and makes a cutover that never ran unknown', () => {
    const f = facts();
    const failed = runChecks(facts({ cutover: { ...f.cutover!, ok: false, steps: [{ name: 'promote', startMs: 1, endMs: 2, ok: false, detail: 'timed out' }] } }));
    expect(named(failed, 'cutover')).toMatchObject({ valid: false, detail: expect.stringContaining('at step promote: timed out') });
    expect(named(runChecks(facts({ cutover: null })), 'cutover')).toMatchObject({ valid: 'unknown', detail: expect.stringContaining('never ran') });
  });

  it('makes a cutover that promoted after the load had stopped unknown: nothing was rehearsed under load', () => {
    const f = facts();
    const late = facts({ loadWindow: { startMs: 0, endMs: 4000 } });
    expect(named(runChecks(late), 'cutover')).toMatchObject({ valid: 'unknown', detail: expect.stringContaining('after the load had stopped') });
    expect(named(runChecks(facts({ loadWindow: { startMs: 0, endMs: 10_000 } })), 'cutover')?.valid).toBe(true);
    expect(f.cutover?.steps[0].name).toBe('promote');
  });

  it('fails a failing sql step, lets allowFailure through and makes a step that never ran unknown', () => {
    const failing = facts();
    const end = failing.events[0] as Extract<RunEvent, { kind: 'step-end' }>;
    end.ok = false;
    end.error = 'ERROR: relation "nope" does not exist';
    expect(named(runChecks(failing), 'step timeline[1] (sql on replica)')).toMatchObject({ valid: false });
    end.allowFailure = true;
    expect(named(runChecks(failing), 'step timeline[1] (sql on replica)')).toMatchObject({ valid: true, detail: expect.stringContaining('allowFailure') });
    const never = facts({ events: facts().events.slice(1) });
    expect(named(runChecks(never), 'step timeline[1] (sql on replica)')).toMatchObject({ valid: 'unknown' });
  });

  it('fails a fault that could not be injected and makes one not seen to act unknown', () => {
    const f = facts();
    const failed = facts({ events: [...f.events, { t: 7000, kind: 'fault-failed', fault: 'pause', node: 'primary', error: 'no such process' }] });
    expect(named(runChecks(failed), 'faults')).toMatchObject({ valid: false });
    const unseen = facts({ events: f.events.map((e) => (e.kind === 'fault-check' ? { ...e, kind: 'fault-check-failed', ok: false } : e)) as RunEvent[] });
    expect(named(runChecks(unseen), 'faults')).toMatchObject({ valid: 'unknown' });
  });

  it('fails when the scheduler lost operations: fewer records than intended, or fewer intended than rate x duration', () => {
    const lostRecords = facts({ accounting: [{ stream: 'write', rate: 100, intended: 1000, recorded: 990, duplicates: 0 }] });
    expect(named(runChecks(lostRecords), 'operations accounted for')).toMatchObject({ valid: false, detail: expect.stringContaining('1000 intended but 990 recorded') });
    const lostIntents = facts({ accounting: [{ stream: 'write', rate: 100, intended: 900, recorded: 900, duplicates: 0 }] });
    expect(named(runChecks(lostIntents), 'operations accounted for')).toMatchObject({ valid: false, detail: expect.stringContaining('is 1000') });
    const twice = facts({ accounting: [{ stream: 'write', rate: 100, intended: 1000, recorded: 1000, duplicates: 2 }] });
    expect(named(runChecks(twice), 'operations accounted for')).toMatchObject({ valid: false });
  });

  it('cannot account for a load that broke off before the scheduler said how many it intended: unknown', () => {
    const uncounted = facts({ accounting: [{ stream: 'write', rate: 100, intended: 412, recorded: 412, duplicates: 0, unknown: 'the scheduler never reported how many it intended' }] });
    expect(named(runChecks(uncounted), 'operations accounted for')).toMatchObject({ valid: 'unknown', detail: 'write: the scheduler never reported how many it intended' });
  });

  it('fails an outage still open at the end of the load, whatever the thresholds say', () => {
    const f = facts();
    const open = facts({ downtime: { ...f.downtime, writes: { longestMs: 3000, totalMs: 3000, windows: [{ startMs: 7000, endMs: 10_000, durationMs: 3000, failedOps: 300, openAtEnd: true }] } } });
    expect(named(runChecks(open), 'downtime recovered')).toMatchObject({ valid: false, detail: expect.stringContaining('still down when the load ended') });
    expect(verdict(open)).toBe('fail');
  });

  it('fails lost writes and makes a ledger that could not be read unknown', () => {
    const lost = facts({
      integrity: integrity({ lostWrites: 2, lost: [{ table: 'orders', key: 7, op: 'insert', version: 1, requestId: 'r', found: 'missing', reason: 'gone' }] }),
    });
    expect(named(runChecks(lost), 'write ledger')).toMatchObject({ valid: false, detail: expect.stringContaining('2 acknowledged write(s) lost') });
    const unreadable = facts({ integrity: integrity({ lostWrites: null, acknowledgedWrites: null, unknown: { ledger: 'connection refused' } }) });
    expect(named(runChecks(unreadable), 'write ledger')).toMatchObject({ valid: 'unknown', detail: expect.stringContaining('connection refused') });
    expect(verdict(unreadable)).toBe('fail');
  });

  it('fails differing tables, and a comparison that did not happen is unknown, not a pass', () => {
    const differ = facts({
      integrity: integrity({ tables: [{ table: 'users', sourceRows: 10, targetRows: 10, sourceHash: 'a', targetHash: 'b', match: false }], hashMismatches: 1 }),
    });
    expect(named(runChecks(differ), 'tables')).toMatchObject({ valid: false, detail: expect.stringContaining('users (same 10 rows, different content)') });
    const noFingerprint = facts({ integrity: integrity({ tables: [], rowCountMismatches: null, unknown: { tables: 'the fingerprint at the freeze failed' } }) });
    expect(named(runChecks(noFingerprint), 'tables')).toMatchObject({ valid: 'unknown' });
    const empty = facts({ integrity: integrity({ tables: [] }) });
    expect(named(runChecks(empty), 'tables')).toMatchObject({ valid: 'unknown' });
  });

  it('leaves out the table and schema checks where there is nothing to compare (one node, no cutover)', () => {
    const single = facts({ integrity: integrity({ tables: [], notApplicable: { tables: 'one node', schema: 'one node', splitBrain: 'no promotion' } }) });
    const names = runChecks(single).map((c) => c.name);
    expect(names).not.toContain('tables');
    expect(names).not.toContain('schema');
    expect(names).not.toContain('split brain');
  });

  it('fails schema differences, sequences behind and split brain', () => {
    const schema = facts({ integrity: integrity({ schemaDifferences: [{ kind: 'index', name: 'public.orders_user_id_idx', source: 'CREATE INDEX ...', target: null }] }) });
    expect(named(runChecks(schema), 'schema')).toMatchObject({ valid: false, detail: expect.stringContaining('missing on the target') });
    const behind = facts({ integrity: integrity({ sequences: [{ sequence: 'orders_id_seq', table: 'orders', column: 'id', lastValue: 1, maxValue: 9, ok: false }] }) });
    expect(named(runChecks(behind), 'sequences')).toMatchObject({ valid: false });
    const split = facts({ integrity: integrity({ writesAfterPromotion: 4 }) });
    expect(named(runChecks(split), 'split brain')).toMatchObject({ valid: false });
    const unknownSplit = facts({ integrity: integrity({ writesAfterPromotion: null, unknown: { splitBrain: 'old primary unreachable' } }) });
    expect(named(runChecks(unknownSplit), 'split brain')).toMatchObject({ valid: 'unknown' });
  });

  it('makes every integrity check unknown when the run never verified', () => {
    const checks = runChecks(facts({ integrity: null as Integrity | null }));
    for (const name of ['write ledger', 'tables', 'schema', 'sequences', 'split brain']) {
      expect(named(checks, name)?.valid).toBe('unknown');
    }
  });

  it('carries each threshold as a check, unknown when it was not measured', () => {
    const thresholds: Results['thresholds'] = [{ name: 'lostWrites', limit: '== 0', actual: null, actualText: 'not measured: no ledger', valid: 'unknown', pass: false }];
    expect(named(runChecks(facts({ thresholds })), 'threshold lostWrites == 0')).toMatchObject({ valid: 'unknown' });
  });
});
