// Client tools (psql for a seed.sql, pg_restore for a seed.dump) run against a server pgdrill
// did not start: this machine's tools, as the current user, with libpq's environment saying
// where and how to connect (TLS parameters of the node's URL included).

import os from 'node:os';
import { EnvironmentError } from '../../errors.js';
import type { ClientTool, ToolOptions, ToolResult } from '../runtime.js';
import { clientToolHint, findClientTool as findLocalTool } from '../local/pg-binaries.js';
import { runProcess } from '../local/run-process.js';
import type { ExternalNode } from './external-node.js';

const SSL_ENV: Record<string, string> = { sslmode: 'PGSSLMODE', sslrootcert: 'PGSSLROOTCERT', sslcert: 'PGSSLCERT', sslkey: 'PGSSLKEY', sslcrl: 'PGSSLCRL' };

export async function findClientTool(tool: ClientTool, minMajor: number): Promise<string | undefined> {
  return findLocalTool(tool, minMajor)?.path;
}

/** libpq's environment for the node: host, port, user, password, database and the URL's TLS parameters. */
export function libpqEnv(node: Pick<ExternalNode, 'external'>): Record<string, string> {
  const c = node.external;
  const env: Record<string, string> = { PGHOST: c.host, PGPORT: String(c.port), PGUSER: c.user, PGDATABASE: c.database };
  if (c.password !== undefined) env.PGPASSWORD = c.password;
  const query = new URL(c.url).searchParams;
  for (const [param, variable] of Object.entries(SSL_ENV)) {
    const value = query.get(param);
    if (value) env[variable] = value;
  }
  return env;
}

export async function runExternalTool(node: ExternalNode, tool: ClientTool, args: string[], options: ToolOptions): Promise<ToolResult> {
  // psql talks to any server; the others must be at least the server's major
  const minMajor = options.minMajor ?? (tool === 'psql' ? 0 : node.version);
  const found = findLocalTool(tool, minMajor);
  if (!found) throw new EnvironmentError(clientToolHint(tool, minMajor), 'PGDRILL_CLIENT_TOOL_MISSING');
  return runProcess(found.path, args, {
    user: null,
    cwd: os.tmpdir(),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C', HOME: process.env.HOME ?? os.tmpdir(), ...libpqEnv(node), ...options.env },
    timeout: options.timeout,
    signal: options.signal,
  });
}
