// The "Row Count Comparison": every user table with its rows on both sides, the difference and
// whether the content hashes agree, tables that differ first, a total at the foot. Reads
// results.integrity only.

import type { Integrity, TableIntegrity } from '../results/results.js';
import { escapeHtml as h } from './html-kit.js';

export interface RowCountSummary {
  tables: number;
  matching: number;
  sourceRows: number;
  targetRows: number;
  /** the tables that differ, by name */
  differing: string[];
}

/** Differing tables first (as found), then the rest by name: with 25 tables the trouble is at the top. */
export function orderedTables(tables: readonly TableIntegrity[]): TableIntegrity[] {
  return [...tables.filter((t) => !t.match), ...tables.filter((t) => t.match)];
}

export function rowCountSummary(tables: readonly TableIntegrity[]): RowCountSummary {
  return {
    tables: tables.length,
    matching: tables.filter((t) => t.match).length,
    sourceRows: tables.reduce((n, t) => n + (t.sourceRows ?? 0), 0),
    targetRows: tables.reduce((n, t) => n + (t.targetRows ?? 0), 0),
    differing: tables.filter((t) => !t.match).map((t) => t.table),
  };
}

const num = (n: number | null) => (n === null ? '–' : n.toLocaleString('en-US'));

function difference(t: TableIntegrity): string {
  if (t.sourceRows === null) return 'missing on the source';
  if (t.targetRows === null) return 'missing on the target';
  const d = t.targetRows - t.sourceRows;
  return d === 0 ? '0' : `${d > 0 ? '+' : '−'}${Math.abs(d).toLocaleString('en-US')}`;
}

function verdict(t: TableIntegrity): string {
  if (t.match) return 'match';
  if (t.sourceRows === null || t.targetRows === null || t.sourceRows !== t.targetRows) return 'rows differ';
  return 'content differs';
}

/** The HTML table, with the summary sentence above it. */
export function rowCountTableHtml(i: Pick<Integrity, 'tables' | 'source' | 'target'>, status: (ok: boolean, text: string) => string): string {
  const s = rowCountSummary(i.tables);
  const short = (hash: string | null) => (hash === null ? '–' : `<span title="${h(hash)}">${h(hash.slice(0, 12))}</span>`);
  const rows = orderedTables(i.tables)
    .map(
      (t) =>
        `<tr class="${t.match ? '' : 'bad'}"><td><code>${h(t.table)}</code></td><td class="num">${num(t.sourceRows)}</td><td class="num">${num(t.targetRows)}</td>` +
        `<td class="num">${h(difference(t))}</td><td class="hash">${short(t.sourceHash)}</td><td class="hash">${short(t.targetHash)}</td><td>${status(t.match, verdict(t))}</td></tr>`,
    )
    .join('');
  const foot = `<tfoot><tr><th>${s.tables} tables</th><th class="num">${num(s.sourceRows)}</th><th class="num">${num(s.targetRows)}</th><th class="num">${h(
    difference({ table: '', sourceRows: s.sourceRows, targetRows: s.targetRows, sourceHash: null, targetHash: null, match: false }),
  )}</th><th></th><th></th><th></th></tr></tfoot>`;
  const differ = s.differing.length
    ? ` <strong>${s.differing.length} differ</strong>: ${s.differing.map((t) => `<code>${h(t)}</code>`).join(', ')}.`
    : ' Every table holds the same rows on both sides.';
  return (
    `<p class="small">Every user table, its rows counted on ${h(i.source)} and on ${h(i.target)}, and its content hashed in key order.${differ}</p>` +
    `<table class="row-counts"><thead><tr><th>table</th><th class="num">rows on ${h(i.source)}</th><th class="num">rows on ${h(i.target)}</th>` +
    `<th class="num">difference</th><th>hash on ${h(i.source)}</th><th>hash on ${h(i.target)}</th><th>result</th></tr></thead><tbody>${rows}</tbody>${foot}</table>`
  );
}
