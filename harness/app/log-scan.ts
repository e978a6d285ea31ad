// The log scan: lines of app.log that look like database connection errors, counted from the
// end of the cutover (or the start of the load when there was none) until pgdrill began
// stopping the app. Errors during the cutover are expected (the freeze ends sessions); errors
// after it mean the app did not come back when the database did (seed 003's "no database
// connection errors after it comes back"). Pure: text in, counts out.

import type { AppLogScan } from '../results/results.js';

/** What a database connection error looks like in an app's log, by name; the first match names a line. */
export const DB_CONNECTION_ERROR_PATTERNS: readonly { name: string; pattern: RegExp }[] = [
  { name: 'ECONNREFUSED', pattern: /ECONNREFUSED/ },
  { name: 'ECONNRESET', pattern: /ECONNRESET/ },
  { name: 'terminating connection', pattern: /terminating connection/i },
  { name: '57P01 admin shutdown', pattern: /\b57P0[123]\b|the database system is (shutting down|starting up|in recovery mode)/i },
  { name: '25006 read-only', pattern: /\b25006\b|read-only transaction/i },
  { name: 'Connection terminated', pattern: /Connection terminated/i },
  // node-postgres on a client whose connection broke earlier; libpq's and JDBC's words for a lost server
  { name: 'not queryable', pattern: /connection error and is not queryable|Client was closed and is not queryable/i },
  { name: 'server closed the connection', pattern: /server closed the connection unexpectedly|An I\/O error occurred while sending to the backend/i },
];

const LINE = /^\s*(-?\d+\.\d{3}) (out|err)\| (.*)$/;

/** A line of app.log split into its run time (ms), stream and text; undefined for a line not in that form. */
export function parseLogLine(line: string): { t: number; stream: 'out' | 'err'; text: string } | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  return { t: Math.round(Number(m[1]) * 1000), stream: m[2] as 'out' | 'err', text: m[3] };
}

/** The pattern a line matches first, if any. pgdrill's own notes ("[pgdrill] ...") never count. */
export function matchConnectionError(text: string): string | undefined {
  if (text.startsWith('[pgdrill] ')) return undefined;
  return DB_CONNECTION_ERROR_PATTERNS.find((p) => p.pattern.test(text))?.name;
}

export interface ScanWindow {
  from: AppLogScan['from'];
  fromMs: number;
  toMs: number;
  file?: string;
}

const MAX_EXAMPLES = 5;

export function scanAppLog(text: string, window: ScanWindow): AppLogScan {
  const scan: AppLogScan = {
    file: window.file ?? 'app.log',
    from: window.from,
    fromMs: window.fromMs,
    toMs: window.toMs,
    lines: 0,
    matched: 0,
    before: 0,
    byPattern: {},
    examples: [],
  };
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    scan.lines++;
    const line = parseLogLine(raw);
    if (!line) continue;
    const name = matchConnectionError(line.text);
    if (!name) continue;
    if (line.t < window.fromMs) {
      scan.before++;
      continue;
    }
    if (line.t > window.toMs) continue;
    scan.matched++;
    scan.byPattern[name] = (scan.byPattern[name] ?? 0) + 1;
    if (scan.examples.length < MAX_EXAMPLES) scan.examples.push({ t: line.t, line: line.text.length > 300 ? `${line.text.slice(0, 297)}...` : line.text });
  }
  return scan;
}
