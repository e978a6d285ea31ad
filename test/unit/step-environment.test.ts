// What a step's record and environment hold, with no server and no process: the URL
// variables a command sees, the output tail it keeps, and how a sql result reads.
import { describe, it, expect } from 'vitest';
import type { QueryResult } from 'pg';
import { clashingUrlVariables, nodeUrlVariable, postgresUrl, stepUrlVariables } from '../../harness/steps/node-urls.js';
import { OutputTail } from '../../harness/steps/output-tail.js';
import { describeError, describeResults, totalRowCount } from '../../harness/steps/sql-result-text.js';
import { stepLabel } from '../../harness/steps/index.js';
import { hideSecrets } from '../../harness/steps/command-step.js';

const credentials = (superuser: string, superuserPassword: string) => ({
  superuser,
  superuserPassword,
  replicationUser: 'replicator',
  replicationPassword: 'x',
});

describe('URL variables', () => {
  it('upper-cases node names and turns "-" into "_"', () => {
    expect(nodeUrlVariable('primary')).toBe('PGDRILL_PRIMARY_URL');
    expect(nodeUrlVariable('replica-2')).toBe('PGDRILL_REPLICA_2_URL');
    expect(nodeUrlVariable('blue_green-x1')).toBe('PGDRILL_BLUE_GREEN_X1_URL');
  });

  it('finds node names that would share a variable, or take the endpoint\'s', () => {
    expect(clashingUrlVariables(['primary', 'replica'])).toEqual([]);
    expect(clashingUrlVariables(['a-b', 'primary', 'a_b', 'endpoint'])).toEqual([
      { variable: 'PGDRILL_A_B_URL', nodes: ['a-b', 'a_b'] },
      { variable: 'PGDRILL_ENDPOINT_URL', nodes: ['endpoint'] },
    ]);
  });

  it('percent-encodes a password holding @ : / ? # % and spaces, so the host and database stay put', () => {
    const password = 'p@ss:w/rd?#% é';
    const url = postgresUrl({ address: { host: '127.0.0.1', port: 5433 }, user: 'drill user', password, database: 'app db' });
    expect(url).toBe('postgres://drill%20user:p%40ss%3Aw%2Frd%3F%23%25%20%C3%A9@127.0.0.1:5433/app%20db');
    const parsed = new URL(url);
    expect(parsed.hostname).toBe('127.0.0.1');
    expect(parsed.port).toBe('5433');
    expect(decodeURIComponent(parsed.password)).toBe(password);
    expect(decodeURIComponent(parsed.username)).toBe('drill user');
    expect(decodeURIComponent(parsed.pathname.slice(1))).toBe('app db');
  });

  it('brackets an IPv6 host', () => {
    expect(postgresUrl({ address: { host: '::1', port: 5432 }, user: 'u', password: 'p', database: 'd' })).toBe('postgres://u:p@[::1]:5432/d');
  });

  it('gives every node its own address with the run\'s superuser, and the endpoint\'s URL as given', () => {
    const variables = stepUrlVariables(
      {
        primary: { address: { host: '127.0.0.1', port: 6001 }, credentials: credentials('pgdrill', 's3cret/+') },
        'replica-1': { address: { host: '127.0.0.1', port: 6002 }, credentials: credentials('pgdrill', 's3cret/+') },
      },
      'postgres://pgdrill:x@127.0.0.1:7000/pgdrill',
      'pgdrill',
    );
    expect(variables).toEqual({
      PGDRILL_PRIMARY_URL: 'postgres://pgdrill:s3cret%2F%2B@127.0.0.1:6001/pgdrill',
      PGDRILL_REPLICA_1_URL: 'postgres://pgdrill:s3cret%2F%2B@127.0.0.1:6002/pgdrill',
      PGDRILL_ENDPOINT_URL: 'postgres://pgdrill:x@127.0.0.1:7000/pgdrill',
    });
  });
});

describe('labels', () => {
  it('names the node and the start of the statement, or the command', () => {
    const sql = { node: 'replica', statement: 'DELETE FROM orders\n  WHERE id % 97 = 0 AND created_at < now()', timeout: 1, allowFailure: false };
    expect(stepLabel({ at: 0, sql })).toBe('sql on replica: DELETE FROM orders WHERE id % 97 = 0...');
    expect(stepLabel({ at: 0, sql: { ...sql, statement: 'SELECT 1', database: 'app' } })).toBe('sql on replica (database app): SELECT 1');
    expect(stepLabel({ at: 0, command: { run: './my-runbook-step.sh', timeout: 1, allowFailure: false } })).toBe('command: ./my-runbook-step.sh');
  });
});

describe('the output tail', () => {
  it('keeps everything while it is small', () => {
    const tail = new OutputTail(16);
    tail.push('hello ');
    tail.push(Buffer.from('world'));
    expect(tail.text()).toBe('hello world');
  });

  it('keeps the last bytes of a long output and says how many came before', () => {
    const tail = new OutputTail(10);
    for (let i = 0; i < 100; i++) tail.push(`${i % 10}`);
    expect(tail.text()).toBe('[90 earlier bytes not kept]\n0123456789');
  });

  it('does not start with half a UTF-8 character after a cut', () => {
    const tail = new OutputTail(3);
    tail.push('aaaaaa'); // 6 bytes
    tail.push('éé'); // 4 bytes: keeping the last 3 cuts the first é in half
    expect(tail.text()).toBe('[8 earlier bytes not kept]\né');
  });
});

function result(command: string, rowCount: number | null, fields: string[] = [], rows: unknown[][] = []): QueryResult<unknown[]> {
  return { command, rowCount, oid: 0, fields: fields.map((name) => ({ name }) as QueryResult['fields'][number]), rows };
}

describe('sql results as text', () => {
  it('sums the counts of the statements that report one, and is null for DDL only', () => {
    expect(totalRowCount([result('CREATE', null), result('INSERT', 5), result('DELETE', 2)])).toBe(7);
    expect(totalRowCount([result('CREATE', null), result('ALTER', null)])).toBeNull();
  });

  it('shows each tag, then the first rows of a result as text, NULL for null', () => {
    const rows = Array.from({ length: 7 }, (_, i) => [String(i + 1), i === 0 ? null : `name ${i + 1}`]);
    expect(describeResults([result('CREATE', null), result('SELECT', 7, ['id', 'name'], rows)], ['NOTICE:  hello'])).toBe(
      [
        'CREATE',
        'SELECT 7',
        '  id | name',
        '  1 | NULL',
        '  2 | name 2',
        '  3 | name 3',
        '  4 | name 4',
        '  5 | name 5',
        '  (2 more rows not shown)',
        'NOTICE:  hello',
      ].join('\n'),
    );
  });

  it('caps a huge summary and says so', () => {
    const wide = 'x'.repeat(59);
    const many = Array.from({ length: 200 }, () => result('SELECT', 1, ['a', 'b'], [[wide, wide]]));
    const text = describeResults(many);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096);
    expect(text.endsWith('... (cut at 4096 bytes)')).toBe(true);
  });

  it('lays out an error as psql would, SQLSTATE included', () => {
    expect(describeError({ message: 'relation "nope" does not exist', sqlstate: '42P01', position: '15' }, ['NOTICE:  before'])).toBe(
      'NOTICE:  before\nERROR:  relation "nope" does not exist\nPOSITION:  character 15\nSQLSTATE:  42P01',
    );
  });
});

describe('hideSecrets: what a command step prints is recorded without the passwords it was given', () => {
  const variables = {
    PGDRILL_PRIMARY_URL: 'postgres://drill:s3cr%40t@db1:5432/app',
    PGDRILL_ENDPOINT_URL: 'postgres://drill:other@svc:6432/app',
    PGDRILL_REPLICA_URL: 'postgres://drill@db2:5432/app',
    PGPASSWORD: 'from-env',
  };
  it('hides URL passwords (as written and decoded) and PASSWORD variables', () => {
    const out = hideSecrets('url postgres://drill:s3cr%40t@db1:5432/app, raw s3cr@t, svc other, env from-env', variables);
    expect(out).toBe('url postgres://drill:***@db1:5432/app, raw ***, svc ***, env ***');
  });
  it('leaves output without secrets as it was', () => {
    expect(hideSecrets('promoted replica at 0/3000060', variables)).toBe('promoted replica at 0/3000060');
  });
});
