// What results.json needs of a run's operations, built while they are recorded, so that no
// run keeps its operations in memory: per stream the load summary (HDR histograms, whole run
// and per second), the downtime windows, the accounting (records, duplicate ids), and the
// probe's server write gap. Each piece is the streaming form of the pure function the
// checks' unit tests exercise (summarizeLoad, downtimeWindows, serverWriteGapMs), with the
// same results. The ledger is not here: it needs every acknowledged request id, which
// operations.jsonl holds on disk (see ledger-stream.ts).

import type { OpRecord, OpStream } from '../record/records.js';
import type { Results } from '../results/results.js';
import { readJsonl, type JsonlReadSummary } from '../record/read-jsonl.js';
import { LoadAccumulator } from './load-summary.js';
import { isLedgerCheckable } from './ledger-check.js';
import { DowntimeBuilder, ServerGapAccumulator, type MeasuredDowntime } from './downtime.js';

export interface OpAggregatesOptions {
  /** ms from the start of the run: the load's first intended operation (per-second buckets count from it) */
  loadStartMs: number;
  /** each stream's operation timeout, ms: a dropped op counts at it, and it bounds how late an op arrives */
  timeoutMs?: Partial<Record<OpStream, number>>;
  stallMs?: number;
  mergeGapMs?: number;
  /**
   * ms of reordering the downtime scan and the per-second buckets allow for (ops arrive when
   * they end). 'auto' (default): the stream's timeout + 5 s, bounded memory; Infinity: hold
   * everything until finish (exact by construction; for tests and short histories).
   */
  reorderMs?: number | 'auto';
  /** the scenario has an app: section: its requests (stream 'app') get a summary and downtime of their own */
  app?: boolean;
}

/** How one stream was recorded: each intended op must appear once. */
export interface StreamTally {
  recorded: number;
  /** ids recorded more than once */
  duplicates: number;
}

/** What assembleResults needs of the operations, whichever way it was built. */
export interface RecordedLoad {
  load: Results['load'];
  downtime: { writes: MeasuredDowntime; reads: MeasuredDowntime; serverWriteGapMs: number | null; app?: MeasuredDowntime };
  accounting: Record<OpStream, StreamTally>;
}

const STREAMS: OpStream[] = ['write', 'read', 'probe', 'app'];
/** queue delay (<= 1 s) + the scheduler's grace (1 s) + slack for a busy event loop */
const REORDER_SLACK_MS = 5_000;

export class OpAggregates {
  readonly loadStartMs: number;
  private readonly load: Record<OpStream, LoadAccumulator>;
  private readonly downtime: { write: DowntimeBuilder; read: DowntimeBuilder; app: DowntimeBuilder };
  /** the app's answers: HTTP status -> requests, and requests it never answered in time */
  private readonly appStatus: Record<string, number> = {};
  private appTimeouts = 0;
  private readonly gap = new ServerGapAccumulator();
  private readonly ids: Record<OpStream, IdSet>;
  private readonly tallies: Record<OpStream, StreamTally>;
  /** ops the ledger check will look at (writes and app requests, ok or indeterminate, with a ledger entry) */
  ledgerOps = 0;

  constructor(private readonly options: OpAggregatesOptions) {
    this.loadStartMs = options.loadStartMs;
    const reorder = (stream: OpStream) => {
      const r = options.reorderMs ?? 'auto';
      return r === 'auto' ? (options.timeoutMs?.[stream] ?? 30_000) + REORDER_SLACK_MS : r;
    };
    const accumulator = (stream: OpStream) =>
      new LoadAccumulator({ loadStartMs: options.loadStartMs, timeoutMs: options.timeoutMs?.[stream] }, { sealAfterMs: reorder(stream) });
    this.load = { write: accumulator('write'), read: accumulator('read'), probe: accumulator('probe'), app: accumulator('app') };
    const builder = (stream: OpStream) => new DowntimeBuilder({ stallMs: options.stallMs, mergeGapMs: options.mergeGapMs, reorderMs: reorder(stream) });
    this.downtime = { write: builder('write'), read: builder('read'), app: builder('app') };
    this.ids = { write: new IdSet(), read: new IdSet(), probe: new IdSet(), app: new IdSet() };
    const tally = () => ({ recorded: 0, duplicates: 0 });
    this.tallies = { write: tally(), read: tally(), probe: tally(), app: tally() };
  }

  add(op: OpRecord): void {
    const stream = op.stream;
    if (!STREAMS.includes(stream)) return;
    this.load[stream].add(op);
    if (stream === 'probe') this.gap.add(op);
    else this.downtime[stream].add(op);
    if (stream === 'app') {
      if (op.status !== undefined) this.appStatus[String(op.status)] = (this.appStatus[String(op.status)] ?? 0) + 1;
      if (op.outcome === 'indeterminate') this.appTimeouts++;
    }
    const tally = this.tallies[stream];
    tally.recorded++;
    if (!this.ids[stream].add(op.id)) tally.duplicates++;
    // the workload's writes and the app's (its orders carry a request id too)
    if (isLedgerCheckable(op)) this.ledgerOps++;
  }

  /**
   * How late the most out-of-order op arrived, when the downtime scan met one later than it
   * allows for (then rebuild with fromFile and at least this reorder); undefined when exact.
   */
  get rebuildNeeded(): { reorderMs: number } | undefined {
    const late = [this.downtime.write, this.downtime.read, this.downtime.app].filter((d) => d.outOfOrder);
    if (late.length === 0) return undefined;
    return { reorderMs: Math.ceil(Math.max(...late.map((d) => d.maxLatenessMs))) + 1 };
  }

  /**
   * The summaries over the load's schedule. `loadWindow` null: the load never ran to its
   * end, summaries count to 0 (as results.json always did) and the server gap is not measured.
   */
  finish(loadWindow: { startMs: number; endMs: number } | null): RecordedLoad {
    const endMs = loadWindow?.endMs ?? 0;
    const downtimeEnd = { loadEndMs: endMs };
    return {
      load: {
        writes: this.load.write.summary(endMs),
        reads: this.load.read.summary(endMs),
        probe: this.load.probe.summary(endMs),
        ...(this.options.app ? { app: { ...this.load.app.summary(endMs), statusCodes: { ...this.appStatus }, timeouts: this.appTimeouts } } : {}),
      },
      downtime: {
        writes: this.downtime.write.finish(downtimeEnd.loadEndMs),
        reads: this.downtime.read.finish(downtimeEnd.loadEndMs),
        serverWriteGapMs: loadWindow ? this.gap.gapMs({ loadStartMs: loadWindow.startMs, loadEndMs: loadWindow.endMs }) : null,
        ...(this.options.app ? { app: this.downtime.app.finish(downtimeEnd.loadEndMs) } : {}),
      },
      accounting: { write: { ...this.tallies.write }, read: { ...this.tallies.read }, probe: { ...this.tallies.probe }, app: { ...this.tallies.app } },
    };
  }

  /** The same aggregates from operations.jsonl, read once in constant memory. */
  static async fromFile(file: string, options: OpAggregatesOptions): Promise<{ aggregates: OpAggregates; read: JsonlReadSummary }> {
    const aggregates = new OpAggregates(options);
    const read = await readJsonl<OpRecord>(file, (op) => aggregates.add(op));
    return { aggregates, read };
  }
}

/**
 * Which op ids a stream has recorded, to find duplicates: one bit per id for the integers
 * the scheduler hands out (1, 2, 3...), a Set for anything else. 3.6 M ids are 450 kB.
 */
const MAX_BITMAP_ID = 2 ** 26; // 8 MB of bits at most; larger ids go to the Set

class IdSet {
  private bits = new Uint8Array(1024);
  private readonly others = new Set<number>();

  /** false when the id was there already */
  add(id: number): boolean {
    if (!Number.isInteger(id) || id < 0 || id >= MAX_BITMAP_ID) {
      if (this.others.has(id)) return false;
      this.others.add(id);
      return true;
    }
    const byte = Math.floor(id / 8);
    if (byte >= this.bits.length) {
      const bigger = new Uint8Array(Math.max(byte + 1, this.bits.length * 2));
      bigger.set(this.bits);
      this.bits = bigger;
    }
    const mask = 1 << id % 8;
    if (this.bits[byte] & mask) return false;
    this.bits[byte] |= mask;
    return true;
  }
}
