// A TCP port on loopback that a server of the run (a postmaster, Patroni's REST API, etcd,
// PgBouncer, HAProxy, a container's published port, the app) will listen on a moment later.
//
// Not from listen(0): the kernel hands those out of the range it also uses for the local ports
// of outgoing connections, and between closing the probe and the server's bind (seconds for a
// Patroni member, which starts after the leader has bootstrapped) any connect() on the machine
// (a health check, a REST poll, the load) may take the port, and the server then dies with
// "Address already in use". A port below that range is never taken by a connect(); only
// another listener could take it, and the probe bind checks for those.

import fs from 'node:fs';
import net from 'node:net';

/** the lowest port tried: above the registered ports most services use */
const LOWEST = 10_000;
/** random tries below the ephemeral range before falling back to listen(0) */
const TRIES = 40;

let range: { low: number; high: number } | undefined | null = null;

/** The kernel's range for the local ports of outgoing connections (Linux), when it can be read; read once per process. */
export function ephemeralPortRange(): { low: number; high: number } | undefined {
  if (range !== null) return range;
  try {
    const [low, high] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    range = low > 0 && high >= low ? { low, high } : undefined;
  } catch {
    range = undefined;
  }
  return range;
}

/** Binds `port` (0: any) on `host` and lets go again; the port bound, or undefined when it was taken. */
function probe(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/** A port nothing listens on now, below the ephemeral range where the machine's range allows. */
export async function freeListenPort(host = '127.0.0.1'): Promise<number> {
  const range = ephemeralPortRange();
  const span = range ? range.low - LOWEST : 0;
  // a machine whose ephemeral range starts low leaves no room below it: take the kernel's pick
  if (span >= 1000) {
    for (let i = 0; i < TRIES; i++) {
      const port = await probe(host, LOWEST + Math.floor(Math.random() * span));
      if (port !== undefined) return port;
    }
  }
  const port = await probe(host, 0);
  if (port === undefined) throw new Error(`no free TCP port on ${host}`);
  return port;
}
