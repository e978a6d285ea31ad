// The checks the application in the loop adds to the verdict: that the app stayed up until
// pgdrill stopped it, and each of app.checks (the functionality test after the cutover). Pure,
// over results.app; its downtime and accounting join the shared checks in run-checks.ts.

import type { AppConfig } from '../scenario/scenario.js';
import type { AppResults, CheckResult } from '../results/results.js';
import { formatDuration } from '../util/units.js';

/** "app check[0] (GET /health)": stable across runs, the expectation and outcome go in the detail. */
export function appCheckName(index: number, check: { method: string; path: string }): string {
  return `app check[${index}] (${check.method} ${check.path})`;
}

export function appVerdictChecks(config: AppConfig | undefined, app: AppResults | undefined): CheckResult[] {
  if (!config) return [];
  const out: CheckResult[] = [];
  if (!app || app.readyAfterMs === null) {
    out.push({ name: 'app stayed up', valid: false, detail: 'the app never became ready (see the run error and app.log)' });
  } else if (app.exited) {
    const how = app.exited.signal ? `killed by ${app.exited.signal}` : `exit code ${app.exited.code}`;
    out.push({
      name: 'app stayed up',
      valid: false,
      detail: `the app exited by itself (${how}) ${formatDuration(app.exited.t)} into the run; every request after that failed (app.log has its last words)`,
    });
  } else {
    out.push({ name: 'app stayed up', valid: true, detail: `ready after ${formatDuration(app.readyAfterMs)}, ran until pgdrill stopped it` });
  }
  config.checks.forEach((check, index) => {
    const name = appCheckName(index, check);
    const outcome = app?.checks.find((c) => c.index === index);
    if (!outcome) {
      out.push({ name, valid: 'unknown', detail: `never ran (the app was not ready, or the run ended before the checks); expected ${check.expect}` });
      return;
    }
    const tries = `${outcome.attempts} attempt${outcome.attempts === 1 ? '' : 's'}`;
    if (outcome.ok) {
      out.push({ name, valid: true, detail: `answered ${outcome.status} ${outcome.when}, ${formatDuration(outcome.afterMs)} after the checks began (${tries})` });
    } else {
      out.push({ name, valid: false, detail: `${outcome.when}: ${outcome.error ?? `answered ${outcome.status ?? 'nothing'}, expected ${check.expect}`}` });
    }
  });
  return out;
}
