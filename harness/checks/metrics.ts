// The registry of what a threshold can limit: each metric's name, unit and how to read it
// from the results. The scenario validator (names, units), the evaluator and the reports all
// read this one table, so a new metric is added here and nowhere else (k6's metric registry).

import type { Results } from '../results/results.js';

export type MetricUnit = 'duration' | 'size' | 'ratio' | 'count';

/** The parts of results.json metrics read; any may be missing while a run is assembled. */
export type MeasuredResults = Partial<Pick<Results, 'load' | 'downtime' | 'lag' | 'integrity' | 'app'>>;

/** A measured value, or why there is none (the threshold is then unknown, and fails). */
export type MetricReading = { value: number } | { unknown: string };

export interface Metric {
  unit: MetricUnit;
  /** one line for people: what is measured */
  description: string;
  read(results: MeasuredResults): MetricReading;
  /**
   * A reason the threshold fails whatever the number says (an outage still open when the load
   * ended: its length is only a lower bound). undefined when there is none.
   */
  blocker?(results: MeasuredResults): string | undefined;
}

const value = (v: number | null | undefined, unknown: string): MetricReading =>
  v === null || v === undefined || !Number.isFinite(v) ? { unknown } : { value: v };

const notRecovered = (stream: 'writes' | 'reads' | 'app') => (r: MeasuredResults) =>
  r.downtime?.[stream]?.windows.some((w) => w.openAtEnd)
    ? `${stream === 'app' ? 'the app was' : `${stream} were`} still down when the load ended (not recovered): the outage lasted at least this long`
    : undefined;

function integrityReading(r: MeasuredResults, fact: 'ledger' | 'tables', pick: (i: NonNullable<Results['integrity']>) => number | null): MetricReading {
  const integrity = r.integrity;
  if (!integrity) return { unknown: 'integrity was not verified (the run stopped before the verify phase)' };
  const why = integrity.unknown?.[fact] ?? integrity.notApplicable?.[fact];
  return value(pick(integrity), why ?? `${fact} was not checked`);
}

export const METRICS = {
  writeDowntime: {
    unit: 'duration',
    description: 'longest write outage as the clients saw it',
    read: (r) => (r.load?.writes && r.load.writes.intended === 0 ? { unknown: 'no write load ran' } : value(r.downtime?.writes?.longestMs, 'write downtime was not measured')),
    blocker: notRecovered('writes'),
  },
  readDowntime: {
    unit: 'duration',
    description: 'longest read outage as the clients saw it',
    read: (r) => (r.load?.reads && r.load.reads.intended === 0 ? { unknown: 'no read load ran' } : value(r.downtime?.reads?.longestMs, 'read downtime was not measured')),
    blocker: notRecovered('reads'),
  },
  serverWriteGap: {
    unit: 'duration',
    description: 'largest gap between committed probe writes by the server clock, load start and end included',
    read: (r) => value(r.downtime?.serverWriteGapMs, 'the probe was off (workload.probe.interval: 0s)'),
  },
  p99WriteLatency: {
    unit: 'duration',
    description: 'p99 of what write callers waited: every intended write, failures and timeouts included',
    read: (r) => (r.load?.writes && r.load.writes.intended > 0 ? { value: r.load.writes.latencyMs.p99 } : { unknown: 'no write load ran' }),
  },
  maxReplayLagBytes: {
    unit: 'size',
    description: 'largest replay lag of any standby, in bytes',
    read: (r) => value(r.lag?.maxReplayBytes, 'no standby was sampled'),
  },
  writeErrorRate: {
    unit: 'ratio',
    description: 'share of intended writes not acknowledged (failed, indeterminate, dropped)',
    read: (r) => {
      const w = r.load?.writes;
      if (!w || w.intended === 0) return { unknown: 'no write load ran' };
      return { value: (w.failed + w.indeterminate + w.dropped) / w.intended };
    },
  },
  lostWrites: {
    unit: 'count',
    description: 'acknowledged writes missing from the final primary',
    read: (r) => integrityReading(r, 'ledger', (i) => i.lostWrites),
  },
  recoveredWrites: {
    unit: 'count',
    description: 'writes with an unknown outcome found committed',
    read: (r) => integrityReading(r, 'ledger', (i) => i.recoveredWrites),
  },
  rowCountMismatches: {
    unit: 'count',
    description: 'tables whose row counts differ between source and target',
    read: (r) => integrityReading(r, 'tables', (i) => (i.tables.length > 0 ? i.rowCountMismatches : null)),
  },
  appDowntime: {
    unit: 'duration',
    description: "longest outage of the app as its users saw it (the app load's requests)",
    read: (r) => (!r.load?.app || r.load.app.intended === 0 ? { unknown: 'no app load ran' } : value(r.downtime?.app?.longestMs, 'app downtime was not measured')),
    blocker: notRecovered('app'),
  },
  appErrorRate: {
    unit: 'ratio',
    description: 'share of intended app requests not served (status >= 500, connection error, timeout, dropped)',
    read: (r) => {
      const a = r.load?.app;
      if (!a || a.intended === 0) return { unknown: 'no app load ran' };
      return { value: (a.failed + a.indeterminate + a.dropped) / a.intended };
    },
  },
  p99AppLatency: {
    unit: 'duration',
    description: 'p99 of what app users waited: every intended request, failures and timeouts included',
    read: (r) => (r.load?.app && r.load.app.intended > 0 ? { value: r.load.app.latencyMs.p99 } : { unknown: 'no app load ran' }),
  },
  appLogErrors: {
    unit: 'count',
    description: 'lines of app.log after the cutover that look like database connection errors',
    read: (r) => (r.app?.logScan ? { value: r.app.logScan.matched } : { unknown: r.app ? 'app.log could not be scanned' : 'there was no app' }),
  },
} satisfies Record<string, Metric>;

export type ThresholdName = keyof typeof METRICS;
export const THRESHOLD_NAMES = Object.keys(METRICS) as ThresholdName[];

export function metricOf(name: ThresholdName): Metric {
  return METRICS[name];
}

export function isThresholdName(name: string): name is ThresholdName {
  return Object.prototype.hasOwnProperty.call(METRICS, name);
}
