// dump-restore's default jobs: the custom format below 64 MB (parallel workers cost more than
// they save on a small database), two jobs from there (measured in docs/upgrades.md).

import { describe, expect, it } from 'vitest';
import { copyJobsFor, PARALLEL_COPY_FROM_BYTES } from '../../harness/strategies/pg-copy.js';

describe('copy jobs by database size', () => {
  it('copies small databases with one process and larger ones with two jobs', () => {
    expect(copyJobsFor(12 * 1024 * 1024)).toBe(1);
    expect(copyJobsFor(PARALLEL_COPY_FROM_BYTES - 1)).toBe(1);
    expect(copyJobsFor(PARALLEL_COPY_FROM_BYTES)).toBe(2);
    expect(copyJobsFor(155 * 1024 * 1024)).toBe(2);
  });
});
