// One timeline fault from injection to healing: inject, record fault-start (the actual time it
// took effect), check that it took effect and record the check, wait out its `for` (a kill:
// its restartAfter), heal, record fault-end. A fault with no end is healed after the load,
// and every fault still active is healed at teardown.

import { errorMessage } from '../errors.js';
import { LINK_FAULTS, NODE_FAULTS, type FaultConfig, type FaultKind } from '../scenario/scenario.js';
import type { ActiveFault, FaultCheck, FaultContext, InjectedFault } from './fault.js';
import { injectLinkFault } from './link-faults.js';
import { injectNodeFault } from './node-faults.js';
import { pause } from './observe.js';

export const SUPPORTED_FAULTS: readonly FaultKind[] = [...NODE_FAULTS, ...LINK_FAULTS];

/** The fault's own parameters, as recorded on its events. */
function parameters(fault: FaultConfig): Record<string, unknown> {
  const { kind: _kind, node: _node, link: _link, ...rest } = fault;
  return rest;
}

function targetOf(fault: FaultConfig): { node: string } | { link: string } {
  return fault.node !== undefined ? { node: fault.node } : { link: fault.link! };
}

export interface RunFaultOptions {
  /** run time (ms) the timeline meant the fault to start at */
  plannedAtMs?: number;
}

/**
 * Injects `fault`, adds it to `active` until it is healed, and returns once it has been healed
 * at the end of its `for` (or, when it lasts until the end of the load, once it is injected).
 */
export async function runFault(
  fault: FaultConfig,
  context: FaultContext,
  active: Set<ActiveFault>,
  options: RunFaultOptions = {},
): Promise<void> {
  const { recorder } = context;
  const target = targetOf(fault);
  const label = `${fault.kind} ${fault.node ?? fault.link}`;
  const before = recorder.now();
  const injected: InjectedFault = (NODE_FAULTS as readonly string[]).includes(fault.kind)
    ? await injectNodeFault(fault, context)
    : await injectLinkFault(fault, context);
  const started = recorder.event('fault-start', {
    fault: fault.kind,
    ...target,
    ...parameters(fault),
    ...(options.plannedAtMs !== undefined ? { plannedMs: Math.round(options.plannedAtMs) } : {}),
    injectMs: Math.round(recorder.now() - before),
    ...injected.detail,
  });

  const checkAbort = new AbortController();
  const checked = injected.check(checkAbort.signal).then(
    (check) => recordCheck(check),
    (err) => recordCheck({ ok: false, detail: `the check could not run: ${errorMessage(err)}` }),
  );
  function recordCheck(check: FaultCheck) {
    recorder.event(check.ok ? 'fault-check' : 'fault-check-failed', {
      fault: fault.kind,
      ...target,
      ok: check.ok,
      afterMs: Math.round(recorder.now() - started.t),
      detail: check.detail,
      ...(check.observed ? { observed: check.observed } : {}),
    });
  }

  let healing: Promise<void> | undefined;
  const entry: ActiveFault = {
    description: label,
    heal() {
      healing ??= (async () => {
        // a check still watching concludes with what it saw: the fault is about to end
        checkAbort.abort();
        await checked;
        try {
          const detail = await injected.heal();
          recorder.event('fault-end', { fault: fault.kind, ...target, durationMs: Math.round(recorder.now() - started.t), ...(detail ?? {}) });
        } catch (err) {
          recorder.event('fault-heal-failed', { fault: fault.kind, ...target, error: errorMessage(err) });
        } finally {
          active.delete(entry);
        }
      })();
      return healing;
    },
  };
  active.add(entry);

  if (injected.healedOnInjection) {
    await checked;
    await entry.heal();
    return;
  }
  const lasts = fault.kind === 'kill' ? (fault.restartAfter ?? fault.for) : fault.for;
  if (lasts === undefined) return; // healed after the load phase
  await pause(lasts, context.signal);
  await entry.heal();
}
