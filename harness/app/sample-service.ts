// The bundled sample service (app/sample-service/): what runs when a scenario's app: has no
// command, and the requests its load sends by default. It is a user's program like any other:
// pgdrill starts it with the same Node that runs pgdrill and knows nothing of its insides.

import path from 'node:path';
import { packageRoot } from '../util/package-info.js';
import type { AppLoadRequest } from '../scenario/scenario.js';

/** The sample service's entry point, inside pgdrill's package. */
export function sampleServiceEntry(): string {
  return path.join(packageRoot(), 'app', 'sample-service', 'server.js');
}

/**
 * What the load sends to the sample service when app.load.requests is absent: an order
 * (whose acknowledged writes join the exact ledger, see app/sample-service/README.md) and the
 * recent orders, in equal shares.
 */
export const SAMPLE_SERVICE_REQUESTS: readonly AppLoadRequest[] = [
  {
    method: 'POST',
    path: '/orders',
    body: JSON.stringify({ userId: 1, productId: 2, quantity: 1 }),
    headers: { 'content-type': 'application/json' },
    weight: 1,
    ledger: { table: 'orders', key: 'id', op: 'insert' },
  },
  { method: 'GET', path: '/orders/recent', weight: 1 },
];
