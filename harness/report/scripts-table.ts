// The report's table of your statements: each script with its weight, what the ledger checks of
// it, how its operations went and its commonest error. Reads results.load.scripts only.

import type { ScriptLoad } from '../results/results.js';
import { escapeHtml as h } from './html-kit.js';

function oneLine(sql: string, max = 90): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

function topError(errors: Record<string, number>): string {
  const [kind, n] = Object.entries(errors).sort((a, b) => b[1] - a[1])[0] ?? [];
  return kind === undefined ? '' : `${kind} (${n})`;
}

export function scriptsTableHtml(scripts: readonly ScriptLoad[]): string {
  const rows = scripts
    .map((s) => {
      const bad = s.failed + s.indeterminate > 0;
      return (
        `<tr><td>${s.stream}</td><td><strong>${h(s.name)}</strong><br><code class="small" title="${h(s.sql)}">${h(oneLine(s.sql))}</code></td>` +
        `<td class="num">${s.weight}</td><td class="small">${s.ledger ? h(s.ledger) : s.stream === 'write' ? '<span class="muted">not checked</span>' : ''}</td>` +
        `<td class="num">${s.ok}</td><td class="num">${s.failed}</td><td class="num">${s.indeterminate}</td>` +
        `<td class="small${bad ? '' : ' muted'}">${h(topError(s.errors))}</td></tr>`
      );
    })
    .join('');
  return (
    `<h3>Your statements</h3><table><thead><tr><th>stream</th><th>script</th><th class="num">weight</th><th>ledger</th>` +
    `<th class="num">ok</th><th class="num">failed</th><th class="num">indeterminate</th><th>commonest error</th></tr></thead><tbody>${rows}</tbody></table>`
  );
}
