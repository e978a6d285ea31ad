// Patroni clusters without a server: the patroni: section's rules (paths and fixes), the refusal
// of other runtimes (exit 2, nothing started), patroni.yml as pgdrill writes it, the leader
// changes timed from their cause, and the leader-changes check proven both ways.
import { describe, it, expect } from 'vitest';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { InvalidInputError, type Problem } from '../../harness/errors.js';
import { loadScenarioFile, parseScenarioText, validateScenario } from '../../harness/scenario/load-scenario.js';
import { resolveScenarioPath } from '../../harness/scenario/bundled.js';
import { loadComparisonFile } from '../../harness/scenario/comparison.js';
import { runScenario } from '../../harness/run/run-scenario.js';
import { memberConfig } from '../../harness/patroni/patroni-config.js';
import { patroniResults } from '../../harness/patroni/patroni-results.js';
import { leaderChangesCheck } from '../../harness/checks/patroni-checks.js';
import { parseProgramVersion } from '../../harness/runtime/local/service-programs.js';
import { composeFile } from '../../harness/compose/compose-export.js';
import type { RunEvent } from '../../harness/record/events.js';
import type { Results } from '../../harness/results/results.js';
import type { PatroniConfig } from '../../harness/scenario/scenario.js';
import { tempDir } from '../support/temp-dir.js';

const CLUSTER = {
  name: 'p',
  duration: '10s',
  nodes: { pg1: { version: 15 }, pg2: { version: 15 }, pg3: { version: 15 } },
  patroni: { members: ['pg1', 'pg2', 'pg3'], ttl: '10s', loopWait: '1s', retryTimeout: '4s' },
  endpoint: { kind: 'haproxy' },
  workload: { writes: { rate: 10 } },
} as const;

function withChanges(change: (raw: Record<string, any>) => void): Record<string, any> {
  const raw = structuredClone(CLUSTER) as Record<string, any>;
  change(raw);
  return raw;
}

function problemsOf(raw: unknown): Problem[] {
  return validateScenario(raw).problems;
}

function expectProblem(problems: Problem[], at: string, ...fragments: string[]): void {
  const text = problems.map((p) => `${p.path}: ${p.message}`).join('\n');
  const hit = problems.find((p) => p.path === at && fragments.every((f) => p.message.includes(f)));
  expect(hit, `no problem at ${at} containing ${JSON.stringify(fragments)}; got:\n${text}`).toBeDefined();
}

describe('the patroni: section', () => {
  it('accepts a three-member cluster and the bundled patroni scenarios as written', async () => {
    expect(problemsOf(CLUSTER)).toEqual([]);
    for (const name of ['patroni-switchover', 'patroni-failover', 'patroni-sync-failover', 'patroni-async-failover-loses-writes', 'single-to-patroni']) {
      const s = await loadScenarioFile(await resolveScenarioPath(name));
      expect(s.patroni?.members).toEqual(['pg1', 'pg2', 'pg3']);
      expect(s.patroni!.loopWait + 2 * s.patroni!.retryTimeout).toBeLessThanOrEqual(s.patroni!.ttl);
    }
    const ttl = await loadComparisonFile(await resolveScenarioPath('compare-patroni-ttl'));
    expect(ttl.runs.map((r) => [r.label, r.scenario.patroni!.ttl, r.scenario.timeline[0].fault?.host])).toEqual([
      ['ttl-10s', 10_000, true],
      ['ttl-20s', 20_000, true],
      ['ttl-30s', 30_000, true],
    ]);
    const failover = await loadScenarioFile(await resolveScenarioPath('patroni-failover'));
    expect(failover.patroni!.ttl).toBe(10_000);
    expect(failover.timeline[0].fault).toMatchObject({ kind: 'kill', node: 'pg1', host: true });
  });

  it("refuses timing Patroni would not keep: loopWait + 2 x retryTimeout > ttl, and fractions of a second", () => {
    expectProblem(problemsOf(withChanges((r) => (r.patroni.ttl = '8s'))), 'patroni.ttl', 'loopWait + 2 x retryTimeout must be at most ttl', '1s + 2 x 4s = 9s > 8s');
    expectProblem(problemsOf(withChanges((r) => (r.patroni.loopWait = '1500ms'))), 'patroni.loopWait', 'whole seconds');
  });

  it('refuses members that are not nodes, are listed twice, replicate by themselves, or run different majors', () => {
    expectProblem(problemsOf(withChanges((r) => r.patroni.members.push('pg9'))), 'patroni.members[3]', 'unknown node', 'pg9');
    expectProblem(problemsOf(withChanges((r) => r.patroni.members.push('pg1'))), 'patroni.members[3]', 'listed twice');
    expectProblem(problemsOf(withChanges((r) => (r.nodes.pg2 = { version: 15, replicaOf: 'pg1' }))), 'nodes.pg2.replicaOf', 'Patroni sets up its replication itself');
    expectProblem(problemsOf(withChanges((r) => (r.nodes.pg3 = { version: 17 }))), 'patroni.members', 'different PostgreSQL majors');
  });

  it('keeps the settings it owns out of patroni.dcs and says where they go', () => {
    expectProblem(problemsOf(withChanges((r) => (r.patroni.dcs = { ttl: 5 }))), 'patroni.dcs.ttl', 'use patroni.ttl');
    expectProblem(problemsOf(withChanges((r) => (r.patroni.dcs = { standby_cluster: {} }))), 'patroni.dcs.standby_cluster', 'patroni.standbyOf');
  });

  it('checks kind patroni against the cluster: a section to act on, from = the first member (or standbyOf), to = a member', () => {
    const noSection = withChanges((r) => {
      delete r.patroni;
      r.strategy = { kind: 'patroni', from: 'pg1', to: 'pg2' };
    });
    expectProblem(problemsOf(noSection), 'strategy.kind', 'there is none', 'patroni:');
    expectProblem(problemsOf(withChanges((r) => (r.strategy = { kind: 'patroni', from: 'pg2', to: 'pg3' }))), 'strategy.from', 'use from: pg1');
    const standby = withChanges((r) => {
      r.nodes.legacy = { version: 15 };
      r.patroni.standbyOf = 'legacy';
      r.strategy = { kind: 'patroni', from: 'legacy', to: 'pg2' };
    });
    expectProblem(problemsOf(standby), 'strategy.to', 'use to: pg1');
    expectProblem(problemsOf(withChanges((r) => (r.patroni.standbyOf = 'pg2'))), 'patroni.standbyOf', 'is a member');
  });

  it('takes host faults and links to etcd on members only', () => {
    const hostOnOther = withChanges((r) => {
      r.nodes.other = { version: 15 };
      r.timeline = [{ at: '1s', fault: { kind: 'kill', node: 'other', host: true } }];
    });
    expectProblem(problemsOf(hostOnOther), 'timeline[0].fault.host', 'Patroni members only');
    const etcdLink = withChanges((r) => (r.timeline = [{ at: '1s', fault: { kind: 'partition', link: 'etcd:pg7', for: '1s' } }]));
    expectProblem(problemsOf(etcdLink), 'timeline[0].fault.link', 'etcd:pg1, etcd:pg2, etcd:pg3');
    expect(problemsOf(withChanges((r) => (r.timeline = [{ at: '1s', fault: { kind: 'partition', link: 'etcd:pg1', for: '1s' } }])))).toEqual([]);
  });
});

describe('runtimes without Patroni', () => {
  it('refuses a Patroni cluster on the docker runtime with exit 2 and the reason, before anything starts', async () => {
    const scenario = parseScenarioText(YAML.stringify(CLUSTER), 'test');
    const out = path.join(tempDir('patroni-docker'), 'never-made');
    const run = runScenario(scenario, { runtime: 'docker', out });
    await expect(run).rejects.toBeInstanceOf(InvalidInputError);
    const err = (await run.catch((e: unknown) => e)) as InvalidInputError;
    expect(err.exitCode).toBe(2);
    const problem = err.problems.find((p) => p.path === 'runtime');
    expect(problem?.message).toMatch(/Patroni members run on the local runtime only: on docker each container would need patroni and etcd in its image/);
    // nothing was started, not even the report folder
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  });

  it('has no compose form of a Patroni cluster (exit 2 naming why)', () => {
    const scenario = parseScenarioText(YAML.stringify(CLUSTER), 'test');
    expect(() => composeFile(scenario)).toThrow(/runs a Patroni cluster, which a compose file of plain PostgreSQL containers cannot stand for/);
  });
});

describe('patroni.yml', () => {
  const patroni: PatroniConfig = { members: ['pg1', 'pg2'], etcd: 1, ttl: 10_000, loopWait: 1000, retryTimeout: 4000, synchronousMode: true, dcs: { maximum_lag_on_failover: 1024 }, postgresql: {} };
  const input = {
    scope: 'pgdrill-run',
    name: 'pg2',
    restPort: 8009,
    pgPort: 5433,
    connectAddress: { host: '127.0.0.1', port: 6001 },
    etcdHosts: [{ host: '127.0.0.1', port: 7001 }],
    dataDir: '/tmp/pgdrill/run/pg2/data',
    binDir: '/usr/lib/postgresql/15/bin',
    nodeDir: '/tmp/pgdrill/run/pg2',
    credentials: { superuser: 'pgdrill', superuserPassword: 's3cret', replicationUser: 'replicator', replicationPassword: 'r3pl' },
    patroni,
    clusterParameters: { max_wal_senders: '10', wal_log_hints: 'on', checkpoint_timeout: '5min' },
    nodeParameters: { work_mem: '8MB' },
    rewind: true,
  };

  it('has loopback ports, etcd3 through the link proxies, the node binaries, scram, and the timing in seconds', () => {
    const doc = YAML.parse(memberConfig(input));
    expect(doc.scope).toBe('pgdrill-run');
    expect(doc.restapi).toEqual({ listen: '127.0.0.1:8009', connect_address: '127.0.0.1:8009' });
    expect(doc.etcd3).toEqual({ hosts: ['127.0.0.1:7001'], protocol: 'http', use_proxies: true });
    expect(doc.postgresql).toMatchObject({ listen: '127.0.0.1:5433', connect_address: '127.0.0.1:6001', data_dir: input.dataDir, bin_dir: input.binDir });
    expect(doc.postgresql.authentication.replication).toEqual({ username: 'replicator', password: 'r3pl' });
    expect(doc.postgresql.parameters.password_encryption).toBe('scram-sha-256');
    expect(doc.postgresql.pg_hba).toContain('host replication replicator 127.0.0.1/32 scram-sha-256');
    const dcs = doc.bootstrap.dcs;
    expect(dcs).toMatchObject({ ttl: 10, loop_wait: 1, retry_timeout: 4, synchronous_mode: true, maximum_lag_on_failover: 1024 });
    expect(dcs.postgresql.use_pg_rewind).toBe(true);
    expect(dcs.standby_cluster).toBeUndefined();
  });

  it('puts the parameters Patroni takes from the DCS only into bootstrap.dcs, the others per member', () => {
    const doc = YAML.parse(memberConfig(input));
    expect(doc.bootstrap.dcs.postgresql.parameters).toEqual({ max_wal_senders: '10', wal_log_hints: 'on' });
    expect(doc.postgresql.parameters).toMatchObject({ checkpoint_timeout: '5min', work_mem: '8MB' });
    expect(doc.postgresql.parameters.max_wal_senders).toBeUndefined();
  });

  it('makes the members a standby cluster of standbyOf', () => {
    const doc = YAML.parse(memberConfig({ ...input, standbyOf: { host: '127.0.0.1', port: 5999 } }));
    expect(doc.bootstrap.dcs.standby_cluster).toEqual({ host: '127.0.0.1', port: 5999, create_replica_methods: ['basebackup'] });
  });

  it('reads the versions of Debian patroni and etcd', () => {
    expect(parseProgramVersion('patroni', 'patroni 3.0.2\n')).toBe('3.0.2');
    expect(parseProgramVersion('etcd', 'etcd Version: 3.4.23\nGit SHA: Not provided\nGo Version: go1.19.8\n')).toBe('3.4.23');
  });
});

// events as the watcher and the faults record them
let seq = 0;
function ev(t: number, kind: string, data: Record<string, unknown>): RunEvent {
  seq++;
  return { t, kind, ...data } as unknown as RunEvent;
}
const leader = (t: number, name: string | null, previous: string | null) => ev(t, 'patroni-leader', { leader: name, previous, role: name ? 'leader' : null });
const member = (t: number, name: string, role: string, timeline = 1) => ev(t, 'patroni-member', { member: name, role, state: 'running', timeline, lag: null });

describe('leader changes', () => {
  it('times a failover from the kill: detected when the old leader is no longer named, elected when the new one is, served when writes were', () => {
    const events = [
      member(100, 'pg1', 'leader'),
      leader(100, 'pg1', null),
      // a host kill: its event comes once the processes are gone (injectMs after it began)
      ev(3050, 'fault-start', { fault: 'kill', node: 'pg1', host: true, injectMs: 50 }),
      leader(13_000, null, 'pg1'),
      member(13_100, 'pg2', 'leader', 2),
      leader(13_100, 'pg2', null),
    ];
    const windows = [{ startMs: 3010, endMs: 13_500, durationMs: 10_490, failedOps: 900, openAtEnd: false }];
    const r = patroniResults(events, windows);
    expect(r.leaderChanges).toEqual([
      { t: 13_100, from: 'pg1', to: 'pg2', cause: 'kill pg1 (host)', causeMs: 3000, leaderLostMs: 13_000, detectedAfterMs: 10_000, electedAfterMs: 10_100, servedAfterMs: 10_500 },
    ]);
    expect(r.members.find((m) => m.name === 'pg2')!.roles).toEqual([{ t: 13_100, role: 'leader', state: 'running', timeline: 2 }]);
    expect(r.finalLeader).toBe('pg2');
  });

  it('times a switchover from its request, and does not count the bootstrap leader as a change', () => {
    const events = [leader(100, 'pg1', null), ev(5000, 'cutover-step-start', { step: 'switchover-requested' }), leader(6600, 'pg2', 'pg1')];
    const r = patroniResults(events, [{ startMs: 5400, endMs: 7200, durationMs: 1800, failedOps: 10, openAtEnd: false }]);
    expect(r.leaderChanges).toHaveLength(1);
    expect(r.leaderChanges[0]).toMatchObject({ from: 'pg1', to: 'pg2', cause: 'switchover requested', detectedAfterMs: 1600, electedAfterMs: 1600, servedAfterMs: 2200 });
  });

  it('leaves the timings null when pgdrill saw no cause', () => {
    const r = patroniResults([leader(100, 'pg1', null), leader(4000, 'pg3', 'pg1')], []);
    expect(r.leaderChanges[0]).toMatchObject({ from: 'pg1', to: 'pg3', cause: null, detectedAfterMs: null, electedAfterMs: null, servedAfterMs: null });
  });
});

describe('the leader-changes check', () => {
  const switchover = parseScenarioText(
    YAML.stringify({ ...CLUSTER, strategy: { kind: 'patroni', from: 'pg1', to: 'pg2' }, timeline: [{ at: '3s', cutover: {} }] }),
    'test',
  );
  const failover = parseScenarioText(YAML.stringify({ ...CLUSTER, timeline: [{ at: '3s', fault: { kind: 'kill', node: 'pg1', host: true } }] }), 'test');
  const quiet = parseScenarioText(YAML.stringify(CLUSTER), 'test');
  const cutover = { dryRun: false } as Results['cutover'];
  const seen = (changes: [string, string][]) =>
    patroniResults([member(1, 'pg1', 'leader'), leader(1, 'pg1', null), ...changes.map(([, to], i) => leader(1000 * (i + 2), to, null))], []);

  it('is valid for one change to the candidate of a switchover, invalid for none, two, or another member', () => {
    expect(leaderChangesCheck(switchover, seen([['pg1', 'pg2']]), cutover)!.valid).toBe(true);
    expect(leaderChangesCheck(switchover, seen([]), cutover)!.valid).toBe(false);
    expect(leaderChangesCheck(switchover, seen([['pg1', 'pg3']]), cutover)!.valid).toBe(false);
    expect(leaderChangesCheck(switchover, seen([['pg1', 'pg2'], ['pg2', 'pg1']]), cutover)!.valid).toBe(false);
  });

  it('after a host kill of the leader: valid with a change, unknown without (the failover did not happen in time)', () => {
    expect(leaderChangesCheck(failover, seen([['pg1', 'pg2']]), null)!.valid).toBe(true);
    const none = leaderChangesCheck(failover, seen([]), null)!;
    expect(none.valid).toBe('unknown');
    expect(none.detail).toMatch(/did not happen before the load ended/);
  });

  it('with nothing to cause one, a leader change is invalid; a cluster never seen is unknown', () => {
    expect(leaderChangesCheck(quiet, seen([]), null)!.valid).toBe(true);
    expect(leaderChangesCheck(quiet, seen([['pg1', 'pg3']]), null)!.valid).toBe(false);
    expect(leaderChangesCheck(quiet, undefined, null)!.valid).toBe('unknown');
    expect(leaderChangesCheck(parseScenarioText(YAML.stringify({ ...CLUSTER, patroni: undefined, endpoint: undefined }), 'test'), undefined, null)).toBeUndefined();
  });
});

describe('the report of a Patroni run', () => {
  const results = {
    scenario: { patroni: { members: ['pg1', 'pg2'] } },
    patroni: {
      members: [
        { name: 'pg1', roles: [{ t: 100, role: 'leader', state: 'running', timeline: 1 }, { t: 5000, role: 'absent', state: 'absent', timeline: null }] },
        { name: 'pg2', roles: [{ t: 100, role: 'replica', state: 'streaming', timeline: 1 }, { t: 15_000, role: 'leader', state: 'running', timeline: 2 }] },
      ],
      leaderChanges: [{ t: 15_000, from: 'pg1', to: 'pg2', cause: 'kill pg1 (host)', causeMs: 5000, leaderLostMs: 14_900, detectedAfterMs: 9900, electedAfterMs: 10_000, servedAfterMs: 10_400 }],
      finalLeader: 'pg2',
    },
  } as unknown as Results;

  it("draws each member's roles as spans up to the next change, a member missing from /cluster as down", async () => {
    const { memberRoleSpans, roleClass } = await import('../../harness/report/patroni-view.js');
    const spans = memberRoleSpans(results, 20_000);
    expect(spans[0]).toEqual({
      member: 'pg1',
      spans: [
        { startMs: 100, endMs: 5000, role: 'leader', label: 'leader (running)' },
        { startMs: 5000, endMs: 20_000, role: 'down', label: 'absent from /cluster' },
      ],
    });
    expect(spans[1].spans.map((s) => [s.role, s.endMs])).toEqual([['replica', 15_000], ['leader', 20_000]]);
    expect(['leader', 'sync_standby', 'replica', 'down'].map(roleClass)).toEqual(['role-leader', 'role-sync', 'role-replica', 'role-down']);
  });

  it('tells the leader changes with their cause and timings, in the HTML and on the terminal', async () => {
    const { patroniSection, patroniLeaderText } = await import('../../harness/report/patroni-view.js');
    const html = patroniSection(results, 1000);
    expect(html).toContain('<code>pg1</code> → <code>pg2</code>');
    expect(html).toContain('kill pg1 (host)');
    expect(html).toMatch(/9\.9\s?s/);
    expect(patroniLeaderText(results)).toMatch(/^pg1 -> pg2 after kill pg1 \(host\): lost 9\.9\s?s, new leader 10(\.0)?\s?s, writes served 10\.4\s?s$/);
    expect(patroniSection({ ...results, patroni: undefined } as Results, 0)).toBe('');
  });
});
