// Why pgdrill drives the app with its own open-loop scheduler rather than autocannon's loop:
// the same HTTP server, answering at once except for one stretch in which it holds every
// request (as an app does while its database is paused), loaded at the same rate through
// autocannon (closed loop per connection, overallRate) and through pgdrill's app load. Prints
// what each recorded. Not a test: `npm run build && node dist/bench/app-load-accounting.js`
// (flags: --rate 100 --connections 10 --seconds 6 --stall-from 2 --stall 2 --mode hold|down;
// down: the server stops listening for the stall instead, as an app that restarts).

import http from 'node:http';
import type net from 'node:net';
import autocannon from 'autocannon';
import { Recorder } from '../harness/record/recorder.js';
import type { OpRecord } from '../harness/record/records.js';
import { runAppLoad } from '../harness/app/app-load.js';
import { downtimeWindows } from '../harness/checks/downtime.js';
import { summarizeLoad } from '../harness/checks/load-summary.js';
import { benchArgs, choiceFlag, numberFlag } from './support/bench-args.js';

const { rate, connections, seconds, stallFromMs, stallMs, mode } = benchArgs(
  `npm run bench:app-load -- [flags]     (node dist/bench/app-load-accounting.js, after npm run build)

One HTTP server that stalls for a while, loaded by autocannon and by pgdrill's app load.`,
  {
    rate: { type: 'string', default: '100', value: 'N', help: 'requests per second' },
    connections: { type: 'string', default: '10', value: 'N', help: 'connections' },
    seconds: { type: 'string', default: '6', value: 'N', help: 'length of the load' },
    'stall-from': { type: 'string', default: '2', value: 'N', help: 'second the stall begins' },
    stall: { type: 'string', default: '2', value: 'N', help: 'seconds the stall lasts' },
    mode: { type: 'string', default: 'hold', value: 'MODE', help: 'hold: the server holds every request; down: it stops listening' },
  },
  (args) => ({
    rate: numberFlag('rate', args.rate, { min: 1 }),
    connections: numberFlag('connections', args.connections, { min: 1, integer: true }),
    seconds: numberFlag('seconds', args.seconds, { min: 1 }),
    stallFromMs: numberFlag('stall-from', args['stall-from']) * 1000,
    stallMs: numberFlag('stall', args.stall) * 1000,
    mode: choiceFlag('mode', args.mode, ['hold', 'down'] as const),
  }),
);

/** A server that holds every request arriving in [from, from + stall) until the stall ends. */
async function stallingServer(): Promise<{ port: number; arm: () => void; close: () => Promise<void>; seen: () => number }> {
  let t0 = Date.now();
  let seen = 0;
  const server = http.createServer((_req, res) => {
    seen++;
    const at = Date.now() - t0;
    if (mode === 'hold' && at >= stallFromMs && at < stallFromMs + stallMs) setTimeout(() => res.end('late'), stallFromMs + stallMs - at);
    else res.end('ok');
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const timers: NodeJS.Timeout[] = [];
  return {
    port,
    arm: () => {
      t0 = Date.now();
      seen = 0;
      if (mode !== 'down') return;
      // down: every connection is cut and new ones are refused for the stall
      timers.push(setTimeout(() => {
        server.close();
        server.closeAllConnections();
      }, stallFromMs));
      timers.push(setTimeout(() => server.listen(port, '127.0.0.1'), stallFromMs + stallMs));
    },
    seen: () => seen,
    close: () =>
      new Promise((r) => {
        timers.forEach(clearTimeout);
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function viaAutocannon() {
  const server = await stallingServer();
  server.arm();
  const result = await autocannon({ url: `http://127.0.0.1:${server.port}/`, connections, overallRate: rate, duration: seconds, timeout: 10 });
  const seen = server.seen();
  await server.close();
  return {
    tool: 'autocannon (overallRate)',
    intended: rate * seconds,
    recorded: result.requests.total,
    sent: seen,
    errorsOrTimeouts: result.errors + result.timeouts,
    p99: result.latency.p99,
    max: result.latency.max,
    dropped: '-',
    downtime: 'cannot tell: no intended start times',
  };
}

async function viaPgdrill() {
  const server = await stallingServer();
  const recorder = new Recorder();
  // the recorder keeps no operations (flat memory): collect them here to summarise
  const collected: OpRecord[] = [];
  recorder.onOp((op) => collected.push(op));
  let id = 0;
  server.arm();
  const startMs = recorder.now();
  const summary = await runAppLoad({
    config: { rate, connections, timeout: 10_000, requests: [{ method: 'GET', path: '/', weight: 1 }] },
    address: { host: '127.0.0.1', port: server.port },
    recorder,
    startMs,
    durationMs: seconds * 1000,
    signal: new AbortController().signal,
    nextId: () => ++id,
  });
  const seen = server.seen();
  await server.close();
  const ops: OpRecord[] = collected;
  const load = summarizeLoad(ops, { loadStartMs: startMs, loadEndMs: startMs + seconds * 1000, timeoutMs: 10_000 });
  const down = downtimeWindows(ops, { loadEndMs: startMs + seconds * 1000 });
  return {
    tool: "pgdrill's app load (open loop)",
    intended: summary.intended,
    recorded: ops.length,
    sent: seen,
    errorsOrTimeouts: summary.failed + summary.indeterminate,
    // answered requests only, like autocannon's figures (dropped ones would count at the timeout)
    p99: load.okLatencyMs.p99,
    max: load.okLatencyMs.max,
    dropped: String(summary.dropped),
    downtime: `${down.longestMs.toFixed(0)} ms`,
  };
}

const rows = [await viaAutocannon(), await viaPgdrill()];
console.log(
  `${rate} requests/s on ${connections} connections for ${seconds} s; from ${stallFromMs / 1000} s for ${stallMs / 1000} s the server ` +
    (mode === 'hold' ? 'holds every request' : 'is down (connections cut, new ones refused)'),
);
console.table(
  rows.map((r) => ({
    tool: r.tool,
    'intended (rate x s)': r.intended,
    'requests recorded': r.recorded,
    'requests the server saw': r.sent,
    'errors + timeouts': r.errorsOrTimeouts,
    'dropped (could not start in time)': r.dropped,
    'p99 of answered, ms': Math.round(r.p99),
    'max of answered, ms': Math.round(r.max),
    'longest outage': r.downtime,
  })),
);
