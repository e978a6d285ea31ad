// The last few kB of a program's output, kept while it runs: a runbook step that prints for
// five minutes must not grow the harness's memory, and its end is what says why it failed.

import { OUTPUT_TAIL_BYTES } from './step-outcome.js';

export class OutputTail {
  private chunks: Buffer[] = [];
  private kept = 0;
  private dropped = 0;

  constructor(private readonly limit = OUTPUT_TAIL_BYTES) {}

  push(chunk: Buffer | string): void {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.chunks.push(buffer);
    this.kept += buffer.length;
    // compact only now and then, so a chatty program costs a copy per limit's worth of output, not per chunk
    if (this.kept > 2 * this.limit) this.compact();
  }

  private compact(): void {
    const all = Buffer.concat(this.chunks);
    const cut = Math.max(0, all.length - this.limit);
    this.dropped += cut;
    this.chunks = [all.subarray(cut)];
    this.kept = all.length - cut;
  }

  /** The kept output as text; says how much came before it when some was dropped. */
  text(): string {
    this.compact();
    let tail = this.chunks[0] ?? Buffer.alloc(0);
    if (this.dropped === 0) return tail.toString('utf8');
    // the cut may have landed inside a UTF-8 character: skip its continuation bytes
    let start = 0;
    while (start < tail.length && start < 4 && (tail[start] & 0xc0) === 0x80) start++;
    tail = tail.subarray(start);
    return `[${this.dropped + start} earlier bytes not kept]\n${tail.toString('utf8')}`;
  }
}
