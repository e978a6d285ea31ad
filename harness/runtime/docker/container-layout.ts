// Where things live inside a node's container, and the probe that finds an image's
// PostgreSQL binaries: pgdrill does not use the image's entrypoint, so any image that holds
// the binaries works (the official postgres:<major>, the offline-built pgdrill/postgres:<major>).

import type { ClientTool } from '../runtime.js';

/** pgdrill's folder in every container: owned by the postgres user. */
export const ROOT = '/var/lib/pgdrill';
export const DATA_DIR = `${ROOT}/data`;
export const LOG_FILE = `${ROOT}/server.log`;
/** unix sockets; 0700, so trust on the socket is only for the postgres user of the container */
export const SOCKET_DIR = `${ROOT}/run`;
export const PG_PORT = 5432;

/**
 * The container's main process: a shell that sleeps and exits on TERM. PostgreSQL is not the
 * main process but a child exec'd beside it, so that a node's container exists (for
 * pg_basebackup into its data dir, for logs) while its server is stopped, and so that the
 * server can be stopped, killed and started again without losing the container.
 */
export const KEEPER = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'];

const PROBED_TOOLS: (ClientTool | 'postgres' | 'initdb')[] = ['postgres', 'initdb', 'pg_basebackup', 'pg_dump', 'pg_dumpall', 'pg_restore', 'psql', 'pg_rewind'];

/**
 * Run as root once per container: makes sure a postgres user and pgdrill's folder exist
 * (plain images may have neither), then lists every PostgreSQL program with its --version.
 * Distribution layouts first: /usr/bin/psql is often a wrapper that needs Perl.
 */
export const SETUP_AND_PROBE = `
if ! grep -q '^postgres:' /etc/passwd; then
  echo 'postgres:x:999:999:PostgreSQL:${ROOT}:/bin/sh' >> /etc/passwd
  grep -q '^postgres:' /etc/group || echo 'postgres:x:999:' >> /etc/group
fi
mkdir -p ${SOCKET_DIR} || exit 70
chown "postgres:$(id -g postgres)" ${ROOT} ${SOCKET_DIR} || exit 71
chmod 755 ${ROOT}; chmod 700 ${SOCKET_DIR}
for d in /usr/lib/postgresql/*/bin /usr/local/pgsql/bin /usr/pgsql-*/bin /opt/*/bin /usr/local/bin /usr/bin; do
  [ -d "$d" ] || continue
  for t in ${PROBED_TOOLS.join(' ')}; do
    [ -x "$d/$t" ] || continue
    v=$("$d/$t" --version 2>/dev/null | head -n 1)
    printf 'tool\\t%s\\t%s\\t%s\\n' "$t" "$d/$t" "$v"
  done
done
exit 0`;

export interface ProbedProgram {
  name: string;
  path: string;
  major: number;
  /** "15.18" */
  version: string;
}

export function parseProbe(output: string): ProbedProgram[] {
  const found: ProbedProgram[] = [];
  const seen = new Set<string>();
  for (const line of output.split('\n')) {
    const [kind, name, file, versionText] = line.split('\t');
    if (kind !== 'tool' || !name || !file) continue;
    const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(versionText ?? '');
    if (!m) continue; // e.g. a wrapper script whose interpreter the image lacks
    const major = Number(m[1]);
    const key = `${name}:${major}`;
    if (seen.has(key)) continue; // the first directory wins
    seen.add(key);
    found.push({ name, path: file, major, version: m[2] !== undefined ? `${m[1]}.${m[2]}` : m[1] });
  }
  return found;
}

/** A program of major >= minMajor (exactly minMajor for pg_rewind), newest first. */
export function pickProgram(programs: ProbedProgram[], name: string, minMajor: number): ProbedProgram | undefined {
  const exact = name === 'pg_rewind';
  return programs
    .filter((p) => p.name === name && (exact ? p.major === minMajor : p.major >= minMajor))
    .sort((a, b) => b.major - a.major)[0];
}
