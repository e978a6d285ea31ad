// app.log: the app's stdout and stderr as they arrive, each line stamped with the run time it
// arrived at and its stream ("   12.345 err| ..."), so the log scan can tell lines after the
// cutover from lines before it and a reader can hold them against the report's timeline.

import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { OutputTail } from '../steps/output-tail.js';

export type LogStream = 'out' | 'err';

/** A line longer than this is written in pieces. */
const MAX_LINE = 64 * 1024;

/** "   12.345 err| text": seconds of run time (results.json's clock), the stream, the line. */
export function formatLogLine(t: number, stream: LogStream, text: string): string {
  return `${(t / 1000).toFixed(3).padStart(9)} ${stream}| ${text}\n`;
}

export class AppLog {
  private readonly file: WriteStream;
  private readonly partial: Record<LogStream, string> = { out: '', err: '' };
  /** the raw end of the output, for error messages (exit 3 shows it) */
  private readonly rawTail = new OutputTail(4096);
  lines = 0;

  constructor(
    readonly path: string,
    private readonly now: () => number,
  ) {
    this.file = createWriteStream(path, { flags: 'a' });
    // a full disk must not crash the run; the scan then finds fewer lines, and says how many
    this.file.on('error', () => undefined);
  }

  write(stream: LogStream, chunk: Buffer | string): void {
    const text = this.partial[stream] + chunk.toString();
    this.rawTail.push(chunk);
    const parts = text.split('\n');
    this.partial[stream] = parts.pop() ?? '';
    // output that never ends its line must not grow without bound: cut it into lines
    if (this.partial[stream].length > MAX_LINE) {
      parts.push(this.partial[stream]);
      this.partial[stream] = '';
    }
    const t = this.now();
    for (const line of parts) this.line(t, stream, line.replace(/\r$/, ''));
  }

  /** A line of pgdrill's own about the app (started, exited), marked as such. */
  note(text: string): void {
    this.line(this.now(), 'err', `[pgdrill] ${text}`);
  }

  private line(t: number, stream: LogStream, text: string): void {
    this.lines++;
    this.file.write(formatLogLine(t, stream, text));
  }

  /** The last lines the app printed, for an error message. */
  tail(maxLines = 15): string {
    const lines = this.rawTail.text().split('\n');
    while (lines.length && lines[lines.length - 1] === '') lines.pop();
    return lines.slice(-maxLines).join('\n');
  }

  async close(): Promise<void> {
    for (const stream of ['out', 'err'] as const) {
      if (this.partial[stream]) this.line(this.now(), stream, this.partial[stream]);
      this.partial[stream] = '';
    }
    this.file.end();
    await once(this.file, 'close').catch(() => undefined);
  }
}
