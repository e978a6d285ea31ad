// Reads a JSON-lines file back one record at a time (events.jsonl, operations.jsonl), in
// constant memory. A line that does not parse is counted, not fatal: the last line of a run
// killed mid-write may be cut short.

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface JsonlReadSummary {
  /** records handed to the callback */
  records: number;
  /** lines that were not JSON (a cut-short last line after a crash) */
  badLines: number;
  /** 1-based number of the last bad line, to tell a cut-short tail from damage in the middle */
  lastBadLine: number | null;
  lines: number;
}

export async function readJsonl<T>(file: string, onRecord: (record: T) => void): Promise<JsonlReadSummary> {
  const summary: JsonlReadSummary = { records: 0, badLines: 0, lastBadLine: null, lines: 0 };
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of lines) {
    summary.lines++;
    if (line.trim() === '') continue;
    let record: T;
    try {
      record = JSON.parse(line) as T;
    } catch {
      summary.badLines++;
      summary.lastBadLine = summary.lines;
      continue;
    }
    summary.records++;
    onRecord(record);
  }
  return summary;
}
