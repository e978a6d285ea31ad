// What an endpoint kind cannot do with another section is refused before anything starts.
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { validateScenario } from '../../harness/scenario/load-scenario.js';

const scenario = (extra: string) =>
  YAML.parse(`
name: sections
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary }
${extra}`);

describe('an endpoint with other sections', () => {
  it('refuses tls behind PgBouncer, naming the kinds that work', () => {
    const { problems } = validateScenario(scenario('endpoint: { kind: pgbouncer }\ntls: { mode: verify-full }'));
    expect(problems).toContainEqual({ path: 'tls', message: expect.stringContaining('use endpoint kind proxy, haproxy or discovery') });
    expect(validateScenario(scenario('endpoint: { kind: haproxy }\ntls: { mode: verify-full }')).problems).toEqual([]);
  });

  it('refuses the bundled sample app behind a discovery endpoint, and accepts it behind the others', () => {
    const { problems } = validateScenario(scenario('endpoint: { kind: discovery }\napp: {}'));
    expect(problems).toContainEqual({ path: 'app', message: expect.stringContaining('node-postgres, which takes one host') });
    expect(validateScenario(scenario('endpoint: { kind: pgbouncer }\napp: {}')).problems).toEqual([]);
  });
});
