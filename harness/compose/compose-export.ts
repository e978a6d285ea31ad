// `pgdrill compose`: a scenario's topology as a docker compose file, for people who want to
// stand it up by hand. Like the docker runtime it does not rely on an image's entrypoint:
// each service runs a script as the postgres user that makes its cluster on first start
// (initdb for a primary, pg_basebackup from its upstream for a replica) and then runs postgres.
// Pure: scenario in, YAML text out, so the checked-in files in compose/ can be compared.

import YAML from 'yaml';
import type { NodeConfig, Scenario } from '../scenario/scenario.js';
import { buildOrder } from '../topology/topology.js';
import { replicationSlotName } from '../topology/standby.js';
import { BASE_SETTINGS, runSettings } from '../topology/topology.js';
import { InvalidInputError } from '../errors.js';

export const FIRST_HOST_PORT = 15432;
const PGDATA = '/var/lib/postgresql/pgdrill';

export interface ComposeOptions {
  /** what the header names as the source, e.g. "scenarios/streaming-cutover.yaml" */
  source?: string;
}

function confLine(key: string, value: string): string {
  return `${key} = '${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** In a compose file `$` starts an interpolation: the scripts' own `$` must be `$$`. */
function escapeDollars(script: string): string {
  return script.replace(/\$/g, '$$$$');
}

/** Finds the bin dir of the node's major in the official image or pgdrill's offline one. */
const FIND_BIN = (major: number) =>
  `B=/usr/lib/postgresql/${major}/bin; [ -x "$B/postgres" ] || B=$(dirname "$(command -v postgres)")`;

function primaryScript(node: NodeConfig, settings: Record<string, string>): string {
  const conf = [
    "listen_addresses = '*'",
    ...Object.entries(settings).map(([k, v]) => confLine(k, v)),
  ];
  return [
    'set -e',
    FIND_BIN(node.version),
    'if [ ! -s "$PGDATA/PG_VERSION" ]; then',
    '  printf \'%s\\n\' "$POSTGRES_PASSWORD" > /tmp/pw',
    '  "$B/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile=/tmp/pw -E UTF8 --locale=C --auth-local=trust --auth-host=scram-sha-256',
    '  rm -f /tmp/pw',
    '  printf \'%s\\n\' "local all all trust" "local replication all trust" "host replication $REPLICATION_USER all scram-sha-256" "host all all all scram-sha-256" > "$PGDATA/pg_hba.conf"',
    `  cat >> "$PGDATA/postgresql.conf" <<'CONF'`,
    ...conf,
    'CONF',
    // single-user mode runs one statement per line (CREATE DATABASE cannot share one)
    '  printf \'%s\\n\' "CREATE ROLE \\"$REPLICATION_USER\\" WITH REPLICATION LOGIN PASSWORD \'$REPLICATION_PASSWORD\';" "CREATE DATABASE pgdrill;" | "$B/postgres" --single -D "$PGDATA" postgres >/dev/null',
    'fi',
    'exec "$B/postgres" -D "$PGDATA"',
  ].join('\n');
}

function replicaScript(node: NodeConfig, settings: Record<string, string>): string {
  const slot = replicationSlotName(node.name);
  const conf = [
    "listen_addresses = '*'",
    ...Object.entries(settings).map(([k, v]) => confLine(k, v)),
    confLine('primary_slot_name', slot),
  ];
  return [
    'set -e',
    FIND_BIN(node.version),
    'if [ ! -s "$PGDATA/PG_VERSION" ]; then',
    '  export PGPASSWORD="$REPLICATION_PASSWORD"',
    `  until "$B/pg_basebackup" -h "$UPSTREAM" -p 5432 -U "$REPLICATION_USER" -D "$PGDATA" -X stream -C -S ${slot} -c fast --no-password; do`,
    // a half-made backup or slot from a failed try would fail the next one
    '    rm -rf "$PGDATA"; echo "waiting for $UPSTREAM"; sleep 2',
    `    "$B/psql" -h "$UPSTREAM" -U "$REPLICATION_USER" "dbname=postgres replication=database" -c "DROP_REPLICATION_SLOT ${slot}" >/dev/null 2>&1 || true`,
    '  done',
    `  cat >> "$PGDATA/postgresql.conf" <<'CONF'`,
    ...conf,
    'CONF',
    `  echo "primary_conninfo = 'host=$UPSTREAM port=5432 user=$REPLICATION_USER password=$REPLICATION_PASSWORD application_name=${node.name}'" >> "$PGDATA/postgresql.conf"`,
    '  touch "$PGDATA/standby.signal"',
    'fi',
    'exec "$B/postgres" -D "$PGDATA"',
  ].join('\n');
}

/** The compose file of a scenario's topology, as YAML text (deterministic: no dates). */
export function composeFile(scenario: Scenario, options: ComposeOptions = {}): string {
  // a Patroni cluster's replication is Patroni's: plain primary/standby containers would misstate it
  if (scenario.patroni) {
    throw new InvalidInputError([
      {
        path: 'patroni',
        message: `${scenario.name} runs a Patroni cluster, which a compose file of plain PostgreSQL containers cannot stand for (each container would need patroni and etcd); run it with --runtime local instead`,
      },
    ]);
  }
  const ordered = buildOrder(Object.values(scenario.nodes));
  const syncByPrimary = new Map<string, string[]>();
  for (const n of ordered) {
    if (n.replicaOf && n.synchronous) syncByPrimary.set(n.replicaOf, [...(syncByPrimary.get(n.replicaOf) ?? []), n.name]);
  }
  const services: Record<string, unknown> = {};
  const volumes: Record<string, unknown> = {};
  ordered.forEach((node, i) => {
    // with the run's own (wal_log_hints for a rejoin), so a node stood up by hand can be rewound too
    const settings: Record<string, string> = { ...BASE_SETTINGS, ...runSettings(scenario), ...node.settings };
    const sync = syncByPrimary.get(node.name);
    if (sync) settings.synchronous_standby_names = `ANY 1 (${sync.map((s) => `"${s}"`).join(', ')})`;
    const volume = `${node.name}-data`;
    volumes[volume] = { labels: { 'pgdrill.compose': scenario.name } };
    const environment: Record<string, string> = {
      PGDATA,
      POSTGRES_USER: 'pgdrill',
      POSTGRES_PASSWORD: '${PGDRILL_PASSWORD:-pgdrill}',
      REPLICATION_USER: 'replicator',
      REPLICATION_PASSWORD: '${PGDRILL_REPLICATION_PASSWORD:-replicator}',
    };
    if (node.replicaOf) environment.UPSTREAM = node.replicaOf;
    const service: Record<string, unknown> = {
      image: node.image ?? `postgres:${node.version}`,
      // the image's entrypoint is not used: the script below works with any image holding the binaries
      user: 'postgres',
      entrypoint: ['/bin/sh', '-c', escapeDollars(node.replicaOf ? replicaScript(node, settings) : primaryScript(node, settings))],
      environment,
      ports: [`127.0.0.1:\${PGDRILL_PORT_${node.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}:-${FIRST_HOST_PORT + i}}:5432`],
      volumes: [`${volume}:/var/lib/postgresql`],
      shm_size: '256m',
      labels: { 'pgdrill.compose': scenario.name, 'pgdrill.node': node.name, 'pgdrill.role': node.replicaOf ? `standby of ${node.replicaOf}` : 'primary' },
      healthcheck: {
        test: ['CMD-SHELL', 'pg_isready -h 127.0.0.1 -p 5432 -U pgdrill -d postgres -q'],
        interval: '2s',
        timeout: '3s',
        retries: 30,
      },
    };
    if (node.replicaOf) service.depends_on = { [node.replicaOf]: { condition: 'service_healthy' } };
    services[node.name] = service;
  });
  const doc = { name: `pgdrill-${scenario.name}`, services, volumes };
  const header = [
    // a multi-line description would end the comment: one line
    `# ${scenario.name}: ${(scenario.description ?? '').replace(/\s+/g, ' ')}`.trimEnd(),
    `# Written by \`pgdrill compose${options.source ? ' ' + options.source : ''}\`; do not edit by hand (regenerate instead).`,
    '# Primaries are made with initdb, standbys with pg_basebackup from their upstream, on first start.',
    '# Offline (no registry): `pgdrill image build 15` and use image pgdrill/postgres:15 (versions 15).',
    '# Connect: psql "host=127.0.0.1 port=<published port> user=pgdrill password=pgdrill dbname=pgdrill"',
    // the nodes only: pgdrill runs PgBouncer and HAProxy as local processes of a run
    ...(scenario.endpoint && scenario.endpoint.kind !== 'proxy'
      ? [`# The scenario's endpoint (${scenario.endpoint.kind}) is not in this file: pgdrill starts it itself for a run.`]
      : []),
    '',
  ].join('\n');
  return header + YAML.stringify(doc, { lineWidth: 0 });
}
