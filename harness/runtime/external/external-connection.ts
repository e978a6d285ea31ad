// Where a server pgdrill did not start is, and how to log in: its URL parsed the way libpq
// reads it (sslmode and friends included, relative certificate paths against the scenario
// file's folder), with the password from the URL, a passwordFile, a passwordEnv variable or
// PGPASSWORD, in that order. A password that cannot be found is bad input (exit 2).

import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { parse } from 'pg-connection-string';
import { InvalidInputError, errorMessage, type Problem } from '../../errors.js';
import type { NodeConfig } from '../../scenario/scenario.js';
import type { ExternalConnection } from '../runtime.js';
import { redactUrl, urlProblem } from '../../scenario/external-fields.js';

const CERT_PARAMS = ['sslrootcert', 'sslcert', 'sslkey'];

/** Reads the node's connection; throws InvalidInputError naming the field when it cannot. */
export async function resolveExternalConnection(
  node: Pick<NodeConfig, 'name' | 'url' | 'passwordFile' | 'passwordEnv'>,
  options: { baseDir: string; env?: NodeJS.ProcessEnv } = { baseDir: process.cwd() },
): Promise<ExternalConnection> {
  const env = options.env ?? process.env;
  const base = `nodes.${node.name}`;
  const fail = (problem: Problem): never => {
    throw new InvalidInputError([problem]);
  };
  if (!node.url) return fail({ path: `${base}.url`, message: "required with runtime external: the server's postgres:// URL" });
  const bad = urlProblem(node.url);
  if (bad) return fail({ path: `${base}.url`, message: bad });

  const url = new URL(node.url);
  for (const param of CERT_PARAMS) {
    const file = url.searchParams.get(param);
    if (file && !path.isAbsolute(file)) url.searchParams.set(param, path.resolve(options.baseDir, file));
  }
  let password = url.password ? decodeURIComponent(url.password) : undefined;
  if (password === undefined && node.passwordFile) {
    const file = path.resolve(options.baseDir, node.passwordFile);
    try {
      password = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      fail({ path: `${base}.passwordFile`, message: `cannot read ${file}: ${errorMessage(err)}; give a readable file holding the password` });
    }
  }
  if (password === undefined && node.passwordEnv) {
    const value = env[node.passwordEnv];
    if (value === undefined) fail({ path: `${base}.passwordEnv`, message: `the environment variable ${node.passwordEnv} is not set; export it (or give passwordFile)` });
    password = value;
  }
  if (password === undefined && env.PGPASSWORD !== undefined) password = env.PGPASSWORD;
  if (password !== undefined) url.password = encodeURIComponent(password);
  const full = url.toString();

  let parsed: ReturnType<typeof parse>;
  try {
    // libpq's meaning of sslmode: require encrypts without checking the certificate, verify-full checks both
    parsed = parse(full, { useLibpqCompat: true });
  } catch (err) {
    return fail({ path: `${base}.url`, message: `${redactUrl(node.url)} cannot be used: ${errorMessage(err)}` });
  }
  const user = decodeURIComponent(url.username);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : 5432,
    user,
    ...(password !== undefined ? { password } : {}),
    // libpq's default database is the user's name
    database: parsed.database || user,
    ...tlsOf(parsed.ssl),
    url: full,
    redacted: redactUrl(full),
  };
}

function tlsOf(ssl: ReturnType<typeof parse>['ssl']): { ssl?: TlsOptions } {
  if (ssl === undefined || ssl === false) return {};
  if (ssl === true || typeof ssl === 'string') return { ssl: {} };
  const out: TlsOptions = {};
  if (ssl.ca !== undefined) out.ca = ssl.ca;
  if (ssl.cert) out.cert = ssl.cert;
  if (ssl.key !== undefined) out.key = ssl.key;
  if (ssl.rejectUnauthorized !== undefined) out.rejectUnauthorized = ssl.rejectUnauthorized;
  const rest = ssl as Record<string, unknown>;
  if (typeof rest.checkServerIdentity === 'function') out.checkServerIdentity = rest.checkServerIdentity as TlsOptions['checkServerIdentity'];
  return { ssl: out };
}

/**
 * TLS for a connection that reaches the server through a proxy of pgdrill's (127.0.0.1:port):
 * the certificate is still checked against the server's own name, not the proxy's address.
 */
export function tlsThroughProxy(connection: ExternalConnection): TlsOptions | undefined {
  if (!connection.ssl) return undefined;
  return isIP(connection.host) ? { ...connection.ssl } : { ...connection.ssl, servername: connection.host };
}
