// Waiting that a stop cuts short: timeline entries, the strategy's arm and the failure detector
// sleep until their time unless the run is being stopped, and then go on at once (they check
// the signal themselves; nothing rejects).

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects; at once for ms <= 0). */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
