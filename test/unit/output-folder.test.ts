import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../harness/errors.js';
import { runScenario } from '../../harness/run/run-scenario.js';
import { parseScenarioText } from '../../harness/scenario/load-scenario.js';
import { tempDir } from '../support/temp-dir.js';

const SCENARIO = 'name: out-folder\nduration: 2s\nnodes:\n  primary: { version: 17 }\n';

describe('the output folder', () => {
  it("refuses one that holds an earlier run's records, with exit 2, before anything starts, leaving it as it was", async () => {
    const out = tempDir('out-used');
    await writeFile(path.join(out, 'operations.jsonl'), '{"id":1}\n');
    await writeFile(path.join(out, 'run.json'), '{}\n');
    const err = (await runScenario(parseScenarioText(SCENARIO, 'test'), { out }).catch((e: unknown) => e)) as InvalidInputError;
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err.exitCode).toBe(2);
    expect(err.problems).toEqual([{ path: '--out', message: `${out} already holds a run (run.json, operations.jsonl); give a new folder, or remove that one first` }]);
    expect((await readdir(out)).sort()).toEqual(['operations.jsonl', 'run.json']);
  });
});
