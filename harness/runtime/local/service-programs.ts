// Finds the helper programs a run may start (Debian's PgBouncer and HAProxy) and says where
// each one comes from: its path, its own version and the Debian package that installed it.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { EnvironmentError } from '../../errors.js';
import type { ServiceProgram, ServiceProgramInfo } from '../runtime.js';

export const SERVICE_PROGRAMS: readonly ServiceProgram[] = ['pgbouncer', 'haproxy', 'patroni', 'etcd'];

/** The Debian package of each program, for the install hint. */
const PACKAGES: Record<ServiceProgram, string> = { pgbouncer: 'pgbouncer', haproxy: 'haproxy', patroni: 'patroni', etcd: 'etcd-server' };

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** /usr/sbin first (where Debian puts both), then PATH. */
function locate(program: ServiceProgram): string | undefined {
  const dirs = ['/usr/sbin', '/usr/bin', ...(process.env.PATH ?? '').split(':').filter(Boolean)];
  for (const dir of dirs) {
    const candidate = path.join(dir, program);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** "PgBouncer 1.18.0" -> "1.18.0"; "HAProxy version 2.6.12-1+deb12u3 2025/10/03 ..." -> "2.6.12-1+deb12u3" */
export function parseProgramVersion(program: ServiceProgram, output: string): string | undefined {
  const re = { pgbouncer: /PgBouncer\s+(\S+)/, haproxy: /HAProxy version\s+(\S+)/, patroni: /patroni\s+(\d\S*)/i, etcd: /etcd Version:\s+(\S+)/ }[program];
  return re.exec(output)?.[1];
}

function packageOf(file: string): string {
  const owner = spawnSync('dpkg-query', ['-S', file], { encoding: 'utf8', timeout: 10_000 });
  const name = owner.status === 0 ? owner.stdout.split(':')[0]?.trim() : undefined;
  if (!name) return 'not from a Debian package';
  const version = spawnSync('dpkg-query', ['-W', '-f', '${Version}', name], { encoding: 'utf8', timeout: 10_000 });
  return `Debian package ${name}${version.status === 0 && version.stdout ? ` ${version.stdout.trim()}` : ''}`;
}

const cache = new Map<ServiceProgram, ServiceProgramInfo | null>();

/** Where the program is and what it is; undefined when it is not installed. */
export function findServiceProgram(program: ServiceProgram): ServiceProgramInfo | undefined {
  if (cache.has(program)) return cache.get(program) ?? undefined;
  const file = locate(program);
  let info: ServiceProgramInfo | null = null;
  if (file) {
    const run = spawnSync(file, program === 'haproxy' ? ['-v'] : ['--version'], { encoding: 'utf8', timeout: 10_000 });
    const version = parseProgramVersion(program, `${run.stdout ?? ''}\n${run.stderr ?? ''}`);
    if (version) info = { program, path: file, version, packageOrigin: packageOf(file) };
  }
  cache.set(program, info);
  return info ?? undefined;
}

/** Like findServiceProgram, but a missing program is an environment error that says what to install. */
export function requireServiceProgram(program: ServiceProgram): ServiceProgramInfo {
  const info = findServiceProgram(program);
  if (!info) {
    throw new EnvironmentError(
      `${program === 'patroni' || program === 'etcd' ? 'a patroni: section' : `endpoint ${program}`} needs ${program} on this machine and none was found (looked in /usr/sbin, /usr/bin and PATH): ` +
        `apt-get install -y --no-install-recommends ${PACKAGES[program]}`,
      'PGDRILL_SERVICE_PROGRAM_MISSING',
    );
  }
  return info;
}
