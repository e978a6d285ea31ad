// A Patroni cluster in the report (pure, from results.patroni): each member's role over time as
// spans the timeline draws beside the downtime rows, and the leader changes with their cause
// and how long after it the old leader was lost, the new one named and writes served again.

import type { Results } from '../results/results.js';
import { formatDuration } from '../util/units.js';
import { escapeHtml as h } from './html-kit.js';
import { formatLoadTime } from './report-model.js';

export interface RoleSpan {
  startMs: number;
  endMs: number;
  /** leader, standby_leader, sync_standby, replica, or "down" (not running, or not listed) */
  role: string;
  /** as GET /cluster said it: "leader (running)", "replica (streaming)", "absent"... */
  label: string;
}

/** Each member's roles from one change to the next; the last one lasts until `endMs`. */
export function memberRoleSpans(results: Results, endMs: number): { member: string; spans: RoleSpan[] }[] {
  return (results.patroni?.members ?? []).map((m) => {
    const spans: RoleSpan[] = [];
    m.roles.forEach((r, i) => {
      const next = m.roles[i + 1]?.t ?? endMs;
      const up = r.state === 'running' || r.state === 'streaming';
      spans.push({ startMs: r.t, endMs: Math.max(r.t, next), role: up ? r.role : 'down', label: r.role === 'absent' ? 'absent from /cluster' : `${r.role} (${r.state})` });
    });
    return { member: m.name, spans };
  });
}

/** The CSS class of a role's bar on the timeline. */
export function roleClass(role: string): string {
  if (role === 'leader' || role === 'standby_leader') return 'role-leader';
  if (role === 'sync_standby') return 'role-sync';
  if (role === 'down') return 'role-down';
  return 'role-replica';
}

/** The leader changes, one table row each; empty without a Patroni cluster. */
export function patroniSection(r: Results, t0: number): string {
  const p = r.patroni;
  if (!p) return '';
  const after = (v: number | null) => (v === null ? '–' : formatDuration(v));
  const rows = p.leaderChanges
    .map(
      (c) =>
        `<tr><td class="num">${formatLoadTime(c.t, t0)}</td><td><code>${h(c.from ?? '–')}</code> → <code>${h(c.to)}</code></td><td>${h(c.cause ?? 'no cause seen by pgdrill')}</td><td class="num">${h(after(c.detectedAfterMs))}</td><td class="num">${h(after(c.electedAfterMs))}</td><td class="num">${h(after(c.servedAfterMs))}</td></tr>`,
    )
    .join('');
  return `<section class="card" id="patroni">
<h2>Patroni</h2>
<p class="small muted">Members ${h(r.scenario.patroni?.members.join(', ') ?? '')}, as GET /cluster named them every 100 ms (their roles are on the timeline); leader at the end: <code>${h(p.finalLeader ?? 'none')}</code>. Times are from the cause: the switchover request, the promotion, or the fault on the leader.</p>
${rows ? `<table><thead><tr><th class="num">T</th><th>leader change</th><th>cause</th><th class="num">old leader lost after</th><th class="num">new leader named after</th><th class="num">writes served after</th></tr></thead><tbody>${rows}</tbody></table>` : '<p>No leader change.</p>'}
</section>`;
}

/** One line for the terminal: each leader change and its timings, or the leader throughout. */
export function patroniLeaderText(r: Results): string {
  const p = r.patroni!;
  if (p.leaderChanges.length === 0) return `no leader change; ${p.finalLeader ?? 'no member'} led at the end`;
  const after = (v: number | null) => (v === null ? '?' : formatDuration(v));
  return p.leaderChanges
    .map((c) => `${c.from ?? '-'} -> ${c.to}${c.cause ? ` after ${c.cause}: lost ${after(c.detectedAfterMs)}, new leader ${after(c.electedAfterMs)}, writes served ${after(c.servedAfterMs)}` : ' (no cause seen)'}`)
    .join('; ');
}
