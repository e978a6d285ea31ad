// The HTTP health checks HAProxy runs against each node, behind one small interface so the
// source can change: without Patroni, pgdrill runs a PostgreSQL agent per node that answers in
// Patroni's REST dialect (GET /primary: 200 when the node is out of recovery and not read-only;
// GET /replica: 200 when it is in recovery; 503 otherwise, or when the node does not answer in
// time). With Patroni (a later issue) the same HAProxy config points at Patroni's own REST API.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import type { Address, RuntimeNode } from '../runtime/runtime.js';
import { errorMessage } from '../errors.js';
import { destroyClient } from '../topology/connect.js';

export interface HealthChecks {
  /** what answers the checks, in words, for the report */
  readonly description: string;
  /** where a node's HTTP check goes */
  checkAddress(node: string): Address;
  /** 200 on the writable primary only */
  readonly primaryPath: string;
  /** 200 on standbys */
  readonly replicaPath: string;
  close(): Promise<void>;
}

/** What a node is, as the checks see it. */
type Role = { role: 'primary' | 'standby' | 'read-only' } | { role: 'unreachable'; error: string };


/** One node's answers: a connection kept open (a check per interval must not pay a SCRAM login), one query per check. */
class NodeProbe {
  private client?: Promise<pg.Client>;
  private inFlight?: Promise<Role>;

  constructor(
    private readonly node: RuntimeNode,
    private readonly deadlineMs: number,
  ) {}

  /** Concurrent checks (the write and the read backend) share one query. */
  role(): Promise<Role> {
    this.inFlight ??= this.query().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async query(): Promise<Role> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<Role>((resolve) => {
      timer = setTimeout(() => resolve({ role: 'unreachable', error: `no answer within ${this.deadlineMs}ms` }), this.deadlineMs);
    });
    const work = (async (): Promise<Role> => {
      const client = await this.connection();
      const { rows } = await client.query(`SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only`);
      return { role: rows[0].recovery ? 'standby' : rows[0].read_only === 'on' ? 'read-only' : 'primary' };
    })().catch((err: unknown): Role => ({ role: 'unreachable', error: errorMessage(err) || 'connection failed' }));
    const result = await Promise.race([work, expired]);
    clearTimeout(timer);
    // a node that did not answer gets a fresh connection next time (a paused one never answers on this one)
    if (result.role === 'unreachable') this.reset();
    return result;
  }

  private connection(): Promise<pg.Client> {
    this.client ??= (async () => {
      const client = new pg.Client({
        host: this.node.address.host,
        port: this.node.address.port,
        user: this.node.credentials.superuser,
        password: this.node.credentials.superuserPassword,
        database: 'postgres',
        connectionTimeoutMillis: this.deadlineMs,
        application_name: 'pgdrill-health-agent',
      });
      client.on('error', () => this.reset());
      client.on('end', () => this.reset());
      try {
        await client.connect();
      } catch (err) {
        destroyClient(client);
        throw err;
      }
      return client;
    })();
    const pending = this.client;
    pending.catch(() => {
      if (this.client === pending) this.client = undefined;
    });
    return pending;
  }

  reset(): void {
    const pending = this.client;
    this.client = undefined;
    void pending?.then(destroyClient, () => undefined);
  }
}

/** A PostgreSQL health agent per node, each on its own port of 127.0.0.1, as Patroni has its REST API per member. */
export class PostgresHealthAgent implements HealthChecks {
  readonly description = 'pgdrill health agent per node: GET /primary runs SELECT pg_is_in_recovery(), transaction_read_only';
  readonly primaryPath = '/primary';
  readonly replicaPath = '/replica';
  private readonly servers = new Map<string, { server: http.Server; address: Address; probe: NodeProbe }>();

  private constructor() {}

  /** `deadlineMs`: a node that has not answered by then is reported down (503). */
  static async start(nodes: RuntimeNode[], deadlineMs: number): Promise<PostgresHealthAgent> {
    const agent = new PostgresHealthAgent();
    try {
      for (const node of nodes) {
        const probe = new NodeProbe(node, deadlineMs);
        const server = http.createServer((req, res) => void agent.answer(probe, req, res));
        server.keepAliveTimeout = 1000;
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve());
        });
        const { port } = server.address() as AddressInfo;
        agent.servers.set(node.name, { server, address: { host: '127.0.0.1', port }, probe });
      }
    } catch (err) {
      await agent.close();
      throw err;
    }
    return agent;
  }

  checkAddress(node: string): Address {
    const entry = this.servers.get(node);
    if (!entry) throw new Error(`no health agent for node ${node}`);
    return entry.address;
  }

  private async answer(probe: NodeProbe, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== this.primaryPath && path !== this.replicaPath) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found: GET /primary or /replica"}\n');
      return;
    }
    const found = await probe.role();
    const wanted = path === this.primaryPath ? 'primary' : 'standby';
    const ok = found.role === wanted;
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify(found) + '\n');
  }

  async close(): Promise<void> {
    const entries = [...this.servers.values()];
    this.servers.clear();
    for (const e of entries) e.probe.reset();
    await Promise.all(
      entries.map(
        (e) =>
          new Promise<void>((resolve) => {
            e.server.close(() => resolve());
            e.server.closeAllConnections();
          }),
      ),
    );
  }
}
