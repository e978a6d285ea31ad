// The seed's files, found and recognised before anything starts: seed.sql must be a readable
// text file, seed.dump a pg_dump archive (custom, directory or tar format) whose header says
// which pg_restore can read it. A missing or unreadable file is a scenario problem (exit 2).

import { closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Problem } from '../errors.js';
import type { Scenario } from '../scenario/scenario.js';

export type DumpFormat = 'custom' | 'directory' | 'tar';

export interface DumpInfo {
  format: DumpFormat;
  /** the archive's format version, "1.14" */
  archiveVersion: string;
  /**
   * the oldest pg_restore that reads this archive version (each pg_dump major that changed
   * the format writes a version older pg_restores refuse: "unsupported version (1.16) in file header")
   */
  minRestoreMajor: number;
}

/** archive format version -> the PostgreSQL major whose pg_dump introduced it */
const ARCHIVE_VERSIONS: [number, number, number][] = [
  [1, 16, 17],
  [1, 15, 16],
  [1, 14, 12],
  [1, 13, 10],
  [1, 12, 9],
];

/** The seed file's path on this machine: relative paths from the scenario file's folder. */
export function seedFilePath(scenario: Pick<Scenario, 'baseDir'>, file: string): string {
  return path.resolve(scenario.baseDir ?? process.cwd(), file);
}

function readHead(file: string, bytes: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const n = readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** The header of a pg_dump archive ("PGDMP", then major, minor, revision of its format). */
export function parseArchiveHeader(head: Buffer): { archiveVersion: string; minRestoreMajor: number } | undefined {
  if (head.length < 8 || head.subarray(0, 5).toString('latin1') !== 'PGDMP') return undefined;
  const major = head[5];
  const minor = head[6];
  const found = ARCHIVE_VERSIONS.find(([ma, mi]) => major > ma || (major === ma && minor >= mi));
  return { archiveVersion: `${major}.${minor}`, minRestoreMajor: found ? found[2] : 9 };
}

/** What kind of dump a path is, or why it is not one. Throws only on I/O errors the caller reports. */
export function inspectDump(file: string): DumpInfo | { error: string } {
  const stat = statSync(file);
  if (stat.isDirectory()) {
    const toc = path.join(file, 'toc.dat');
    let head: Buffer;
    try {
      head = readHead(toc, 16);
    } catch {
      return { error: `is a directory without toc.dat, so not a directory-format dump (pg_dump -Fd); give the dump directory or a custom-format file` };
    }
    const header = parseArchiveHeader(head);
    if (!header) return { error: `${toc} does not start with pg_dump's PGDMP header; give a dump made by pg_dump -Fd` };
    return { format: 'directory', ...header };
  }
  const head = readHead(file, 1024);
  const custom = parseArchiveHeader(head);
  if (custom) return { format: 'custom', ...custom };
  // tar format: a ustar archive whose first member is toc.dat, whose data starts at 512
  if (head.length >= 520 && head.subarray(257, 262).toString('latin1') === 'ustar') {
    const tarHeader = parseArchiveHeader(head.subarray(512));
    if (tarHeader && head.subarray(0, 7).toString('latin1') === 'toc.dat') return { format: 'tar', ...tarHeader };
    return { error: 'is a tar file but not a pg_dump tar archive (no toc.dat first); give a dump made by pg_dump -Ft, -Fc or -Fd' };
  }
  const text = head.toString('utf8');
  if (/^(--|SET |CREATE |\\connect|BEGIN)/m.test(text)) {
    return { error: 'is a plain SQL dump, not an archive; give it as seed.sql (it is run with psql), or dump with pg_dump -Fc' };
  }
  return { error: 'is not a pg_dump archive (no PGDMP header); make one with pg_dump -Fc (custom) or -Fd (directory), or give a SQL file as seed.sql' };
}

/**
 * Problems with the seed's files, each with the path as written, the file it resolved to and
 * the fix. Empty for the built-in schema.
 */
export function seedFileProblems(scenario: Pick<Scenario, 'seed' | 'baseDir'>): Problem[] {
  const { seed } = scenario;
  const problems: Problem[] = [];
  const where = (field: 'sql' | 'dump', file: string) => {
    const resolved = seedFilePath(scenario, file);
    return { resolved, shown: resolved === file ? file : `${JSON.stringify(file)} (${resolved})` };
  };
  if (seed.sql !== undefined) {
    const { resolved, shown } = where('sql', seed.sql);
    const problem = readableFile(resolved, shown, 'a SQL file');
    if (problem) problems.push({ path: 'seed.sql', message: problem });
    else {
      const head = readHead(resolved, 8);
      if (parseArchiveHeader(head)) {
        problems.push({ path: 'seed.sql', message: `${shown} is a pg_dump archive, not SQL; give it as seed.dump (restored with pg_restore)` });
      }
    }
  }
  if (seed.dump !== undefined) {
    const { resolved, shown } = where('dump', seed.dump);
    const problem = readableFile(resolved, shown, 'a dump', true);
    if (problem) problems.push({ path: 'seed.dump', message: problem });
    else {
      try {
        const info = inspectDump(resolved);
        if ('error' in info) problems.push({ path: 'seed.dump', message: `${shown} ${info.error}` });
      } catch (err) {
        problems.push({ path: 'seed.dump', message: `${shown} cannot be read: ${(err as Error).message}; check its permissions` });
      }
    }
  }
  return problems;
}

function readableFile(resolved: string, shown: string, what: string, directoryOk = false): string | undefined {
  let stat;
  try {
    stat = statSync(resolved);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${shown} does not exist; paths are relative to the scenario file's folder: give the path of ${what} there, or an absolute one`;
    return `${shown} cannot be read (${code ?? (err as Error).message}); check the path and its permissions`;
  }
  if (stat.isDirectory() && !directoryOk) return `${shown} is a directory; give ${what}`;
  try {
    closeSync(openSync(stat.isDirectory() ? path.join(resolved, '.') : resolved, 'r'));
  } catch (err) {
    return `${shown} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check its permissions`;
  }
  if (!stat.isDirectory() && stat.size === 0) return `${shown} is empty; give ${what} that holds your schema`;
  return undefined;
}
