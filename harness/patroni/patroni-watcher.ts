// Watches a Patroni cluster as its REST API tells it: GET /cluster every 100 ms (any member that
// answers; the view is the DCS's), an event for every change of a member's role or state and of
// the leader, and the topology kept in step (which node is primary, who streams from whom) so
// lag samples, faults and verification follow Patroni's decisions instead of fighting them.

import type { Recorder } from '../record/recorder.js';
import type { Topology } from '../topology/topology.js';
import { errorMessage } from '../errors.js';
import type { PatroniCluster } from './patroni-cluster.js';
import { leaderOf, type ClusterView } from './rest.js';

export const WATCH_INTERVAL_MS = 100;

interface Seen {
  role: string;
  state: string;
  timeline: number | null;
}

export class PatroniWatcher {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private readonly seen = new Map<string, Seen>();
  private leader: string | null | undefined;
  private unreachable = false;
  /** after a leader change: the leader and since when, until the first write begun after it is acknowledged */
  private awaitingWrite?: { leader: string; sinceMs: number };
  private stopListening?: () => void;
  /** polls made, and polls that saw two members calling themselves leader at once */
  polls = 0;
  twoLeaders = 0;

  constructor(
    private readonly cluster: PatroniCluster,
    private readonly topology: Topology,
    private readonly recorder: Recorder,
    /** the node a standby cluster follows: its standby leader streams from it */
    private readonly standbyOf?: string,
  ) {}

  start(): void {
    // operations are not kept: the first write served after each leader change is noted as it happens
    this.stopListening = this.recorder.onOp((op) => {
      const waiting = this.awaitingWrite;
      if (!waiting || op.stream !== 'write' || op.outcome !== 'ok') return;
      const startMs = op.startMs ?? op.intendedMs;
      if (startMs < waiting.sinceMs) return;
      this.awaitingWrite = undefined;
      this.recorder.event('patroni-first-write', { leader: waiting.leader, opId: op.id, startMs, endMs: op.endMs });
    });
    const tick = async () => {
      if (this.stopped) return;
      const began = performance.now();
      this.running = this.poll();
      await this.running;
      if (!this.stopped) this.timer = setTimeout(tick, Math.max(0, WATCH_INTERVAL_MS - (performance.now() - began)));
    };
    void tick();
  }

  /** The leader as last seen (undefined: not polled yet). */
  get currentLeader(): string | null | undefined {
    return this.leader;
  }

  async poll(): Promise<void> {
    let view: ClusterView;
    try {
      view = await this.cluster.view(WATCH_INTERVAL_MS * 5, this.leader ?? undefined);
    } catch (err) {
      if (!this.unreachable) this.recorder.event('patroni-unreachable', { error: errorMessage(err) });
      this.unreachable = true;
      return;
    }
    this.unreachable = false;
    this.polls++;
    if (view.members.filter((m) => m.role === 'leader').length > 1) this.twoLeaders++;
    for (const name of this.cluster.members.keys()) {
      const m = view.members.find((x) => x.name === name);
      const now: Seen = m ? { role: m.role, state: m.state, timeline: m.timeline ?? null } : { role: 'absent', state: 'absent', timeline: null };
      const before = this.seen.get(name);
      if (!before || before.role !== now.role || before.state !== now.state || before.timeline !== now.timeline) {
        this.seen.set(name, now);
        this.recorder.event('patroni-member', { member: name, ...now, lag: m?.lag ?? null });
      }
    }
    const leader = leaderOf(view);
    const name = leader?.name ?? null;
    if (name !== this.leader) {
      const event = this.recorder.event('patroni-leader', { leader: name, previous: this.leader ?? null, role: leader?.role ?? null });
      // the bootstrap leader is not a change; a standby leader takes no writes
      if (name !== null && this.leader !== undefined && leader?.role === 'leader') this.awaitingWrite = { leader: name, sinceMs: event.t };
      this.leader = name;
    }
    this.follow(view);
  }

  /** The topology as Patroni has it now: the leader is the primary, running replicas stream from it. */
  private follow(view: ClusterView): void {
    const leader = leaderOf(view);
    if (!leader) return;
    if (leader.role === 'leader' && this.topology.primaryName !== leader.name && leader.state === 'running') this.topology.promoted(leader.name);
    if (leader.role === 'standby_leader' && this.standbyOf) this.topology.follow(leader.name, this.standbyOf);
    for (const m of view.members) {
      if (m.name === leader.name) continue;
      if (m.state === 'running' && typeof m.lag === 'number') this.topology.follow(m.name, leader.name);
      else this.topology.upstreamOf.delete(m.name);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopListening?.();
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }
}
