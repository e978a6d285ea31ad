// How a run with `tls:` uses its throwaway CA: every node gets the certificates in its own
// space (beside its data directory, so a standby's pg_basebackup can use them before its data
// directory exists), ssl on with them, and a pg_hba that takes replication only over TLS (and,
// with clientCerts, only with a certificate whose CN is the user). Standbys stream, and the
// workload connects, with the scenario's sslmode. pgdrill's own monitoring and check sessions
// stay on plain TCP (hostnossl): they are the harness, not the system under test.

import type pg from 'pg';
import { createSecureContext, type ConnectionOptions, type SecureContext } from 'node:tls';
import type { NodeCredentials, RuntimeNode } from '../runtime/runtime.js';
import type { TlsConfig } from '../scenario/scenario.js';
import { makeThrowawayCa, requireOpenssl, type ThrowawayCa } from './throwaway-ca.js';

/** Where a node's certificates are, as its server sees them. */
export interface NodeTlsFiles {
  root: string;
  serverCert: string;
  serverKey: string;
  /** the replication user's client certificate: its walreceiver and pg_basebackup present it */
  replicationCert: string;
  replicationKey: string;
}

export class RunTls {
  private readonly files = new Map<string, NodeTlsFiles>();
  private clientContext?: SecureContext;

  private constructor(
    readonly config: TlsConfig,
    readonly ca: ThrowawayCa,
    private readonly credentials: NodeCredentials,
  ) {}

  /** Makes the run's CA and certificates (openssl must be there: exit 3 otherwise). */
  static async create(config: TlsConfig, options: { runId: string; credentials: NodeCredentials; serverNames: string[] }): Promise<RunTls> {
    await requireOpenssl();
    const { replicationUser, superuser } = options.credentials;
    const ca = await makeThrowawayCa({ runId: options.runId, serverNames: options.serverNames, clientUsers: [replicationUser, superuser] });
    return new RunTls(config, ca, options.credentials);
  }

  /** Writes the certificates into the node's own space (mode 0600, owned by the server user). */
  async install(node: RuntimeNode): Promise<NodeTlsFiles> {
    const replication = this.ca.clients[this.credentials.replicationUser];
    const files: NodeTlsFiles = {
      root: await node.writeNodeFile('tls/root.crt', this.ca.caCert),
      serverCert: await node.writeNodeFile('tls/server.crt', this.ca.server.cert),
      serverKey: await node.writeNodeFile('tls/server.key', this.ca.server.key),
      replicationCert: await node.writeNodeFile('tls/replication.crt', replication.cert),
      replicationKey: await node.writeNodeFile('tls/replication.key', replication.key),
    };
    this.files.set(node.name, files);
    return files;
  }

  private filesOf(node: string): NodeTlsFiles {
    const files = this.files.get(node);
    if (!files) throw new Error(`node ${node} has no TLS files installed`);
    return files;
  }

  /** postgresql.conf: ssl on with this node's own files (a copied data directory names another's). */
  serverSettings(node: string): Record<string, string> {
    const f = this.filesOf(node);
    return { ssl: 'on', ssl_cert_file: f.serverCert, ssl_key_file: f.serverKey, ssl_ca_file: f.root, ssl_min_protocol_version: 'TLSv1.2' };
  }

  /** pg_hba.conf for every node: replication over TLS only; pgdrill's own sessions on plain TCP. */
  hba(): string {
    const { replicationUser, superuser } = this.credentials;
    const cert = this.config.clientCerts ? ' clientcert=verify-full' : '';
    const name = (s: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? s : `"${s.replace(/"/g, '')}"`);
    return [
      `# written by pgdrill (tls: ${this.config.mode}${this.config.clientCerts ? ', client certificates' : ''})`,
      'local     all          all                 trust',
      'local     replication  all                 trust',
      `hostssl   replication  ${name(replicationUser)}  all  scram-sha-256${cert}`,
      ...(superuser !== replicationUser ? [`hostssl   replication  ${name(superuser)}  all  scram-sha-256${cert}`] : []),
      `hostssl   all          all         all  scram-sha-256${cert}`,
      // the harness's monitoring, checks and cutover sessions; replication never matches "all"
      'hostnossl all          all         all  scram-sha-256',
      '',
    ].join('\n');
  }

  /** primary_conninfo parameters for a standby on `node` (its own copies of the files). */
  conninfo(node: string): Record<string, string> {
    const f = this.filesOf(node);
    return { sslmode: this.config.mode, sslrootcert: f.root, sslcert: f.replicationCert, sslkey: f.replicationKey };
  }

  /** The same for libpq tools run on `node` (pg_basebackup), as environment variables. */
  libpqEnv(node: string): Record<string, string> {
    const c = this.conninfo(node);
    return { PGSSLMODE: c.sslmode, PGSSLROOTCERT: c.sslrootcert, PGSSLCERT: c.sslcert, PGSSLKEY: c.sslkey };
  }

  /**
   * node-postgres's `ssl` for the workload, as libpq's sslmode means it: verify-full checks
   * the chain and the host name, verify-ca the chain only, require neither. The client
   * certificate is the superuser's (the workload's user).
   */
  clientSsl(): ConnectionOptions {
    const client = this.ca.clients[this.credentials.superuser];
    // one context for every connection: parsing the PEMs again at each reconnect would be
    // pgdrill's own CPU spent inside the outage it measures
    this.clientContext ??= createSecureContext({ ca: this.ca.caCert, cert: client.cert, key: client.key });
    const base: ConnectionOptions = { secureContext: this.clientContext };
    if (this.config.mode === 'verify-full') return { ...base, rejectUnauthorized: true };
    if (this.config.mode === 'verify-ca') return { ...base, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    return { ...base, rejectUnauthorized: false };
  }
}

/** What pg_stat_ssl says of a standby's replication connection, on the node it streams from. */
export interface ReplicationTls {
  ssl: boolean;
  version: string | null;
  cipher: string | null;
  /** the client certificate's subject, when one was presented */
  clientDn: string | null;
}

export async function readReplicationTls(upstream: pg.ClientBase, standby: string): Promise<ReplicationTls | undefined> {
  const { rows } = await upstream.query<{ ssl: boolean; version: string | null; cipher: string | null; client_dn: string | null }>(
    `SELECT s.ssl, s.version, s.cipher, s.client_dn FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = $1`,
    [standby],
  );
  const row = rows[0];
  return row ? { ssl: row.ssl, version: row.version, cipher: row.cipher, clientDn: row.client_dn } : undefined;
}
