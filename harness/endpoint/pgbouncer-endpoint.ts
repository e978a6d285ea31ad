// Endpoint kind pgbouncer: Debian's PgBouncer as a service of the run, in front of the primary,
// with the practitioners' switchover runbook as its capabilities:
//   pause  PAUSE: waits until every server connection is released (PgBouncer then closes them)
//          and holds new queries; bounded by endpoint.pauseTimeout, after which the cutover is
//          rolled back and RESUME lets the held clients through to the old primary again
//   repoint  [databases] rewritten to the new primary, RELOAD
//   drain  SHOW SERVERS until no server connection to the old primary is left; RECONNECT if
//          one lingers, KILL (then RESUME of that database) if it is stuck in a query
//   resume RESUME: held clients go on, to the new primary
// query_wait_timeout comes from the scenario so that paused clients wait instead of failing.
// Clients reach PgBouncer through a pgdrill proxy (the client link) so link faults still act.

import type { Address, RunService, RuntimeNode } from '../runtime/runtime.js';
import type { EndpointConfig } from '../scenario/scenario.js';
import { DATABASE, destroyClient, withNode } from '../topology/connect.js';
import { quoteIdent, quoteLiteral } from '../util/sql.js';
import { EnvironmentError, errorMessage } from '../errors.js';
import { describeServiceProgramInfo } from './service-origin.js';
import { connectionUrl, type ClientRoute, type Endpoint, type PauseControl } from './endpoint.js';
import { AdminTimeout, PgBouncerAdmin, runOn } from './pgbouncer-admin.js';
import { authFileLine, describeServers, pgbouncerIni, serversOn, type ServerRow } from './pgbouncer-config.js';
import { TcpProxy } from './tcp-proxy.js';
import { endpointService, stopService, type EndpointContext } from './endpoint-context.js';
import { DEFAULT_PAUSE_TIMEOUT, defaultQueryWaitTimeout } from '../scenario/endpoint-rules.js';

/** The databases clients reach through PgBouncer: the scenario's, and postgres for tools. */
const DATABASES = [DATABASE, 'postgres'];
/** How long drain waits before asking PgBouncer to RECONNECT, then to KILL what is left. */
const RECONNECT_AFTER_MS = 200;
const KILL_AFTER_MS = 1000;
const DRAIN_TIMEOUT_MS = 5000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type PauseState = 'running' | 'pausing' | 'paused';

export class PgBouncerEndpoint implements Endpoint {
  readonly kind = 'pgbouncer' as const;
  readonly writes: ClientRoute;
  readonly reads: ClientRoute;
  readonly clientLinks: readonly TcpProxy[];
  readonly pause: PauseControl;
  private pauseState: PauseState = 'running';
  private target: RuntimeNode;

  private constructor(
    private readonly config: Required<Pick<EndpointConfig, 'pool' | 'pauseTimeout' | 'queryWaitTimeout' | 'settings'>>,
    private readonly context: EndpointContext,
    private readonly service: RunService,
    private readonly admin: PgBouncerAdmin,
    private readonly link: TcpProxy,
    private readonly files: { ini: string; authFile: string; port: number; poolSize: number },
  ) {
    this.target = context.topology.primary;
    const route: ClientRoute = {
      address: () => link.address,
      // transaction pooling hands each transaction to whichever server is free: no session state
      sessionState: config.pool === 'session',
      dropOnReadOnly: false,
    };
    this.writes = route;
    this.reads = route;
    this.clientLinks = [link];
    this.pause = {
      holding: `clients wait in PgBouncer (PAUSE; query_wait_timeout ${config.queryWaitTimeout}ms)`,
      pause: () => this.pauseClients(),
      resume: () => this.resumeClients(),
    };
  }

  static async start(config: EndpointConfig, context: EndpointContext, _members: string[]): Promise<PgBouncerEndpoint> {
    const { topology, credentials, scenario, signal } = context;
    // a resolved scenario has them all; a hand-built config gets the same defaults
    const resolved = {
      pool: config.pool ?? 'transaction',
      pauseTimeout: config.pauseTimeout ?? DEFAULT_PAUSE_TIMEOUT,
      queryWaitTimeout: config.queryWaitTimeout ?? defaultQueryWaitTimeout(scenario.workload),
      settings: config.settings ?? {},
    };
    const service = await endpointService(context.runtime, 'pgbouncer');
    const secret = await shareScramSecret(context);
    const port = await service.freePort();
    const { writes, reads } = scenario.workload;
    // every workload connection may be in a transaction at once: PgBouncer must not queue them
    const poolSize = writes.connections + reads.connections + 2 + 4;
    const authFile = await service.writeFile('userlist.txt', authFileLine(credentials.superuser, secret));
    const files = { ini: '', authFile, port, poolSize };
    files.ini = await service.writeFile('pgbouncer.ini', iniFor(resolved, service, files, topology.primary.peerAddress, credentials.superuser));
    const admin = new PgBouncerAdmin({ socketDir: service.dir, port, user: credentials.superuser, password: credentials.superuserPassword });
    try {
      await service.start([files.ini], {
        signal,
        ready: async () => (await admin.run('SHOW VERSION', 1000)).length > 0,
      });
    } catch (err) {
      await admin.close();
      throw err;
    }
    const link = new TcpProxy({ host: '127.0.0.1', port }, { name: 'client' });
    await link.listen();
    return new PgBouncerEndpoint(resolved, context, service, admin, link, files);
  }

  get origin(): string {
    return `${describeServiceProgramInfo(this.service.program)}; pool_mode ${this.config.pool}`;
  }

  get address(): string {
    return `${this.link.address.host}:${this.link.address.port} (PgBouncer on 127.0.0.1:${this.files.port})`;
  }

  url(user: string, password: string, database: string): string {
    return connectionUrl(user, password, [this.link.address], database);
  }

  /** PgBouncer's own server connections die with the node; the client link only reaches PgBouncer. */
  cutSessionsTo(): number {
    return 0;
  }

  private async pauseClients(): Promise<string> {
    const started = performance.now();
    const client = await this.admin.open();
    this.pauseState = 'pausing';
    try {
      await runOn(client, 'PAUSE', this.config.pauseTimeout);
    } catch (err) {
      // a PAUSE that timed out stays pending on its connection: drop it; the rollback RESUMEs
      destroyClient(client);
      if (!(err instanceof AdminTimeout)) throw err;
      const busy = await this.servers().then(describeServers, (e: unknown) => `SHOW SERVERS failed: ${errorMessage(e)}`);
      const why =
        this.config.pool === 'session'
          ? 'with pool_mode session a server connection is released only when its client disconnects'
          : 'a transaction still open holds its server connection until it ends';
      throw new Error(`PAUSE did not complete within ${this.config.pauseTimeout}ms: server connections still in use (${busy}); ${why}`);
    }
    await client.end().catch(() => destroyClient(client));
    this.pauseState = 'paused';
    const left = await this.servers();
    return `PAUSE returned after ${Math.round(performance.now() - started)}ms: new queries wait in PgBouncer; server connections left: ${describeServers(left)}`;
  }

  private async resumeClients(): Promise<string> {
    if (this.pauseState === 'running') return 'PgBouncer was not paused: clients go on';
    const waiting = await this.waitingClients().catch(() => null);
    await this.admin.run('RESUME');
    this.pauseState = 'running';
    return `RESUME: ${waiting === null ? 'held' : waiting} client${waiting === 1 ? '' : 's'} waiting went on to ${this.target.name}`;
  }

  async repoint(to: RuntimeNode, from: RuntimeNode): Promise<string> {
    const previous = this.target;
    this.target = to;
    await this.service.writeFile('pgbouncer.ini', iniFor(this.config, this.service, this.files, to.peerAddress, this.context.credentials.superuser));
    const started = performance.now();
    await this.admin.run('RELOAD');
    const reloadMs = performance.now() - started;
    const listed = await this.admin.run<{ name: string; host: string | null; port: number }>('SHOW DATABASES');
    const wrong = DATABASES.filter((db) => {
      const row = listed.find((r) => r.name === db);
      return !row || row.host !== to.peerAddress.host || Number(row.port) !== to.peerAddress.port;
    });
    if (wrong.length > 0) {
      throw new Error(`after RELOAD, PgBouncer's [databases] ${wrong.join(', ')} do not point at ${to.name} (${to.peerAddress.host}:${to.peerAddress.port})`);
    }
    return (
      `[databases] ${DATABASES.join(', ')}: ${previous === to ? from.name : previous.name} -> ${to.name} ` +
      `(${to.peerAddress.host}:${to.peerAddress.port}); RELOAD took ${reloadMs.toFixed(1)}ms; SHOW DATABASES confirms`
    );
  }

  async drain(from: RuntimeNode, signal: AbortSignal): Promise<string> {
    const started = performance.now();
    const done: string[] = [];
    let seen = 0;
    for (;;) {
      const left = serversOn(await this.servers(), from.peerAddress);
      seen = Math.max(seen, left.length);
      const elapsed = performance.now() - started;
      if (left.length === 0) {
        const how = done.length ? `after ${done.join(', then ')}` : 'none was left';
        return `no server connection to ${from.name} (${from.peerAddress.host}:${from.peerAddress.port}) in SHOW SERVERS: ${how} (${Math.round(elapsed)}ms)`;
      }
      if (signal.aborted || elapsed > DRAIN_TIMEOUT_MS) {
        throw new Error(`${left.length} server connection(s) to ${from.name} survived ${done.join(' and ') || 'RELOAD'} for ${Math.round(elapsed)}ms (${describeServers(left)})`);
      }
      // RELOAD already marks them close_needed: idle ones go at PgBouncer's next maintenance
      // round, busy ones when released. RECONNECT asks for the same explicitly; a connection
      // stuck in a query (a paused or partitioned server) is released by nothing but KILL.
      if (elapsed > RECONNECT_AFTER_MS && !done.some((d) => d.startsWith('RECONNECT'))) {
        for (const db of DATABASES) await this.admin.run(`RECONNECT ${quoteIdent(db)}`);
        done.push(`RECONNECT (${describeServers(left)})`);
      } else if (elapsed > KILL_AFTER_MS && !done.some((d) => d.startsWith('KILL'))) {
        // KILL also drops the database's clients (they reconnect) and pauses it until RESUME
        const dbs = [...new Set(left.map((r) => r.database))];
        for (const db of dbs) {
          await this.admin.run(`KILL ${quoteIdent(db)}`);
          if (this.pauseState === 'running') await this.admin.run(`RESUME ${quoteIdent(db)}`);
        }
        done.push(`KILL ${dbs.join(', ')} (${describeServers(left)} stuck)`);
      }
      await sleep(10);
    }
  }

  private async servers(): Promise<ServerRow[]> {
    const rows = await this.admin.run<Record<string, unknown>>('SHOW SERVERS');
    return rows.map((r) => ({ database: String(r.database), state: String(r.state), addr: String(r.addr), port: Number(r.port) }));
  }

  private async waitingClients(): Promise<number> {
    const rows = await this.admin.run<Record<string, unknown>>('SHOW POOLS');
    return rows.filter((r) => r.database !== 'pgbouncer').reduce((n, r) => n + Number(r.cl_waiting ?? 0), 0);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.link.close(), this.admin.close()]);
    await stopService(this.service, this.context.logDir);
  }
}

function iniFor(
  config: { pool: 'session' | 'transaction'; queryWaitTimeout: number; settings: Record<string, string> },
  service: RunService,
  files: { authFile: string; port: number; poolSize: number },
  primary: Address,
  adminUser: string,
): string {
  return pgbouncerIni({
    databases: Object.fromEntries(DATABASES.map((db) => [db, primary])),
    listenPort: files.port,
    socketDir: service.dir,
    authFile: files.authFile,
    adminUser,
    pool: config.pool,
    queryWaitTimeoutMs: config.queryWaitTimeout,
    poolSize: files.poolSize,
    settings: config.settings,
  });
}

/**
 * The superuser's SCRAM secret as the primary stores it, set on every other node that is not
 * a standby of it (a blue/green target initdb'd with the same password has another salt):
 * PgBouncer can then log into whichever node is primary with the client's own proof.
 */
async function shareScramSecret(context: EndpointContext): Promise<string> {
  const { topology, scenario, credentials } = context;
  const user = credentials.superuser;
  const secret = await withNode(
    topology.primary,
    async (client) => (await client.query<{ secret: string | null }>('SELECT rolpassword AS secret FROM pg_authid WHERE rolname = $1', [user])).rows[0]?.secret,
    { database: 'postgres' },
  );
  if (!secret?.startsWith('SCRAM-SHA-256$')) {
    throw new EnvironmentError(
      `PgBouncer needs ${user}'s SCRAM secret from ${topology.primary.name}, which stores ${secret ? 'another kind of password' : 'none'}`,
      'PGDRILL_PGBOUNCER_AUTH',
    );
  }
  for (const node of Object.values(scenario.nodes)) {
    if (node.replicaOf || node.name === topology.primaryName) continue;
    await withNode(topology.node(node.name), (client) => client.query(`ALTER ROLE ${quoteIdent(user)} PASSWORD ${quoteLiteral(secret)}`), { database: 'postgres' });
  }
  return secret;
}
