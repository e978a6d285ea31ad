// The compose files of the reference topologies: compose/ must hold exactly what
// `pgdrill compose` writes for each bundled scenario, and what it writes must set up
// replication the way the docker runtime does (initdb primary, pg_basebackup standby).

import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { bundledComposeFiles } from '../../harness/compose/bundled-compose.js';
import { composeFile } from '../../harness/compose/compose-export.js';
import { parseScenarioText } from '../../harness/scenario/load-scenario.js';

const composeDir = path.resolve(import.meta.dirname, '../../compose');
const REGENERATE = 'regenerate with `npx tsc -p tsconfig.json && node dist/harness/cli/main.js compose --all compose`';

describe('compose/ (checked-in reference topologies)', () => {
  it('holds, for every bundled scenario, exactly what `pgdrill compose` writes', async () => {
    const expected = await bundledComposeFiles();
    expect(expected.length).toBeGreaterThan(0);
    for (const { fileName, text } of expected) {
      const checkedIn = await readFile(path.join(composeDir, fileName), 'utf8').catch(() => undefined);
      expect(checkedIn, `compose/${fileName} is missing or stale: ${REGENERATE}`).toBe(text);
    }
  });

  it('holds no compose file for a scenario that is gone', async () => {
    const expected = new Set((await bundledComposeFiles()).map((c) => c.fileName));
    const present = (await readdir(composeDir)).filter((f) => f.endsWith('.yaml'));
    expect(present.filter((f) => !expected.has(f)), `stale files in compose/: ${REGENERATE}`).toEqual([]);
  });
});

describe('composeFile', () => {
  const scenario = parseScenarioText(
    `name: chain
description: a primary, a synchronous standby, and a cascading standby of that standby
duration: 10s
nodes:
  primary: { version: 16, settings: { wal_keep_size: "64MB" } }
  sync1: { version: 16, replicaOf: primary, synchronous: true }
  cascade: { version: 16, replicaOf: sync1, image: "pgdrill/postgres:16" }
`,
    'chain.yaml',
  );
  const doc = YAML.parse(composeFile(scenario)) as { services: Record<string, any>; volumes: Record<string, unknown> };

  it('makes a service per node, upstreams first, standbys waiting for a healthy upstream', () => {
    expect(Object.keys(doc.services)).toEqual(['primary', 'sync1', 'cascade']);
    expect(doc.services.sync1.depends_on).toEqual({ primary: { condition: 'service_healthy' } });
    expect(doc.services.cascade.depends_on).toEqual({ sync1: { condition: 'service_healthy' } });
    expect(doc.services.cascade.environment.UPSTREAM).toBe('sync1');
  });

  it('uses the scenario image, else postgres:<major>, and no image entrypoint', () => {
    expect(doc.services.primary.image).toBe('postgres:16');
    expect(doc.services.cascade.image).toBe('pgdrill/postgres:16');
    for (const s of Object.values(doc.services)) expect(s.entrypoint.slice(0, 2)).toEqual(['/bin/sh', '-c']);
  });

  it('publishes each node on its own loopback port only', () => {
    expect(doc.services.primary.ports).toEqual(['127.0.0.1:${PGDRILL_PORT_PRIMARY:-15432}:5432']);
    expect(doc.services.cascade.ports).toEqual(['127.0.0.1:${PGDRILL_PORT_CASCADE:-15434}:5432']);
  });

  it('sets up replication: slot, primary_conninfo with the standby name, synchronous standbys and scenario settings', () => {
    const primary = doc.services.primary.entrypoint[2] as string;
    const sync1 = doc.services.sync1.entrypoint[2] as string;
    expect(primary).toContain(`synchronous_standby_names = 'ANY 1 ("sync1")'`);
    expect(primary).toContain(`wal_keep_size = '64MB'`);
    expect(sync1).toContain('pg_basebackup" -h "$$UPSTREAM"');
    expect(sync1).toContain('-C -S pgdrill_sync1');
    expect(sync1).toContain('application_name=sync1');
    expect(sync1).toContain('standby.signal');
  });

  it("escapes the scripts' own $ so compose interpolates only its variables", () => {
    for (const s of Object.values(doc.services)) {
      const script = s.entrypoint[2] as string;
      expect(script.replace(/\$\$/g, '')).not.toContain('$');
    }
  });
});
