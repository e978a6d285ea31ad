// What both runtimes' data volumes share: their size, the name of the file a disk-full fault
// fills them with, and the memory a tmpfs of that size needs before it may be made.

import os from 'node:os';
import { EnvironmentError } from '../errors.js';

/** Big enough for a test cluster with its WAL; it costs memory only once written. */
export const DISK_VOLUME_BYTES = 256 * 1024 * 1024;
export const FILL_FILE = 'pgdrill-disk-full.fill';

/** A filled tmpfs holds its size in memory: never let one push the machine into swap. */
export function assertMemoryForVolume(sizeBytes: number): void {
  if (os.freemem() < sizeBytes * 3) {
    throw new EnvironmentError(
      `the disk-full fault needs a ${sizeBytes / 1024 / 1024}MB tmpfs but only ${Math.round(os.freemem() / 1024 / 1024)}MB of memory is free`,
      'PGDRILL_DISK_VOLUME_UNAVAILABLE',
    );
  }
}
