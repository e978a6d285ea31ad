// Temporary folders for tests, removed when the test file ends (whatever the tests did), so a
// test run leaves nothing in /tmp.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

const made: string[] = [];

// registered once per test file: each file imports this module afresh (vitest isolates files)
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A new empty folder /tmp/pgdrill-<what>-XXXXXX, removed after the file's tests. */
export function tempDir(what: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `pgdrill-${what}-`));
  made.push(dir);
  return dir;
}
