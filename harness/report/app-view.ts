// The app in the reports: the three downtime views of one cutover side by side (the server's
// write gap, the database clients' write downtime, the app's users' downtime) and, in words,
// why the app's view differs from the database's. Pure, over results.json, shared by the
// HTML page and the terminal summary.

import type { Results } from '../results/results.js';
import { formatDuration } from '../util/units.js';
import { formatLoadTime, loadStartMs } from './report-model.js';

export interface DowntimeView {
  name: 'server write gap' | 'client view (writes)' | 'app view';
  /** ms; null when this view was not measured */
  ms: number | null;
  /** the longest outage had not ended when the load stopped: the number is a lower bound */
  open: boolean;
  /** what this view measures, in a line */
  what: string;
}

/** The three views of the same run; the app's only when the run had an app. */
export function downtimeViews(r: Results): DowntimeView[] {
  const writes = r.load.writes.intended > 0 ? r.downtime.writes : undefined;
  const views: DowntimeView[] = [
    {
      name: 'server write gap',
      ms: r.downtime.serverWriteGapMs,
      open: false,
      what: 'longest time no probe write committed, by the servers\' clock',
    },
    {
      name: 'client view (writes)',
      ms: writes ? writes.longestMs : null,
      open: writes?.openAtEnd ?? false,
      what: "longest outage of pgdrill's own database clients (reconnect with backoff)",
    },
  ];
  if (r.app) {
    const app = r.load.app && r.load.app.intended > 0 ? r.downtime.app : undefined;
    views.push({
      name: 'app view',
      ms: app ? app.longestMs : null,
      open: app?.openAtEnd ?? false,
      what: "longest outage of the app's HTTP requests: its pool, timeouts and retries included",
    });
  }
  return views;
}

/** "1.2s", "at least 8s (not recovered)", "–" */
export function formatView(view: DowntimeView): string {
  if (view.ms === null) return '–';
  return view.open ? `at least ${formatDuration(view.ms)} (not recovered)` : formatDuration(view.ms);
}

/**
 * Why the app's users saw what they saw, in sentences; empty without an app. The reasons come
 * from the record: the app dying, connection errors in its log after the cutover, a downtime
 * well above (or below) the database clients'.
 */
export function appExplanation(r: Results): string[] {
  const app = r.app;
  if (!app) return [];
  const out: string[] = [];
  const t0 = loadStartMs(r);
  if (app.readyAfterMs === null) return ['The app never became ready, so nothing was measured through it (see the run error and app.log).'];
  if (app.exited) {
    const how = app.exited.signal ? `was killed by ${app.exited.signal}` : `exited with code ${app.exited.code}`;
    out.push(`The app ${how} at ${formatLoadTime(app.exited.t, t0)}, before pgdrill stopped it: every request after that failed (app.log holds its last words).`);
  }
  const appDown = r.load.app && r.load.app.intended > 0 ? r.downtime.app : undefined;
  const dbDown = r.load.writes.intended > 0 ? r.downtime.writes : undefined;
  const scan = app.logScan;
  const after = scan ? (scan.from === 'cutover end' ? 'after the cutover' : 'during the load') : '';
  if (appDown && dbDown) {
    const margin = Math.max(250, r.downtime.writes.mergeGapMs ?? 0);
    const longer = appDown.longestMs - dbDown.longestMs;
    if (longer > margin) {
      let why = '';
      if (scan && scan.matched > 0) {
        const top = Object.entries(scan.byPattern).sort((a, b) => b[1] - a[1])[0];
        const example = scan.examples[0]?.line;
        why =
          ` Its log has ${scan.matched} database connection error${scan.matched === 1 ? '' : 's'} ${after}` +
          `${top ? ` (most: ${top[0]}${example ? `, e.g. "${example.length > 140 ? `${example.slice(0, 137)}...` : example}"` : ''})` : ''}` +
          ': its connections did not come back when the database did.';
      } else if (!app.exited) {
        why = ' Its log shows no database connection error: look at its timeouts and queueing (the latency chart).';
      }
      out.push(`The app's users were down ${formatDuration(longer)} longer than the database's clients (${formatView(viewOf(r, 'app view'))} against ${formatView(viewOf(r, 'client view (writes)'))}).${why}`);
    } else if (-longer > margin) {
      out.push(`The app's users saw a shorter outage than the database's clients (${formatDuration(appDown.longestMs)} against ${formatDuration(dbDown.longestMs)}): its retries or queueing hid part of it.`);
    } else {
      out.push(`The app's users saw about what the database's clients saw (${formatDuration(appDown.longestMs)} against ${formatDuration(dbDown.longestMs)}).`);
    }
  }
  if (scan && scan.matched > 0 && !out.some((s) => s.includes('connection error'))) {
    out.push(`app.log has ${scan.matched} database connection error${scan.matched === 1 ? '' : 's'} ${after}.`);
  }
  return out;
}

function viewOf(r: Results, name: DowntimeView['name']): DowntimeView {
  return downtimeViews(r).find((v) => v.name === name)!;
}
