// What every strategy gets to work with, and what a cutover reports back.

import type { Endpoint } from '../endpoint/endpoint.js';
import type { Recorder } from '../record/recorder.js';
import type { CutoverStep } from '../record/records.js';
import type { StrategyConfig } from '../scenario/scenario.js';
import type { Topology } from '../topology/topology.js';
import type { Catalog } from '../checks/catalog.js';
import type { SplitBrainFact } from '../checks/split-brain-facts.js';

export interface StrategyContext {
  config: StrategyConfig;
  topology: Topology;
  /** what clients connect through: used by what it can do (endpoint.ts), never by its kind */
  endpoint: Endpoint;
  recorder: Recorder;
  signal: AbortSignal;
}

/** Table fingerprints taken at the consistent point of a cutover (the freeze). */
export type Fingerprints = Map<string, { rows: number; hash: string }>;

export interface CutoverOutcome {
  ok: boolean;
  dryRun: boolean;
  rolledBack: boolean;
  steps: CutoverStep[];
  /** run time (ms) at which the new primary was promoted */
  promotedAtMs?: number;
  /** the target's tables at the freeze, before it took any new write */
  targetAtFreeze?: Fingerprints;
  /** the target's catalog (columns, constraints, indexes...) read in the same snapshot */
  targetCatalogAtFreeze?: Catalog;
  /** the old primary's next transaction id at the freeze: it must not move afterwards */
  oldPrimaryNextXidAtFreeze?: string;
  /**
   * rejoinOldPrimary: what verify would have read on the old primary, read just before
   * pg_rewind replaced its data and history with the new primary's
   */
  oldPrimaryBeforeRejoin?: OldPrimaryBeforeRejoin;
  /** the old primary, once it streams from the new primary as a rejoined standby */
  rejoined?: string;
  /** split brain as the strategy established it (an HA agent's cutover: Patroni's view of its leaders) */
  splitBrain?: SplitBrainFact;
  error?: string;
}

export interface OldPrimaryBeforeRejoin {
  /** its tables and catalog (a planned cutover compares them with the target's at the freeze) */
  fingerprints?: Fingerprints;
  catalog?: Catalog;
  /** the writes it took after the promotion */
  splitBrain?: SplitBrainFact;
  /** why a fact could not be read (then it is unknown) */
  unreadable?: string;
}

export interface PreflightContext {
  config: StrategyConfig;
  topology: Topology;
  signal: AbortSignal;
}

/** One cutover entry of the timeline, as the strategy is armed with it. */
export interface PlannedCutover {
  /** ms from the load's start (the entry's `at`) */
  at: number;
  dryRun: boolean;
}

/** What a strategy is armed with for the load phase. */
export interface ArmContext extends StrategyContext {
  /** run time (ms) of the load's first intended operation: timeline times count from it */
  loadStartMs: number;
  /** run time (ms) at which the load's schedule ends: a watching strategy stops watching then */
  untilMs: number;
  /** the timeline's cutover entries, in timeline order (none for an unplanned strategy) */
  cutovers: PlannedCutover[];
}

/**
 * Every strategy has one shape, whether its cutover is planned (it acts on its timeline's
 * cutover entries), unplanned (it watches the primary from the start of the load and acts when
 * it fails) or managed by an HA agent (it asks the agent): the run arms it when the load
 * starts and takes the outcome it resolves with; it knows none of them by name.
 */
export interface Strategy {
  /**
   * What sets it off: 'timeline' = its cutover entries (a cutover that is planned); 'watch' =
   * something it watches for during the load (the primary failing). The run checks the
   * strategy's needs (preflight) only when it will act.
   */
  readonly trigger: 'timeline' | 'watch';
  /**
   * Checks what the cutover will need from the environment (client tools of the right
   * major...) once the nodes exist and before anything is seeded or loaded; throws an
   * EnvironmentError (exit 3) that says what to install.
   */
  preflight?(context: PreflightContext): Promise<void>;
  /**
   * Checks what the cutover needs from the seeded schema (logical: every table can replicate
   * its UPDATE and DELETE), after the seed and before the load; throws an EnvironmentError
   * (exit 3) naming what is in the way.
   */
  afterSeed?(context: PreflightContext): Promise<void>;
  /**
   * Armed for the whole load phase; resolves with the outcome once it has acted (and is done
   * with what follows, a fence watch), or undefined when it never acted. Never throws:
   * failures are in the outcome.
   */
  arm(context: ArmContext): Promise<CutoverOutcome | undefined>;
}
