// What the endpoint e2e tests (pgbouncer, haproxy, discovery) share: the small load each of
// them drives, the primary and standby pair most of them run on, the cutover's steps by name,
// and what every run that must pass shows (no error, exit 0, nothing lost, every op recorded,
// nothing left running).

import { expect } from 'vitest';
import type { Results } from '../../../harness/results/results.js';
import type { RunResult } from '../../../harness/run/run-scenario.js';
import { expectEveryOpAccounted, leftovers } from './runs.js';

/** PostgreSQL 17 with one streaming standby (scenario YAML: append `synchronous: true` lines yourself). */
export const PRIMARY_AND_STANDBY = `
nodes:
  primary: { version: 17 }
  replica: { version: 17, replicaOf: primary }
`;

/** The seed, 100 writes/s on 8 connections, probes every 20 ms and lostWrites == 0 (scenario YAML). */
export function smallLoad(options: { reads?: boolean } = {}): string {
  return `
seed: { users: 200, products: 100, orders: 400 }
workload:
  writes: { rate: 100, connections: 8 }${options.reads ? '\n  reads: { rate: 50, connections: 2 }' : ''}
  probe: { interval: 20ms }
thresholds:
  lostWrites: "== 0"
`;
}

export const stepNames = (r: Results): string[] => r.cutover!.steps.map((s) => `${s.name}${s.ok ? '' : ' FAILED'}`);
export const cutoverStep = (r: Results, name: string) => r.cutover!.steps.find((s) => s.name === name)!;

/** A run that must pass: no error, exit 0, no acknowledged write lost, every op recorded once, nothing left running. */
export function expectPassedWithNothingLost(run: RunResult): void {
  const r = run.results;
  expect(r.error).toBeNull();
  expect(run.exitCode).toBe(0);
  expect(r.integrity!.lostWrites).toBe(0);
  expectEveryOpAccounted(run);
  expect(leftovers(r.runId)).toEqual([]);
}
