// The cutover's critical path: the steps clients waited on, marked from the step that took
// writes away to the one that gave them back, and what they add up to.

import { describe, expect, it } from 'vitest';
import type { CutoverStep } from '../../harness/record/records.js';
import { criticalPathSummary, markCriticalPath } from '../../harness/strategies/critical-path.js';

const step = (name: string, startMs: number, endMs: number): CutoverStep => ({ name, startMs, endMs, ok: true, detail: '' });

describe('critical path', () => {
  it('marks the steps from the freeze to the resume and sums them, leaving the fence proof and fingerprint off it', () => {
    const steps = [
      step('prerequisites', 0, 50),
      step('wait-for-sync', 50, 300),
      step('freeze-writes', 300, 330),
      step('promote', 330, 380),
      step('repoint-endpoint', 380, 385),
      step('resume', 385, 386),
      step('fence-old-primary', 386, 450),
      step('fingerprint-at-freeze', 450, 900),
    ];
    expect(markCriticalPath(steps, 'freeze-writes', 'resume')).toBe(86);
    expect(steps.filter((s) => s.criticalPath).map((s) => s.name)).toEqual(['freeze-writes', 'promote', 'repoint-endpoint', 'resume']);
    expect(criticalPathSummary(steps)).toEqual({ names: ['freeze-writes', 'promote', 'repoint-endpoint', 'resume'], sumMs: 86 });
  });

  it('marks nothing when the cutover never reached its resume (a rollback)', () => {
    const steps = [step('freeze-writes', 0, 10), step('rollback', 10, 20)];
    expect(markCriticalPath(steps, 'freeze-writes', 'resume')).toBe(0);
    expect(criticalPathSummary(steps)).toBeNull();
  });
});
