// The labels every container, network and volume of a docker run carries: they are how
// dispose(), `pgdrill cleanup` and the tests find what a run made, even after a crash.

import os from 'node:os';
import { procInfo } from '../local/proc.js';
import { packageVersion } from '../../util/package-info.js';

export const LABEL = {
  runId: 'pgdrill.run-id',
  scenario: 'pgdrill.scenario',
  version: 'pgdrill.version',
  node: 'pgdrill.node',
  /** host:pid:startTicks of the pgdrill process that made it, so cleanup can spare live runs */
  owner: 'pgdrill.owner',
} as const;

/** pgdrill's own version, or "unknown" when package.json cannot be read. */
export function pgdrillVersion(): string {
  try {
    return packageVersion();
  } catch {
    return 'unknown';
  }
}

export function ownerLabel(): string {
  return `${os.hostname()}:${process.pid}:${procInfo(process.pid)?.startTicks ?? 0}`;
}

/**
 * Whether the owner named by a label is a live process on this host. Undefined when it
 * cannot be told (another host, no label): cleanup then leaves it alone unless forced.
 */
export function ownerAlive(owner: string | undefined): boolean | undefined {
  if (!owner) return undefined;
  const [host, pid, ticks] = owner.split(':');
  if (host !== os.hostname()) return undefined;
  const info = procInfo(Number(pid));
  return info !== undefined && info.state !== 'Z' && String(info.startTicks) === ticks;
}

export function runLabels(runId: string, scenario: string): Record<string, string> {
  return {
    [LABEL.runId]: runId,
    [LABEL.scenario]: scenario,
    [LABEL.version]: pgdrillVersion(),
    [LABEL.owner]: ownerLabel(),
  };
}
