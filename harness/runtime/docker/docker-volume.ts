// The docker runtime's data volume: the container's data directory is a tmpfs of its own
// (made with the container, HostConfig.Tmpfs), so a disk-full fault fills that filesystem and
// nothing else, as the local runtime's mount does. Filling, measuring and emptying run inside
// the container (docker exec): the files live in its mount namespace. The tmpfs goes with the
// container.

import type Docker from 'dockerode';
import type { DataVolume } from '../runtime.js';
import { FILL_FILE } from '../data-volume.js';
import { execOk } from './exec.js';

export class DockerVolume implements DataVolume {
  readonly filesystem = 'tmpfs';
  private filled = false;

  constructor(
    private readonly docker: Docker,
    private readonly container: Docker.Container,
    readonly mount: string,
    readonly label: string,
    readonly sizeBytes: number,
  ) {}

  /** The tmpfs root belongs to root when Docker makes it: the server user must own it (initdb wants 0700). */
  async prepare(): Promise<void> {
    await this.sh(`chown "postgres:$(id -g postgres)" "$D" && chmod 700 "$D"`, 'handing the data volume to the postgres user');
  }

  private sh(script: string, what: string, env: Record<string, string> = {}): Promise<string> {
    return execOk(this.docker, this.container, ['/bin/sh', '-c', script], { user: 'root', env: { D: this.mount, ...env }, timeout: 120_000, what: `${what} (${this.label})` });
  }

  get fillFile(): string {
    return `${this.mount}/${FILL_FILE}`;
  }

  async fill(): Promise<number> {
    this.filled = true;
    // dd stops at ENOSPC (exit 1); smaller blocks then take the last partial chunks, as the
    // local volume does; tmpfs keeps no blocks back for root
    const out = await this.sh(
      `for bs in 4M 4k 512; do dd if=/dev/zero of="$F" bs=$bs oflag=append conv=notrunc 2>/dev/null; done; stat -c %s "$F"`,
      'filling the data volume',
      { F: this.fillFile },
    );
    return Number(out.trim()) || 0;
  }

  async unfill(): Promise<void> {
    if (!this.filled) return;
    await this.sh(`rm -f "$F"`, 'emptying the data volume', { F: this.fillFile });
    this.filled = false;
  }

  async freeBytes(): Promise<number> {
    const out = await this.sh(`stat -f -c '%a %S' "$D"`, 'measuring the data volume');
    const [blocks, size] = out.trim().split(/\s+/).map(Number);
    return blocks * size;
  }

  async removeFile(file: string): Promise<void> {
    if (!file.startsWith(this.mount + '/') || file.split('/').includes('..')) throw new Error(`${file} is not on data volume ${this.label}`);
    await this.sh(`rm -f "$F"`, 'removing a check file', { F: file });
  }
}
