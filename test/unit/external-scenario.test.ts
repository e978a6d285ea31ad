// Runtime external, as the scenario loader reads it: the contract's example is accepted as
// written; every bad input names its field and the fix (exit 2); passwords and TLS parameters
// are resolved from the URL, a file or the environment; results never hold a password.

import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidInputError } from '../../harness/errors.js';
import { parseScenarioText } from '../../harness/scenario/load-scenario.js';
import { redactScenario, redactUrl } from '../../harness/scenario/external-fields.js';
import { resolveExternalConnection } from '../../harness/runtime/external/external-connection.js';
import { writtenTables } from '../../harness/run/external-verify.js';
import { tempDir } from '../support/temp-dir.js';

const CONTRACT = `
name: staging
runtime: external
nodes:
  primary: { url: "postgres://drill@staging-db:5432/app", version: 16 }
  replica: { url: "postgres://drill@staging-db-replica:5432/app", version: 16, replicaOf: primary }
strategy: { kind: external }
timeline:
  - at: 30s
    cutover: { command: "kubectl cnpg promote staging-db staging-db-2" }
`;

function problemsOf(yaml: string): { path: string; message: string }[] {
  try {
    parseScenarioText(yaml, 'test');
  } catch (err) {
    if (err instanceof InvalidInputError) {
      expect(err.exitCode).toBe(2);
      return err.problems;
    }
    throw err;
  }
  return [];
}

function problemAt(yaml: string, at: string): string {
  const hit = problemsOf(yaml).find((p) => p.path === at);
  if (!hit) throw new Error(`no problem at ${at}; got ${JSON.stringify(problemsOf(yaml))}`);
  return hit.message;
}

describe('runtime external: the contract', () => {
  it("accepts product.md's example as written, from/to filled from the nodes, the command's timeout defaulted", () => {
    const s = parseScenarioText(CONTRACT, 'test');
    expect(s.runtime).toBe('external');
    expect(s.strategy).toMatchObject({ kind: 'external', from: 'primary', to: 'replica' });
    expect(s.timeline[0].cutover).toEqual({ dryRun: false, command: 'kubectl cnpg promote staging-db staging-db-2', timeout: 120_000 });
    expect(s.nodes.primary.url).toBe('postgres://drill@staging-db:5432/app');
  });

  it('accepts seed.existing, an endpoint given by url, passwordEnv and a client link fault on the proxy', () => {
    const s = parseScenarioText(CONTRACT.replace('strategy:', 'seed: { existing: true }\nendpoint: { url: "postgres://drill@staging-rw:5432/app" }\nstrategy:').replace('version: 16 }', 'version: 16, passwordEnv: STAGING_PW }'), 'test');
    expect(s.seed.existing).toBe(true);
    expect(s.endpoint).toEqual({ kind: 'url', url: 'postgres://drill@staging-rw:5432/app' });
    expect(s.nodes.primary.passwordEnv).toBe('STAGING_PW');
    const withFault = parseScenarioText(CONTRACT + '  - at: 5s\n    fault: { kind: latency, link: client, delay: 50ms, for: 2s }\n', 'test');
    expect(withFault.timeline[1].fault?.link).toBe('client');
  });
});

describe('runtime external: bad input names the field and the fix', () => {
  it('a node without url', () => {
    expect(problemAt(CONTRACT.replace('url: "postgres://drill@staging-db:5432/app", ', ''), 'nodes.primary.url')).toMatch(/required with runtime external.*postgres:\/\//);
  });
  it('a node without version', () => {
    expect(problemAt(CONTRACT.replace('/app", version: 16 }', '/app" }'), 'nodes.primary.version')).toMatch(/required with runtime external.*version: 16/);
  });
  it('a url that is not postgres://', () => {
    expect(problemAt(CONTRACT.replace('postgres://drill@staging-db:5432/app', 'mysql://drill@db/app'), 'nodes.primary.url')).toMatch(/not a postgres:\/\/ URL.*write postgres:\/\/user@host/);
  });
  it('a password given twice', () => {
    expect(problemAt(CONTRACT.replace('postgres://drill@staging-db:5432/app", version: 16', 'postgres://drill:pw@staging-db:5432/app", version: 16, passwordFile: ./pw'), 'nodes.primary.url')).toMatch(/give the password once/);
  });
  it('node faults are refused', () => {
    expect(problemAt(CONTRACT + '  - at: 5s\n    fault: { kind: kill, node: primary }\n', 'timeline[1].fault.node')).toMatch(/faults nothing on servers it did not start.*remove it/);
  });
  it('replication link faults are refused', () => {
    expect(problemAt(CONTRACT + '  - at: 5s\n    fault: { kind: latency, link: replication, delay: 50ms }\n', 'timeline[1].fault.link')).toMatch(/use link: client/);
  });
  it('a client link fault with the user\'s own endpoint is refused', () => {
    const yaml = CONTRACT.replace('strategy:', 'endpoint: { url: "postgres://drill@rw:5432/app" }\nstrategy:') + '  - at: 5s\n    fault: { kind: latency, link: client, delay: 50ms }\n';
    expect(problemAt(yaml, 'timeline[1].fault.link')).toMatch(/endpoint url is yours.*use endpoint kind proxy or discovery/);
  });
  it('another strategy kind on external servers', () => {
    expect(problemAt(CONTRACT.replace('kind: external }', 'kind: streaming }'), 'strategy.kind')).toMatch(/use kind external/);
  });
  it('a cutover of kind external without a command', () => {
    expect(problemAt(CONTRACT.replace('cutover: { command: "kubectl cnpg promote staging-db staging-db-2" }', 'cutover: {}'), 'timeline[0].cutover.command')).toMatch(/required for strategy kind external/);
  });
  it('cutover.command on another strategy', () => {
    const yaml = `name: x\nnodes: { primary: {}, replica: { replicaOf: primary } }\nstrategy: { kind: streaming, from: primary, to: replica }\ntimeline: [ { at: 1s, cutover: { command: "x" } } ]\n`;
    expect(problemAt(yaml, 'timeline[0].cutover.command')).toMatch(/applies to strategy kind external only/);
  });
  it('kind external without runtime external', () => {
    expect(problemAt(CONTRACT.replace('runtime: external\n', ''), 'strategy.kind')).toMatch(/needs runtime: external/);
  });
  it('url on a node pgdrill starts', () => {
    expect(problemAt(CONTRACT.replace('runtime: external\n', ''), 'nodes.primary.url')).toMatch(/applies to runtime external only/);
  });
  it('settings on an external node', () => {
    expect(problemAt(CONTRACT.replace('version: 16 }', 'version: 16, settings: { work_mem: 4MB } }'), 'nodes.primary.settings')).toMatch(/does not configure servers it did not start/);
  });
  it('tls, pgbouncer and a dump seed', () => {
    expect(problemAt(CONTRACT + 'tls: {}\n', 'tls')).toMatch(/put TLS parameters in the node URLs/);
    expect(problemAt(CONTRACT + 'endpoint: { kind: pgbouncer }\n', 'endpoint.kind')).toMatch(/endpoint: \{ url/);
    expect(problemAt(CONTRACT + 'seed: { dump: ./x.dump }\n', 'seed.dump')).toMatch(/seed: \{ existing: true \}/);
  });
  it('seed.existing with shop counts, and on a runtime pgdrill starts', () => {
    expect(problemAt(CONTRACT + 'seed: { existing: true, users: 10 }\n', 'seed.users')).toMatch(/nothing is seeded; remove it/);
    expect(problemAt('name: x\nnodes: { primary: {} }\nseed: { existing: true }\n', 'seed.existing')).toMatch(/applies to runtime external only/);
  });
  it('fenceOldPrimary and promoteTimeout on kind external', () => {
    expect(problemAt(CONTRACT.replace('kind: external }', 'kind: external, fenceOldPrimary: true }'), 'strategy.fenceOldPrimary')).toMatch(/your command's job/);
    expect(problemAt(CONTRACT.replace('kind: external }', 'kind: external, promoteTimeout: 10s }'), 'strategy.promoteTimeout')).toMatch(/cutover.timeout/);
  });
  it('three nodes and no strategy.to', () => {
    const yaml = CONTRACT.replace('strategy:', '  r2: { url: "postgres://drill@r2:5432/app", version: 16, replicaOf: primary }\nstrategy:');
    expect(problemAt(yaml, 'strategy.to')).toMatch(/required: the name of the new \(target\) node/);
  });
});

describe('runtime external: connections', () => {
  const dir = tempDir('unit');
  it('takes the password from the URL, then passwordFile, then passwordEnv, then PGPASSWORD', async () => {
    writeFileSync(path.join(dir, 'pw'), 'from-file\n');
    const base = { name: 'primary', url: 'postgres://drill@db.example:6432/app' };
    expect((await resolveExternalConnection({ ...base, url: 'postgres://drill:in%40url@db.example/app' }, { baseDir: dir, env: {} })).password).toBe('in@url');
    expect((await resolveExternalConnection({ ...base, passwordFile: 'pw' }, { baseDir: dir, env: {} })).password).toBe('from-file');
    expect((await resolveExternalConnection({ ...base, passwordEnv: 'X' }, { baseDir: dir, env: { X: 'from-env' } })).password).toBe('from-env');
    const plain = await resolveExternalConnection(base, { baseDir: dir, env: { PGPASSWORD: 'pgpassword' } });
    expect(plain).toMatchObject({ host: 'db.example', port: 6432, user: 'drill', database: 'app', password: 'pgpassword' });
    expect(plain.url).toContain(':pgpassword@');
    expect(plain.redacted).toBe('postgres://drill:***@db.example:6432/app');
  });
  it('refuses a missing password file or variable with exit 2, naming the field', async () => {
    await expect(resolveExternalConnection({ name: 'primary', url: 'postgres://drill@db/app', passwordFile: 'nope' }, { baseDir: dir, env: {} })).rejects.toMatchObject({
      exitCode: 2,
      problems: [{ path: 'nodes.primary.passwordFile' }],
    });
    await expect(resolveExternalConnection({ name: 'primary', url: 'postgres://drill@db/app', passwordEnv: 'UNSET_VAR' }, { baseDir: dir, env: {} })).rejects.toMatchObject({
      problems: [{ path: 'nodes.primary.passwordEnv', message: expect.stringMatching(/UNSET_VAR is not set; export it/) }],
    });
  });
  it('passes TLS parameters through as libpq reads them, certificate paths relative to the scenario file', async () => {
    writeFileSync(path.join(dir, 'ca.crt'), 'CA PEM');
    const c = await resolveExternalConnection({ name: 'primary', url: 'postgres://drill:x@db/app?sslmode=verify-full&sslrootcert=ca.crt' }, { baseDir: dir, env: {} });
    expect(c.ssl?.ca).toBe('CA PEM');
    expect(c.url).toContain(`sslrootcert=${encodeURIComponent(path.join(dir, 'ca.crt'))}`);
    const required = await resolveExternalConnection({ name: 'primary', url: 'postgres://drill:x@db/app?sslmode=require' }, { baseDir: dir, env: {} });
    expect(required.ssl).toMatchObject({ rejectUnauthorized: false });
    const none = await resolveExternalConnection({ name: 'primary', url: 'postgres://drill:x@db/app' }, { baseDir: dir, env: {} });
    expect(none.ssl).toBeUndefined();
  });
  it('masks every password in the scenario results.json records', () => {
    expect(redactUrl('postgres://u:p%40ss@h:1/d')).toBe('postgres://u:***@h:1/d');
    const s = parseScenarioText(CONTRACT.replace('drill@staging-db:5432', 'drill:hunter2@staging-db:5432'), 'test');
    expect(JSON.stringify(redactScenario(s))).not.toContain('hunter2');
  });
});

describe('runtime external: what integrity can compare', () => {
  it('the shop workload writes every shop table; scripts write their ledger tables and what their SQL names', () => {
    const shop = parseScenarioText(CONTRACT, 'test');
    expect([...writtenTables(shop)].sort()).toEqual(['audit_log', 'order_items', 'orders', 'products', 'users']);
    const own = parseScenarioText(
      CONTRACT +
        `seed: { existing: true }
workload:
  writes:
    scripts:
      - { weight: 1, sql: "INSERT INTO notes (body) VALUES ('x') RETURNING id", ledger: { table: notes, key: id, op: insert } }
      - { weight: 1, sql: "UPDATE app.Counters SET n = n + 1 WHERE id = 1 RETURNING id", ledger: false }
`,
      'test',
    );
    expect([...writtenTables(own)].sort()).toEqual(['app.counters', 'notes']);
  });
});
