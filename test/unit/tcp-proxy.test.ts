// The endpoint proxy against tiny echo servers on loopback: it forwards, follows a
// re-point for new connections only, holds connections during a freeze and releases them
// to the new target, and closes the sessions of a fenced node.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpProxy } from '../../harness/endpoint/tcp-proxy.js';
import type { Address } from '../../harness/runtime/runtime.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A server that answers every chunk with "<name>:<chunk>". */
async function echoServer(name: string): Promise<Address> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (d) => socket.write(`${name}:${d}`));
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
}

async function startProxy(target: Address): Promise<TcpProxy> {
  const proxy = new TcpProxy(target);
  await proxy.listen();
  closers.push(() => proxy.close());
  return proxy;
}

function connect(address: Address): net.Socket {
  const socket = net.connect(address);
  socket.on('error', () => undefined);
  closers.push(async () => void socket.destroy());
  return socket;
}

function ask(socket: net.Socket, text: string, timeoutMs = 1000): Promise<string | 'timeout'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), timeoutMs);
    socket.once('data', (d) => {
      clearTimeout(timer);
      resolve(d.toString());
    });
    socket.write(text);
  });
}

describe('TcpProxy (the endpoint)', () => {
  it('forwards to its target', async () => {
    const proxy = await startProxy(await echoServer('blue'));
    expect(await ask(connect(proxy.address), 'hi')).toBe('blue:hi');
  });

  it('sends new connections to the new target after a re-point and leaves open sessions alone', async () => {
    const proxy = await startProxy(await echoServer('blue'));
    const old = connect(proxy.address);
    expect(await ask(old, 'a')).toBe('blue:a');
    proxy.retarget(await echoServer('green'));
    expect(await ask(connect(proxy.address), 'b')).toBe('green:b');
    expect(await ask(old, 'c')).toBe('blue:c');
  });

  it('holds new connections during a freeze and releases them to the re-pointed target', async () => {
    const proxy = await startProxy(await echoServer('blue'));
    proxy.hold();
    const waiting = connect(proxy.address);
    expect(await ask(waiting, 'x', 300)).toBe('timeout');
    proxy.retarget(await echoServer('green'));
    const answer = new Promise((r) => waiting.once('data', (d) => r(d.toString())));
    proxy.release();
    expect(await answer).toBe('green:x');
  });

  it('closes the sessions to a fenced node so that their clients reconnect', async () => {
    const blue = await echoServer('blue');
    const proxy = await startProxy(blue);
    const client = connect(proxy.address);
    expect(await ask(client, 'a')).toBe('blue:a');
    const closed = new Promise((r) => client.once('close', r));
    expect(proxy.closeSessionsTo(blue)).toBe(1);
    await closed;
    expect(proxy.sessionCount).toBe(0);
  });

  it('closes a client whose target refuses the connection', async () => {
    const dead = await echoServer('gone');
    await closers.pop()!(); // stop it: nothing listens on its port now
    const proxy = await startProxy(dead);
    const client = connect(proxy.address);
    await new Promise((r) => client.once('close', r));
    expect(proxy.sessionCount).toBe(0);
  });
});
