// The app's pure parts over crafted histories: how an HTTP outcome is recorded, the request
// rotation, the log scan's window and patterns, the checks the app adds to the verdict (each
// both ways), the app thresholds, and the report's three downtime views and its "why".
import { describe, expect, it } from 'vitest';
import { classifyOutcome, weightedRotation } from '../../harness/app/app-load.js';
import { DB_CONNECTION_ERROR_PATTERNS, matchConnectionError, parseLogLine, scanAppLog } from '../../harness/app/log-scan.js';
import { formatLogLine } from '../../harness/app/app-log.js';
import { appResults, logScanWindow, summarizeAppLoad } from '../../harness/app/app-results.js';
import { appVerdictChecks } from '../../harness/checks/app-verdict.js';
import { runChecks, type RunFacts } from '../../harness/checks/run-checks.js';
import { evaluateThresholds } from '../../harness/checks/thresholds.js';
import { downtimeWindows } from '../../harness/checks/downtime.js';
import { parseScenarioText } from '../../harness/scenario/load-scenario.js';
import { appExplanation, downtimeViews, formatView } from '../../harness/report/app-view.js';
import type { AppLoadRequest } from '../../harness/scenario/scenario.js';
import type { OpRecord } from '../../harness/record/records.js';
import type { RunEvent } from '../../harness/record/events.js';
import type { AppResults, Results } from '../../harness/results/results.js';

const ORDER: AppLoadRequest = { method: 'POST', path: '/orders', body: '{}', weight: 1, ledger: { table: 'orders', key: 'id', op: 'insert' } };
const RECENT: AppLoadRequest = { method: 'GET', path: '/orders/recent', weight: 1 };
const RID = '0b6f6c1e-8a53-4a59-9a55-2f1f0e7e3c01';

describe('an HTTP outcome, recorded', () => {
  it('is ok for an answer below 500; a 2xx order is an acknowledged write with the key from its JSON', () => {
    const r = classifyOutcome({ kind: 'response', status: 201, body: '{"id":"1234","version":1}' }, ORDER, RID);
    expect(r).toMatchObject({ outcome: 'ok', status: 201, request: 'POST /orders', kind: 'request' });
    expect(r.ledger).toEqual({ table: 'orders', key: 1234, op: 'insert', version: 1, requestId: RID });
    // served, but nothing written: no ledger entry
    expect(classifyOutcome({ kind: 'response', status: 422, body: '{}' }, ORDER, RID)).toEqual({ outcome: 'ok', kind: 'request', request: 'POST /orders', status: 422 });
    expect(classifyOutcome({ kind: 'response', status: 404, body: '' }, RECENT, RID).ledger).toBeUndefined();
  });

  it('keeps the request id when the key is not in the answer: the ledger still finds the write by it', () => {
    expect(classifyOutcome({ kind: 'response', status: 201, body: 'created' }, ORDER, RID).ledger).toMatchObject({ key: 0, requestId: RID });
  });

  it('is failed for a 5xx and for a connection error, with the status and the error kind', () => {
    const five = classifyOutcome({ kind: 'response', status: 503, body: '{"error":"database unavailable"}' }, ORDER, RID);
    expect(five).toMatchObject({ outcome: 'failed', status: 503, error: { class: 'http 503', message: '{"error":"database unavailable"}' } });
    const refused = classifyOutcome({ kind: 'error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1', sent: false }, RECENT, RID);
    expect(refused).toMatchObject({ outcome: 'failed', error: { class: 'connection ECONNREFUSED' } });
    expect(refused.status).toBeUndefined();
  });

  it('is indeterminate when no answer came in time; an order then carries the entry to look for', () => {
    const r = classifyOutcome({ kind: 'timeout', timeoutMs: 5000 }, ORDER, RID);
    expect(r).toMatchObject({ outcome: 'indeterminate', error: { class: 'timeout', message: 'no answer within 5000ms' } });
    expect(r.ledger).toMatchObject({ key: 0, requestId: RID });
  });
});

describe('the request rotation', () => {
  it('sends requests in proportion to their weights, interleaved, never one of weight 0', () => {
    const next = weightedRotation([
      { name: 'a', weight: 2 },
      { name: 'b', weight: 1 },
      { name: 'c', weight: 0 },
    ]);
    const picks = Array.from({ length: 9 }, () => next().name).join('');
    expect(picks).toBe('abaabaaba');
    expect(() => weightedRotation([{ weight: 0 }])).toThrow(/every weight is 0/);
  });
});

const log = (...lines: [number, 'out' | 'err', string][]) => lines.map(([t, s, text]) => formatLogLine(t, s, text)).join('');

describe('the log scan', () => {
  it('reads back the lines app.log is written in', () => {
    expect(formatLogLine(12345.6, 'err', 'boom')).toBe('   12.346 err| boom\n');
    expect(parseLogLine('   12.346 err| boom')).toEqual({ t: 12346, stream: 'err', text: 'boom' });
    expect(parseLogLine('not a log line')).toBeUndefined();
  });

  it('recognises each pattern the contract names, and not ordinary lines or pgdrill\'s own notes', () => {
    expect(matchConnectionError('connect ECONNREFUSED 127.0.0.1:5432')).toBe('ECONNREFUSED');
    expect(matchConnectionError('FATAL: terminating connection due to administrator command')).toBe('terminating connection');
    expect(matchConnectionError('error code 57P01')).toBe('57P01 admin shutdown');
    expect(matchConnectionError('25006 cannot execute INSERT in a read-only transaction')).toBe('25006 read-only');
    expect(matchConnectionError('Error: Connection terminated unexpectedly')).toBe('Connection terminated');
    expect(matchConnectionError('Client has encountered a connection error and is not queryable')).toBe('not queryable');
    expect(matchConnectionError('GET /orders/recent 200 3ms')).toBeUndefined();
    expect(matchConnectionError('[pgdrill] the app exited (ECONNREFUSED)')).toBeUndefined();
    expect(DB_CONNECTION_ERROR_PATTERNS.length).toBeGreaterThanOrEqual(5);
  });

  it('counts matching lines from the window\'s start to its end only; earlier ones are "before"', () => {
    const text = log(
      [900, 'out', 'listening'],
      [1500, 'err', 'ERROR 57P01 terminating connection due to administrator command'],
      [2500, 'err', 'ERROR Connection terminated unexpectedly'],
      [2600, 'out', 'ERROR 25006 cannot execute INSERT in a read-only transaction'],
      [2700, 'out', 'GET /health 200'],
      [9000, 'err', 'ERROR connect ECONNREFUSED during teardown'],
    );
    const scan = scanAppLog(text, { from: 'cutover end', fromMs: 2000, toMs: 8000 });
    expect(scan).toMatchObject({ lines: 6, matched: 2, before: 1, byPattern: { 'Connection terminated': 1, '25006 read-only': 1 } });
    expect(scan.examples.map((e) => e.t)).toEqual([2500, 2600]);
  });

  it('starts at the end of the real cutover, else at the load start, and ends where pgdrill began stopping the app', () => {
    const events = [
      { t: 3000, kind: 'cutover-end', ok: true, dryRun: true, rolledBack: false },
      { t: 5000, kind: 'cutover-end', ok: true, dryRun: false, rolledBack: false },
      { t: 12_000, kind: 'app-stop', how: 'SIGTERM', durationMs: 40 },
    ] as RunEvent[];
    expect(logScanWindow(events, 1000, 20_000)).toEqual({ from: 'cutover end', fromMs: 5000, toMs: 11_960 });
    expect(logScanWindow(events.slice(0, 1), 1000, 20_000)).toEqual({ from: 'load start', fromMs: 1000, toMs: 20_000 });
  });
});

const SCENARIO = `
name: app-checks
duration: 10s
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary }
strategy: { kind: streaming, from: primary, to: replica }
workload: { writes: { rate: 10 } }
app:
  load: { rate: 10 }
  checks:
    - { method: GET, path: /health, expect: 200 }
    - { method: GET, path: /orders/1, expect: 200 }
timeline:
  - { at: 5s, cutover: {} }
thresholds: { appDowntime: "< 1s", appErrorRate: "< 5%", p99AppLatency: "< 1s", appLogErrors: "== 0" }
`;
const scenario = parseScenarioText(SCENARIO, 'app.yaml');

function appRun(overrides: Partial<AppResults> = {}): AppResults {
  return {
    command: 'node sample',
    sample: true,
    port: 40000,
    readyAfterMs: 300,
    exited: null,
    logScan: { file: 'app.log', from: 'cutover end', fromMs: 6000, toMs: 11_000, lines: 10, matched: 0, before: 3, byPattern: {}, examples: [] },
    checks: [
      { index: 0, method: 'GET', path: '/health', expect: 200, status: 200, ok: true, attempts: 1, afterMs: 5, when: 'after the cutover' },
      { index: 1, method: 'GET', path: '/orders/1', expect: 200, status: 200, ok: true, attempts: 2, afterMs: 210, when: 'after the cutover' },
    ],
    ...overrides,
  };
}

describe('the checks the app adds to the verdict', () => {
  it('are valid when the app stayed up and every check answered as expected', () => {
    const checks = appVerdictChecks(scenario.app, appRun());
    expect(checks.map((c) => [c.name, c.valid])).toEqual([
      ['app stayed up', true],
      ['app check[0] (GET /health)', true],
      ['app check[1] (GET /orders/1)', true],
    ]);
  });

  it('fail when the app exited by itself, or a check answered something else', () => {
    const run = appRun({
      exited: { t: 8000, code: null, signal: 'SIGKILL' },
      checks: [{ index: 0, method: 'GET', path: '/health', expect: 200, status: 503, ok: false, attempts: 9, afterMs: 5000, when: 'after the cutover', error: 'GET /health answered 503 ...' }],
    });
    const checks = appVerdictChecks(scenario.app, run);
    expect(checks.find((c) => c.name === 'app stayed up')).toMatchObject({ valid: false, detail: expect.stringMatching(/exited by itself \(killed by SIGKILL\)/) });
    expect(checks.find((c) => c.name === 'app check[0] (GET /health)')).toMatchObject({ valid: false, detail: 'after the cutover: GET /health answered 503 ...' });
    // a check that never ran is unknown, and unknown fails
    expect(checks.find((c) => c.name === 'app check[1] (GET /orders/1)')?.valid).toBe('unknown');
  });

  it('fail when the app never became ready, and are none without an app', () => {
    expect(appVerdictChecks(scenario.app, appRun({ readyAfterMs: null, checks: [] }))[0]).toMatchObject({ name: 'app stayed up', valid: false });
    expect(appVerdictChecks(undefined, undefined)).toEqual([]);
  });
});

function op(id: number, intendedMs: number, outcome: OpRecord['outcome'], extra: Partial<OpRecord> = {}): OpRecord {
  return { id, stream: 'app', kind: 'request', intendedMs, startMs: intendedMs, endMs: intendedMs + 5, outcome, ...extra };
}

/** 10 s of 10 requests/s from 1000 ms, not served from `downFrom` to `downTo` (or to the end). */
function appOps(downFrom: number, downTo: number): OpRecord[] {
  const ops: OpRecord[] = [];
  for (let i = 0; i < 100; i++) {
    const t = 1000 + i * 100;
    const down = t >= downFrom && t < downTo;
    ops.push(op(i + 1, t, down ? 'failed' : 'ok', down ? { status: 503, error: { class: 'http 503', message: 'x' } } : { status: 200 }));
  }
  return ops;
}

function measured(ops: OpRecord[], app = appRun()): Pick<Results, 'load' | 'downtime' | 'app'> & { thresholds: ReturnType<typeof evaluateThresholds> } {
  const window = { loadStartMs: 1000, loadEndMs: 11_000 };
  const zero = summarizeAppLoad([], window);
  const load = { writes: zero, reads: zero, probe: zero, app: summarizeAppLoad(ops, { ...window, timeoutMs: 5000 }) };
  const downtime = { writes: downtimeWindows([], { loadEndMs: 11_000 }), reads: downtimeWindows([], { loadEndMs: 11_000 }), serverWriteGapMs: null, app: downtimeWindows(ops, { loadEndMs: 11_000 }) };
  return { load, downtime, app, thresholds: evaluateThresholds(scenario.thresholds, { load, downtime, app }) };
}

describe('the app thresholds and its downtime', () => {
  it('measure the app stream by the same rules as the writes, with its status codes', () => {
    const m = measured(appOps(5000, 5500));
    expect(m.downtime.app).toMatchObject({ longestMs: 500, openAtEnd: false });
    expect(m.load.app).toMatchObject({ intended: 100, ok: 95, failed: 5, statusCodes: { '200': 95, '503': 5 }, timeouts: 0 });
    expect(m.thresholds.map((t) => [t.name, t.valid])).toEqual([
      ['appDowntime', true],
      ['appErrorRate', false], // 5% is not < 5%
      ['p99AppLatency', true],
      ['appLogErrors', true],
    ]);
  });

  it('fail a downtime limit whatever the number when the app was still down at the end', () => {
    const m = measured(appOps(10_700, 99_999));
    expect(m.downtime.app?.openAtEnd).toBe(true);
    const t = m.thresholds.find((x) => x.name === 'appDowntime')!;
    expect(t).toMatchObject({ valid: false, actual: 300 });
    expect(t.actualText).toMatch(/the app was still down when the load ended/);
  });

  it('are unknown without an app load or a scanned log; appLogErrors counts the scan', () => {
    const none = evaluateThresholds(scenario.thresholds, {});
    expect(none.every((t) => t.valid === 'unknown')).toBe(true);
    const scanned = measured(appOps(0, 0), appRun({ logScan: { ...appRun().logScan!, matched: 7 } }));
    expect(scanned.thresholds.find((t) => t.name === 'appLogErrors')).toMatchObject({ valid: false, actual: 7 });
  });
});

describe('the shared checks with an app stream', () => {
  const m = measured(appOps(10_700, 99_999));
  const facts: RunFacts = {
    scenario,
    error: null,
    events: [],
    accounting: [
      { stream: 'write', rate: 10, intended: 100, recorded: 100, duplicates: 0 },
      { stream: 'app', rate: 10, intended: 100, recorded: 99, duplicates: 0 },
    ],
    loadMs: 10_000,
    downtime: m.downtime,
    load: m.load,
    cutover: null,
    integrity: null,
    thresholds: m.thresholds,
    app: m.app,
  };
  const checks = runChecks(facts);

  it('count a request the scheduler intended but never recorded as a failure of the accounting', () => {
    expect(checks.find((c) => c.name === 'operations accounted for')).toMatchObject({ valid: false, detail: expect.stringMatching(/app: 100 intended but 99 recorded/) });
  });

  it('say the app was not recovered when its outage was open at the end', () => {
    expect(checks.find((c) => c.name === 'downtime recovered')).toMatchObject({ valid: false, detail: expect.stringMatching(/^app requests were still down/) });
  });
});

describe('the report\'s app view', () => {
  function results(appDownMs: number, scan: Partial<NonNullable<AppResults['logScan']>> = {}, app: Partial<AppResults> = {}): Results {
    const m = measured(appOps(5000, 5000 + appDownMs), appRun({ logScan: { ...appRun().logScan!, ...scan }, ...app }));
    const writes = downtimeWindows([op(1, 5000, 'failed', { stream: 'write' }), op(2, 5300, 'ok', { stream: 'write' })], { loadEndMs: 11_000 });
    return {
      scenario,
      phases: [{ name: 'load', startMs: 1000, endMs: 11_000 }],
      load: { ...m.load, writes: { ...m.load.writes, intended: 100 } },
      downtime: { ...m.downtime, writes, serverWriteGapMs: 400 },
      app: m.app,
    } as unknown as Results;
  }

  it('puts the three views of the same run side by side', () => {
    const views = downtimeViews(results(3000));
    expect(views.map((v) => [v.name, formatView(v)])).toEqual([
      ['server write gap', '400ms'],
      ['client view (writes)', '300ms'],
      ['app view', '3s'],
    ]);
  });

  it('says why the app was down longer: the connection errors in its log after the cutover', () => {
    const why = appExplanation(results(3000, { matched: 42, byPattern: { 'not queryable': 40, ECONNRESET: 2 }, examples: [{ t: 6100, line: 'ERROR GET /health: Client has encountered a connection error and is not queryable' }] }));
    expect(why).toEqual([expect.stringMatching(/^The app's users were down 2\.7s longer than the database's clients \(3s against 300ms\)\. Its log has 42 database connection errors after the cutover \(most: not queryable, e\.g\. "ERROR GET \/health/)]);
  });

  it('says when the app saw what the database saw, and when it died by itself', () => {
    expect(appExplanation(results(300))).toEqual(["The app's users saw about what the database's clients saw (300ms against 300ms)."]);
    const died = appExplanation(results(300, {}, { exited: { t: 8000, code: null, signal: 'SIGKILL' } }));
    expect(died[0]).toMatch(/^The app was killed by SIGKILL at T\+7\.00s, before pgdrill stopped it/);
  });

  it('reads the app checks back from their events', () => {
    const events = [{ t: 6000, kind: 'app-check', index: 0, method: 'GET', path: '/health', expect: 200, status: 200, ok: true, attempts: 1, afterMs: 3, when: 'after the cutover' }] as RunEvent[];
    const app = appResults({ command: 'x', sample: false, port: 1, readyAfterMs: 5, exited: null, logFile: 'app.log' }, '', events, 1000, 9000);
    expect(app.checks).toEqual([{ index: 0, method: 'GET', path: '/health', expect: 200, status: 200, ok: true, attempts: 1, afterMs: 3, when: 'after the cutover' }]);
  });
});
