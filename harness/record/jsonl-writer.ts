// Appends JSON lines to a file in batches: written every ~100 ms or once 64 kB are waiting,
// and at close. A crash (kill -9) loses at most the last batch; what was written is in the
// kernel's page cache and survives the process. Writes are synchronous so that a batch is
// on disk before flush() returns (verify and the post-mortem read the file back).

import fs from 'node:fs';

export const FLUSH_INTERVAL_MS = 100;
export const FLUSH_BYTES = 64 * 1024;

// Writers not closed yet: flushed when the process exits normally (the batch timer is unref'd
// so it never keeps pgdrill alive, and must not lose the last lines of a run that threw).
const open = new Set<JsonlWriter>();
let exitHook = false;
function track(writer: JsonlWriter): void {
  open.add(writer);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const w of open) w.flush();
    });
  }
}

export class JsonlWriter {
  private fd: number | undefined;
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  /** lines written to the file (not those waiting in the batch) */
  private written = 0;

  constructor(readonly file: string) {
    try {
      this.fd = fs.openSync(file, 'a');
      track(this);
    } catch (err) {
      this.failure = err as Error;
    }
  }

  /** The first write error, if any: the file then lacks lines, and whoever reads it must say so. */
  get error(): Error | undefined {
    return this.failure;
  }

  get linesWritten(): number {
    return this.written;
  }

  write(value: unknown): void {
    if (this.fd === undefined) return;
    const line = JSON.stringify(value) + '\n';
    this.pending.push(line);
    // string length counts UTF-16 units, close enough to bytes for a batching threshold
    this.pendingBytes += line.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_INTERVAL_MS).unref();
  }

  /** Writes what is waiting now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.fd === undefined || this.pending.length === 0) return;
    const lines = this.pending.length;
    const buffer = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingBytes = 0;
    try {
      let offset = 0;
      while (offset < buffer.length) offset += fs.writeSync(this.fd, buffer, offset);
      this.written += lines;
    } catch (err) {
      // a full disk must not crash the load; the reader learns of it from `error`
      this.failure ??= err as Error;
      this.closeFd();
    }
  }

  close(): void {
    this.flush();
    this.closeFd();
  }

  private closeFd(): void {
    open.delete(this);
    if (this.fd === undefined) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // closing a descriptor that failed to write: nothing more to lose
    }
    this.fd = undefined;
  }
}
