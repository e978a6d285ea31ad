// The crafted histories of issue 10's cases, run through the pure checks: what the verdict
// says of each. Not a test (the unit tests assert the same cases); a printout for people who
// want to see the numbers. `npm run build && node dist/bench/verdict-cases.js`
// With --old DIR it also runs an older build's checks (DIR/dist/harness/checks) side by side.

import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { OpRecord, OpOutcome } from '../harness/record/records.js';
import { checkLedger } from '../harness/checks/ledger-check.js';
import { downtimeWindows, serverWriteGapMs } from '../harness/checks/downtime.js';
import { summarizeLoad } from '../harness/checks/load-summary.js';
import { parseLimit } from '../harness/checks/threshold-grammar.js';
import { benchArgs } from './support/bench-args.js';

const values = benchArgs(
  `node dist/bench/verdict-cases.js [flags]     (after npm run build)

The crafted histories of issue 10's cases through the pure checks, and what the verdict says of each.`,
  { old: { type: 'string', value: 'DIR', help: "also run an older build's checks (DIR/dist/harness/checks) side by side" } },
  (args) => args,
);

const rid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
let n = 0;
function write(outcome: OpOutcome, op: 'insert' | 'update' | 'delete', key: number, version = 1): OpRecord {
  const id = n++;
  return { id, stream: 'write', kind: op, intendedMs: id * 10, endMs: id * 10 + 2, outcome, ledger: { table: 'orders', key, op, version, requestId: rid(id) } };
}
const stream = (codes: string, interval = 10): OpRecord[] =>
  [...codes].map((c, i) => ({ id: i, stream: 'write' as const, kind: 'insert' as const, intendedMs: i * interval, startMs: i * interval, endMs: i * interval + 2, outcome: (c === '.' ? 'ok' : 'failed') as OpOutcome }));

interface Case {
  name: string;
  now: () => string;
  old?: (m: OldModules) => string;
}
interface OldModules {
  ledger: { checkLedger(ops: OpRecord[], observed: unknown): { lostWrites: number; recoveredWrites: number } };
  downtime: { downtimeWindows(ops: OpRecord[], o: unknown): { longestMs: number; windows: unknown[] }; serverWriteGapMs(ops: OpRecord[]): number | null };
  load: { summarizeLoad(ops: OpRecord[], w: unknown): { latencyMs: { p99: number } } };
  thresholds: { evaluateThresholds(t: unknown, r: unknown): { pass: boolean; actualText: string }[] };
}

// case 1: a lost insert whose key the new primary hands out again
const lostInsert = write('ok', 'insert', 7);
const reused = write('ok', 'insert', 7);
// case 1b: a lost update at version 2, then another update to version 2
const lostUpdate = write('ok', 'update', 5, 2);
const sameVersion = write('ok', 'update', 5, 2);
// case 7: an indeterminate update that never applied, a later update reaching its version
const unknownUpdate = write('indeterminate', 'update', 4, 2);
const laterUpdate = write('ok', 'update', 4, 2);
// case 7b: an indeterminate delete that did not apply excusing a lost acknowledged insert
const lostInsert2 = write('ok', 'insert', 9);
const maybeDelete = write('indeterminate', 'delete', 9, 1);

const obs = (committed: OpRecord[], rows: Record<number, { version: number; by: OpRecord }>) => ({
  committed: new Set(committed.map((o) => o.ledger!.requestId)),
  tables: { orders: { rows: new Map(Object.entries(rows).map(([k, v]) => [k, { version: v.version, requestId: v.by.ledger!.requestId }])), keysByRequestId: new Map(), tracksVersion: true, tracksRequestId: true } },
});
const oldObs = (rows: Record<number, { version: number; by: OpRecord }>) => ({
  orders: { rows: new Map(Object.entries(rows).map(([k, v]) => [Number(k), { version: v.version, requestId: v.by.ledger!.requestId }])), requestIds: new Set<string>() },
});

// case 3: writes failing from 57 s to the end of a 60 s run, 100/s
const endOutage = stream('.'.repeat(5700) + 'x'.repeat(300));
// case 4: probes ok until 30 s, then failing until 60 s (every 20 ms)
const probes: OpRecord[] = Array.from({ length: 3000 }, (_, i) => ({
  id: i, stream: 'probe', kind: 'probe', intendedMs: i * 20, endMs: i * 20 + 1, outcome: i * 20 < 30_000 ? 'ok' : 'failed',
  ...(i * 20 < 30_000 ? { serverTimeMs: 1_700_000_000_000 + i * 20 } : {}),
}));
// case 5: 50 % of writes failing for 30 s
const flapping = stream(Array.from({ length: 4000 }, (_, i) => (i >= 500 && i < 3500 && i % 2 ? 'x' : '.')).join(''));
// case 6: 3 % of writes timing out at 5 s
const timeouts: OpRecord[] = Array.from({ length: 1000 }, (_, i) =>
  i % 33 === 0
    ? { id: i, stream: 'write', kind: 'insert', intendedMs: i * 10, endMs: i * 10 + 5000, outcome: 'indeterminate', error: { class: 'timeout', message: 'no answer' } }
    : { id: i, stream: 'write', kind: 'insert', intendedMs: i * 10, endMs: i * 10 + 5, outcome: 'ok' },
);
// case 10: a 300 ms latency fault with every write succeeding (the user's stall: 500 ms)
const slow = stream('.'.repeat(3000)).map((op) => ({ ...op, endMs: op.intendedMs + 300 }));

const cases: Case[] = [
  {
    name: '1 lost insert, key handed out again',
    now: () => `lostWrites ${checkLedger([lostInsert, reused], obs([reused], { 7: { version: 1, by: reused } })).lostWrites}`,
    old: (m) => `lostWrites ${m.ledger.checkLedger([lostInsert, reused], oldObs({ 7: { version: 1, by: reused } })).lostWrites}`,
  },
  {
    name: '1 lost update at v2, another update to v2',
    now: () => `lostWrites ${checkLedger([lostUpdate, sameVersion], obs([sameVersion], { 5: { version: 2, by: sameVersion } })).lostWrites}`,
    old: (m) => `lostWrites ${m.ledger.checkLedger([lostUpdate, sameVersion], oldObs({ 5: { version: 2, by: sameVersion } })).lostWrites}`,
  },
  {
    name: '7 indeterminate update never applied',
    now: () => `recoveredWrites ${checkLedger([unknownUpdate, laterUpdate], obs([laterUpdate], { 4: { version: 2, by: laterUpdate } })).recoveredWrites}`,
    old: (m) => `recoveredWrites ${m.ledger.checkLedger([unknownUpdate, laterUpdate], oldObs({ 4: { version: 2, by: laterUpdate } })).recoveredWrites}`,
  },
  {
    name: '7 indeterminate delete excusing a lost insert',
    now: () => `lostWrites ${checkLedger([lostInsert2, maybeDelete], obs([lostInsert2], {})).lostWrites}`,
    old: (m) => `lostWrites ${m.ledger.checkLedger([lostInsert2, maybeDelete], oldObs({})).lostWrites}`,
  },
  {
    name: '3 writes failing 57 s to the end (writeDowntime < 5s)',
    now: () => {
      const d = downtimeWindows(endOutage, { loadEndMs: 60_000 });
      return `longest ${d.longestMs} ms, openAtEnd ${d.openAtEnd}: threshold fails (not recovered)`;
    },
    old: (m) => {
      const d = m.downtime.downtimeWindows(endOutage, { loadEndMs: 60_000 });
      const [t] = m.thresholds.evaluateThresholds({ writeDowntime: '< 5s' }, { load: { writes: { intended: 6000 } }, downtime: { writes: d } });
      return `longest ${d.longestMs} ms: threshold ${t.pass ? 'passes' : 'fails'}`;
    },
  },
  {
    name: '4 probes ok until 30 s, failing to 60 s',
    now: () => `server write gap ${Math.round(serverWriteGapMs(probes, { loadStartMs: 0, loadEndMs: 60_000 }) ?? -1)} ms`,
    old: (m) => `server write gap ${m.downtime.serverWriteGapMs(probes)} ms`,
  },
  {
    name: '5 half the writes failing for 30 s',
    now: () => {
      const d = downtimeWindows(flapping, { loadEndMs: 40_000 });
      return `longest ${d.longestMs} ms in ${d.windows.length} window(s)`;
    },
    old: (m) => {
      const d = m.downtime.downtimeWindows(flapping, { loadEndMs: 40_000 });
      return `longest ${d.longestMs} ms in ${d.windows.length} window(s)`;
    },
  },
  {
    name: '6 3 % of writes timing out at 5 s',
    now: () => `p99WriteLatency ${summarizeLoad(timeouts, { loadStartMs: 0, loadEndMs: 10_000, timeoutMs: 5000 }).latencyMs.p99} ms`,
    old: (m) => `p99WriteLatency ${m.load.summarizeLoad(timeouts, { loadStartMs: 0, loadEndMs: 10_000 }).latencyMs.p99} ms`,
  },
  {
    name: '9 writeErrorRate "< 1"',
    now: () => String(parseLimit('writeErrorRate', '< 1')).slice(0, 60) + '...',
  },
  {
    name: '9 lostWrites ">= 0"',
    now: () => String(parseLimit('lostWrites', '>= 0')).slice(0, 60) + '...',
  },
  {
    name: '10 300 ms latency, stall set to 500 ms',
    now: () => `longest ${downtimeWindows(slow, { loadEndMs: 30_000, stallMs: 500 }).longestMs} ms (default 250 ms: ${downtimeWindows(slow, { loadEndMs: 30_000 }).longestMs} ms)`,
    old: (m) => `longest ${m.downtime.downtimeWindows(slow, { loadEndMs: 30_000 }).longestMs} ms (the stall could not be set)`,
  },
];

async function main() {
  let old: OldModules | undefined;
  if (values.old) {
    const base = path.resolve(values.old, 'dist/harness/checks');
    const load = (f: string) => import(pathToFileURL(path.join(base, f)).href);
    old = { ledger: await load('ledger-check.js'), downtime: await load('downtime.js'), load: await load('load-summary.js'), thresholds: await load('thresholds.js') };
  }
  for (const c of cases) {
    const before = old && c.old ? c.old(old) : '';
    console.log(`${c.name.padEnd(52)} ${old ? `before: ${before.padEnd(52)} ` : ''}now: ${c.now()}`);
  }
}

void main();
