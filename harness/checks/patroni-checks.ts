// Checks of a run with a Patroni cluster, pure over its patroni results: the leader changed
// the way the scenario rehearses it (one change to the candidate for a switchover, none for the
// standby cluster's promotion, at least one after a fault meant to take the leader away) and
// never otherwise, and pgdrill saw the cluster at all.

import type { CheckResult } from '../results/results.js';
import type { Scenario } from '../scenario/scenario.js';
import type { PatroniResults } from '../patroni/patroni-results.js';
import type { Results } from '../results/results.js';
import { formatDuration } from '../util/units.js';

type Check = Omit<CheckResult, 'name'>;

export function leaderChangesCheck(scenario: Scenario, patroni: PatroniResults | undefined, cutover: Results['cutover']): Check | undefined {
  const config = scenario.patroni;
  if (!config) return undefined;
  if (!patroni || patroni.members.length === 0) return { valid: 'unknown', detail: "the cluster's members were never seen in GET /cluster (the run stopped before its watcher ran)" };
  const changes = patroni.leaderChanges;
  const listed = changes.map((c) => `${c.from ?? '-'} -> ${c.to} at ${formatDuration(c.t)}${c.cause ? ` (${c.cause}${c.electedAfterMs !== null ? `, elected ${formatDuration(c.electedAfterMs)} after it` : ''})` : ''}`).join('; ');
  const first = config.members[0];
  const planned = scenario.strategy?.kind === 'patroni' && cutover && !cutover.dryRun;
  if (planned && !config.standbyOf) {
    const to = scenario.strategy!.to;
    if (changes.length === 1 && changes[0].from === first && changes[0].to === to) return { valid: true, detail: `one leader change, to the candidate: ${listed}` };
    return { valid: false, detail: changes.length ? `expected one leader change ${first} -> ${to}, saw ${changes.length}: ${listed}` : `expected one leader change ${first} -> ${to}, saw none` };
  }
  if (planned && config.standbyOf) {
    if (changes.length === 0) return { valid: true, detail: `${first} led the standby cluster and leads the promoted one: no leader change` };
    return { valid: false, detail: `the promoted standby cluster changed leaders: ${listed}` };
  }
  const leaderFaults = scenario.timeline.filter((e) => e.fault && (e.fault.node === first || e.fault.link === `etcd:${first}`));
  if (leaderFaults.length === 0) {
    return changes.length === 0 ? { valid: true, detail: `${first} led throughout` } : { valid: false, detail: `the leader changed with no fault or switchover to cause it: ${listed}` };
  }
  const takesLeader = leaderFaults.some((e) => e.fault!.host || e.fault!.link !== undefined || e.fault!.kind === 'pause' );
  if (changes.length > 0) return { valid: true, detail: listed };
  if (takesLeader) return { valid: 'unknown', detail: `no leader change was seen after the fault on the leader ${first}: the failover this scenario rehearses did not happen before the load ended` };
  return { valid: true, detail: `Patroni kept ${first} leading (it restarted its PostgreSQL in place)` };
}
