// Checks and their composition (Jepsen's checker/compose): each check is a pure function
// over recorded facts returning a named result; the verdict is computed once from them. A
// check that throws is unknown, never a pass; any invalid check is a fail, and so is any
// unknown one: a gate must not go green because something could not be looked at.

import type { CheckResult } from '../results/results.js';

export type Validity = CheckResult['valid'];

/** false if any is false; else unknown if any is unknown (or there is none at all); else true. */
export function compose(checks: readonly Pick<CheckResult, 'valid'>[]): Validity {
  if (checks.some((c) => c.valid === false)) return false;
  if (checks.length === 0 || checks.some((c) => c.valid === 'unknown')) return 'unknown';
  return true;
}

/** Runs a check; one that throws is unknown, with the error as its detail. */
export function safeCheck(name: string, check: () => Omit<CheckResult, 'name'>): CheckResult {
  try {
    return { name, ...check() };
  } catch (err) {
    return { name, valid: 'unknown', detail: `the check could not run: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** pass only when the composition is valid: false and unknown both fail. */
export function verdictOf(checks: readonly CheckResult[]): 'pass' | 'fail' {
  return compose(checks) === true ? 'pass' : 'fail';
}

/** The checks that stand in the way of a pass, for "why it failed". */
export function failingChecks(checks: readonly CheckResult[]): CheckResult[] {
  return checks.filter((c) => c.valid !== true);
}
