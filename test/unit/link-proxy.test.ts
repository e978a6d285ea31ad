// Link faults on the proxy against tiny servers on loopback: latency per direction, jitter
// without reordering, bandwidth, a blackhole that holds bytes and handshakes, a partition
// that rejects, resets to one side or both, and a crash that loses what a link still held.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpProxy } from '../../harness/endpoint/tcp-proxy.js';
import { LinkConditions } from '../../harness/endpoint/link-shaper.js';
import type { Address } from '../../harness/runtime/runtime.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).reverse().map((close) => close()));
});

interface Server {
  address: Address;
  /** every byte the server received, per connection in arrival order */
  received: string[];
  sockets: net.Socket[];
}

/** A server that answers every chunk with "<name>:<chunk>" and remembers what it got. */
async function echoServer(name: string): Promise<Server> {
  const state: Server = { address: { host: '127.0.0.1', port: 0 }, received: [], sockets: [] };
  const server = net.createServer((socket) => {
    const i = state.received.push('') - 1;
    state.sockets.push(socket);
    socket.on('error', () => undefined);
    socket.on('data', (d) => {
      state.received[i] += d.toString();
      socket.write(`${name}:${d}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    for (const s of state.sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  state.address = { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
  return state;
}

async function startProxy(target: Address, random?: () => number): Promise<TcpProxy> {
  const proxy = new TcpProxy(target, { name: 'test', random });
  await proxy.listen();
  closers.push(() => proxy.close());
  return proxy;
}

function connect(address: Address): net.Socket {
  const socket = net.connect(address);
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  closers.push(async () => void socket.destroy());
  return socket;
}

async function connected(address: Address): Promise<net.Socket> {
  const socket = connect(address);
  await new Promise((r) => socket.once('connect', r));
  return socket;
}

/** Writes `text` and resolves with the first answer and how long it took (or 'timeout'). */
function ask(socket: net.Socket, text: string, timeoutMs = 2000): Promise<{ answer: string; ms: number } | 'timeout'> {
  const started = performance.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('data', onData);
      resolve('timeout');
    }, timeoutMs);
    const onData = (d: Buffer) => {
      clearTimeout(timer);
      resolve({ answer: d.toString(), ms: performance.now() - started });
    };
    socket.once('data', onData);
    socket.write(text);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function outcome(socket: net.Socket, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('open'), timeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? 'error');
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

describe('LinkConditions', () => {
  it('adds delay with uniform jitter only in the affected direction', () => {
    let r = 0;
    const c = new LinkConditions(() => r);
    c.add({ kind: 'latency', direction: 'downstream', delayMs: 100, jitterMs: 20 });
    r = 0;
    expect(c.dueTime('downstream', 10, 1000)).toBe(1080);
    r = 1;
    expect(c.dueTime('downstream', 10, 1000)).toBe(1120);
    expect(c.dueTime('upstream', 10, 1000)).toBe(1000);
  });

  it('lets a bandwidth limit through at its rate, shared by the chunks that queue behind it', () => {
    const c = new LinkConditions();
    c.add({ kind: 'bandwidth', direction: 'both', bytesPerSecond: 1000 });
    expect(c.dueTime('upstream', 500, 0)).toBe(500);
    expect(c.dueTime('upstream', 500, 0)).toBe(1000);
    expect(c.dueTime('downstream', 100, 0)).toBe(100);
    expect(c.maxChunk('upstream')).toBe(50);
  });

  it('forgets an impairment once healed, and says so to its listeners', () => {
    const c = new LinkConditions();
    let changes = 0;
    c.onChange(() => changes++);
    const heal = c.add({ kind: 'blackhole', direction: 'upstream' });
    expect(c.blackholed('upstream')).toBe(true);
    expect(c.blackholed('downstream')).toBe(false);
    heal();
    heal();
    expect(c.impaired).toBe(false);
    expect(changes).toBe(2);
  });
});

describe('TcpProxy link faults', () => {
  it('delays each direction by its own latency', async () => {
    const proxy = await startProxy((await echoServer('s')).address);
    const client = await connected(proxy.address);
    const base = await ask(client, 'a');
    expect(base).not.toBe('timeout');
    const heal = proxy.impair({ kind: 'latency', direction: 'upstream', delayMs: 150, jitterMs: 0 });
    const slow = await ask(client, 'b');
    expect(slow !== 'timeout' && slow.ms).toBeGreaterThanOrEqual(145);
    heal();
    const fast = await ask(client, 'c');
    expect(fast !== 'timeout' && fast.ms).toBeLessThan(100);
  });

  it('keeps the byte order under jitter, as TCP does', async () => {
    let i = 0;
    const draws = [0.99, 0, 0.5, 0.1, 0.9, 0.3];
    const server = await echoServer('s');
    const proxy = await startProxy(server.address, () => draws[i++ % draws.length]);
    proxy.impair({ kind: 'latency', direction: 'upstream', delayMs: 50, jitterMs: 40 });
    const client = await connected(proxy.address);
    for (const part of ['1', '2', '3', '4', '5', '6']) {
      client.write(part);
      await sleep(5);
    }
    await sleep(200);
    expect(server.received[0]).toBe('123456');
  });

  it('limits throughput to the bandwidth and reports what it holds back', async () => {
    const server = await echoServer('s');
    const proxy = await startProxy(server.address);
    const client = await connected(proxy.address);
    proxy.impair({ kind: 'bandwidth', direction: 'upstream', bytesPerSecond: 20_000 });
    const started = performance.now();
    client.write(Buffer.alloc(10_000, 'x'));
    await sleep(100);
    expect(proxy.heldBytes('upstream')).toBeGreaterThan(0);
    while (server.received[0].length < 10_000 && performance.now() - started < 3000) await sleep(10);
    const seconds = (performance.now() - started) / 1000;
    expect(server.received[0].length).toBe(10_000);
    // 10 kB at 20 kB/s takes half a second
    expect(seconds).toBeGreaterThan(0.45);
    expect(seconds).toBeLessThan(1.5);
  });

  it('holds bytes and new handshakes in a blackhole and delivers them when it lifts', async () => {
    const server = await echoServer('s');
    const proxy = await startProxy(server.address);
    const client = await connected(proxy.address);
    expect(await ask(client, 'a')).not.toBe('timeout');
    const heal = proxy.impair({ kind: 'blackhole', direction: 'both' });
    const before = proxy.traffic.upstream.delivered;
    expect(await ask(client, 'b', 300)).toBe('timeout');
    const late = connect(proxy.address);
    late.write('hello');
    await sleep(100);
    expect(proxy.traffic.upstream.delivered).toBe(before);
    expect(proxy.waitingCount).toBe(1);
    expect(server.received.length).toBe(1);
    const answers = new Promise((r) => late.once('data', (d) => r(d.toString())));
    heal();
    expect(await answers).toBe('s:hello');
    await sleep(50);
    expect(server.received[0]).toBe('ab');
  });

  it('lets the other direction flow under a one-way blackhole', async () => {
    const server = await echoServer('s');
    const proxy = await startProxy(server.address);
    const client = await connected(proxy.address);
    await ask(client, 'a');
    proxy.impair({ kind: 'blackhole', direction: 'downstream' });
    expect(await ask(client, 'b', 300)).toBe('timeout');
    // the server got it: only the answer is held
    expect(server.received[0]).toBe('ab');
  });

  it('rejects: resets open sessions and every new connection until healed', async () => {
    const server = await echoServer('s');
    const proxy = await startProxy(server.address);
    const client = await connected(proxy.address);
    await ask(client, 'a');
    const was = outcome(client);
    const { reset, heal } = proxy.reject();
    expect(reset).toBe(1);
    expect(await was).toBe('ECONNRESET');
    expect(await outcome(connect(proxy.address))).toBe('ECONNRESET');
    expect(proxy.rejected).toBe(1);
    heal();
    expect(await ask(await connected(proxy.address), 'again')).toMatchObject({ answer: 's:again' });
  });

  it('resets the client side only and leaves the server side dangling (reset-peer downstream)', async () => {
    const server = await echoServer('s');
    const proxy = await startProxy(server.address);
    const client = await connected(proxy.address);
    await ask(client, 'a');
    const clientSide = outcome(client);
    const serverSide = outcome(server.sockets[0], 300);
    expect(proxy.resetSessions('downstream')).toBe(1);
    expect(await clientSide).toBe('ECONNRESET');
    expect(await serverSide).toBe('open');
    expect(proxy.sessionCount).toBe(0);
  });

  it('resets the server side only (reset-peer upstream)', async () => {
    const server = await echoServer('s');
    const proxy = await startProxy(server.address);
    const client = await connected(proxy.address);
    await ask(client, 'a');
    const serverSide = outcome(server.sockets[0]);
    const clientSide = outcome(client, 300);
    expect(proxy.resetSessions('upstream')).toBe(1);
    expect(await serverSide).toBe('ECONNRESET');
    expect(await clientSide).toBe('open');
  });

  it('delivers what it held before passing on a close, as bytes on the wire arrive before the FIN', async () => {
    const upstream = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.end('last words');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => upstream.close(() => r())));
    const proxy = await startProxy({ host: '127.0.0.1', port: (upstream.address() as net.AddressInfo).port });
    proxy.impair({ kind: 'latency', direction: 'downstream', delayMs: 150, jitterMs: 0 });
    const client = connect(proxy.address);
    let got = '';
    client.on('data', (d) => (got += d.toString()));
    await new Promise((r) => client.once('close', r));
    expect(got).toBe('last words');
  });

  it('loses what it held when the sessions to a crashed node are cut', async () => {
    const server = await echoServer('s');
    const proxy = await startProxy(server.address);
    const client = await connected(proxy.address);
    await ask(client, 'a');
    proxy.impair({ kind: 'latency', direction: 'upstream', delayMs: 300, jitterMs: 0 });
    client.write('never');
    await sleep(50);
    expect(proxy.heldBytes()).toBe(5);
    expect(proxy.closeSessionsTo(server.address)).toBe(1);
    await sleep(400);
    expect(server.received[0]).toBe('a');
  });

  it('closes its port, every session and every dangling socket on close()', async () => {
    const server = await echoServer('s');
    const proxy = await startProxy(server.address);
    const client = await connected(proxy.address);
    await ask(client, 'a');
    proxy.resetSessions('upstream');
    const address = proxy.address;
    const clientSide = outcome(client);
    await proxy.close();
    expect(await clientSide).toBe('closed');
    expect(await outcome(connect(address))).toBe('ECONNREFUSED');
  });
});
