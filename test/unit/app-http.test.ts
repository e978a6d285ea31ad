// The app load's I/O against tiny HTTP servers made for each case (no database): one request's
// three outcomes, the retry of a keep-alive socket the server closed while idle, and the open
// loop over HTTP: a server that stalls does not slow the schedule, every intended request is
// recorded once, and what cannot start in time is dropped.
import http from 'node:http';
import net from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { httpRequest } from '../../harness/app/http-request.js';
import { runAppLoad } from '../../harness/app/app-load.js';
import { AppLog } from '../../harness/app/app-log.js';
import { Recorder } from '../../harness/record/recorder.js';
import type { OpRecord } from '../../harness/record/records.js';
import { freeListenPort } from '../../harness/util/free-port.js';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r); })));
});

async function serve(handler: http.RequestListener, setup?: (s: http.Server) => void): Promise<{ host: string; port: number }> {
  const server = http.createServer(handler);
  setup?.(server);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
}

describe('one request to the app', () => {
  it('answers with the status and the body, carrying X-Request-Id and a JSON body', async () => {
    let seen: { id?: string; type?: string; body?: string } = {};
    const address = await serve((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen = { id: req.headers['x-request-id'] as string, type: req.headers['content-type'], body };
        res.writeHead(201).end('{"id":"7"}');
      });
    });
    const outcome = await httpRequest(address, { method: 'POST', path: '/orders', body: '{"a":1}' }, { timeoutMs: 1000, requestId: 'abc' });
    expect(outcome).toEqual({ kind: 'response', status: 201, body: '{"id":"7"}' });
    expect(seen).toEqual({ id: 'abc', type: 'application/json', body: '{"a":1}' });
  });

  it('is a timeout when the app does not answer in time', async () => {
    const address = await serve(() => undefined); // never answers
    const started = Date.now();
    expect(await httpRequest(address, { method: 'GET', path: '/' }, { timeoutMs: 150 })).toEqual({ kind: 'timeout', timeoutMs: 150 });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('is a connection error when nothing listens', async () => {
    const port = await freeListenPort();
    const outcome = await httpRequest({ host: '127.0.0.1', port }, { method: 'GET', path: '/' }, { timeoutMs: 1000 });
    expect(outcome).toMatchObject({ kind: 'error', code: 'ECONNREFUSED', sent: false });
  });

  it('retries once on a fresh connection when the app drops a kept-alive socket as it is reused', async () => {
    // a raw server: on each connection it answers the first request, and hangs up on the next
    const connections: number[] = [];
    const raw = net.createServer((socket) => {
      const n = connections.push(0) - 1;
      socket.on('data', () => {
        connections[n]++;
        if (connections[n] === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
        else socket.destroy();
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
    const address = { host: '127.0.0.1', port: (raw.address() as net.AddressInfo).port };
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect(await httpRequest(address, { method: 'GET', path: '/' }, { timeoutMs: 1000, agent })).toMatchObject({ status: 200 });
      expect(await httpRequest(address, { method: 'GET', path: '/' }, { timeoutMs: 1000, agent })).toMatchObject({ kind: 'response', status: 200 });
      // the second request went out on the kept socket, was hung up on, and was sent again on a new one
      expect(connections).toEqual([2, 1]);
    } finally {
      agent.destroy();
      await new Promise((r) => raw.close(r));
    }
  });
});

describe('the open loop over HTTP', () => {
  it('keeps its schedule while the app stalls: every intended request recorded once, late ones dropped', async () => {
    // answers at once, except for one second in the middle when it holds every request 1.5 s
    const t0 = Date.now();
    const address = await serve((_req, res) => {
      const now = Date.now() - t0;
      if (now > 600 && now < 1600) setTimeout(() => res.end('slow'), 1500);
      else res.end('fast');
    });
    const recorder = new Recorder();
    const recorded: OpRecord[] = [];
    recorder.onOp((op) => recorded.push(op));
    const ids = { n: 0 };
    const summary = await runAppLoad({
      config: { rate: 100, connections: 5, timeout: 3000, requests: [{ method: 'GET', path: '/', weight: 1 }] },
      address,
      recorder,
      startMs: recorder.now(),
      durationMs: 3000,
      signal: new AbortController().signal,
      nextId: () => ++ids.n,
    });
    const ops = recorded.filter((o) => o.stream === 'app');
    expect(summary.intended).toBe(300);
    expect(ops).toHaveLength(300);
    expect(new Set(ops.map((o) => o.id)).size).toBe(300);
    // the intended times are the schedule's, 10 ms apart, whatever the app did
    const intended = ops.map((o) => o.intendedMs).sort((a, b) => a - b);
    expect(intended[299] - intended[0]).toBeCloseTo(2990, 0);
    // five slots held for 1.5 s: requests meanwhile could not start within 1 s and were dropped
    expect(summary.dropped).toBeGreaterThan(30);
    expect(ops.filter((o) => o.outcome === 'dropped').every((o) => o.startMs === undefined && o.status === undefined)).toBe(true);
    // a stalled one counts its wait from its intended start
    const slow = ops.filter((o) => o.outcome === 'ok' && o.endMs - o.intendedMs > 1000);
    expect(slow.length).toBeGreaterThanOrEqual(5);
    expect(ops.filter((o) => o.outcome === 'ok').every((o) => o.status === 200 && o.request === 'GET /')).toBe(true);
    expect(recorder.events.map((e) => e.kind)).toEqual(['app-load-start', 'app-load-end']);
  }, 15_000);
});

describe('app.log', () => {
  it('stamps every line with its run time and stream, also a last line without a newline', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-applog-'));
    try {
      let now = 1234.6;
      const log = new AppLog(path.join(dir, 'app.log'), () => now);
      log.write('out', 'listening\nhal');
      now = 2000;
      log.write('out', 'f a line\n');
      log.write('err', Buffer.from('boom'));
      log.note('the app exited (exit code 1)');
      await log.close();
      expect(await readFile(path.join(dir, 'app.log'), 'utf8')).toBe(
        '    1.235 out| listening\n    2.000 out| half a line\n    2.000 err| [pgdrill] the app exited (exit code 1)\n    2.000 err| boom\n',
      );
      expect(log.tail()).toBe('listening\nhalf a line\nboom');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
