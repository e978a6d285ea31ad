// The time structure of a run as the reports draw it: where the load phase starts, which
// windows (faults, cutovers, downtime) to shade, and which events belong on the timeline.
// Pure, over a Results object only, shared by the HTML page, the PNG charts and comparisons.

import type { Results } from '../results/results.js';
import { isTroubleEvent, type EventKind, type RunEvent } from '../record/events.js';

export type WindowKind = 'fault' | 'cutover' | 'write-downtime' | 'read-downtime' | 'app-downtime';

/** A span of the run, in ms from the start of the run (like every time in results.json). */
export interface RunWindow {
  kind: WindowKind;
  label: string;
  startMs: number;
  endMs: number;
  /** the window was never closed: a fault never healed, a downtime still open at the end */
  open: boolean;
}

/**
 * Charts and the timeline count time from the start of the load phase, the clock a
 * scenario's `timeline[].at` is written in: "cutover at 30s" is drawn at 30.
 */
export function loadStartMs(results: Results): number {
  return results.phases.find((p) => p.name === 'load')?.startMs ?? 0;
}

export function loadEndMs(results: Results): number {
  const load = results.phases.find((p) => p.name === 'load');
  return load ? load.endMs : results.durationMs;
}

/** Faults as windows: fault-start paired with the next fault-end of the same fault and target. */
export function faultWindows(results: Results): RunWindow[] {
  const windows: RunWindow[] = [];
  const open = new Map<string, RunWindow[]>();
  for (const event of results.events) {
    if (event.kind !== 'fault-start' && event.kind !== 'fault-end') continue;
    const key = faultLabel(event);
    if (event.kind === 'fault-start') {
      const w: RunWindow = { kind: 'fault', label: key, startMs: event.t, endMs: event.t, open: true };
      windows.push(w);
      open.set(key, [...(open.get(key) ?? []), w]);
    } else {
      const started = open.get(key)?.shift();
      if (started) {
        started.endMs = event.t;
        started.open = false;
      }
    }
  }
  // a fault never healed lasted at least until the load stopped
  const until = Math.max(loadEndMs(results), 0);
  for (const w of windows) if (w.open) w.endMs = Math.max(w.startMs, until);
  return windows;
}

/** Each cutover (a dry run too) as the span its strategy ran, from the phases or the events. */
export function cutoverWindows(results: Results): RunWindow[] {
  const fromPhases = results.phases.filter((p) => p.name === 'cutover');
  const dryRun = results.cutover?.dryRun ?? false;
  if (fromPhases.length > 0) {
    return fromPhases.map((p) => ({ kind: 'cutover', label: dryRun ? 'cutover (dry run)' : 'cutover', startMs: p.startMs, endMs: p.endMs, open: false }));
  }
  const windows: RunWindow[] = [];
  let start: RunEvent | undefined;
  for (const event of results.events) {
    if (event.kind === 'cutover-start') start = event;
    if (event.kind === 'cutover-end' && start) {
      windows.push({ kind: 'cutover', label: event.dryRun ? 'cutover (dry run)' : 'cutover', startMs: start.t, endMs: event.t, open: false });
      start = undefined;
    }
  }
  if (start) windows.push({ kind: 'cutover', label: 'cutover (unfinished)', startMs: start.t, endMs: results.durationMs, open: true });
  return windows;
}

export function downtimeRunWindows(results: Results): RunWindow[] {
  const of = (kind: 'write-downtime' | 'read-downtime' | 'app-downtime', label: string, d: Results['downtime']['writes'] | undefined): RunWindow[] =>
    (d?.windows ?? []).map((w) => ({ kind, label, startMs: w.startMs, endMs: w.endMs, open: w.openAtEnd }));
  return [
    ...of('write-downtime', 'writes down', results.downtime.writes),
    ...of('read-downtime', 'reads down', results.downtime.reads),
    ...of('app-downtime', 'app down', results.downtime.app),
  ];
}

export function faultLabel(event: { fault: string; node?: string; link?: string }): string {
  const fault = String(event.fault ?? 'fault');
  const target = event.node ?? event.link;
  return target === undefined ? fault : `${fault} ${String(target)}`;
}

/**
 * Events worth a row on the timeline: what changed, not each connection's reconnect. Phases
 * are left out: the timeline draws them as bars.
 */
const TIMELINE_KINDS = new Set<EventKind>([
  'node-ready',
  'seeded',
  'tls-ready',
  'replication-tls',
  'scripts-checked',
  'endpoint-ready',
  'endpoint-server-state',
  'workload-start',
  'workload-end',
  'workload-retarget',
  'cutover-start',
  'cutover-step',
  'cutover-end',
  'failover',
  'old-primary-returned',
  'fault-start',
  'fault-end',
  'fault-failed',
  'fault-heal-failed',
  'fault-check-failed',
  'failover-not-triggered',
  'step-start',
  'step-end',
  'integrity',
  'verify-warning',
  'teardown-failed',
  'reaper-unavailable',
  'reaper-reaped',
  'error',
  'app-start',
  'app-ready',
  'app-exited',
  'app-check',
  'app-stop',
  'patroni-etcd-ready',
  'patroni-leader',
  'patroni-unreachable',
]);

export interface TimelineRow {
  t: number;
  kind: string;
  /** a short sentence for people */
  text: string;
  /** worth attention: a failure or an error */
  bad: boolean;
}

/**
 * The notable events in order, each told in a sentence. Connection churn is summarised per
 * stream rather than listed: a cutover drops every connection at once.
 */
export function timelineRows(results: Results): TimelineRow[] {
  const rows: TimelineRow[] = [];
  const lost = new Map<string, { first: number; count: number }>();
  for (const e of results.events) {
    if (e.kind === 'workload-connection-lost') {
      const key = String(e.stream ?? '?');
      const seen = lost.get(key);
      if (seen) seen.count++;
      else lost.set(key, { first: e.t, count: 1 });
      continue;
    }
    if (!TIMELINE_KINDS.has(e.kind)) continue;
    rows.push({ t: e.t, kind: e.kind, text: describeEvent(e), bad: isTroubleEvent(e) });
  }
  for (const [stream, { first, count }] of lost) {
    rows.push({ t: first, kind: 'workload-connection-lost', text: `${stream} connections lost: ${count} time(s) over the run`, bad: false });
  }
  return rows.sort((a, b) => a.t - b.t);
}

export function describeEvent(e: RunEvent): string {
  const s = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  switch (e.kind) {
    case 'run-start':
      return `run ${s(e.runId)} started (${s(e.runtime)})`;
    case 'phase-start':
      return `${s(e.phase)} phase started`;
    case 'phase-end':
      return `${s(e.phase)} phase ended after ${s(e.durationMs)} ms`;
    case 'node-ready':
      return `${s(e.node)} ready as ${s(e.role)}${e.of ? ` of ${s(e.of)}` : ''}${e.version ? ` (PostgreSQL ${s(e.version)})` : ''}`;
    case 'seeded': {
      const rows = Object.entries(e.rows ?? {});
      const listed =
        rows.length > 8
          ? `${rows.length} tables, ${rows.reduce((n, [, v]) => n + v, 0).toLocaleString('en-US')} rows`
          : rows.map(([k, v]) => `${k} ${s(v)}`).join(', ');
      return `${s(e.node)} seeded${e.detail ? ` (${e.detail})` : ''}${rows.length ? `: ${listed}` : ''}`;
    }
    case 'scripts-checked':
      return `${e.scripts} statement(s) of yours prepared against the seeded database${e.pools.length ? `; keys to pick: ${e.pools.map((p) => `${p.table}.${p.column} ${p.keys}`).join(', ')}` : ''}`;
    case 'endpoint-ready':
      return `endpoint${e.endpoint ? ` ${e.endpoint}` : ''} ${s(e.address)} -> ${s(e.target)}${e.origin ? ` (${e.origin})` : ''}`;
    case 'tls-ready':
      return `TLS on (${e.mode}${e.clientCerts ? ', client certificates' : ''}): throwaway CA ${e.ca}`;
    case 'replication-tls':
      return `${e.node} streams from ${e.upstream} ${e.ssl ? `over TLS (${e.version ?? '?'}${e.clientDn ? `, client ${e.clientDn}` : ''})` : 'NOT over TLS'} (pg_stat_ssl)`;
    case 'endpoint-server-state':
      return `HAProxy: ${e.backend}/${e.server} ${e.previous ? `${e.previous} -> ` : ''}${e.state}${e.check ? ` (check ${e.check})` : ''}`;
    case 'workload-start':
      return `load started: ${s(e.writes)} writes/s, ${s(e.reads)} reads/s`;
    case 'workload-end':
      return 'load stopped';
    case 'workload-retarget':
      return `clients re-pointed to ${s(e.host)}:${s(e.port)}`;
    case 'cutover-start':
      return `cutover started (${s(e.strategy)}${e.dryRun ? ', dry run' : ''})`;
    case 'cutover-step':
      return `step ${s(e.step)} ${e.ok ? 'done' : 'FAILED'} in ${s(e.durationMs)} ms${e.detail ? `: ${s(e.detail)}` : ''}`;
    case 'cutover-end':
      return `cutover ${e.ok ? 'done' : 'FAILED'}${e.rolledBack ? ', rolled back' : ''}${e.error ? `: ${s(e.error)}` : ''}`;
    case 'fault-start':
      return `fault injected: ${faultLabel(e)}`;
    case 'fault-end':
      return `fault healed: ${faultLabel(e)}`;
    case 'step-start':
      return `${e.step} step started: ${e.label}`;
    case 'step-end':
      return `${e.label} ${e.ok ? 'done' : e.allowFailure ? 'FAILED (allowed)' : 'FAILED'} in ${e.durationMs} ms${e.error ? `: ${e.error}` : ''}`;
    case 'failover':
      return `failover ${e.from} -> ${e.to ?? '?'}: detected after ${e.detectMs} ms${e.failoverMs !== null ? `, clients re-pointed ${e.failoverMs} ms after the failure` : ''}`;
    case 'integrity':
      return `integrity checked (${s(e.source)} vs ${s(e.target)}): ${s(e.lostWrites)} lost writes, ${s(e.rowCountMismatches)} row count mismatches`;
    case 'error':
      return `error ${s(e.code)}: ${s(e.message)}`;
    case 'app-start':
      return `app started on port ${e.port}: ${e.command}`;
    case 'app-ready':
      return `app ready: its ready path answered after ${e.afterMs} ms (${e.attempts} attempt${e.attempts === 1 ? '' : 's'})`;
    case 'app-exited':
      return e.expected
        ? `app stopped (${e.signal ? `by ${e.signal}` : `exit code ${e.code}`})`
        : `app EXITED by itself (${e.signal ? `killed by ${e.signal}` : `exit code ${e.code}`}): its requests fail from now on`;
    case 'app-check':
      return `app check ${e.method} ${e.path} ${e.when}: ${e.ok ? `answered ${e.status} as expected` : `FAILED: ${e.error ?? `answered ${e.status}`}`}`;
    case 'app-stop':
      return `app process group stopped (${e.how}) in ${e.durationMs} ms`;
    case 'patroni-etcd-ready':
      return `etcd ready: ${e.members} member(s) at ${e.clients.join(', ')} (etcd ${e.program})`;
    case 'patroni-leader':
      return e.leader === null ? `Patroni: no leader (${s(e.previous)} no longer named in /cluster)` : `Patroni: ${e.leader} is the ${e.role === 'standby_leader' ? 'standby leader' : 'leader'}${e.previous ? ` (was ${e.previous})` : ''}`;
    case 'patroni-unreachable':
      return `Patroni: no member answered GET /cluster: ${e.error}`;
    case 'reaper-unavailable':
      return `no reaper: ${e.reason}`;
    case 'reaper-reaped':
      return `pgdrill's process died without tearing down; its reaper killed ${e.killed.length ? e.killed.join('; ') : 'nothing'}${e.containers.length ? `, removed containers ${e.containers.join(', ')}` : ''}${e.removedDirs.length ? `, removed ${e.removedDirs.join(', ')}` : ''}${e.failures.length ? `; failed: ${e.failures.join('; ')}` : ''}`;
    default: {
      const rest = Object.entries(e).filter(([k]) => k !== 't' && k !== 'kind');
      return rest.map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : s(v)}`).join(' ');
    }
  }
}

/** "T+12.3s": a run time (ms) relative to the start of the load phase. */
export function formatLoadTime(ms: number, loadStart: number): string {
  const s = (ms - loadStart) / 1000;
  const digits = Math.abs(s) < 10 ? 2 : 1;
  const text = Math.abs(s).toFixed(digits);
  // a few µs before T is "T+0.00s", not "T−0.00s"
  const sign = s < 0 && Number(text) !== 0 ? '−' : '+';
  return `T${sign}${text}s`;
}
