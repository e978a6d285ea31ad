// The app: section of a scenario: its defaults (the sample service and its requests), and the
// problems it is refused for, each with the field and the fix, before anything starts.
import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../harness/scenario/load-scenario.js';
import { InvalidInputError } from '../../harness/errors.js';

const BASE = `
name: app
duration: 10s
nodes:
  primary: { version: 17 }
`;

function problems(yaml: string): string[] {
  try {
    parseScenarioText(yaml, 'app.yaml');
  } catch (err) {
    if (err instanceof InvalidInputError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

describe('app: in a scenario', () => {
  it('is absent unless written, and a bare app: means the sample service with its defaults', () => {
    expect(parseScenarioText(BASE, 'a.yaml').app).toBeUndefined();
    const app = parseScenarioText(`${BASE}app:\n`, 'a.yaml').app!;
    expect(app.command).toBeUndefined();
    expect(app.ready).toEqual({ path: '/health', timeout: 30_000 });
    expect(app.load).toMatchObject({ rate: 50, connections: 10, timeout: 5000 });
    // results.json records what the load sent: the sample's requests, the order with its ledger
    expect(app.load.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /orders', 'GET /orders/recent']);
    expect(app.load.requests[0].ledger).toEqual({ table: 'orders', key: 'id', op: 'insert' });
    expect(app.checks).toEqual([]);
  });

  it('reads the contract example: methods upper-cased, a mapping body sent as JSON, checks with their defaults', () => {
    const app = parseScenarioText(
      `${BASE}app:
  command: "node app/server.js"
  env: { POOL_SIZE: "10", RETRIES: 3 }
  ready: { path: /health, timeout: 10s }
  load:
    rate: 100
    connections: 10
    requests:
      - { method: post, path: /orders, body: { userId: 1, productId: 2, quantity: 1 }, ledger: { table: orders, key: id } }
      - { method: GET, path: /orders/recent, weight: 3 }
  checks:
    - { method: GET, path: /health, expect: 200 }
    - { path: /orders/1, within: 2s }
`,
      'a.yaml',
    ).app!;
    expect(app.command).toBe('node app/server.js');
    expect(app.env).toEqual({ POOL_SIZE: '10', RETRIES: '3' });
    expect(app.load.requests[0]).toMatchObject({ method: 'POST', body: '{"userId":1,"productId":2,"quantity":1}', weight: 1, ledger: { op: 'insert' } });
    expect(app.load.requests[1].weight).toBe(3);
    expect(app.checks[1]).toMatchObject({ method: 'GET', path: '/orders/1', expect: 200, within: 2000 });
  });

  it('refuses a command without requests: pgdrill cannot guess the app\'s API', () => {
    expect(problems(`${BASE}app:\n  command: ./server\n`)).toEqual([expect.stringMatching(/^app\.load\.requests: required with app\.command/)]);
    // no load at all is fine
    expect(problems(`${BASE}app:\n  command: ./server\n  load: { rate: 0 }\n`)).toEqual([]);
    expect(problems(`${BASE}app:\n  load: { requests: [{ path: /a, weight: 0 }] }\n`)).toEqual(['app.load.requests: every weight is 0, so nothing would be sent; give at least one request a weight above 0']);
  });

  it('reports every problem of app: at once, the missing requests beside a bad field', () => {
    expect(problems(`${BASE}app:\n  command: ./server\n  env: { PORT: "1" }\n`)).toEqual([
      expect.stringMatching(/^app\.env\.PORT: "PORT" is set by pgdrill/),
      expect.stringMatching(/^app\.load\.requests: required with app\.command/),
    ]);
  });

  it('refuses DATABASE_URL and PORT in app.env: pgdrill sets them', () => {
    const found = problems(`${BASE}app:\n  env: { DATABASE_URL: "postgres://elsewhere", PORT: "80" }\n`);
    expect(found).toEqual([
      expect.stringMatching(/^app\.env\.DATABASE_URL: "DATABASE_URL" is set by pgdrill/),
      expect.stringMatching(/^app\.env\.PORT: "PORT" is set by pgdrill/),
    ]);
  });

  it('names the field and the fix for a bad path, method, status or key', () => {
    const found = problems(`${BASE}app:
  ready: { path: health }
  load:
    requests:
      - { method: FETCH, path: /x }
  checks:
    - { path: /health, expect: 700 }
  comand: x
`);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^app\.ready\.path: "health" is not a request path: start it with "\/"/),
        expect.stringMatching(/^app\.load\.requests\[0\]\.method: "FETCH" is not a valid HTTP method; allowed: GET, POST/),
        expect.stringMatching(/^app\.checks\[0\]\.expect: .*from 100 to 599, got 700/),
        expect.stringMatching(/^app: unknown key "comand"; did you mean "command"\?/),
      ]),
    );
  });

  it('refuses app thresholds that could not be measured', () => {
    expect(problems(`${BASE}thresholds: { appDowntime: "< 1s", appLogErrors: "== 0" }\n`)).toEqual([
      'thresholds.appDowntime: cannot be measured: there is no app: section; turn it on or remove this threshold',
      'thresholds.appLogErrors: cannot be measured: there is no app: section; turn it on or remove this threshold',
    ]);
    expect(problems(`${BASE}app: { load: { rate: 0 } }\nthresholds: { appErrorRate: "< 1%", appLogErrors: "== 0" }\n`)).toEqual([
      'thresholds.appErrorRate: cannot be measured: the app load is off (app.load.rate is 0); turn it on or remove this threshold',
    ]);
  });

  it('parses the app thresholds against their units', () => {
    const t = parseScenarioText(`${BASE}app:\nthresholds: { appDowntime: "< 2s", appErrorRate: "<= 1%", p99AppLatency: "< 500ms", appLogErrors: "== 0" }\n`, 'a.yaml').thresholds;
    expect(Object.keys(t)).toEqual(['appDowntime', 'appErrorRate', 'p99AppLatency', 'appLogErrors']);
    expect(problems(`${BASE}app:\nthresholds: { appDowntime: "< 2" }\n`)[0]).toMatch(/^thresholds\.appDowntime: /);
  });

  it('refuses the sample service\'s default requests on a seed without the user and products they order', () => {
    expect(problems(`${BASE}seed: { users: 1, products: 1, orders: 0 }\napp:\n`)).toEqual([expect.stringMatching(/^app\.load: the sample service's default requests order product 2/)]);
  });
});
