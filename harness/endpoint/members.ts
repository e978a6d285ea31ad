// Which nodes an endpoint that picks its node by itself (HAProxy's health checks, clients'
// lookups) may route to. A health check cannot tell two writable primaries apart: the target
// of a blue/green cutover (dump-restore, logical) is writable long before the cutover, so it
// must not be a member until the cutover re-points the endpoint at it.

import type { Scenario } from '../scenario/scenario.js';
import type { Topology } from '../topology/topology.js';

/** The primary clients start on and every node that streams from it (directly or not), in scenario order. */
export function initialMembers(scenario: Scenario, topology: Topology): string[] {
  const inTree = new Set([topology.primaryName]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const node of Object.values(scenario.nodes)) {
      if (node.replicaOf && inTree.has(node.replicaOf) && !inTree.has(node.name)) {
        inTree.add(node.name);
        grew = true;
      }
    }
  }
  return Object.keys(scenario.nodes).filter((name) => inTree.has(name));
}
