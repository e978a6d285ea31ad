// The app's functionality test (app.checks): after the cutover (or at the end of the load when
// there was none), each listed request must answer its expected status within its `within`.
// A check is retried until then, so "responsive after the cutover" does not hinge on one
// unlucky request; how many attempts it took and how long are recorded with it.

import type { Recorder } from '../record/recorder.js';
import type { AppCheckConfig } from '../scenario/scenario.js';
import type { AppCheckOutcome } from '../results/results.js';
import { httpRequest, type AppAddress, type HttpOutcome } from './http-request.js';

const RETRY_EVERY_MS = 200;
/** One attempt never waits longer than this, so a hanging app still gets several attempts. */
const ATTEMPT_TIMEOUT_MS = 2000;

export async function runAppChecks(
  checks: readonly AppCheckConfig[],
  address: AppAddress,
  when: AppCheckOutcome['when'],
  recorder: Recorder,
  signal: AbortSignal,
): Promise<AppCheckOutcome[]> {
  // one after the other: the checks are few, and a request of one must not hide another's answer
  const out: AppCheckOutcome[] = [];
  for (const [index, check] of checks.entries()) {
    if (signal.aborted) break;
    const outcome = await runCheck(index, check, address, when, signal);
    recorder.event('app-check', { ...outcome });
    out.push(outcome);
  }
  return out;
}

async function runCheck(index: number, check: AppCheckConfig, address: AppAddress, when: AppCheckOutcome['when'], signal: AbortSignal): Promise<AppCheckOutcome> {
  const started = Date.now();
  let attempts = 0;
  let last: HttpOutcome | undefined;
  for (;;) {
    const left = check.within - (Date.now() - started);
    attempts++;
    last = await httpRequest(address, check, { timeoutMs: Math.max(1, Math.min(ATTEMPT_TIMEOUT_MS, left)), signal });
    const ok = last.kind === 'response' && last.status === check.expect;
    const elapsed = Date.now() - started;
    if (ok || elapsed + RETRY_EVERY_MS >= check.within || signal.aborted) {
      return {
        index,
        method: check.method,
        path: check.path,
        expect: check.expect,
        status: last.kind === 'response' ? last.status : null,
        ok,
        attempts,
        afterMs: elapsed,
        when,
        ...(ok ? {} : { error: describeMiss(last, check, attempts, elapsed) }),
      };
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_EVERY_MS));
  }
}

function describeMiss(last: HttpOutcome, check: AppCheckConfig, attempts: number, elapsedMs: number): string {
  const answer =
    last.kind === 'response'
      ? `answered ${last.status}${last.body ? ` (${last.body.replace(/\s+/g, ' ').slice(0, 120)})` : ''}`
      : last.kind === 'timeout'
        ? `did not answer within ${last.timeoutMs}ms`
        : `failed to connect: ${last.code} ${last.message}`;
  return `${check.method} ${check.path} ${answer} on the last of ${attempts} attempt${attempts === 1 ? '' : 's'} over ${elapsedMs}ms; expected ${check.expect}`;
}
