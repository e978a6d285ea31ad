// How a sql step's result reads in its record: one line per statement (its command tag and
// count), the first rows of each result as text, the server's notices, or the error.

import type { QueryResult } from 'pg';
import { OUTPUT_TAIL_BYTES } from './step-outcome.js';

const ROWS_SHOWN = 5;
const CELL_CHARS = 60;

/** Rows affected or returned, summed over the statements that report a count; null when none does (DDL). */
export function totalRowCount(results: readonly QueryResult<unknown[]>[]): number | null {
  const counted = results.filter((r) => typeof r.rowCount === 'number');
  return counted.length ? counted.reduce((sum, r) => sum + (r.rowCount ?? 0), 0) : null;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > CELL_CHARS ? `${text.slice(0, CELL_CHARS - 3)}...` : text;
}

/** Results arrive with rowMode 'array' and every value as the server's text. */
export function describeResults(results: readonly QueryResult<unknown[]>[], notices: readonly string[] = []): string {
  const lines: string[] = [];
  for (const r of results) {
    // node-postgres keeps the tag's first word only ("CREATE" for CREATE TABLE) and its count
    lines.push(r.command ? `${r.command}${typeof r.rowCount === 'number' ? ` ${r.rowCount}` : ''}` : '(empty query)');
    if (r.fields.length === 0) continue;
    lines.push(`  ${r.fields.map((f) => f.name).join(' | ')}`);
    for (const row of r.rows.slice(0, ROWS_SHOWN)) lines.push(`  ${row.map(cell).join(' | ')}`);
    if (r.rows.length > ROWS_SHOWN) lines.push(`  (${r.rows.length - ROWS_SHOWN} more rows not shown)`);
  }
  return capped([...lines, ...notices].join('\n'));
}

export interface ServerError {
  message: string;
  sqlstate?: string;
  detail?: string;
  hint?: string;
  position?: string;
}

/** psql's layout, so the text reads the way the user's own psql would have shown it. */
export function describeError(error: ServerError, notices: readonly string[] = []): string {
  const lines = [...notices, `ERROR:  ${error.message}`];
  if (error.detail) lines.push(`DETAIL:  ${error.detail}`);
  if (error.hint) lines.push(`HINT:  ${error.hint}`);
  if (error.position) lines.push(`POSITION:  character ${error.position}`);
  if (error.sqlstate) lines.push(`SQLSTATE:  ${error.sqlstate}`);
  return capped(lines.join('\n'));
}

/** The summary keeps its start (the first statements and rows are what identify it). */
function capped(text: string): string {
  if (Buffer.byteLength(text) <= OUTPUT_TAIL_BYTES) return text;
  const cut = Buffer.from(text).subarray(0, OUTPUT_TAIL_BYTES - 40).toString('utf8').replace(/\uFFFD+$/, '');
  return `${cut}\n... (cut at ${OUTPUT_TAIL_BYTES} bytes)`;
}
