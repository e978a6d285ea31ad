import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FLUSH_BYTES, JsonlWriter } from '../../harness/record/jsonl-writer.js';
import { readJsonl } from '../../harness/record/read-jsonl.js';
import { writeFile } from 'node:fs/promises';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
const tmp = async () => {
  const d = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-jsonl-'));
  dirs.push(d);
  return d;
};

describe('JsonlWriter', () => {
  it('batches lines: nothing on disk at once, all of it after ~100 ms, and 64 kB goes out without waiting', async () => {
    const file = path.join(await tmp(), 'x.jsonl');
    const w = new JsonlWriter(file);
    w.write({ a: 1 });
    expect(await readFile(file, 'utf8')).toBe('');
    await new Promise((r) => setTimeout(r, 200));
    expect(await readFile(file, 'utf8')).toBe('{"a":1}\n');
    const big = 'x'.repeat(1000);
    const n = Math.ceil(FLUSH_BYTES / 1000) + 1;
    for (let i = 0; i < n; i++) w.write({ i, big });
    expect((await readFile(file, 'utf8')).length).toBeGreaterThan(FLUSH_BYTES);
    w.close();
    expect(w.linesWritten).toBe(n + 1);
    expect((await readFile(file, 'utf8')).split('\n').length).toBe(n + 2);
    expect(w.error).toBeUndefined();
  });

  it('says why when the file cannot be written, instead of throwing at the caller', async () => {
    const w = new JsonlWriter(path.join(await tmp(), 'missing-dir', 'x.jsonl'));
    expect(() => w.write({ a: 1 })).not.toThrow();
    expect(w.error?.message).toMatch(/ENOENT/);
  });
});

describe('readJsonl', () => {
  it('reads every record and counts a line cut short by a crash instead of failing', async () => {
    const file = path.join(await tmp(), 'cut.jsonl');
    await writeFile(file, '{"a":1}\n{"a":2}\n{"a":');
    const seen: unknown[] = [];
    const summary = await readJsonl(file, (r) => seen.push(r));
    expect(seen).toEqual([{ a: 1 }, { a: 2 }]);
    expect(summary).toMatchObject({ records: 2, badLines: 1, lastBadLine: 3 });
  });
});
