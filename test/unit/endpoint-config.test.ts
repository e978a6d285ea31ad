// What pgdrill writes for PgBouncer and HAProxy, how it reads HAProxy's stats socket, and the
// endpoint section of a scenario: fields per kind, defaults, and the mistakes refused (exit 2).

import { describe, expect, it } from 'vitest';
import { authFileLine, describeServers, pgbouncerIni, serversOn } from '../../harness/endpoint/pgbouncer-config.js';
import { READ_BACKEND, WRITE_BACKEND, haproxyConfig } from '../../harness/endpoint/haproxy-config.js';
import { parseShowStat, settledState } from '../../harness/endpoint/haproxy-stats.js';
import { parseProgramVersion } from '../../harness/runtime/local/service-programs.js';
import { unsupportedEndpoint } from '../../harness/scenario/endpoint-rules.js';
import { parseScenarioText } from '../../harness/scenario/load-scenario.js';
import { InvalidInputError } from '../../harness/errors.js';

const BASE = `
name: endpoints
duration: 10s
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary }
strategy: { kind: streaming, from: primary, to: replica }
workload:
  writes: { rate: 100, timeout: 3s }
  reads: { rate: 10, timeout: 7s }
timeline:
  - at: 5s
    cutover: {}
`;

function problemsOf(yaml: string): { path: string; message: string }[] {
  try {
    parseScenarioText(yaml, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as InvalidInputError).problems;
  }
  throw new Error('expected the scenario to be refused');
}

describe('PgBouncer files', () => {
  const ini = pgbouncerIni({
    databases: { pgdrill: { host: '127.0.0.1', port: 5433 }, postgres: { host: '127.0.0.1', port: 5433 } },
    listenPort: 6432,
    socketDir: '/tmp/run/pgbouncer',
    authFile: '/tmp/run/pgbouncer/userlist.txt',
    adminUser: 'pgdrill',
    pool: 'transaction',
    queryWaitTimeoutMs: 6500,
    poolSize: 20,
    settings: { server_login_retry: '15' },
  });

  it('points every [databases] entry at the primary and keeps the admin console on the unix socket', () => {
    expect(ini).toContain('pgdrill = host=127.0.0.1 port=5433 dbname=pgdrill');
    expect(ini).toContain('postgres = host=127.0.0.1 port=5433 dbname=postgres');
    expect(ini).toMatch(/^unix_socket_dir = \/tmp\/run\/pgbouncer$/m);
    expect(ini).toMatch(/^auth_type = scram-sha-256$/m);
    expect(ini).toMatch(/^admin_users = pgdrill$/m);
    expect(ini).toMatch(/^pool_mode = transaction$/m);
  });

  it('writes query_wait_timeout in seconds and lets a scenario setting win over pgdrill defaults', () => {
    expect(ini).toMatch(/^query_wait_timeout = 6\.5$/m);
    expect(ini).toMatch(/^server_login_retry = 15$/m);
    expect(ini).not.toMatch(/^server_login_retry = 0\.1$/m);
  });

  it('quotes the auth file as PgBouncer reads it', () => {
    expect(authFileLine('pgdrill', 'SCRAM-SHA-256$4096:a$b:c')).toBe('"pgdrill" "SCRAM-SHA-256$4096:a$b:c"\n');
    expect(authFileLine('we"ird', 'x')).toBe('"we""ird" "x"\n');
  });

  it('finds the server connections left on a node in SHOW SERVERS', () => {
    const rows = [
      { database: 'pgdrill', state: 'idle', addr: '127.0.0.1', port: 5432 },
      { database: 'pgdrill', state: 'active', addr: '127.0.0.1', port: 5432 },
      { database: 'pgdrill', state: 'idle', addr: '127.0.0.1', port: 5433 },
    ];
    const left = serversOn(rows, { host: '127.0.0.1', port: 5432 });
    expect(left).toHaveLength(2);
    expect(describeServers(left)).toBe('1 idle, 1 active');
    expect(describeServers([])).toBe('none');
  });
});

describe('HAProxy config', () => {
  const cfg = haproxyConfig({
    writePort: 7000,
    readPort: 7001,
    statsSocket: '/tmp/run/haproxy/stats.sock',
    timing: { inter: 200, fall: 2, rise: 1 },
    checkTimeoutMs: 1500,
    primaryPath: '/primary',
    replicaPath: '/replica',
    servers: [
      { name: 'blue', address: { host: '127.0.0.1', port: 5432 }, checkAddress: { host: '127.0.0.1', port: 9001 }, enabled: true },
      { name: 'green', address: { host: '127.0.0.1', port: 5433 }, checkAddress: { host: '127.0.0.1', port: 9002 }, enabled: false },
    ],
  });

  it('checks each server over HTTP and shuts its sessions down when it is marked down', () => {
    expect(cfg).toContain('default-server inter 200ms fall 2 rise 1 on-marked-down shutdown-sessions');
    expect(cfg).toContain('option httpchk GET /primary');
    expect(cfg).toContain('option httpchk GET /replica');
    expect(cfg).toContain('server blue 127.0.0.1:5432 check addr 127.0.0.1 port 9001\n');
    expect(cfg).toContain('stats socket /tmp/run/haproxy/stats.sock mode 600 level admin');
  });

  it('keeps a node that is not a member yet in maintenance, in both backends', () => {
    expect(cfg).toContain('server green 127.0.0.1:5433 check addr 127.0.0.1 port 9002 disabled');
    expect(cfg).toContain(`server green_as_primary 127.0.0.1:5433 backup track ${WRITE_BACKEND}/green disabled`);
  });

  it('falls back to the primary for reads when no standby is up', () => {
    const read = cfg.slice(cfg.indexOf(`backend ${READ_BACKEND}`));
    expect(read).toContain(`server blue_as_primary 127.0.0.1:5432 backup track ${WRITE_BACKEND}/blue`);
  });
});

describe('HAProxy stats', () => {
  const csv = [
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,',
    'pgdrill_writes,FRONTEND,,,0,3,4096,3,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,1,,,',
    'pgdrill_write,primary,0,0,0,1,,2,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,5,0,,1,3,1,,2,,2,0,,1,L7OK,200,',
    'pgdrill_write,replica,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN 1/2,1,1,0,1,1,5,5,,1,3,2,,0,,2,0,,0,L7STS,503,',
    'pgdrill_write,green,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,5,5,,1,3,3,,0,,2,0,,0,,,',
    'pgdrill_write,BACKEND,0,0,0,1,410,2,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,5,0,,1,3,0,,2,,1,0,,1,,,',
    '',
  ].join('\n');

  it('reads each server line, leaving out frontends and backends', () => {
    expect(parseShowStat(csv)).toEqual([
      { backend: 'pgdrill_write', server: 'primary', status: 'UP', check: 'L7OK/200' },
      { backend: 'pgdrill_write', server: 'replica', status: 'DOWN 1/2', check: 'L7STS/503' },
      { backend: 'pgdrill_write', server: 'green', status: 'MAINT', check: '' },
    ]);
  });

  it('counts a server going up or down as in its old state until HAProxy settles', () => {
    expect(settledState('DOWN 1/2')).toBe('DOWN');
    expect(settledState('UP 1/3')).toBe('UP');
    expect(settledState('MAINT')).toBe('MAINT');
    expect(parseShowStat('not csv')).toEqual([]);
  });

  it('reads the versions the programs print', () => {
    expect(parseProgramVersion('pgbouncer', 'PgBouncer 1.18.0\nlibevent 2.1.12-stable')).toBe('1.18.0');
    expect(parseProgramVersion('haproxy', 'HAProxy version 2.6.12-1+deb12u3 2025/10/03 - https://haproxy.org/')).toBe('2.6.12-1+deb12u3');
  });
});

describe('the endpoint section', () => {
  it('defaults to the TCP proxy and leaves a scenario without the section as it was', () => {
    expect(parseScenarioText(BASE, 'test.yaml').endpoint).toBeUndefined();
    expect(parseScenarioText(`${BASE}endpoint: { kind: proxy }\n`, 'test.yaml').endpoint).toEqual({ kind: 'proxy' });
  });

  it('fills PgBouncer defaults: transaction pooling, a 5s PAUSE timeout, query_wait_timeout past every client timeout', () => {
    expect(parseScenarioText(`${BASE}endpoint: { kind: pgbouncer }\n`, 'test.yaml').endpoint).toEqual({
      kind: 'pgbouncer',
      pool: 'transaction',
      pauseTimeout: 5000,
      queryWaitTimeout: 8000,
      settings: {},
    });
  });

  it("fills HAProxy's own check defaults, keeping what the scenario sets", () => {
    expect(parseScenarioText(`${BASE}endpoint: { kind: haproxy, check: { inter: 100ms } }\n`, 'test.yaml').endpoint).toEqual({
      kind: 'haproxy',
      check: { inter: 100, fall: 3, rise: 2 },
      reads: 'primary',
    });
  });

  it('refuses a field of another kind, naming the kind it belongs to', () => {
    expect(problemsOf(`${BASE}endpoint: { kind: haproxy, pool: session }\n`)).toContainEqual({
      path: 'endpoint.pool',
      message: 'applies to endpoint kind pgbouncer only; remove it for kind haproxy',
    });
    expect(problemsOf(`${BASE}endpoint: { kind: discovery, check: { fall: 2 } }\n`)).toContainEqual({
      path: 'endpoint.check',
      message: 'applies to endpoint kind haproxy only; remove it for kind discovery',
    });
  });

  it('refuses a PgBouncer setting pgdrill manages, and an unknown kind with a suggestion', () => {
    const problems = problemsOf(`${BASE}endpoint: { kind: pgbouncer, settings: { listen_port: 7000, pool_mode: session } }\n`);
    expect(problems.map((p) => p.path)).toEqual(['endpoint.settings.listen_port', 'endpoint.settings.pool_mode']);
    expect(problems[1].message).toContain('use that field instead');
    expect(problemsOf(`${BASE}endpoint: { kind: pgbouncr }\n`)[0].message).toContain('did you mean "pgbouncer"?');
  });

  it('refuses holdConnections where the endpoint holds clients itself or cannot hold them', () => {
    const hold = BASE.replace('strategy: { kind: streaming, from: primary, to: replica }', 'strategy: { kind: streaming, from: primary, to: replica, holdConnections: true }');
    expect(problemsOf(`${hold}endpoint: { kind: pgbouncer }\n`)[0]).toMatchObject({ path: 'strategy.holdConnections', message: expect.stringContaining('PAUSE') });
    expect(problemsOf(`${hold}endpoint: { kind: haproxy }\n`)[0].message).toContain('cannot hold connections');
    expect(parseScenarioText(`${hold}endpoint: { kind: proxy }\n`, 'test.yaml').strategy?.holdConnections).toBe(true);
  });

  it('refuses PgBouncer and HAProxy on the docker runtime, and allows discovery there', () => {
    expect(unsupportedEndpoint({ runtime: 'docker', endpoint: { kind: 'pgbouncer' } })[0]).toMatchObject({
      path: 'endpoint.kind',
      message: expect.stringContaining('use --runtime local'),
    });
    expect(unsupportedEndpoint({ runtime: 'docker', endpoint: { kind: 'haproxy' } })).toHaveLength(1);
    expect(unsupportedEndpoint({ runtime: 'docker', endpoint: { kind: 'discovery' } })).toEqual([]);
    expect(unsupportedEndpoint({ runtime: 'local', endpoint: { kind: 'haproxy' } })).toEqual([]);
  });
});
