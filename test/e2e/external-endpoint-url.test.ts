// Runtime external behind the user's own endpoint (`endpoint: { url }`): pgdrill only connects
// through it. The "Service" here is a plain TCP forwarder the test runs, outside pgdrill, that
// sends each new connection to the port named in a file; the user's runbook (a shell command)
// fences the old primary, promotes the standby, switches the file and ends the sessions still
// on the old primary, so clients reconnect to the new one. pgdrill must measure the downtime
// through it, lose nothing, and leave both servers and the forwarder alone.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { expectEveryOpAccounted, removeRunFolders, runInTemp, scenarioFrom, whyNotPassed } from './support/runs.js';
import { fenceAndPromoteScript, freePort, PASSWORD, startOwnPair, type OwnPair } from './support/external-servers.js';
import { tempDir } from '../support/temp-dir.js';

let pair: OwnPair;
let service: net.Server;
let servicePort: number;
let targetFile: string;
let dir: string;
const served: number[] = [];

beforeAll(async () => {
  pair = await startOwnPair(['app']);
  dir = tempDir('service');
  targetFile = path.join(dir, 'target');
  writeFileSync(targetFile, String(pair.primary.port));
  servicePort = await freePort();
  // the user's Service: each new connection goes where the file says at that moment
  service = net.createServer((client) => {
    const port = Number(readFileSync(targetFile, 'utf8').trim());
    served.push(port);
    const upstream = net.connect(port, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => service.listen(servicePort, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise((resolve) => service?.close(resolve));
  pair?.stop();
  await removeRunFolders();
});

/** The runbook, then the user's endpoint switched and the sessions still on the old primary ended. */
function runbook(): string {
  return fenceAndPromoteScript(
    pair,
    dir,
    `echo ${pair.standby.port} > ${targetFile}
# sessions that reconnected to the old primary meanwhile get read-only errors forever: end them
"$P/psql" -X -q "$PGDRILL_PRIMARY_URL" -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
echo "service -> replica via $PGDRILL_ENDPOINT_URL"`,
  );
}

describe('runtime external behind the user\'s own endpoint url', () => {
  it('measures downtime through it, loses nothing, and leaves the servers and the endpoint running', async () => {
    // 16 s of load with the cutover at 3 s: room for a slow sync gate or runbook on a loaded
    // machine (with 8 s, a CI run saw the promotion at 14.4 s, after the load had ended)
    const script = runbook();
    const run = await runInTemp(
      scenarioFrom(`
name: external-endpoint-url
runtime: external
duration: 16s
nodes:
  primary: { url: "${pair.primary.url('app')}", version: 15 }
  replica: { url: "${pair.standby.url('app')}", version: 15, replicaOf: primary }
endpoint: { url: "postgres://${pair.primary.url('app').split('//')[1].split('@')[0]}@127.0.0.1:${servicePort}/app" }
strategy: { kind: external }
seed: { users: 100, products: 50, orders: 200 }
workload:
  writes: { rate: 100, connections: 4 }
  probe: { interval: 20ms }
timeline: [ { at: 3s, cutover: { command: "${script}", timeout: 30s } } ]
thresholds:
  lostWrites: "== 0"
`),
    );
    const { results } = run;
    expect(results.error).toBeNull();
    expect(results.cutover!.steps.filter((s) => !s.ok)).toEqual([]);
    const names = results.cutover!.steps.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['cutover-command', 'new-primary', 'endpoint-serving']));
    // pgdrill did not re-point anything: the endpoint is the user's
    expect(names).not.toContain('repoint-endpoint');
    expect(results.cutover!.steps.find((s) => s.name === 'cutover-command')!.detail).toMatch(/service -> replica via postgres:\/\/[^ ]*127\.0\.0\.1:\d+/);
    expect(run.exitCode, whyNotPassed(run)).toBe(0);
    expect(results.integrity?.lostWrites).toBe(0);
    expect(results.integrity?.acknowledgedWrites).toBeGreaterThan(500);
    expect(results.integrity?.finalPrimary).toBe('replica');
    expectEveryOpAccounted(run);
    // the clients went through the user's endpoint: before the switch to the primary, after it to the replica
    expect(served).toContain(pair.primary.port);
    expect(served).toContain(pair.standby.port);
    expect(results.downtime.writes.longestMs).toBeGreaterThan(0);
    // nothing pgdrill did not start was stopped
    expect(pair.primary.running()).toBe(true);
    expect(pair.standby.running()).toBe(true);
    expect(service.listening).toBe(true);
    // the password is in the URLs the command gets, never in what pgdrill writes down
    expect(pathsHolding(results, PASSWORD)).toEqual([]);
    console.log(`external behind endpoint url: write downtime ${results.downtime.writes.longestMs} ms, ${results.integrity?.acknowledgedWrites} acknowledged, steps ${names.join(', ')}`);
  }, 120_000);
});

/** Where in a JSON value a string occurs (paths like "events[12].output"). */
function pathsHolding(value: unknown, needle: string, at = ''): string[] {
  if (typeof value === 'string') return value.includes(needle) ? [at] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => pathsHolding(v, needle, `${at}[${i}]`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => pathsHolding(v, needle, at ? `${at}.${k}` : k));
  return [];
}
