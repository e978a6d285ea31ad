// Faults on a node (kill, stop, restart, pause), injected from the timeline and healed
// at their end, or at teardown when the run ends first. Link faults arrive with the
// fault-injection issue; the scenario loader accepts them, the run refuses them up front.

import type { Recorder } from '../record/recorder.js';
import type { FaultConfig } from '../scenario/scenario.js';
import type { Topology } from '../topology/topology.js';
import { errorMessage } from '../errors.js';
import { sleep } from '../topology/connect.js';

export const SUPPORTED_FAULTS: FaultConfig['kind'][] = ['kill', 'stop', 'restart', 'pause'];

/** An injected fault that can be healed; heal() is idempotent. */
export interface ActiveFault {
  readonly description: string;
  heal(): Promise<void>;
}

export async function injectNodeFault(fault: FaultConfig, topology: Topology, recorder: Recorder): Promise<ActiveFault> {
  const node = topology.node(fault.node!);
  const description = `${fault.kind} ${node.name}`;
  let healed = false;
  const restartIfDown = async () => {
    if (node.state === 'stopped' || node.state === 'killed') await node.start();
  };
  switch (fault.kind) {
    case 'pause':
      await node.pause();
      break;
    case 'kill':
      await node.kill();
      break;
    case 'stop':
      await node.stop(fault.stopMode ?? 'fast');
      break;
    case 'restart':
      await node.stop(fault.stopMode ?? 'fast');
      await node.start();
      healed = true;
      break;
    default:
      throw new Error(`fault kind "${fault.kind}" is not supported yet`);
  }
  recorder.event('fault-start', { fault: fault.kind, node: node.name });
  return {
    description,
    async heal() {
      if (healed) return;
      healed = true;
      try {
        if (fault.kind === 'pause') await node.resume();
        else if (fault.kind === 'kill' && fault.restartAfter === undefined) await restartIfDown();
        else await restartIfDown();
        recorder.event('fault-end', { fault: fault.kind, node: node.name });
      } catch (err) {
        recorder.event('fault-heal-failed', { fault: fault.kind, node: node.name, error: errorMessage(err) });
      }
    },
  };
}

/** Runs a fault for its `for` duration (or until `until` resolves) and heals it. */
export async function runFault(
  fault: FaultConfig,
  topology: Topology,
  recorder: Recorder,
  active: Set<ActiveFault>,
  signal: AbortSignal,
): Promise<void> {
  const injected = await injectNodeFault(fault, topology, recorder);
  active.add(injected);
  const lasts = fault.kind === 'kill' ? fault.restartAfter : fault.for;
  if (lasts === undefined) return; // healed at the end of the load phase
  await sleep(lasts, signal).catch(() => undefined);
  await injected.heal();
  active.delete(injected);
}
