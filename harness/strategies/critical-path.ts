// Which cutover steps clients waited on: from the step that took writes away (the pause or
// the freeze) to the one that gave them back (the resume), and what they add up to. Steps
// after it (fence proof, fingerprint, followers) are off the critical path by construction.

import type { CutoverStep } from '../record/records.js';

/** Marks steps[first..last] (by name, first occurrences) as on the critical path; returns their sum in ms. */
export function markCriticalPath(steps: CutoverStep[], first: string, last: string): number {
  const from = steps.findIndex((s) => s.name === first);
  const to = steps.findIndex((s, i) => i >= from && s.name === last);
  if (from < 0 || to < 0) return 0;
  let sum = 0;
  for (let i = from; i <= to; i++) {
    steps[i].criticalPath = true;
    sum += steps[i].endMs - steps[i].startMs;
  }
  return sum;
}

/** The critical path's steps and their sum, as a line for reports; null when no step is marked. */
export function criticalPathSummary(steps: readonly CutoverStep[]): { names: string[]; sumMs: number } | null {
  const on = steps.filter((s) => s.criticalPath);
  if (!on.length) return null;
  return { names: on.map((s) => s.name), sumMs: on.reduce((t, s) => t + (s.endMs - s.startMs), 0) };
}
