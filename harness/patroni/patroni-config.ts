// patroni.yml as pgdrill writes it for one member (pure). Patroni's REST API and PostgreSQL on
// loopback ports pgdrill picked, etcd3 as the DCS (reached through pgdrill's link proxies),
// bin_dir = the node's own PostgreSQL binaries, scram for the superuser and replication, the
// data directory under the run folder, the timing and synchronous_mode from the scenario, and
// the cluster-wide parameters in bootstrap.dcs (where Patroni takes them from).

import YAML from 'yaml';
import type { Address, NodeCredentials } from '../runtime/runtime.js';
import type { PatroniConfig } from '../scenario/scenario.js';

export interface MemberConfigInput {
  /** the cluster's name in etcd (one per run) */
  scope: string;
  name: string;
  restPort: number;
  /** where PostgreSQL listens (127.0.0.1) */
  pgPort: number;
  /** what other members (and pg_rewind) connect to: pgdrill's replication link proxy in front of it */
  connectAddress: Address;
  /** etcd client endpoints as this member reaches them (its link proxies to etcd) */
  etcdHosts: Address[];
  dataDir: string;
  binDir: string;
  /** the member's own folder: its unix socket, pgpass and the server log */
  nodeDir: string;
  credentials: NodeCredentials;
  patroni: PatroniConfig;
  /** parameters every member has (pgdrill's base settings, the scenario's patroni.postgresql) */
  clusterParameters: Record<string, string>;
  /** this node's own settings (nodes.<name>.settings) */
  nodeParameters: Record<string, string>;
  /** standbyOf: the node the standby cluster replicates from */
  standbyOf?: Address;
  /** pg_rewind of the members' major is in binDir */
  rewind: boolean;
}

/** Parameters Patroni only takes from the DCS (its command-line options): they go to bootstrap.dcs. */
const DCS_ONLY = [
  'max_connections',
  'max_locks_per_transaction',
  'max_worker_processes',
  'max_prepared_transactions',
  'wal_level',
  'wal_log_hints',
  'track_commit_timestamp',
  'max_wal_senders',
  'max_replication_slots',
  'hot_standby',
  'wal_keep_size',
];

export function memberConfig(input: MemberConfigInput): string {
  const { credentials: c, patroni: p } = input;
  const host = (a: Address) => `${a.host}:${a.port}`;
  const dcsParameters: Record<string, string> = {};
  const localParameters: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...input.clusterParameters, ...input.nodeParameters })) {
    if (DCS_ONLY.includes(k.toLowerCase())) dcsParameters[k] = v;
    else localParameters[k] = v;
  }
  const dcs: Record<string, unknown> = {
    ...p.dcs,
    ttl: p.ttl / 1000,
    loop_wait: p.loopWait / 1000,
    retry_timeout: p.retryTimeout / 1000,
    synchronous_mode: p.synchronousMode,
    postgresql: {
      use_pg_rewind: input.rewind,
      use_slots: true,
      parameters: { ...dcsParameters, ...(((p.dcs.postgresql as Record<string, unknown> | undefined)?.parameters as Record<string, unknown>) ?? {}) },
    },
    ...(input.standbyOf ? { standby_cluster: { host: input.standbyOf.host, port: input.standbyOf.port, create_replica_methods: ['basebackup'] } } : {}),
  };
  const config = {
    scope: input.scope,
    name: input.name,
    restapi: { listen: `127.0.0.1:${input.restPort}`, connect_address: `127.0.0.1:${input.restPort}` },
    // use_proxies: the hosts are pgdrill's link proxies; without it Patroni discovers etcd's own
    // client URLs from the member list and goes around them (a partition would not cut it off)
    etcd3: { hosts: input.etcdHosts.map(host), protocol: 'http', use_proxies: true },
    // no /dev/watchdog here; a member's own fencing is Patroni demoting it when it loses the lease
    watchdog: { mode: 'off' },
    log: { level: 'INFO', format: '%(asctime)s %(levelname)s: %(message)s' },
    bootstrap: {
      dcs,
      initdb: [{ encoding: 'UTF8' }, { locale: 'C' }, { 'auth-host': 'scram-sha-256' }, { 'auth-local': 'trust' }],
    },
    postgresql: {
      listen: `127.0.0.1:${input.pgPort}`,
      connect_address: host(input.connectAddress),
      data_dir: input.dataDir,
      bin_dir: input.binDir,
      pgpass: `${input.nodeDir}/pgpass`,
      authentication: {
        superuser: { username: c.superuser, password: c.superuserPassword },
        replication: { username: c.replicationUser, password: c.replicationPassword },
        rewind: { username: c.superuser, password: c.superuserPassword },
      },
      parameters: {
        unix_socket_directories: input.nodeDir,
        password_encryption: 'scram-sha-256',
        logging_collector: 'on',
        log_directory: input.nodeDir,
        log_filename: 'postgresql.log',
        log_line_prefix: '%m [%p] %q%u@%d ',
        ...localParameters,
      },
      pg_hba: [
        'local all all trust',
        'local replication all trust',
        `host replication ${c.replicationUser} 127.0.0.1/32 scram-sha-256`,
        `host replication ${c.superuser} 127.0.0.1/32 scram-sha-256`,
        'host all all 127.0.0.1/32 scram-sha-256',
      ],
      basebackup: [{ checkpoint: 'fast' }],
    },
  };
  return '# written by pgdrill\n' + YAML.stringify(config);
}
