// The sql and command timeline entries in the scenario file: the accepted forms and their
// defaults, and every bad input refused with its path, the bad value and the fix.
import { describe, it, expect } from 'vitest';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Problem } from '../../harness/errors.js';
import { loadScenarioFile, parseScenarioText, validateScenario } from '../../harness/scenario/load-scenario.js';
import type { Scenario } from '../../harness/scenario/scenario.js';
import { stepBaseDir } from '../../harness/steps/index.js';
import { tempDir } from '../support/temp-dir.js';

function withTimeline(timeline: unknown[], nodes: Record<string, unknown> = { primary: {}, replica: { replicaOf: 'primary' } }) {
  return { name: 'steps', duration: '60s', nodes, timeline };
}

function valid(timeline: unknown[]): Scenario {
  const { scenario, problems } = validateScenario(withTimeline(timeline));
  expect(problems).toEqual([]);
  return scenario!;
}

function problemsOf(timeline: unknown[], nodes?: Record<string, unknown>): Problem[] {
  return validateScenario(withTimeline(timeline, nodes)).problems;
}

function expectProblem(problems: Problem[], path: string, ...fragments: string[]): void {
  const text = problems.map((p) => `${p.path}: ${p.message}`).join('\n');
  const hit = problems.find((p) => p.path === path && fragments.every((f) => p.message.includes(f)));
  expect(hit, `no problem at ${path} containing ${JSON.stringify(fragments)}; got:\n${text}`).toBeDefined();
}

describe('sql and command entries: accepted forms and defaults', () => {
  it('fills timeout 60s and allowFailure false for sql, and keeps database only when given', () => {
    const s = valid([
      { at: '20s', sql: { node: 'replica', statement: 'DELETE FROM orders WHERE id % 97 = 0' } },
      { at: '21s', sql: { node: 'primary', statement: 'SELECT 1', database: 'postgres', timeout: '5s', allowFailure: true } },
    ]);
    expect(s.timeline).toEqual([
      { at: 20_000, sql: { node: 'replica', statement: 'DELETE FROM orders WHERE id % 97 = 0', timeout: 60_000, allowFailure: false } },
      { at: 21_000, sql: { node: 'primary', statement: 'SELECT 1', database: 'postgres', timeout: 5000, allowFailure: true } },
    ]);
  });

  it('fills timeout 5m and allowFailure false for command, and reads env values as strings', () => {
    const s = valid([
      { at: '25s', command: { run: './my-runbook-step.sh', timeout: '60s' } },
      { at: '26s', command: { run: 'true', allowFailure: true, env: { POOL: 10, DRY: true, NAME: 'x' } } },
    ]);
    expect(s.timeline).toEqual([
      { at: 25_000, command: { run: './my-runbook-step.sh', timeout: 60_000, allowFailure: false } },
      { at: 26_000, command: { run: 'true', timeout: 300_000, allowFailure: true, env: { POOL: '10', DRY: 'true', NAME: 'x' } } },
    ]);
  });

  it('reads the product.md example from YAML, multi-line statements included', () => {
    const s = parseScenarioText(
      `name: steps
nodes:
  primary: {}
  replica: { replicaOf: primary }
timeline:
  - at: 20s
    sql: { node: replica, statement: "DELETE FROM orders WHERE id % 97 = 0" }
  - at: 25s
    command: { run: "./my-runbook-step.sh", timeout: 60s }
  - at: 30s
    sql:
      node: primary
      statement: |
        CREATE TABLE notes (id serial PRIMARY KEY);
        INSERT INTO notes DEFAULT VALUES;
`,
      'steps.yaml',
    );
    expect(s.timeline.map((e) => Object.keys(e).filter((k) => k !== 'at'))).toEqual([['sql'], ['command'], ['sql']]);
    expect(s.timeline[2].sql!.statement).toBe('CREATE TABLE notes (id serial PRIMARY KEY);\nINSERT INTO notes DEFAULT VALUES;\n');
  });

  it('keeps entries without steps exactly as before (no sql or command keys appear)', () => {
    const s = valid([{ at: '1s', fault: { kind: 'pause', node: 'primary', for: '1s' } }]);
    expect(s.timeline[0]).toEqual({ at: 1000, fault: { kind: 'pause', node: 'primary', for: 1000 } });
  });
});

describe('sql and command entries: refused inputs', () => {
  it('refuses an entry with both sql and fault, naming both', () => {
    const problems = problemsOf([{ at: '1s', sql: { node: 'primary', statement: 'SELECT 1' }, fault: { kind: 'kill', node: 'primary' } }]);
    expectProblem(problems, 'timeline[0]', 'has both fault and sql', 'put each in its own entry');
  });

  it('refuses an entry with three kinds, naming all three', () => {
    const problems = problemsOf([{ at: '1s', command: { run: 'true' }, sql: { node: 'primary', statement: 'SELECT 1' }, fault: { kind: 'kill', node: 'primary' } }]);
    expectProblem(problems, 'timeline[0]', 'has fault, sql and command');
  });

  it('refuses an entry with none of the four kinds, listing them', () => {
    expectProblem(problemsOf([{ at: '1s' }]), 'timeline[0]', 'needs either fault', 'cutover', 'sql: { node, statement }', 'command: { run }');
  });

  it('refuses a sql step on an unknown node, listing the known nodes and the likely one', () => {
    expectProblem(
      problemsOf([{ at: '1s', sql: { node: 'replcia', statement: 'SELECT 1' } }]),
      'timeline[0].sql.node',
      'unknown node "replcia"',
      'known nodes: primary, replica',
      'did you mean "replica"?',
    );
  });

  it('refuses a missing or empty statement and a missing node', () => {
    const problems = problemsOf([
      { at: '1s', sql: { node: 'primary' } },
      { at: '2s', sql: { node: 'primary', statement: '   \n' } },
      { at: '3s', sql: { statement: 'SELECT 1' } },
    ]);
    expectProblem(problems, 'timeline[0].sql.statement', 'required: the SQL to run');
    expectProblem(problems, 'timeline[1].sql.statement', 'must not be empty');
    expectProblem(problems, 'timeline[2].sql.node', 'required: the node to run the statement on');
  });

  it('refuses a missing or empty run', () => {
    const problems = problemsOf([{ at: '1s', command: {} }, { at: '2s', command: { run: '' } }]);
    expectProblem(problems, 'timeline[0].command.run', 'required: the command to run');
    expectProblem(problems, 'timeline[1].command.run', 'must not be empty', '"./my-runbook-step.sh"');
  });

  it('refuses a bare-number timeout, saying which unit to add', () => {
    const problems = problemsOf([
      { at: '1s', sql: { node: 'primary', statement: 'SELECT 1', timeout: 5 } },
      { at: '2s', command: { run: 'true', timeout: 30 } },
    ]);
    expectProblem(problems, 'timeline[0].sql.timeout', 'a duration needs a unit: write "5s" or "5ms", got 5');
    expectProblem(problems, 'timeline[1].command.timeout', 'a duration needs a unit: write "30s" or "30ms", got 30');
  });

  it('refuses unknown keys with a did-you-mean', () => {
    const problems = problemsOf([
      { at: '1s', sql: { node: 'primary', statement: 'SELECT 1', alowFailure: true } },
      { at: '2s', command: { run: 'true', tiemout: '1s' } },
    ]);
    expectProblem(problems, 'timeline[0].sql', 'unknown key "alowFailure"; did you mean "allowFailure"?');
    expectProblem(problems, 'timeline[1].command', 'unknown key "tiemout"; did you mean "timeout"?');
  });

  it('says where step fields go when they are written flat on the entry', () => {
    const problems = problemsOf([{ at: '1s', node: 'primary', statement: 'SELECT 1' }, { at: '2s', run: './x.sh' }]);
    expectProblem(problems, 'timeline[0]', 'sql fields go inside sql:');
    expectProblem(problems, 'timeline[1]', 'allowed keys: at, fault, cutover, sql, command', 'command fields go inside command:');
  });

  it('says how to write a command given as bare text', () => {
    expectProblem(problemsOf([{ at: '1s', command: './x.sh' }]), 'timeline[0].command', 'got "./x.sh"', 'write command: { run: "./my-runbook-step.sh" }');
  });

  it('refuses quoted booleans, an empty database and env names pgdrill sets or no shell can hold', () => {
    const problems = problemsOf([
      { at: '1s', sql: { node: 'primary', statement: 'SELECT 1', allowFailure: 'yes', database: '' } },
      { at: '2s', command: { run: 'true', env: { PGDRILL_PRIMARY_URL: 'x', '9lives': 'y', 'A-B': 'z' } } },
    ]);
    expectProblem(problems, 'timeline[0].sql.allowFailure', 'expected true or false', '(write true or false, unquoted)');
    expectProblem(problems, 'timeline[0].sql.database', 'must not be empty');
    expectProblem(problems, 'timeline[1].command.env.PGDRILL_PRIMARY_URL', 'starts with PGDRILL_', 'pick another name');
    expectProblem(problems, 'timeline[1].command.env["9lives"]', 'is not an environment variable name');
    expectProblem(problems, 'timeline[1].command.env.A-B', 'is not an environment variable name');
  });

  it('refuses node names that would share a URL variable when a command runs, once for the whole timeline', () => {
    const problems = problemsOf(
      [{ at: '1s', command: { run: 'true' } }, { at: '2s', command: { run: 'true' } }],
      { 'db-1': {}, db_1: {}, endpoint: {} },
    );
    expectProblem(problems, 'timeline[0].command', 'nodes "db-1" and "db_1" would both be PGDRILL_DB_1_URL', 'rename one of them');
    expectProblem(problems, 'timeline[0].command', 'node "endpoint" would be PGDRILL_ENDPOINT_URL, the endpoint\'s URL');
    expect(problems.filter((p) => p.path === 'timeline[1].command')).toEqual([]);
  });

  it('lets those node names be when no command step reads the variables', () => {
    expect(problemsOf([{ at: '1s', sql: { node: 'endpoint', statement: 'SELECT 1' } }], { 'db-1': {}, db_1: {}, endpoint: {} })).toEqual([]);
  });
});

describe('the scenario folder', () => {
  it('is the file\'s folder when loaded from a file, so relative runs mean the same from any cwd', async () => {
    const dir = tempDir('steps');
    const file = path.join(dir, 'drill.yaml');
    await writeFile(file, 'name: drill\nnodes: { primary: {} }\ntimeline:\n  - at: 1s\n    command: { run: ./step.sh }\n');
    const s = await loadScenarioFile(path.relative(process.cwd(), file));
    expect(s.baseDir).toBe(dir);
    expect(stepBaseDir(s)).toBe(dir);
  });

  it('is the current directory for text parsed without a file', () => {
    const s = parseScenarioText('name: drill\nnodes: { primary: {} }\n', 'inline');
    expect(s.baseDir).toBeUndefined();
    expect(stepBaseDir(s)).toBe(process.cwd());
  });
});
