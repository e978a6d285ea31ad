// The load a run drives: open-loop writes, reads and the availability probe, each on its own
// reconnecting connections, all recorded through the run's Recorder. One handle per run: an
// EventEmitter ('start', 'tick' every second) with `done`, `stop()` and `retarget()`.

import { EventEmitter, setMaxListeners } from 'node:events';
import hdr from 'hdr-histogram-js';
import type { Recorder } from '../record/recorder.js';
import type { OpRecord, OpStream } from '../record/records.js';
import type { Address } from '../runtime/runtime.js';
import type { SeedConfig, WorkloadConfig } from '../scenario/scenario.js';
import { realClock, runOpenLoop, type Clock, type OpExecutor, type OpenLoopSummary } from './open-loop.js';
import { probeExecutor, probeRate, PROBE_CONNECTIONS } from './probe.js';
import { readExecutor } from './read-ops.js';
import { ReconnectingClient, type BackoffOptions, type DbCredentials } from './reconnecting-client.js';
import type { ClientRoute } from '../endpoint/endpoint.js';
import { mixPlanner, WriteOps } from './write-ops.js';
import { ScriptOps, type BrokenStatementError } from './script-ops.js';
import type { CheckedScripts } from './script-check.js';

export interface WorkloadOptions {
  target: Address;
  /**
   * How writes (and the probe) and reads reach the server, as the endpoint says (endpoint.ts):
   * where to connect or how to pick the node, whether named statements survive. Default: every
   * stream connects to `target` (see retarget()).
   */
  routes?: { writes: ClientRoute; reads: ClientRoute };
  credentials: DbCredentials;
  config: WorkloadConfig;
  seed: SeedConfig;
  recorder: Recorder;
  /** the run's signal: aborting it stops the load like stop() */
  signal?: AbortSignal;
  /** ms of load, from the moment the schedules start (after the connections are warmed up) */
  durationMs: number;
  /** ms an op may wait for a free connection before it is dropped; default min(1000, its timeout) */
  maxQueueDelayMs?: number;
  /** reconnect backoff of write and read connections; default 50ms doubling to 500ms */
  backoff?: BackoffOptions;
  /** default: the recorder's clock with real timers */
  clock?: Clock;
  /** your own statements (workload.*.scripts), checked against the seeded database */
  scripts?: CheckedScripts;
  /** a script's statement turned out broken (it fails on the server before it ever succeeded): the run should stop */
  onBroken?: (error: BrokenStatementError) => void;
}

/** How often a step of pick()'s key refresh runs (each checks and adds 1,000 keys per pool). */
const KEY_REFRESH_MS = 5_000;

/**
 * The probe reconnects faster than the load: it measures when writes came back, and each
 * of its two connections would otherwise add up to half a second to that.
 */
const PROBE_BACKOFF: BackoffOptions = { initialMs: 20, maxMs: 100 };

export interface OutcomeCounts {
  ok: number;
  failed: number;
  indeterminate: number;
  dropped: number;
}

/** One second of load, counted by when each op's outcome became known. */
export interface WorkloadTick {
  /** whole seconds since the schedules started: 0 covers [0s, 1s) */
  second: number;
  writes: OutcomeCounts;
  reads: OutcomeCounts;
  /** p99 latency (from the intended start) of the second's ok writes; null with none */
  p99Ms: number | null;
}

export interface WorkloadSummary {
  /** recorder time the schedules started (every stream's first intended op) */
  startMs: number;
  endMs: number;
  writes: OpenLoopSummary;
  reads: OpenLoopSummary;
  probe: OpenLoopSummary;
}

type WorkloadEvents = {
  start: [{ startMs: number }];
  tick: [WorkloadTick];
};

const zero = (): OutcomeCounts => ({ ok: 0, failed: 0, indeterminate: 0, dropped: 0 });

export class Workload extends EventEmitter<WorkloadEvents> {
  /** resolves once every intended op is recorded and every connection closed */
  readonly done: Promise<WorkloadSummary>;
  private targetAddress: Address;
  private readonly controller = new AbortController();
  private readonly clients: ReconnectingClient[] = [];
  private tickWrites = zero();
  private tickReads = zero();
  private readonly tickLatency = hdr.build({ numberOfSignificantValueDigits: 3 });
  private nextOpId = 0;

  constructor(private readonly options: WorkloadOptions) {
    super();
    this.targetAddress = options.target;
    // every in-flight op and every connecting slot listens on this one signal at once: a
    // few hundred listeners under load are expected, not a leak (each is removed when done)
    setMaxListeners(0, this.controller.signal);
    if (options.signal) {
      if (options.signal.aborted) this.controller.abort();
      else options.signal.addEventListener('abort', () => this.controller.abort(), { once: true });
    }
    this.done = this.run();
    // a caller that only listens to events must not get an unhandled rejection
    this.done.catch(() => undefined);
  }

  get target(): Address {
    return this.targetAddress;
  }

  /** A run-wide operation id, for another stream (the app's) recorded next to these. */
  nextOperationId(): number {
    return ++this.nextOpId;
  }

  /** Stops scheduling now; in-flight ops are awaited (up to their timeout) and recorded. */
  stop(): Promise<WorkloadSummary> {
    this.controller.abort();
    return this.done;
  }

  /**
   * Points new connections at another address (the endpoint moved). Open connections are
   * kept until they break: a cutover that fences the old primary breaks them soon enough.
   */
  retarget(address: Address): void {
    this.targetAddress = { ...address };
    this.options.recorder.event('workload-retarget', { host: address.host, port: address.port });
  }

  /** Samples pick()'s keys again every KEY_REFRESH_MS until `untilMs`; returns how to stop it. */
  private refreshKeys(scripted: CheckedScripts, runner: ReconnectingClient, clock: Clock, untilMs: number): () => void {
    const stop = new AbortController();
    const signal = AbortSignal.any([stop.signal, this.controller.signal]);
    void (async () => {
      while (!signal.aborted && clock.now() + KEY_REFRESH_MS < untilMs) {
        await clock.sleep(KEY_REFRESH_MS, signal);
        if (signal.aborted) break;
        await scripted.pools.refreshAll(runner, 5_000, signal).catch(() => undefined);
      }
    })();
    return () => stop.abort();
  }

  private keysClient(): ReconnectingClient {
    const client = new ReconnectingClient({
      address: () => this.targetAddress,
      credentials: this.options.credentials,
      applicationName: 'pgdrill-keys',
      connectTimeoutMs: 5_000,
      backoff: this.options.backoff,
    });
    this.clients.push(client);
    return client;
  }

  private slots(stream: OpStream, count: number): ReconnectingClient[] {
    const { recorder, credentials } = this.options;
    const route = stream === 'read' ? this.options.routes?.reads : this.options.routes?.writes;
    const slots = Array.from({ length: count }, (_, slot) => {
      const client = new ReconnectingClient({
        address: route ? route.address : () => this.targetAddress,
        open: route?.open,
        namedStatements: route?.sessionState ?? true,
        dropOnReadOnly: route?.dropOnReadOnly ?? false,
        credentials,
        applicationName: `pgdrill-${stream}-${slot}`,
        // generous: after a pause the server works through a queue of connection attempts,
        // and an attempt abandoned early only makes the next one wait longer (measured on
        // pause-primary: a 2 s connect timeout closed downtime windows 130-440 ms late)
        connectTimeoutMs: 5_000,
        backoff: stream === 'probe' ? PROBE_BACKOFF : this.options.backoff,
        onStateChange: (change) =>
          change.kind === 'lost'
            ? recorder.event('workload-connection-lost', { stream, slot, error: change.error })
            : recorder.event('workload-connection-restored', { stream, slot, downMs: change.downMs, attempts: change.attempts }),
      });
      this.clients.push(client);
      return client;
    });
    return slots;
  }

  private async run(): Promise<WorkloadSummary> {
    const { config, seed, recorder, durationMs } = this.options;
    const clock = this.options.clock ?? realClock(() => recorder.now());
    const signal = this.controller.signal;

    const writeSlots = config.writes.rate > 0 ? this.slots('write', config.writes.connections) : [];
    const readSlots = config.reads.rate > 0 ? this.slots('read', config.reads.connections) : [];
    const probeSlots = config.probe.interval > 0 ? this.slots('probe', PROBE_CONNECTIONS) : [];
    const writes = new WriteOps({ seed, runners: writeSlots });
    const scripted = this.options.scripts;
    const scriptOps = (stream: 'write' | 'read', runners: ReconnectingClient[]) => {
      const scripts = scripted?.scripts.filter((s) => s.stream === stream) ?? [];
      return scripts.length
        ? new ScriptOps({ scripts, pools: scripted!.pools, relations: scripted!.relations, runners, onBroken: this.options.onBroken })
        : undefined;
    };
    const writeScripts = config.writes.rate > 0 ? scriptOps('write', writeSlots) : undefined;
    const readScripts = config.reads.rate > 0 ? scriptOps('read', readSlots) : undefined;
    // the keys pick() draws from are sampled again now and then, on a connection of their own
    // (its connection losses are not the load's: they are not recorded)
    const keySlot = scripted && scripted.pools.all.length && (writeScripts || readScripts) ? this.keysClient() : undefined;

    try {
      // Connect before the clock starts so the first second measures the server, not our
      // handshakes. A server that is down now is not an error: the slots keep retrying.
      await Promise.all(this.clients.map((c) => c.warmUp()));

      const startMs = clock.now();
      recorder.event('workload-start', {
        writes: config.writes.rate,
        reads: config.reads.rate,
        probeIntervalMs: config.probe.interval,
        durationMs,
        startMs,
      });
      this.emit('start', { startMs });
      const stopTicks = this.startTicks(clock, startMs);

      const stream = (name: OpStream, rate: number, connections: number, timeoutMs: number, plan: () => OpRecord['kind'], execute: OpExecutor) =>
        runOpenLoop({
          stream: name,
          rate,
          connections,
          timeoutMs,
          maxQueueDelayMs: this.options.maxQueueDelayMs,
          startMs,
          durationMs,
          signal,
          clock,
          plan,
          execute,
          record: (rec) => this.record(rec),
          nextId: () => ++this.nextOpId,
        });

      const stopRefresh = keySlot ? this.refreshKeys(scripted!, keySlot, clock, startMs + durationMs) : () => undefined;
      const [w, r, p] = await Promise.all([
        stream('write', config.writes.rate, config.writes.connections, config.writes.timeout,
          writeScripts ? writeScripts.plan : config.writes.rate > 0 ? mixPlanner(config.writes.mix) : () => 'insert',
          writeScripts ? writeScripts.execute : writes.execute),
        stream('read', config.reads.rate, config.reads.connections, config.reads.timeout, () => 'select',
          readScripts ? readScripts.execute : readExecutor({ seed, runners: readSlots, orders: writes.orders })),
        stream('probe', probeRate(config.probe.interval), PROBE_CONNECTIONS, config.probe.timeout, () => 'probe',
          probeExecutor(probeSlots)),
      ]);
      stopRefresh();
      stopTicks();
      if (writeScripts || readScripts) {
        recorder.event('workload-scripts', { scripts: [...(writeScripts?.stats() ?? []), ...(readScripts?.stats() ?? [])] });
      }
      const endMs = clock.now();
      recorder.event('workload-end', { writes: w, reads: r, probe: p });
      return { startMs, endMs, writes: w, reads: r, probe: p };
    } finally {
      await Promise.allSettled(this.clients.map((c) => c.close()));
    }
  }

  private record(rec: OpRecord): void {
    this.options.recorder.op(rec);
    if (rec.stream === 'write') {
      this.tickWrites[rec.outcome]++;
      if (rec.outcome === 'ok') this.tickLatency.recordValue(Math.max(1, Math.round((rec.endMs - rec.intendedMs) * 1000)));
    } else if (rec.stream === 'read') {
      this.tickReads[rec.outcome]++;
    }
  }

  /** 'tick' at each whole second after startMs, by index so ticks do not drift. */
  private startTicks(clock: Clock, startMs: number): () => void {
    const stop = new AbortController();
    let second = 0;
    const emitTick = () => {
      const latency = this.tickLatency;
      const tick: WorkloadTick = {
        second,
        writes: this.tickWrites,
        reads: this.tickReads,
        p99Ms: latency.totalCount > 0 ? latency.getValueAtPercentile(99) / 1000 : null,
      };
      this.tickWrites = zero();
      this.tickReads = zero();
      latency.reset();
      second++;
      this.emit('tick', tick);
    };
    void (async () => {
      while (!stop.signal.aborted) {
        await clock.sleep(startMs + (second + 1) * 1000 - clock.now(), stop.signal);
        if (stop.signal.aborted) break;
        emitTick();
      }
    })();
    return () => {
      stop.abort();
      // the last, partial second: ticks add up to the totals
      const { writes, reads } = { writes: this.tickWrites, reads: this.tickReads };
      if (Object.values(writes).some((n) => n > 0) || Object.values(reads).some((n) => n > 0)) emitTick();
    };
  }
}

/** Starts the load now; see Workload for the handle. */
export function startWorkload(options: WorkloadOptions): Workload {
  return new Workload(options);
}

/** The handle startWorkload returns. */
export type WorkloadHandle = Workload;
