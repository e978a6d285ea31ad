import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ephemeralPortRange, freeListenPort } from '../../harness/util/free-port.js';

const listen = (port: number) =>
  new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(server));
  });

describe('freeListenPort', () => {
  it('picks ports below the range outgoing connections take theirs from, and each can be listened on', async () => {
    const range = ephemeralPortRange();
    const ports = await Promise.all(Array.from({ length: 20 }, () => freeListenPort()));
    for (const port of ports) {
      if (range && range.low > 11_000) {
        expect(port).toBeGreaterThanOrEqual(10_000);
        expect(port).toBeLessThan(range.low);
      }
      const server = await listen(port);
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('never hands out a port something listens on', async () => {
    const held = await Promise.all(Array.from({ length: 5 }, () => freeListenPort().then(listen)));
    const heldPorts = held.map((s) => (s.address() as net.AddressInfo).port);
    const picked = await Promise.all(Array.from({ length: 200 }, () => freeListenPort()));
    expect(picked.filter((p) => heldPorts.includes(p))).toEqual([]);
    await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
  });
});
