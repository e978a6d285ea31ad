// results.json's patroni section, from what the run recorded (pure): every member's role over
// time, as GET /cluster said it, and every leader change with its cause (the fault on the old
// leader, or the switchover / promotion request) and how long after the cause the old leader
// stopped being named leader (detected), the new one was (elected) and writes were served again
// (the end of the write outage around it, or without one the first write the watcher saw served).

import { eventsOf, type RunEvent } from '../record/events.js';
import type { DowntimeWindow } from '../results/results.js';
import { dcsLinkMember } from '../scenario/patroni-rules.js';

export interface MemberRole {
  t: number;
  role: string;
  state: string;
  timeline: number | null;
}

export interface LeaderChange {
  /** run time (ms) GET /cluster first named the new leader */
  t: number;
  from: string | null;
  to: string;
  /** what set it off: "kill pg1", "pause pg1 (host)", "partition etcd:pg1", "switchover requested"; null when pgdrill saw no cause */
  cause: string | null;
  causeMs: number | null;
  /** when /cluster stopped naming the old leader */
  leaderLostMs: number | null;
  /** ms from the cause to the old leader no longer being named leader (null without a cause) */
  detectedAfterMs: number | null;
  /** ms from the cause to the new leader being named */
  electedAfterMs: number | null;
  /** ms from the cause to the end of the write outage it caused (the first write served again) */
  servedAfterMs: number | null;
}

export interface PatroniResults {
  members: { name: string; roles: MemberRole[] }[];
  leaderChanges: LeaderChange[];
  /** the leader at the end of the run, as last seen */
  finalLeader: string | null;
}

export function patroniResults(events: readonly RunEvent[], windows: readonly DowntimeWindow[]): PatroniResults {
  const members = new Map<string, MemberRole[]>();
  for (const e of eventsOf(events, 'patroni-member')) {
    const list = members.get(e.member) ?? [];
    list.push({ t: e.t, role: e.role, state: e.state, timeline: e.timeline });
    members.set(e.member, list);
  }
  const leaders = eventsOf(events, 'patroni-leader');
  const causes = causesOf(events);
  const changes: LeaderChange[] = [];
  let current: string | null = null;
  let lostMs: number | null = null;
  let first = true;
  for (const e of leaders) {
    if (e.leader === null) {
      if (current !== null && lostMs === null) lostMs = e.t;
      continue;
    }
    if (first) {
      // the cluster's first leader (bootstrap): not a change
      first = false;
      current = e.leader;
      continue;
    }
    if (e.leader === current) {
      lostMs = null;
      continue;
    }
    const from = current;
    const lost = lostMs ?? e.t;
    // the latest cause on the old leader (or a request) before it was lost
    const cause = [...causes].reverse().find((c) => c.t <= lost && (c.node === undefined || c.node === from));
    const causeMs = cause?.t ?? null;
    let served: number | null = null;
    if (causeMs !== null) {
      const window = windows.find((w) => w.endMs >= causeMs && w.startMs <= e.t + 1);
      if (window) served = window.endMs - causeMs;
      else {
        // no outage around it: the first write begun after the change, as the watcher noted it
        const first = eventsOf(events, 'patroni-first-write').find((w) => w.startMs >= e.t && w.leader === e.leader);
        served = first ? first.endMs - causeMs : null;
      }
    }
    changes.push({
      t: e.t,
      from,
      to: e.leader,
      cause: cause?.label ?? null,
      causeMs,
      leaderLostMs: lost,
      detectedAfterMs: causeMs === null ? null : round(lost - causeMs),
      electedAfterMs: causeMs === null ? null : round(e.t - causeMs),
      servedAfterMs: served === null ? null : round(served),
    });
    current = e.leader;
    lostMs = null;
  }
  return {
    members: [...members].map(([name, roles]) => ({ name, roles })),
    leaderChanges: changes,
    finalLeader: leaders.length ? leaders[leaders.length - 1].leader : null,
  };
}

interface Cause {
  t: number;
  /** the member it acts on; undefined: a request to the cluster */
  node?: string;
  label: string;
}

function causesOf(events: readonly RunEvent[]): Cause[] {
  const out: Cause[] = [];
  for (const e of events) {
    if (e.kind === 'fault-start') {
      const node = e.node ?? (e.link ? dcsLinkMember(e.link) : undefined);
      if (node === undefined) continue;
      // the fault began when its injection started (a kill's event waits for the processes to go)
      out.push({ t: e.t - e.injectMs, node, label: `${e.fault} ${e.node ?? e.link}${e.host === true ? ' (host)' : ''}` });
    } else if (e.kind === 'cutover-step-start' && (e.step === 'switchover-requested' || e.step === 'promote')) {
      out.push({ t: e.t, label: e.step === 'promote' ? 'standby cluster promoted' : 'switchover requested' });
    }
  }
  return out.sort((a, b) => a.t - b.t);
}

const round = (ms: number) => Math.round(ms);
