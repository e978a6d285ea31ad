// The shop's HTTP API over the seed schema (users, products, orders, order_items), on Node's
// http module. It knows nothing of the pool behind it: `db.query(text, values)` is all it asks,
// so the sample service (pg.Pool) and the clinging fixture (a pool that never lets go of a
// connection) serve the same requests with the same SQL, and differ only in their pool.

import http from 'node:http';
import { randomUUID } from 'node:crypto';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * One statement, so the order, its item and (when the database has it) the ledger row commit
 * together or not at all. The ledger row is what lets pgdrill check this write exactly: the
 * request id in _pgdrill.ledger means the order committed (see README.md).
 */
function insertOrderSql(withLedger) {
  return `WITH p AS (SELECT id, price FROM products WHERE id = $2),
    o AS (
      INSERT INTO orders (user_id, status, total, request_id)
      SELECT $1, 'new', p.price * $3, $4::uuid FROM p
      RETURNING id, version, created_at
    ),
    i AS (
      INSERT INTO order_items (order_id, product_id, quantity, unit_price)
      SELECT o.id, p.id, $3, p.price FROM o, p
      RETURNING 1
    )${withLedger ? `,
    l AS (INSERT INTO _pgdrill.ledger (request_id) SELECT $4::uuid FROM o)` : ''}
    SELECT id, version, created_at FROM o`;
}

/**
 * @param {{ query: (text: string, values?: unknown[]) => Promise<{ rows: any[] }> }} db
 * @param {{ log: (line: string) => void, ledger: boolean }} options
 */
export function createShopServer(db, { log, ledger }) {
  const INSERT_ORDER = insertOrderSql(ledger);

  const routes = [
    ['GET', /^\/health$/, async () => {
      await db.query('SELECT 1');
      return [200, { status: 'ok' }];
    }],
    ['POST', /^\/orders$/, async (_match, body, req) => {
      const { userId, productId, quantity = 1 } = body ?? {};
      if (![userId, productId, quantity].every((v) => Number.isInteger(v) && v > 0)) {
        return [400, { error: 'expected a JSON body { "userId": 1, "productId": 2, "quantity": 1 } with positive integers' }];
      }
      const header = req.headers['x-request-id'];
      const requestId = typeof header === 'string' && UUID.test(header) ? header : randomUUID();
      const { rows } = await db.query(INSERT_ORDER, [userId, productId, quantity, requestId]);
      if (rows.length === 0) return [422, { error: `no product ${productId}` }];
      return [201, { id: rows[0].id, version: rows[0].version, createdAt: rows[0].created_at, requestId }];
    }],
    ['GET', /^\/orders\/recent$/, async () => {
      const { rows } = await db.query(
        `SELECT id, user_id AS "userId", status, total, created_at AS "createdAt" FROM orders ORDER BY id DESC LIMIT 20`,
      );
      return [200, { orders: rows }];
    }],
    ['GET', /^\/orders\/(\d+)$/, async (match) => {
      const { rows } = await db.query(
        `SELECT o.id, o.user_id AS "userId", o.status, o.total, o.version, o.created_at AS "createdAt",
                coalesce(json_agg(json_build_object('productId', i.product_id, 'quantity', i.quantity, 'unitPrice', i.unit_price))
                         FILTER (WHERE i.id IS NOT NULL), '[]') AS items
           FROM orders o LEFT JOIN order_items i ON i.order_id = o.id
          WHERE o.id = $1 GROUP BY o.id`,
        [match[1]],
      );
      return rows.length ? [200, rows[0]] : [404, { error: `no order ${match[1]}` }];
    }],
  ];

  return http.createServer(async (req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const route = routes.find(([method, pattern]) => method === req.method && pattern.test(url));
    const send = (status, payload) => {
      const text = JSON.stringify(payload);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (!route) return send(404, { error: `no route ${req.method} ${url}` });
    let body;
    try {
      body = await readJson(req);
    } catch {
      return send(400, { error: 'the body is not JSON' });
    }
    try {
      const [status, payload] = await route[2](route[1].exec(url), body, req);
      send(status, payload);
    } catch (err) {
      // a foreign key the caller got wrong is the caller's fault; everything else is ours
      if (err.code === '23503') return send(422, { error: err.detail ?? err.message });
      log(`ERROR ${req.method} ${url}: ${err.code ? `${err.code} ` : ''}${err.message}`);
      send(503, { error: 'database unavailable', code: err.code ?? null });
    }
  });
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  if (chunks.length === 0) return undefined;
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** Whether pgdrill's ledger table is there (it is when pgdrill seeded the database). */
export async function hasLedgerTable(db) {
  const { rows } = await db.query(`SELECT to_regclass('_pgdrill.ledger') IS NOT NULL AS present`);
  return rows[0].present === true;
}

/** Listens on PORT (loopback unless HOST says otherwise) and shuts down cleanly on SIGTERM. */
export function serve(server, { name, log, close }) {
  const port = Number(process.env.PORT ?? 3000);
  const host = process.env.HOST ?? '127.0.0.1';
  // longer than any client's idle time: closing idle keep-alive connections races their reuse
  server.keepAliveTimeout = 65_000;
  server.listen(port, host, () => log(`${name} listening on http://${host}:${port}`));
  const shutdown = (signal) => {
    log(`${signal}: shutting down`);
    server.close();
    server.closeIdleConnections?.();
    Promise.resolve(close()).finally(() => process.exit(0));
    // a request stuck on the database must not keep the process alive past the caller's patience
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

/** One line to stdout, stamped, as a service's log would be. */
export function logLine(line) {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}
