// The two ways a step is cut short: its own timeout, and the run's abort (Ctrl-C). Both end it
// the same way (cancel the statement, stop the process group); only the record's words differ.

import { exactDuration } from '../scenario/scenario-schema.js';

export type LimitReason = 'timeout' | 'aborted';

export class StepLimit {
  /** settles (never rejects) when the first limit is hit */
  readonly reached: Promise<LimitReason>;
  private hit?: LimitReason;
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort: () => void;

  constructor(
    readonly timeoutMs: number,
    private readonly signal: AbortSignal,
  ) {
    let settle!: (reason: LimitReason) => void;
    this.reached = new Promise((resolve) => (settle = resolve));
    const reach = (reason: LimitReason) => {
      if (this.hit) return;
      this.hit = reason;
      settle(reason);
    };
    this.onAbort = () => reach('aborted');
    this.timer = setTimeout(() => reach('timeout'), timeoutMs);
    if (signal.aborted) reach('aborted');
    else signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** the limit that was hit, if one was */
  get reason(): LimitReason | undefined {
    return this.hit;
  }

  /** "did not finish within 60s" / "stopped because the run was aborted" */
  describe(reason: LimitReason): string {
    return reason === 'timeout' ? `did not finish within ${exactDuration(this.timeoutMs)}` : 'stopped because the run was aborted';
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.signal.removeEventListener('abort', this.onAbort);
  }
}

/** A promise's outcome as a value, so it can be raced against a limit without an unhandled rejection. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

export function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** Resolves to undefined when `ms` pass first. */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
