// How clients find a Patroni cluster's leader, in the two ways the endpoints allow: HAProxy's
// health checks go to each member's own REST API (GET /primary answers 200 on the leader
// only), and discovery asks REST /cluster which member leads before connecting. A node outside
// the cluster (the one a standby cluster follows) keeps pgdrill's PostgreSQL checks and lookup.

import type pg from 'pg';
import type { Address, RuntimeNode } from '../runtime/runtime.js';
import { PostgresHealthAgent, type HealthChecks } from '../endpoint/health-agent.js';
import { NoWritableNode, readWriteLookup, type Candidate, type PrimaryLookup } from '../endpoint/primary-lookup.js';
import { errorMessage } from '../errors.js';
import type { PatroniCluster } from './patroni-cluster.js';

/** HAProxy's checks: Patroni's REST API for members, pgdrill's agent for any other node. */
export class PatroniHealthChecks implements HealthChecks {
  readonly primaryPath = '/primary';
  readonly replicaPath = '/replica';

  private constructor(
    private readonly cluster: PatroniCluster,
    private readonly others?: PostgresHealthAgent,
  ) {}

  static async start(cluster: PatroniCluster, nodes: RuntimeNode[], deadlineMs: number): Promise<PatroniHealthChecks> {
    const outside = nodes.filter((n) => !cluster.members.has(n.name));
    return new PatroniHealthChecks(cluster, outside.length ? await PostgresHealthAgent.start(outside, deadlineMs) : undefined);
  }

  get description(): string {
    return `Patroni REST API of each member (GET /primary: 200 on the leader)${this.others ? `; ${this.others.description} for nodes outside the cluster` : ''}`;
  }

  checkAddress(node: string): Address {
    const member = this.cluster.members.get(node);
    if (member) return member.rest;
    if (!this.others) throw new Error(`no health check for node ${node}`);
    return this.others.checkAddress(node);
  }

  async close(): Promise<void> {
    await this.others?.close();
  }
}

/** Discovery's lookup: the leader GET /cluster names (a standby leader is not writable: then the node outside). */
export class PatroniLookup implements PrimaryLookup {
  readonly description = "GET /cluster on a member's Patroni REST API names the leader; a client connects to it (nodes outside the cluster: target_session_attrs=read-write)";

  constructor(private readonly cluster: PatroniCluster) {}

  async open(candidates: readonly Candidate[], connect: (address: Address) => Promise<pg.Client>): Promise<{ client: pg.Client; chosen: Candidate }> {
    let leader: string | undefined;
    let why = '';
    try {
      const view = await this.cluster.view(1000, this.cluster.watcher?.currentLeader ?? undefined);
      leader = view.members.find((m) => m.role === 'leader' && m.state === 'running')?.name;
      if (!leader) why = `/cluster names no running leader (${view.members.map((m) => `${m.name} ${m.role} ${m.state}`).join(', ')})`;
    } catch (err) {
      why = errorMessage(err);
    }
    const chosen = leader !== undefined ? candidates.find((c) => c.name === leader) : undefined;
    if (chosen) {
      try {
        return { client: await connect(chosen.address), chosen };
      } catch (err) {
        throw new NoWritableNode([`${chosen.name} (the leader /cluster names) ${errorMessage(err)}`]);
      }
    }
    const outside = candidates.filter((c) => !this.cluster.members.has(c.name));
    if (outside.length === 0) throw new NoWritableNode([why]);
    return readWriteLookup.open(outside, connect);
  }
}
