// Your own schema on the docker runtime: the seed file is copied into the node's container and
// loaded by the container's own psql (seed.sql) or pg_restore (seed.dump), and your statements
// run against it with the ledger, exactly as locally. Skips loudly when Docker is unusable.

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadComparisonFile } from '../../harness/scenario/comparison.js';
import { loadScenarioFile } from '../../harness/scenario/load-scenario.js';
import { dockerAvailability, skipBanner } from '../../harness/runtime/docker/availability.js';
import type { Scenario } from '../../harness/scenario/scenario.js';
import { removeRunFolders, runInTemp } from './support/runs.js';
import { MANY_TABLES_COUNT, makeManyTablesDump } from './support/many-tables.js';
import { runInit } from '../../harness/cli/init.js';

const availability = await dockerAvailability(15);
if (!availability.available) {
  if (process.env.PGDRILL_REQUIRE_DOCKER === '1') throw new Error(`PGDRILL_REQUIRE_DOCKER=1 but Docker is not usable: ${availability.reason}`);
  console.error(skipBanner('own-schema docker tests (test/e2e/own-schema-docker.test.ts)', availability.reason!));
}
const image = availability.image!;
const root = path.resolve(import.meta.dirname, '../..');

/** One node of the offline image, no cutover: the seed and the load are what is tested. */
function onOneContainer(scenario: Scenario): Scenario {
  return {
    ...scenario,
    name: `${scenario.name.slice(0, 40)}-docker`,
    runtime: 'docker',
    duration: 5_000,
    nodes: { primary: { name: 'primary', version: 15, synchronous: false, settings: {}, image } },
    timeline: [],
    strategy: undefined,
    thresholds: {},
  };
}

afterAll(removeRunFolders);

describe.skipIf(!availability.available)(`your own schema on the docker runtime (${image})`, () => {
  it('loads seed.sql with the container\'s psql and runs the statements with nothing lost', async () => {
    const comparison = await loadComparisonFile(path.join(root, 'scenarios/own-schema/retro-service.yaml'));
    const run = await runInTemp(onOneContainer(comparison.runs[0].scenario));
    expect(run.results.error, JSON.stringify(run.results.error)).toBeNull();
    const seeded = run.results.events.find((e) => e.kind === 'seeded');
    expect(seeded).toMatchObject({ source: 'sql', rows: expect.objectContaining({ notes: 4000, teams: 10 }) });
    expect(run.results.load.scripts!.every((s) => s.ok > 0 && s.failed === 0)).toBe(true);
    expect(run.results.integrity!.lostWrites).toBe(0);
    expect(run.results.integrity!.acknowledgedWrites).toBeGreaterThan(400);
    expect(run.exitCode).toBe(0);
  }, 120_000);

  it('restores seed.dump with the container\'s pg_restore', async () => {
    const { dir, file } = await makeManyTablesDump();
    try {
      await runInit({ from: file, out: path.join(dir, 'shop.yaml') });
      const run = await runInTemp(onOneContainer(await loadScenarioFile(path.join(dir, 'shop.yaml'))));
      expect(run.results.error, JSON.stringify(run.results.error)).toBeNull();
      const seeded = run.results.events.find((e) => e.kind === 'seeded');
      expect(seeded && seeded.kind === 'seeded' && Object.keys(seeded.rows)).toHaveLength(MANY_TABLES_COUNT);
      expect(seeded && seeded.kind === 'seeded' && seeded.detail).toContain('pg_restore of a custom-format');
      expect(run.results.integrity!.lostWrites).toBe(0);
      expect(run.exitCode).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
