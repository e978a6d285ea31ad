// The programmatic API: what `pgdrill run` uses is what a TypeScript user imports.

export { runScenario } from './run/run-scenario.js';
export type { RunOptions, RunResult, RunTick } from './run/run-scenario.js';
export { loadScenarioFile, parseScenarioText, validateScenario } from './scenario/load-scenario.js';
export { listBundledScenarios } from './scenario/bundled.js';
export { loadComparisonFile, parseComparisonText } from './scenario/comparison.js';
export type { Comparison, ComparisonRun } from './scenario/comparison.js';
export { runComparison } from './run/run-comparison.js';
export type { ComparisonOptions, ComparisonResult } from './run/run-comparison.js';
export type {
  Scenario,
  NodeConfig,
  StrategyConfig,
  WorkloadConfig,
  FaultConfig,
  TimelineEntry,
  ThresholdName,
  EndpointConfig,
  EndpointKind,
} from './scenario/scenario.js';
export type { Results, LoadSummary, Downtime, Integrity, ThresholdResult, CheckResult, EndpointResults } from './results/results.js';
export type { Endpoint, ClientRoute, PauseControl, Followed, SessionOpener } from './endpoint/endpoint.js';
export type { PrimaryLookup, Candidate } from './endpoint/primary-lookup.js';
export type { HealthChecks } from './endpoint/health-agent.js';
export type { OpRecord, LedgerEntry, LagSample, CutoverStep } from './record/records.js';
export type { RunEvent, EventKind } from './record/events.js';
export { Recorder } from './record/recorder.js';
export { downtimeWindows, serverWriteGapMs, DowntimeBuilder, ServerGapAccumulator } from './checks/downtime.js';
export { OpAggregates } from './checks/op-aggregates.js';
export type { RecordedLoad } from './checks/op-aggregates.js';
export { checkLedgerStreaming, ledgerSourceOf, ledgerSourceFromFile } from './checks/ledger-stream.js';
export type { LedgerSource } from './checks/ledger-stream.js';
export { checkLedger } from './checks/ledger-check.js';
export { evaluateThresholds } from './checks/thresholds.js';
export { compose, verdictOf } from './checks/check.js';
export { runChecks } from './checks/run-checks.js';
export { METRICS, THRESHOLD_NAMES } from './checks/metrics.js';
export { parseLimit } from './checks/threshold-grammar.js';
export { summarizeLoad, LoadAccumulator } from './checks/load-summary.js';
export { renderSummary } from './report/terminal-summary.js';
export { writeReports, REPORTERS } from './report/write-reports.js';
export { renderHtml } from './report/html-report.js';
export { renderJunit } from './report/junit.js';
export { renderMarkdownSummary } from './report/markdown-summary.js';
export { rebuildResults } from './run/post-mortem.js';
export { renderPngCharts } from './report/png-charts.js';
export { readResultsFile } from './report/read-results.js';
export { compareRow, renderCompareTable, renderCompareHtml } from './report/compare.js';
export { createRuntime } from './runtime/create-runtime.js';
export type { Runtime, RuntimeNode } from './runtime/runtime.js';
export { ReaperRegistry } from './runtime/reaper/reaper-registry.js';
export { startReaper } from './runtime/reaper/start-reaper.js';
export { PgdrillError, InvalidInputError, EnvironmentError, InterruptedError, EXIT } from './errors.js';
