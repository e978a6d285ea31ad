// Copies a live data directory for a low-level base backup (between pg_backup_start and
// pg_backup_stop), leaving out what the PostgreSQL docs say a backup must not carry.

import fsp from 'node:fs/promises';
import path from 'node:path';
import { BACKUP_EMPTY_DIRS, BACKUP_SKIP_FILES } from '../server-conventions.js';

const EMPTY_DIRS = new Set(BACKUP_EMPTY_DIRS);
const SKIP_FILES = new Set(BACKUP_SKIP_FILES);

export interface CopyOwner {
  uid: number;
  gid: number;
}

/**
 * Copy `source` into `target` (created with mode 0700; must not exist or be empty). Files
 * that vanish while we copy are skipped, as pg_basebackup does: WAL replay recreates them.
 * When `owner` is given (running as root) everything is chowned to it.
 */
export async function copyDataDir(source: string, target: string, owner?: CopyOwner): Promise<void> {
  try {
    const existing = await fsp.readdir(target);
    if (existing.length > 0) throw new Error(`cannot copy a data directory into ${target}: it is not empty`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await fsp.mkdir(target, { mode: 0o700 });
  }
  await fsp.chmod(target, 0o700);
  if (owner) await fsp.lchown(target, owner.uid, owner.gid);
  await copyTree(source, target, '', owner);
  // pg_wal/archive_status must exist for the server to start
  const status = path.join(target, 'pg_wal', 'archive_status');
  await fsp.mkdir(status, { recursive: true, mode: 0o700 });
  if (owner) await fsp.lchown(status, owner.uid, owner.gid);
}

async function copyTree(sourceRoot: string, targetRoot: string, relative: string, owner?: CopyOwner): Promise<void> {
  let entries;
  try {
    entries = await fsp.readdir(path.join(sourceRoot, relative), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const entry of entries) {
    const rel = path.join(relative, entry.name);
    const from = path.join(sourceRoot, rel);
    const to = path.join(targetRoot, rel);
    if (relative === '' && SKIP_FILES.has(entry.name)) continue;
    // temporary files of running queries, anywhere in the tree
    if (entry.name.startsWith('pgsql_tmp')) continue;
    try {
      if (entry.isDirectory()) {
        const { mode } = await fsp.stat(from);
        await fsp.mkdir(to, { mode: mode & 0o7777 });
        await fsp.chmod(to, mode & 0o7777);
        if (owner) await fsp.lchown(to, owner.uid, owner.gid);
        if (relative === '' && EMPTY_DIRS.has(entry.name)) continue;
        await copyTree(sourceRoot, targetRoot, rel, owner);
      } else if (entry.isSymbolicLink()) {
        // pg_tblspc links or a relocated pg_wal: kept as they are (pgdrill makes neither)
        await fsp.symlink(await fsp.readlink(from), to);
        if (owner) await fsp.lchown(to, owner.uid, owner.gid);
      } else if (entry.isFile()) {
        // copyFile keeps the mode; ownership is set below
        await fsp.copyFile(from, to);
        if (owner) await fsp.lchown(to, owner.uid, owner.gid);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
  }
}
