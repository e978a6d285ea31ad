// The local runtime's data volume: a node whose scenario has a disk-full fault gets its whole
// data directory (tables and pg_wal) on a small tmpfs of its own, mounted when the node is
// made. The fault fills that filesystem with one file, so PostgreSQL meets a real ENOSPC
// without the machine's disk being touched; healing deletes the file. At dispose the tmpfs is
// detached lazily (the server may still hold files in it) and its memory goes back. Needs
// root (mount).

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { EnvironmentError, errorMessage } from '../../errors.js';
import type { DataVolume } from '../runtime.js';
import { DISK_VOLUME_BYTES, FILL_FILE, assertMemoryForVolume } from '../data-volume.js';

const run = promisify(execFile);

const CHUNK = 4 * 1024 * 1024;

export interface DiskVolumeOptions {
  /** the directory to mount over (created if missing); becomes the node's data directory */
  dir: string;
  /** names the mount so a leftover can be traced to its run: pgdrill-<runId>-<node> */
  label: string;
  sizeBytes?: number;
  /** owner of the mount root: the user the server runs as */
  uid: number;
  gid: number;
}

export class DiskVolume implements DataVolume {
  readonly filesystem = 'tmpfs';
  private filled = false;
  private released = false;

  private constructor(
    readonly dir: string,
    readonly label: string,
    readonly sizeBytes: number,
  ) {}

  /** Mounts a fresh tmpfs at options.dir, owned by the server user, mode 0700 as initdb wants. */
  static async mount(options: DiskVolumeOptions): Promise<DiskVolume> {
    const size = options.sizeBytes ?? DISK_VOLUME_BYTES;
    if (process.getuid?.() !== 0) {
      throw new EnvironmentError(
        'the disk-full fault on the local runtime mounts a small tmpfs for the node and needs root; run as root or remove the disk-full fault',
        'PGDRILL_DISK_VOLUME_UNAVAILABLE',
      );
    }
    assertMemoryForVolume(size);
    await fsp.mkdir(options.dir, { recursive: true, mode: 0o700 });
    const opts = `size=${size},mode=0700,uid=${options.uid},gid=${options.gid}`;
    try {
      await run('mount', ['-t', 'tmpfs', '-o', opts, options.label, options.dir], { timeout: 10_000 });
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
      throw new EnvironmentError(
        `mounting a tmpfs for the disk-full fault at ${options.dir} failed: ${stderr || errorMessage(err)}`,
        'PGDRILL_DISK_VOLUME_UNAVAILABLE',
      );
    }
    return new DiskVolume(options.dir, options.label, size);
  }

  get mount(): string {
    return this.dir;
  }

  get fillFile(): string {
    return path.join(this.dir, FILL_FILE);
  }

  /** bytes the server user could still write */
  async freeBytes(): Promise<number> {
    const s = await fsp.statfs(this.dir);
    return s.bavail * s.bsize;
  }

  /** Writes one file until the filesystem refuses (ENOSPC); returns the bytes written. */
  async fill(): Promise<number> {
    if (this.released) throw new Error(`disk volume ${this.label} was released`);
    this.filled = true;
    const handle = await fsp.open(this.fillFile, 'a', 0o600);
    let written = 0;
    try {
      for (const size of [CHUNK, 4096, 512]) {
        const buffer = Buffer.alloc(size);
        for (;;) {
          try {
            const { bytesWritten } = await handle.write(buffer, 0, size);
            written += bytesWritten;
            if (bytesWritten < size) break;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw err;
          }
        }
      }
    } finally {
      await handle.close();
    }
    return written;
  }

  /** Deletes the fill file; the space is free again at once. */
  async unfill(): Promise<void> {
    if (!this.filled) return;
    await fsp.rm(this.fillFile, { force: true });
    this.filled = false;
  }

  /** Removes a file the check made on the volume (nothing outside it). */
  async removeFile(file: string): Promise<void> {
    const resolved = path.resolve(file);
    if (!resolved.startsWith(this.dir + path.sep)) throw new Error(`${file} is not on disk volume ${this.label}`);
    await fsp.rm(resolved, { force: true });
  }

  get isFilled(): boolean {
    return this.filled;
  }

  /**
   * Frees the space and detaches the tmpfs. The detach is lazy (umount -l): a server still
   * running keeps its open files and working directory until it exits, then the memory is
   * released; the mount point becomes an ordinary empty directory at once.
   */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.unfill().catch(() => undefined);
    if (!isMountPoint(this.dir)) return;
    try {
      await run('umount', ['-l', this.dir], { timeout: 10_000 });
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
      throw new Error(`unmounting the disk-full tmpfs ${this.label} at ${this.dir} failed: ${stderr || errorMessage(err)}`);
    }
  }
}

/** True when `dir` is listed as a mount point in /proc/self/mounts. */
export function isMountPoint(dir: string): boolean {
  return mountsLabelled('').some((m) => m.dir === path.resolve(dir));
}

/** Mounts whose source starts with `prefix` (e.g. "pgdrill-<runId>"), from /proc/self/mounts. */
export function mountsLabelled(prefix: string): { source: string; dir: string }[] {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f.length >= 2 && f[0].startsWith(prefix))
    // /proc/self/mounts escapes spaces and the like as octal
    .map((f) => ({ source: f[0], dir: f[1].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))) }));
}
