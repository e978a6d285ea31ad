// The clinging fixture: the same shop API as the sample service, on a pool that never lets go
// of a connection. POOL_SIZE connections are opened at startup and handed out in turn with no
// check on borrow; when a query fails, the error goes to the caller and the connection goes
// back into the rotation as it is. A connection is replaced only when it reaches its maximum
// lifetime (MAX_LIFETIME_MS, default 10 s; HikariCP's maxLifetime defaults to 30 minutes).
//
// After a cutover its connections to the old primary are dead (the freeze ended their sessions,
// the endpoint closed the rest) or read-only, and every request fails until the lifetime runs
// out: its users are down far longer than the database was. This is the failure pgdrill's app
// view exists to show; do not copy this pool.
//
//   DATABASE_URL, PORT, HOST, POOL_SIZE, QUERY_TIMEOUT_MS: as for the sample service
//   MAX_LIFETIME_MS   when a connection is replaced, whatever state it is in (default 10000)

import pg from 'pg';
import { createShopServer, hasLedgerTable, logLine, serve } from '../sample-service/shop-api.js';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('DATABASE_URL is not set: give the database to use, e.g. postgres://user:pass@127.0.0.1:5432/app');
  process.exit(2);
}
const size = Number(process.env.POOL_SIZE ?? 10);
const lifetimeMs = Number(process.env.MAX_LIFETIME_MS ?? 10_000);
const queryTimeoutMs = Number(process.env.QUERY_TIMEOUT_MS ?? 2000);

class ClingingPool {
  constructor() {
    this.slots = [];
    this.next = 0;
    this.ending = false;
  }

  async open() {
    for (let i = 0; i < size; i++) this.slots.push(await this.connect(i));
    for (let i = 0; i < size; i++) this.retireLater(i);
  }

  async connect(slot) {
    const client = new pg.Client({ connectionString: url, query_timeout: queryTimeoutMs, application_name: `clinging-pool-${slot}` });
    // the pool hears that the connection broke, and keeps it anyway
    client.on('error', (err) => logLine(`ERROR connection ${slot}: ${err.code ? `${err.code} ` : ''}${err.message} (kept in the pool)`));
    await client.connect();
    return client;
  }

  retireLater(slot, afterMs = lifetimeMs) {
    const timer = setTimeout(async () => {
      if (this.ending) return;
      try {
        const fresh = await this.connect(slot);
        const old = this.slots[slot];
        this.slots[slot] = fresh;
        old.end().catch(() => undefined);
        logLine(`connection ${slot} reached its max lifetime (${lifetimeMs} ms) and was replaced`);
        this.retireLater(slot);
      } catch (err) {
        logLine(`ERROR connection ${slot} could not be replaced: ${err.message}; trying again in 1 s`);
        this.retireLater(slot, 1000);
      }
    }, afterMs);
    timer.unref();
  }

  /** No check on borrow: the next connection in turn, whatever happened to it. */
  query(text, values) {
    const client = this.slots[this.next++ % this.slots.length];
    return client.query(text, values);
  }

  async end() {
    this.ending = true;
    await Promise.allSettled(this.slots.map((c) => c.end()));
  }
}

const pool = new ClingingPool();
try {
  await pool.open();
} catch (err) {
  console.error(`cannot reach the database at startup: ${err.message}`);
  process.exit(1);
}
const ledger = await hasLedgerTable(pool);
const server = createShopServer(pool, { log: logLine, ledger });
serve(server, { name: `clinging-pool (${size} connections, replaced every ${lifetimeMs} ms)`, log: logLine, close: () => pool.end() });
