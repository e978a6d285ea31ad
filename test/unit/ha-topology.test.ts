// The pure parts of followers, rejoin and TLS: the fork point read from a timeline history
// file, who streamed from whom derived from lag samples, the standbys and tls checks (each both
// ways), and the scenario rules for rejoinOldPrimary and tls.
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { switchPoint } from '../../harness/strategies/followers.js';
import { describeTls, finalUpstreams, streamSpans, tlsView } from '../../harness/report/replication-model.js';
import { standbysCheck, tlsCheck } from '../../harness/checks/run-checks.js';
import { parseScenarioText, validateScenario } from '../../harness/scenario/load-scenario.js';
import { runSettings } from '../../harness/topology/topology.js';
import type { LagSample } from '../../harness/record/records.js';
import type { RunEvent } from '../../harness/record/events.js';
import type { StandbyIntegrity } from '../../harness/results/results.js';
import { integrity } from '../fixtures/integrity.js';

function sample(t: number, node: string, upstream: string | undefined, state = 'streaming'): LagSample {
  return {
    t,
    node,
    ...(upstream ? { upstream } : {}),
    sentBytes: 0,
    writeBytes: 0,
    flushBytes: 0,
    replayBytes: 0,
    writeLagMs: 0,
    flushLagMs: 0,
    replayLagMs: 0,
    receiveLsn: null,
    replayLsn: null,
    state,
    slotActive: true,
  };
}

describe('switchPoint', () => {
  it('reads the last fork point of a timeline history file', () => {
    expect(switchPoint('1\t0/3000158\tno recovery target specified\n')).toBe('0/3000158');
    expect(switchPoint('1\t0/3000158\tno recovery target specified\n\n2\t0/5A000A0\tno recovery target specified\n')).toBe('0/5A000A0');
  });
  it('says null when the file lists no fork', () => {
    expect(switchPoint('')).toBeNull();
    expect(switchPoint('# comment only\n')).toBeNull();
  });
});

describe('who streamed from whom', () => {
  const lag = {
    samples: [
      sample(100, 'replica', 'primary'),
      sample(100, 'replica2', 'primary'),
      sample(600, 'replica2', 'primary', 'disconnected'),
      sample(1100, 'replica2', 'replica', 'startup'),
      sample(1600, 'replica2', 'replica'),
      sample(2100, 'primary', 'replica'),
      sample(2600, 'replica2', 'replica'),
      sample(2600, 'primary', 'replica'),
      // results of older versions carry no upstream: skipped
      sample(3000, 'old', undefined),
    ],
    maxReplayBytes: 0,
    maxReplayLagMs: 0,
  };

  it('cuts each standby\'s samples into spans of one upstream, counting the streaming ones', () => {
    expect(streamSpans({ lag }).map((s) => [s.node, s.upstream, s.fromMs, s.toMs, s.samples, s.streaming])).toEqual([
      ['replica', 'primary', 100, 100, 1, 1],
      ['replica2', 'primary', 100, 600, 2, 1],
      ['replica2', 'replica', 1100, 2600, 3, 2],
      ['primary', 'replica', 2100, 2600, 2, 2],
    ]);
  });

  it('ends with the upstream each standby streamed from last: the rejoined old primary and the follower from the new primary', () => {
    const last = finalUpstreams({ lag });
    expect(last.get('replica2')?.upstream).toBe('replica');
    expect(last.get('primary')?.upstream).toBe('replica');
    expect(last.has('old')).toBe(false);
  });
});

const TLS_SCENARIO = `
name: t
nodes:
  primary: {}
  replica: { replicaOf: primary }
tls: { clientCerts: true }
`;

function replicationTls(node: string, ssl: boolean): RunEvent {
  return { t: 10, kind: 'replication-tls', node, upstream: 'primary', ssl, version: ssl ? 'TLSv1.3' : null, cipher: null, clientDn: ssl ? '/CN=replicator' : null };
}
const READY: RunEvent = { t: 1, kind: 'tls-ready', mode: 'verify-full', clientCerts: true, ca: 'CN=ca', caFingerprint: 'AA', serverNames: ['primary'] };

describe('tls check', () => {
  const scenario = parseScenarioText(TLS_SCENARIO, 't.yaml');

  it('is valid when every standby\'s replication connection was read encrypted', () => {
    const check = tlsCheck({ scenario, events: [READY, replicationTls('replica', true)] });
    expect(check).toMatchObject({ valid: true });
    expect(check!.detail).toContain('TLSv1.3');
    expect(check!.detail).toContain('/CN=replicator');
  });

  it('fails when pg_stat_ssl showed a replication connection in the clear', () => {
    expect(tlsCheck({ scenario, events: [READY, replicationTls('replica', true), replicationTls('replica', false)] })).toMatchObject({ valid: false });
  });

  it('is unknown when a standby\'s connection was never read, or the certificates never made', () => {
    expect(tlsCheck({ scenario, events: [READY] })).toMatchObject({ valid: 'unknown' });
    expect(tlsCheck({ scenario, events: [] })).toMatchObject({ valid: 'unknown' });
  });

  it('does not apply without tls', () => {
    expect(tlsCheck({ scenario: parseScenarioText(TLS_SCENARIO.replace('tls: { clientCerts: true }', ''), 't.yaml'), events: [] })).toBeUndefined();
  });

  it('is told in the report from the scenario and the events', () => {
    const view = tlsView({ scenario, events: [READY, replicationTls('replica', true)] });
    expect(view).toMatchObject({ mode: 'verify-full', clientCerts: true, ca: { fingerprint: 'AA' } });
    expect(describeTls(view)).toMatch(/^on: sslmode verify-full, client certificates required.*TLSv1\.3 \(1 of 1/);
    expect(describeTls(null)).toMatch(/^off/);
  });
});

describe('standbys check', () => {
  const standby = (node: string, match: boolean, role: StandbyIntegrity['role'] = 'standby'): StandbyIntegrity => ({
    node,
    role,
    tables: [{ table: 'orders', sourceRows: 10, targetRows: match ? 10 : 9, sourceHash: 'a', targetHash: match ? 'a' : 'b', match }],
    rowCountMismatches: match ? 0 : 1,
    hashMismatches: 0,
    schemaDifferences: [],
  });

  it('is valid when every follower and the rejoined old primary hold the final primary\'s tables', () => {
    const check = standbysCheck(integrity({ standbys: [standby('replica2', true), standby('primary', true, 'rejoined')] }));
    expect(check).toMatchObject({ valid: true });
    expect(check!.detail).toContain('primary (rejoined)');
  });

  it('fails on a standby whose tables differ, naming it and the table', () => {
    const check = standbysCheck(integrity({ standbys: [standby('replica2', true), standby('primary', false, 'rejoined')] }));
    expect(check).toMatchObject({ valid: false });
    expect(check!.detail).toContain('primary (rejoined): orders (10 vs 9 rows)');
  });

  it('is unknown when they could not be read', () => {
    expect(standbysCheck(integrity({ unknown: { standbys: 'replica2 could not be reached' } }))).toMatchObject({ valid: 'unknown' });
  });

  it('does not apply when the final primary has no other standby', () => {
    expect(standbysCheck(integrity({}))).toBeUndefined();
    expect(standbysCheck(integrity({ standbys: [] }))).toBeUndefined();
  });
});

describe('scenario rules for rejoinOldPrimary and tls', () => {
  const base = `
name: t
nodes:
  primary: { version: 15 }
  replica: { version: 15, replicaOf: primary }
`;
  const problems = (text: string) => validateScenario(parseYaml(text)).problems;

  it('takes rejoinOldPrimary for streaming and failover, and turns wal_log_hints on for every node', () => {
    const s = parseScenarioText(`${base}strategy: { kind: streaming, from: primary, to: replica, rejoinOldPrimary: true }\ntimeline:\n  - at: 1s\n    cutover: {}\n`, 't.yaml');
    expect(s.strategy?.rejoinOldPrimary).toBe(true);
    expect(runSettings(s)).toMatchObject({ wal_log_hints: 'on' });
    expect(runSettings(parseScenarioText(base, 't.yaml'))).toEqual({});
  });

  it('refuses it for kinds that keep the old primary as it is', () => {
    const p = problems(`name: t\nnodes:\n  a: {}\n  b: {}\nstrategy: { kind: dump-restore, from: a, to: b, rejoinOldPrimary: true }\n`);
    expect(p.find((x) => x.path === 'strategy.rejoinOldPrimary')?.message).toContain('applies to kinds streaming and failover');
  });

  it('refuses a failover rejoin whose fault keeps the old primary down until the end', () => {
    const p = problems(`${base}strategy: { kind: failover, from: primary, to: replica, rejoinOldPrimary: true }\ntimeline:\n  - at: 1s\n    fault: { kind: kill, node: primary }\n`);
    expect(p.find((x) => x.path === 'timeline[0].fault')?.message).toMatch(/rewinds "primary" when it comes back.*give it restartAfter/);
    const ok = problems(`${base}strategy: { kind: failover, from: primary, to: replica, rejoinOldPrimary: true }\ntimeline:\n  - at: 1s\n    fault: { kind: kill, node: primary, restartAfter: 2s }\n`);
    expect(ok).toEqual([]);
  });

  it('fills tls defaults and names a bad mode with what is allowed', () => {
    expect(parseScenarioText(`${base}tls: {}\n`, 't.yaml').tls).toEqual({ mode: 'verify-full', clientCerts: false });
    expect(parseScenarioText(base, 't.yaml').tls).toBeUndefined();
    const p = problems(`${base}tls: { mode: verify }\n`);
    expect(p.find((x) => x.path === 'tls.mode')?.message).toMatch(/allowed: verify-full, verify-ca, require/);
  });
});
