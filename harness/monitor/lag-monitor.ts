// Samples replication lag every interval, per standby, against the node it streams from at
// that moment (topology.upstreamOf, which cutovers change: each sample names its upstream, so
// the report shows who streamed from whom over time): the upstream's view
// (pg_stat_replication, as bytes behind its WAL position and as lag times) and the standby's
// own (receive/replay LSNs), plus its slot. A node that does not answer (paused, killed,
// partitioned) gives nulls for its half; sampling goes on.

import type pg from 'pg';
import type { Recorder } from '../record/recorder.js';
import type { LagSample } from '../record/records.js';
import type { RuntimeNode } from '../runtime/runtime.js';
import type { Topology } from '../topology/topology.js';
import { connectNode } from '../topology/connect.js';
import { replicationSlotName } from '../topology/standby.js';

// a cascading upstream is in recovery: its own position is what it has received
const PRIMARY_VIEW = `
  WITH me AS (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END AS lsn)
  SELECT r.application_name AS name, r.state,
         pg_wal_lsn_diff(me.lsn, r.sent_lsn)::float8   AS sent_bytes,
         pg_wal_lsn_diff(me.lsn, r.write_lsn)::float8  AS write_bytes,
         pg_wal_lsn_diff(me.lsn, r.flush_lsn)::float8  AS flush_bytes,
         pg_wal_lsn_diff(me.lsn, r.replay_lsn)::float8 AS replay_bytes,
         extract(epoch FROM r.write_lag)  * 1000 AS write_lag_ms,
         extract(epoch FROM r.flush_lag)  * 1000 AS flush_lag_ms,
         extract(epoch FROM r.replay_lag) * 1000 AS replay_lag_ms
  FROM pg_stat_replication r, me`;

const SLOTS = `SELECT slot_name, active FROM pg_replication_slots`;

const REPLICA_VIEW = `SELECT pg_last_wal_receive_lsn()::text AS receive_lsn, pg_last_wal_replay_lsn()::text AS replay_lsn`;

/** Keeps one lazily (re)opened connection per node; a failed query drops it. */
class NodeConnections {
  private readonly clients = new Map<string, Promise<pg.Client>>();

  constructor(private readonly timeout: number) {}

  async query<T extends pg.QueryResultRow>(node: RuntimeNode, sql: string): Promise<T[] | null> {
    let pending = this.clients.get(node.name);
    if (!pending) {
      pending = connectNode(node, { database: 'postgres', timeout: this.timeout, applicationName: 'pgdrill-monitor' });
      this.clients.set(node.name, pending);
    }
    try {
      const client = await pending;
      return (await client.query<T>(sql)).rows;
    } catch {
      this.clients.delete(node.name);
      pending.then((c) => c.end()).catch(() => undefined);
      return null;
    }
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(all.map(async (p) => (await p).end()));
  }
}

export class LagMonitor {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly connections: NodeConnections;
  /** the last sample per replica, for live progress */
  readonly latest = new Map<string, LagSample>();

  constructor(
    private readonly topology: Topology,
    private readonly recorder: Recorder,
    private readonly interval: number,
  ) {
    // a query slower than the interval is as good as no answer
    this.connections = new NodeConnections(Math.max(250, interval));
  }

  start(): void {
    const tick = () => {
      // never overlap: a slow tick delays the next one instead of stacking up
      this.running = this.sampleOnce().then(() => undefined, () => undefined).finally(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.interval);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    await this.connections.close();
  }

  async sampleOnce(): Promise<LagSample[]> {
    const standbys = [...this.topology.upstreamOf].map(([standby, upstream]) => ({ replica: this.topology.node(standby), upstream: this.topology.node(upstream) }));
    if (standbys.length === 0) return [];
    const upstreams = [...new Map(standbys.map((s) => [s.upstream.name, s.upstream])).values()];
    const t = this.recorder.now();
    const [views, slots, replicaViews] = await Promise.all([
      Promise.all(upstreams.map((u) => this.connections.query<Record<string, unknown>>(u, PRIMARY_VIEW))),
      Promise.all(upstreams.map((u) => this.connections.query<{ slot_name: string; active: boolean }>(u, SLOTS))),
      Promise.all(standbys.map((s) => this.connections.query<Record<string, string | null>>(s.replica, REPLICA_VIEW))),
    ]);
    const samples = standbys.map(({ replica, upstream }, i): LagSample => {
      const u = upstreams.indexOf(upstream);
      // a standby pgdrill did not build goes by the name (and slot) its platform gave it
      const id = this.topology.replicationIds.get(replica.name);
      const view = views[u]?.find((v) => v.name === (id?.applicationName ?? replica.name));
      const slot = slots[u]?.find((s) => s.slot_name === (id ? id.slot : replicationSlotName(replica.name)));
      const own = replicaViews[i]?.[0];
      return {
        t,
        node: replica.name,
        upstream: upstream.name,
        sentBytes: num(view?.sent_bytes),
        writeBytes: num(view?.write_bytes),
        flushBytes: num(view?.flush_bytes),
        replayBytes: num(view?.replay_bytes),
        writeLagMs: num(view?.write_lag_ms),
        flushLagMs: num(view?.flush_lag_ms),
        replayLagMs: num(view?.replay_lag_ms),
        receiveLsn: own?.receive_lsn ?? null,
        replayLsn: own?.replay_lsn ?? null,
        // the upstream answered but does not list the standby: it is not connected
        state: views[u] ? ((view?.state as string | undefined) ?? 'disconnected') : null,
        slotActive: slots[u] ? (slot?.active ?? null) : null,
      };
    });
    for (const s of samples) {
      this.recorder.lagSample(s);
      this.latest.set(s.node, s);
    }
    return samples;
  }
}

function num(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? Math.round(n * 1000) / 1000 : null;
}
