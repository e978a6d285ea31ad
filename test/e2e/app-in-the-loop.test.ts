// The application in the loop on real servers: an app killed in the middle of the run is app
// downtime (the run goes on, reports and cleans up); an app that cannot start, never answers
// or exits before it is ready is an environment error (exit 3) with its log's tail; Ctrl-C
// stops it; and the sample service's acknowledged orders join the exact ledger, so one that
// disappears is a lost write. The bundled scenarios (bundled-scenarios.test.ts) run the
// sample service and the clinging fixture through a cutover.

import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { groupAlive } from '../../harness/util/process-group.js';
import { withNode } from '../../harness/topology/connect.js';
import type { RunEvent } from '../../harness/record/events.js';
import { expectEveryOpAccounted, leftovers, removeRunFolders, runInTemp, scenarioFrom } from './support/runs.js';

afterAll(removeRunFolders);

const ONE_NODE = `
runtime: local
nodes:
  primary: { version: 17 }
seed: { users: 50, products: 20, orders: 100 }
workload:
  writes: { rate: 50, connections: 4 }
  probe: { interval: 50ms }
`;

const named = (checks: { name: string; valid: unknown; detail: string }[], name: string) => checks.find((c) => c.name === name);

/** The app's process group (its pid: it leads a group of its own) from the run's events. */
function appGroup(events: readonly RunEvent[]): number {
  const start = events.find((e) => e.kind === 'app-start');
  if (!start || start.kind !== 'app-start' || start.pid === null) throw new Error('no app-start event with a pid');
  return start.pid;
}

describe('the app dies in the middle of the run', () => {
  it('is app downtime to the end: pgdrill goes on, reports, and leaves nothing running', async () => {
    const scenario = scenarioFrom(`name: app-killed
duration: 8s
${ONE_NODE}
app:
  load: { rate: 50, connections: 5 }
  checks:
    - { method: GET, path: /health, expect: 200, within: 500ms }
`);
    let pid: number | undefined;
    let killedAt: number | undefined;
    const run = await runInTemp(scenario, {
      onEvent: (e) => {
        if (e.kind === 'app-start' && e.pid !== null) pid = e.pid;
        if (e.kind === 'workload-start') {
          // three seconds into the load, the app and everything in its group die at once
          setTimeout(() => {
            killedAt = performance.now();
            process.kill(-pid!, 'SIGKILL');
          }, 3000);
        }
      },
    });
    const r = run.results;
    expect(killedAt).toBeDefined();
    // the run itself finished: the verdict is a fail, not an error
    expect(r.error).toBeNull();
    expect(run.exitCode).toBe(1);
    expectEveryOpAccounted(run);
    expect(named(r.checks, 'operations accounted for')?.detail).toMatch(/app 400\/400/);

    // from the kill to the end of the load, every request failed: the last window, open at the end
    // (a busy machine may add a short stall window earlier on)
    const load = r.phases.find((p) => p.name === 'load')!;
    const down = r.downtime.app!;
    const last = down.windows[down.windows.length - 1];
    expect(last.openAtEnd).toBe(true);
    // the kill comes 3 s in; on a busy machine the stall rule may open the window a few hundred ms sooner
    expect(last.startMs - load.startMs).toBeGreaterThan(2000);
    expect(last.startMs - load.startMs).toBeLessThan(4000);
    expect(down.longestMs).toBeGreaterThan(3500);
    expect(r.load.app!.errors['connection ECONNREFUSED']).toBeGreaterThan(150);
    // the database's own clients saw nothing of it
    expect(r.downtime.writes.windows.filter((w) => w.failedOps > 5)).toEqual([]);

    expect(r.app!.exited).toMatchObject({ code: null, signal: 'SIGKILL' });
    expect(named(r.checks, 'app stayed up')).toMatchObject({ valid: false, detail: expect.stringMatching(/exited by itself \(killed by SIGKILL\)/) });
    expect(named(r.checks, 'downtime recovered')).toMatchObject({ valid: false, detail: expect.stringMatching(/app requests were still down/) });
    expect(named(r.checks, 'app check[0] (GET /health)')).toMatchObject({ valid: false, detail: expect.stringMatching(/^at the end of the load: GET \/health failed to connect: ECONNREFUSED/) });
    // what the app acknowledged before it died is all there
    expect(named(r.checks, 'write ledger')?.valid).toBe(true);
    expect(r.integrity!.acknowledgedWrites).toBeGreaterThan(r.load.writes.ok);

    const log = readFileSync(`${run.folder}/app.log`, 'utf8');
    expect(log).toMatch(/err\| \[pgdrill\] the app exited \(killed by SIGKILL\)/);
    expect(existsSync(`${run.folder}/app.png`)).toBe(true);
    expect(readFileSync(`${run.folder}/report.html`, 'utf8')).toContain('The app was killed by SIGKILL at T+');
    expect(groupAlive(appGroup(r.events))).toBe(false);
    expect(leftovers(r.runId)).toEqual([]);
  });
});

describe('an app that is not ready is an environment error (exit 3), with its log', () => {
  const cases = [
    {
      name: 'app-missing',
      app: 'command: "./no-such-app --port $PORT"',
      code: 'PGDRILL_APP_EXITED',
      message: /exited \(exit code 127 \(the shell found no such command; relative paths resolve against .*\)\) before it answered GET \/health[\s\S]*no-such-app: not found/,
    },
    {
      name: 'app-never-answers',
      app: 'command: "echo starting; exec sleep 60"\n  ready: { timeout: 1500ms }',
      code: 'PGDRILL_APP_NOT_READY',
      message: /did not answer 2xx within 2s; last attempt: ECONNREFUSED \(is it listening on 127\.0\.0\.1:\$PORT\?\) GET \/health[\s\S]*starting/,
    },
    {
      name: 'app-exits-early',
      app: 'command: "echo \\"cannot reach $DATABASE_URL\\" >&2; exit 4"',
      code: 'PGDRILL_APP_EXITED',
      message: /exited \(exit code 4\) before it answered[\s\S]*cannot reach postgres:\/\/pgdrill:/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: exit 3 naming the cause, nothing left running`, async () => {
      const scenario = scenarioFrom(`name: ${c.name}
duration: 5s
${ONE_NODE}
app:
  ${c.app}
  load: { rate: 0 }
`);
      const run = await runInTemp(scenario);
      expect(run.exitCode).toBe(3);
      expect(run.results.error?.code).toBe(c.code);
      expect(run.results.error?.message).toMatch(c.message);
      // nothing was driven: the load never started
      expect(run.results.phases.map((p) => p.name)).not.toContain('load');
      expect(existsSync(`${run.folder}/app.log`)).toBe(true);
      expect(run.results.events.some((e) => e.kind === 'app-stop')).toBe(true);
      expect(groupAlive(appGroup(run.results.events))).toBe(false);
      expect(leftovers(run.results.runId)).toEqual([]);
    });
  }
});

describe('Ctrl-C during the load', () => {
  it('stops the app with everything else: exit 130, its group gone', async () => {
    const scenario = scenarioFrom(`name: app-interrupted
duration: 20s
${ONE_NODE}
app:
  load: { rate: 20 }
`);
    const controller = new AbortController();
    const run = await runInTemp(scenario, {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.kind === 'app-load-start') setTimeout(() => controller.abort(), 1500);
      },
    });
    expect(run.exitCode).toBe(130);
    const stop = run.results.events.find((e) => e.kind === 'app-stop');
    expect(stop && stop.kind === 'app-stop' && stop.how).toBe('SIGTERM');
    expect(groupAlive(appGroup(run.results.events))).toBe(false);
    expect(leftovers(run.results.runId)).toEqual([]);
  });
});

describe("the app's writes in the exact ledger", () => {
  it('holds every order the app acknowledged, and counts one that is gone from the final primary as lost', async () => {
    // the database load writes nothing here: every order with a request id is the app's
    const scenario = scenarioFrom(`name: app-ledger
duration: 5s
${ONE_NODE.replace('rate: 50, connections: 4', 'rate: 0')}
app:
  load:
    rate: 40
    requests:
      - { method: POST, path: /orders, body: { userId: 3, productId: 4, quantity: 2 }, ledger: { table: orders, key: id } }
`);
    let removed: number | undefined;
    const run = await runInTemp(scenario, {
      beforeVerify: async ({ topology }) => {
        // the app's first order, long acknowledged, deleted behind everyone's back
        const { rows } = await withNode(topology.primary, (c) =>
          c.query('DELETE FROM orders WHERE id = (SELECT min(id) FROM orders WHERE request_id IS NOT NULL) RETURNING id'),
        );
        removed = Number(rows[0].id);
      },
    });
    const r = run.results;
    expect(r.error).toBeNull();
    expect(removed).toBeGreaterThan(100); // after the seed's orders
    const created = r.load.app!.statusCodes['201'];
    expect(created).toBeGreaterThan(150);
    // each 201 is an acknowledged write in the ledger, and only those
    expect(r.integrity!.acknowledgedWrites).toBe(created);
    expect(r.integrity!.lostWrites).toBe(1);
    expect(r.integrity!.lost[0]).toMatchObject({ table: 'orders', key: removed, op: 'insert' });
    expect(named(r.checks, 'write ledger')).toMatchObject({ valid: false, detail: expect.stringMatching(/^1 acknowledged write\(s\) lost/) });
    expect(run.exitCode).toBe(1);
    expect(leftovers(r.runId)).toEqual([]);
  });
});
