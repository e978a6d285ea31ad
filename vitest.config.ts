import { defineConfig } from 'vitest/config';

// End-to-end tests start real PostgreSQL servers: run files one at a time (the machines
// have 2 cores) and give them time; unit tests are fast either way.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
