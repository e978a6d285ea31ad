import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { reap } from '../../harness/runtime/reaper/reap.js';
import { ReaperRegistry, readRegistry } from '../../harness/runtime/reaper/reaper-registry.js';
import { allProcesses, isAlive, procInfo } from '../../harness/runtime/local/proc.js';

const started: number[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const pid of started) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A detached shell that starts a background child: a process group of two. */
function group(cwd = '/'): number {
  const child = spawn('/bin/sh', ['-c', 'sleep 301 & sleep 302; wait'], { detached: true, stdio: 'ignore', cwd });
  child.unref();
  started.push(child.pid!);
  return child.pid!;
}

const settle = () => new Promise((r) => setTimeout(r, 150));

describe('reap', () => {
  it('kills a registered process group with every member, and a process whose cwd is in a registered dir; removes the dir', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-reap-'));
    dirs.push(dir);
    await mkdir(path.join(dir, 'data'));
    const file = path.join(dir, '..', `${path.basename(dir)}.jsonl`);
    const registry = new ReaperRegistry(file);
    const g = group();
    const inDir = group(path.join(dir, 'data'));
    await settle();
    registry.processGroup(g, 'a tool');
    registry.dir(dir, 'run folder');
    const members = (pgid: number) => allProcesses().filter((p) => p.pgrp === pgid && p.state !== 'Z').map((p) => p.pid);
    expect(members(g).length).toBe(3);
    const result = await reap(readRegistry(file));
    expect(result.failures).toEqual([]);
    expect(members(g)).toEqual([]);
    expect(members(inDir)).toEqual([]);
    expect(result.killed.map((k) => k.label)).toContain('a tool');
    expect(result.killed.some((k) => k.label.startsWith('run folder (working in'))).toBe(true);
    expect(existsSync(dir)).toBe(false);
    expect(result.removedDirs).toEqual([dir]);
    await rm(file, { force: true });
  });

  it('never touches a pid that was reused: the start time must match', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-reap-'));
    dirs.push(dir);
    const file = path.join(dir, 'reaper.jsonl');
    const g = group();
    await settle();
    new ReaperRegistry(file).process(g, 'someone else now');
    // as if the registered process had ended and its pid gone to a new one
    const text = (await readFile(file, 'utf8')).replace(`"startTicks":${procInfo(g)!.startTicks}`, `"startTicks":${procInfo(g)!.startTicks - 1}`);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, text);
    const result = await reap(readRegistry(file));
    expect(result.killed).toEqual([]);
    expect(isAlive(g)).toBe(true);
  });

  it('writes nothing without a file, and reads a registry whose last line was cut short', async () => {
    expect(() => ReaperRegistry.none.dir('/x', 'y')).not.toThrow();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-reap-'));
    dirs.push(dir);
    const file = path.join(dir, 'reaper.jsonl');
    const r = new ReaperRegistry(file);
    r.dockerRun('run-1');
    r.done();
    const { appendFile } = await import('node:fs/promises');
    await appendFile(file, '{"kind":"proc');
    expect(readRegistry(file).map((e) => e.kind)).toEqual(['docker-run', 'done']);
  });
});
