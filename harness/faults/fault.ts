// What every fault works with and hands back: the run's servers and proxies, and an injected
// fault that can say whether it took effect and be healed.

import type { Endpoint } from '../endpoint/endpoint.js';
import type { Recorder } from '../record/recorder.js';
import type { Topology } from '../topology/topology.js';

export interface FaultContext {
  topology: Topology;
  /** what clients connect through; link "client" faults act on its client links */
  endpoint: Endpoint;
  recorder: Recorder;
  /** the run's signal */
  signal: AbortSignal;
}

/** The outcome of a fault's own check that it took effect, recorded as a fault-check event. */
export interface FaultCheck {
  ok: boolean;
  /** what was observed, for people */
  detail: string;
  /** the figures behind it, for results.json */
  observed?: Record<string, unknown>;
}

/** A fault in effect. */
export interface InjectedFault {
  /** what the injection did, for the fault-start event (sessions reset, bytes written...) */
  detail?: Record<string, unknown>;
  /**
   * Observes that the fault took effect. `signal` aborts when the fault is being healed: a
   * check must then conclude with what it saw so far.
   */
  check(signal: AbortSignal): Promise<FaultCheck>;
  /** undoes the fault; returns what healing did, for the fault-end event */
  heal(): Promise<Record<string, unknown> | void>;
  /** true when injecting already ended the fault (restart) */
  readonly healedOnInjection?: boolean;
}

/** A fault the run must heal (at its `for` end, after the load, or at teardown); heal() is idempotent. */
export interface ActiveFault {
  readonly description: string;
  heal(): Promise<void>;
}
