// The sample service: the shop's HTTP API on a pg.Pool, configured the way a typical service
// is (a pool of POOL_SIZE connections, a query timeout, a connect timeout) and nothing more:
// no retries, no health checks of its own. pg.Pool drops a connection whose query failed or
// that broke while idle, so after a cutover it reconnects through the endpoint by itself.
//
//   DATABASE_URL   postgres://user:password@host:port/database (pgdrill: its endpoint)
//   PORT           the port to listen on (pgdrill picks a free one); HOST defaults to 127.0.0.1
//   POOL_SIZE      connections in the pool (default 10)
//   QUERY_TIMEOUT_MS     how long a query may take before the request fails (default 2000)
//   CONNECT_TIMEOUT_MS   how long getting a connection may take (default 2000)

import pg from 'pg';
import { createShopServer, hasLedgerTable, logLine, serve } from './shop-api.js';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('DATABASE_URL is not set: give the database to use, e.g. postgres://user:pass@127.0.0.1:5432/app');
  process.exit(2);
}

const pool = new pg.Pool({
  connectionString: url,
  max: Number(process.env.POOL_SIZE ?? 10),
  query_timeout: Number(process.env.QUERY_TIMEOUT_MS ?? 2000),
  connectionTimeoutMillis: Number(process.env.CONNECT_TIMEOUT_MS ?? 2000),
  idleTimeoutMillis: 30_000,
  application_name: 'sample-service',
});
// an idle connection that breaks (a server restart, a cutover) is dropped by the pool; say so
pool.on('error', (err) => logLine(`ERROR idle connection: ${err.code ? `${err.code} ` : ''}${err.message}`));

const ledger = await hasLedgerTable(pool).catch((err) => {
  console.error(`cannot reach the database at startup: ${err.message}`);
  process.exit(1);
});
const server = createShopServer(pool, { log: logLine, ledger });
serve(server, { name: `sample-service (pool of ${pool.options.max}${ledger ? ', writes recorded in _pgdrill.ledger' : ''})`, log: logLine, close: () => pool.end() });
