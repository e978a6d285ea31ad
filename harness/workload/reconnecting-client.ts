// One connection slot: a pg.Client that comes back by itself after the server goes away, so
// the load keeps knocking through an outage (pgbench gives up), and a verdict per statement
// saying whether it failed, succeeded, or may have happened.

import pg from 'pg';
import type { ConnectionOptions } from 'node:tls';
import type { OpError } from '../record/records.js';
import type { Address } from '../runtime/runtime.js';
import type { SessionOpener } from '../endpoint/endpoint.js';
import { destroyClient } from '../topology/connect.js';
import { LeanQuery } from './lean-query.js';

export interface DbCredentials {
  user: string;
  password: string;
  database: string;
  /** TLS as node-postgres takes it (the scenario's tls: the CA, a client certificate); absent: plain TCP */
  ssl?: ConnectionOptions;
}

export interface BackoffOptions {
  /** ms before the second attempt (the first one after a loss is immediate) */
  initialMs: number;
  /** ms cap of the doubling */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 50, maxMs: 500 };

export interface ReconnectingClientOptions {
  /** where to connect; read at each (re)connect, so retargeting only needs a new value here */
  address: () => Address;
  credentials: DbCredentials;
  /** shows up in pg_stat_activity */
  applicationName?: string;
  backoff?: BackoffOptions;
  /** ms a connection attempt may take; default 2000 */
  connectTimeoutMs?: number;
  /** told about losses and recoveries (not every failed attempt: an outage would flood it) */
  onStateChange?: (change: ConnectionChange) => void;
  /** for jitter; default Math.random */
  random?: () => number;
  /** picks the server at each (re)connect instead of taking address() (discovery) */
  open?: SessionOpener;
  /** false behind transaction pooling: statements go unnamed (a named one would not survive the transaction) */
  namedStatements?: boolean;
  /** a statement refused as read-only (25006) drops the connection, so the next one looks for the primary again */
  dropOnReadOnly?: boolean;
}

export type ConnectionChange =
  | { kind: 'lost'; error: OpError }
  | { kind: 'restored'; downMs: number; attempts: number };

export interface QueryRequest {
  /** a name makes pg prepare it once per connection */
  name?: string;
  text: string;
  values?: unknown[];
}

export type QueryOutcome =
  | { outcome: 'ok'; rows: Record<string, unknown>[]; rowCount: number }
  | { outcome: 'failed' | 'indeterminate'; error: OpError };

type State =
  | { kind: 'idle' }
  | { kind: 'connecting'; promise: Promise<void> }
  | { kind: 'connected'; client: pg.Client }
  | { kind: 'backoff'; untilMs: number; error: OpError }
  | { kind: 'closed' };

/** SQLSTATEs a statement can get after it was sent where it may nevertheless have committed. */
const INDETERMINATE_SQLSTATES = new Set([
  '57P01', // admin_shutdown: the backend was terminated mid-statement (fast shutdown, pg_terminate_backend)
  '57P02', // crash_shutdown: another backend crashed, everyone is thrown out
  '57P05', // idle_session_timeout / connection killed while we were waiting
]);

/**
 * Error class of a statement's error, by SQLSTATE. 'connection' is kept for "never sent";
 * a connection exception after sending is 'connection-lost'.
 */
export function sqlstateClass(sqlstate: string): string {
  if (sqlstate === '25006') return 'read-only';
  if (sqlstate === '57014') return 'canceled';
  if (sqlstate.startsWith('57P')) return 'shutdown';
  if (sqlstate.startsWith('08')) return 'connection-lost';
  if (sqlstate.startsWith('40')) return 'conflict';
  if (sqlstate.startsWith('23')) return 'constraint';
  if (sqlstate.startsWith('53')) return 'resources';
  if (sqlstate.startsWith('28')) return 'auth';
  return 'server';
}

function sqlstateOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  // node's own errors carry codes too (ECONNREFUSED): a SQLSTATE is 5 chars of [0-9A-Z]
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message || err.name : String(err);
}

/**
 * The verdict for an error a statement got. `sent` is false when pg refused to send it
 * (the client was already broken or closing): then it certainly did not happen.
 */
export function classifyQueryError(err: unknown, sent = true): { outcome: 'failed' | 'indeterminate'; error: OpError } {
  const sqlstate = sqlstateOf(err);
  const message = messageOf(err);
  if (!sent || /is not queryable/.test(message)) {
    return { outcome: 'failed', error: { ...(sqlstate ? { sqlstate } : {}), class: 'connection', message } };
  }
  if (sqlstate) {
    // The server answered with an error: a single autocommit statement was rolled back,
    // unless the answer is the connection being torn down, which can race the commit.
    const indeterminate = INDETERMINATE_SQLSTATES.has(sqlstate) || sqlstate.startsWith('08');
    return {
      outcome: indeterminate ? 'indeterminate' : 'failed',
      error: { sqlstate, class: sqlstateClass(sqlstate), message },
    };
  }
  // No SQLSTATE after sending: the socket broke (reset, terminated unexpectedly). The
  // statement may have committed with the answer lost on the way.
  const code = (err as { code?: unknown } | null)?.code;
  return {
    outcome: 'indeterminate',
    error: { class: 'connection-lost', message: typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message },
  };
}

/** The verdict for a connection attempt that failed: nothing was sent. */
export function classifyConnectError(err: unknown): OpError {
  const sqlstate = sqlstateOf(err);
  const code = (err as { code?: unknown } | null)?.code;
  let message = messageOf(err);
  if (typeof code === 'string' && !sqlstate && !message.includes(code)) message = `${message} (${code})`;
  return { ...(sqlstate ? { sqlstate } : {}), class: 'connection', message: `connect failed: ${message}` };
}

/** The one statement a client has in flight (a slot runs one at a time). */
interface InFlight {
  client: pg.Client;
  resolve: (outcome: QueryOutcome) => void;
  timeoutMs: number;
  /** performance.now() by which it must have its answer */
  deadline: number;
  signal: AbortSignal | undefined;
}

export class ReconnectingClient {
  private state: State = { kind: 'idle' };
  /** statements in flight (one, on a load slot; a caller may run several) */
  private readonly inflight = new Set<InFlight>();
  /** the last signal a listener was added to, and every one (see watch()) */
  private watched: AbortSignal | undefined;
  private readonly watchedAll = new WeakSet<AbortSignal>();
  private attempts = 0;
  private lostAtMs: number | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** One timer for every statement's deadline, armed for the earliest one (see armDeadline). */
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadlineDue = Infinity;
  /** the client a connect in progress will produce (so close() can end it) */
  private pendingClient: pg.Client | undefined;
  private readonly backoff: BackoffOptions;
  private readonly random: () => number;

  constructor(private readonly options: ReconnectingClientOptions) {
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.random = options.random ?? Math.random;
  }

  get connected(): boolean {
    return this.state.kind === 'connected';
  }

  /** Starts connecting now instead of at the first statement. */
  async warmUp(timeoutMs = this.options.connectTimeoutMs ?? 2000): Promise<boolean> {
    const client = await this.acquire(performance.now() + timeoutMs, undefined);
    return !('error' in client);
  }

  /**
   * Runs one statement within `timeoutMs` (connecting first when needed, inside the same
   * budget). Never throws: the outcome says what is known about whether it happened.
   * On the hot path (connected) an op costs one promise: no timer, promise race or listener
   * of its own (the deadline timer is shared, see armDeadline(); the listener on `signal` is
   * added once per signal, see watch()).
   */
  query(request: QueryRequest, timeoutMs: number, signal?: AbortSignal): Promise<QueryOutcome> {
    const state = this.state;
    if (state.kind === 'connected' && !signal?.aborted) return this.send(state.client, request, timeoutMs, timeoutMs, signal);
    return this.queryAfterConnect(request, timeoutMs, signal);
  }

  private async queryAfterConnect(request: QueryRequest, timeoutMs: number, signal?: AbortSignal): Promise<QueryOutcome> {
    const deadline = performance.now() + timeoutMs;
    const acquired = await this.acquire(deadline, signal);
    if ('error' in acquired) return { outcome: 'failed', error: acquired.error };
    const remaining = deadline - performance.now();
    if (remaining <= 0) {
      return { outcome: 'failed', error: { class: 'connection', message: `connecting used up the ${timeoutMs}ms timeout; not sent` } };
    }
    return this.send(acquired, request, remaining, timeoutMs, signal);
  }

  /** Sends on `client` with pg's callback API (no promise of pg's own), settling once. */
  private send(client: pg.Client, request: QueryRequest, remaining: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<QueryOutcome> {
    if (signal?.aborted) {
      return Promise.resolve({ outcome: 'failed', error: { class: 'aborted', message: 'the load stopped before it was sent; not sent' } });
    }
    if (signal) this.watch(signal);
    return new Promise<QueryOutcome>((resolve) => {
      const inflight: InFlight = { client, resolve, timeoutMs, deadline: performance.now() + remaining, signal };
      this.inflight.add(inflight);
      this.armDeadline(inflight.deadline);
      const settle = (err: Error | null, result: { rows: Record<string, unknown>[]; rowCount: number | null } | undefined) => {
        // the statement may still settle after we gave up on it; nobody is listening then
        if (!this.inflight.delete(inflight)) return;
        if (!err) {
          resolve({ outcome: 'ok', rows: result!.rows, rowCount: result!.rowCount ?? 0 });
          return;
        }
        const verdict = classifyQueryError(err);
        // A connection-level error leaves this client unusable; its 'end' will come, but do
        // not let the next op pick it up in between. A statement the server merely rejected
        // (constraint, read-only...) leaves a healthy connection: keep it.
        if (verdict.outcome === 'indeterminate' || verdict.error.class === 'connection') this.discard(client, verdict.error);
        // a session left on a node that turned read-only looks for the primary again, as an
        // application using target_session_attrs=read-write must do itself
        else if (verdict.error.class === 'read-only' && this.options.dropOnReadOnly) this.discard(client, verdict.error);
        resolve(verdict);
      };
      const name = this.options.namedStatements === false ? undefined : request.name;
      // a named statement goes the lean way (Bind/Execute/Sync, see lean-query.ts); an unnamed one,
      // parsed anew each time (behind transaction pooling), as pg sends it
      if (name) client.query(new LeanQuery(name, request.text, request.values, settle));
      else client.query({ text: request.text, values: request.values }, settle);
    });
  }

  /** One listener per signal (a slot's signal lives across many ops): it ends whatever op is in flight with that signal. */
  private watch(signal: AbortSignal): void {
    if (this.watched === signal) return;
    this.watched = signal;
    if (this.watchedAll.has(signal)) return;
    this.watchedAll.add(signal);
    signal.addEventListener(
      'abort',
      () => {
        for (const inflight of this.inflight) if (inflight.signal === signal) this.giveUp(inflight, 'aborted');
      },
      { once: true },
    );
  }

  /**
   * Makes sure the deadline timer fires by `deadline`. A slot's statements run one after
   * another, each with a later deadline than the last, so the timer armed for the first one
   * is still early enough for the next: it is re-armed about once per timeout, not per op
   * (a setTimeout and a clearTimeout per op were 2.6 % of the load's main thread).
   */
  private armDeadline(deadline: number): void {
    if (deadline >= this.deadlineDue) return;
    clearTimeout(this.deadlineTimer);
    this.deadlineDue = deadline;
    // unref'd: a statement in flight holds the process through its socket, not this timer
    this.deadlineTimer = setTimeout(this.onDeadline, Math.max(0, deadline - performance.now())).unref();
  }

  /** Gives up on the statements past their deadline, and sleeps until the next one's. */
  private readonly onDeadline = (): void => {
    this.deadlineTimer = undefined;
    this.deadlineDue = Infinity;
    // libuv's clock is read once per loop turn, in whole ms: the timer may fire up to a
    // millisecond before a deadline by performance.now(); such a statement waits for the next arming
    const now = performance.now();
    let next = Infinity;
    for (const inflight of this.inflight) {
      if (inflight.deadline <= now) this.giveUp(inflight, 'timeout');
      else if (inflight.deadline < next) next = inflight.deadline;
    }
    if (next < Infinity) this.armDeadline(next);
  };

  private giveUp(inflight: InFlight, why: 'timeout' | 'aborted'): void {
    if (!this.inflight.delete(inflight)) return;
    // The connection is stuck behind this statement (and pg's query_timeout would leave
    // it so): destroy it, so the next op gets a fresh one. The statement may still commit.
    this.discard(inflight.client, {
      class: why,
      message: why === 'timeout' ? `destroyed: no answer within ${inflight.timeoutMs}ms` : 'destroyed: the load stopped',
    });
    inflight.resolve({
      outcome: 'indeterminate',
      error: {
        class: why,
        message: why === 'timeout' ? `no answer within ${inflight.timeoutMs}ms` : 'the load stopped while it was in flight',
      },
    });
  }

  /** Ends the connection and stops reconnecting. */
  async close(): Promise<void> {
    const state = this.state;
    this.state = { kind: 'closed' };
    clearTimeout(this.retryTimer);
    clearTimeout(this.deadlineTimer);
    this.deadlineDue = Infinity;
    if (state.kind === 'connecting') await state.promise.catch(() => undefined);
    const current = (state.kind === 'connected' ? state.client : undefined) ?? this.pendingClient;
    if (current) await endQuietly(current);
  }

  private async acquire(deadline: number, signal: AbortSignal | undefined): Promise<pg.Client | { error: OpError }> {
    for (;;) {
      const state = this.state;
      switch (state.kind) {
        case 'connected':
          return state.client;
        case 'closed':
          return { error: { class: 'connection', message: 'client closed' } };
        case 'backoff': {
          // Fail fast rather than wait: during an outage every intended op should show up
          // as a failure at its own time, and a waiting op would hold the slot and turn the
          // ops behind it into drops. The background retry reconnects the slot.
          const inMs = Math.max(0, Math.round(state.untilMs - performance.now()));
          return { error: { ...state.error, message: `${state.error.message}; not sent, reconnecting in ${inMs}ms` } };
        }
        case 'idle':
          this.connect();
          continue;
        case 'connecting': {
          const remaining = deadline - performance.now();
          if (remaining <= 0 || signal?.aborted) {
            return { error: { class: 'connection', message: 'still connecting when the op timed out; not sent' } };
          }
          let timer: NodeJS.Timeout | undefined;
          let onAbort: (() => void) | undefined;
          await Promise.race([
            state.promise,
            new Promise<void>((resolve) => {
              timer = setTimeout(resolve, remaining);
              onAbort = () => resolve();
              signal?.addEventListener('abort', onAbort, { once: true });
            }),
          ]);
          clearTimeout(timer);
          if (onAbort) signal?.removeEventListener('abort', onAbort);
          if (this.state === state) {
            return { error: { class: 'connection', message: 'still connecting when the op timed out; not sent' } };
          }
          continue;
        }
      }
    }
  }

  /** A connection to `address`, connected; destroyed again when connecting fails. */
  private async connectTo(address: Address): Promise<pg.Client> {
    const client = new pg.Client({
      host: address.host,
      port: address.port,
      user: this.options.credentials.user,
      password: this.options.credentials.password,
      database: this.options.credentials.database,
      ...(this.options.credentials.ssl ? { ssl: this.options.credentials.ssl } : {}),
      application_name: this.options.applicationName ?? 'pgdrill',
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 2000,
      keepAlive: true,
    });
    // An idle client's socket errors arrive as 'error' events: unhandled, they kill the process.
    client.on('error', (err) => this.lost(client, classifyQueryError(err).error));
    client.on('end', () => this.lost(client, { class: 'connection-lost', message: 'connection ended' }));
    this.pendingClient = client;
    try {
      await client.connect();
      return client;
    } catch (err) {
      destroyClient(client);
      throw err;
    }
  }

  /** Starts one connection attempt; on failure schedules the next one with backoff. */
  private connect(): void {
    this.attempts++;
    const opened = this.options.open ? this.options.open((address) => this.connectTo(address)) : this.connectTo(this.options.address());
    const promise = opened.then(
      (client) => {
        this.pendingClient = undefined;
        if (this.state.kind === 'closed') {
          void endQuietly(client);
          return;
        }
        this.state = { kind: 'connected', client };
        if (this.lostAtMs !== undefined) {
          this.options.onStateChange?.({
            kind: 'restored',
            downMs: Math.round(performance.now() - this.lostAtMs),
            attempts: this.attempts,
          });
        }
        this.lostAtMs = undefined;
        this.attempts = 0;
      },
      (err) => {
        this.pendingClient = undefined;
        if (this.state.kind === 'closed') return;
        const error = classifyConnectError(err);
        if (this.lostAtMs === undefined) {
          this.lostAtMs = performance.now();
          this.options.onStateChange?.({ kind: 'lost', error });
        }
        this.scheduleRetry(error);
      },
    );
    this.state = { kind: 'connecting', promise };
  }

  private scheduleRetry(error: OpError): void {
    // equal jitter: between half and all of the doubled delay, so slots that lost their
    // connections together do not knock together
    const exp = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.max(0, this.attempts - 1));
    const delay = exp * (0.5 + 0.5 * this.random());
    this.state = { kind: 'backoff', untilMs: performance.now() + delay, error };
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.state.kind === 'backoff') this.connect();
    }, delay);
    this.retryTimer.unref();
  }

  /** The connected client died (or we killed it): reconnect at once, then back off. */
  private lost(client: pg.Client, error: OpError): void {
    if (this.state.kind !== 'connected' || this.state.client !== client) return;
    this.lostAtMs = performance.now();
    this.options.onStateChange?.({ kind: 'lost', error });
    this.attempts = 0;
    this.connect();
  }

  private discard(client: pg.Client, error: OpError): void {
    destroyClient(client);
    this.lost(client, error);
  }
}

async function endQuietly(client: pg.Client): Promise<void> {
  const timer = setTimeout(() => destroyClient(client), 1000);
  try {
    await client.end();
  } catch {
    // it was broken anyway
  } finally {
    clearTimeout(timer);
  }
}
