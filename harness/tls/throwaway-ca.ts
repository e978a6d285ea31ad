// A certificate authority made for one run and thrown away with it: its certificate, one
// server certificate every node presents (its names: every node's, loopback, the address
// standbys reach pgdrill's link proxies at), and client certificates whose CN is the user
// they log in as (pg_hba clientcert=verify-full checks that). Made with the openssl CLI:
// node:crypto cannot sign X.509 certificates on Node 20. EC P-256 keys, valid for two days.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { EnvironmentError, errorMessage } from '../errors.js';

const run = promisify(execFile);

export interface KeyPair {
  /** PEM */
  cert: string;
  /** PEM, unencrypted */
  key: string;
}

export interface ThrowawayCa {
  /** the CA's certificate (PEM): what every side trusts */
  caCert: string;
  /** its subject, for the report */
  caSubject: string;
  /** the SHA-256 fingerprint of the CA certificate, for the report */
  caFingerprint: string;
  server: KeyPair;
  /** the names the server certificate holds (DNS and IP) */
  serverNames: string[];
  /** user name -> a client certificate with that CN */
  clients: Record<string, KeyPair>;
}

export interface CaRequest {
  /** the run id: names the CA */
  runId: string;
  /** host names and IP addresses the server certificate must hold */
  serverNames: string[];
  /** users to make client certificates for */
  clientUsers: string[];
}

/** The openssl program and its version; undefined when there is none. */
export async function findOpenssl(): Promise<{ path: string; version: string } | undefined> {
  try {
    const { stdout } = await run('openssl', ['version'], { timeout: 10_000 });
    const { stdout: where } = await run('sh', ['-c', 'command -v openssl'], { timeout: 10_000 }).catch(() => ({ stdout: 'openssl' }));
    return { path: where.trim() || 'openssl', version: stdout.trim() };
  } catch {
    return undefined;
  }
}

/** exit 3 before anything starts, saying what to install */
export async function requireOpenssl(): Promise<void> {
  if (await findOpenssl()) return;
  throw new EnvironmentError(
    'the scenario asks for tls, and pgdrill makes its throwaway certificates with the openssl command, which was not found on PATH: ' +
      'install it (`apt-get install openssl` on Debian/Ubuntu) or remove the tls section',
    'PGDRILL_OPENSSL_MISSING',
  );
}

export async function makeThrowawayCa(request: CaRequest): Promise<ThrowawayCa> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgdrill-ca-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = async (args: string[]) => {
    try {
      await run('openssl', args, { cwd: dir, timeout: 30_000 });
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
      throw new EnvironmentError(`openssl ${args[0]} failed while making the run's certificates: ${stderr || errorMessage(err)}`, 'PGDRILL_TLS_SETUP_FAILED');
    }
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const serial = () => ['-set_serial', `0x${randomBytes(8).toString('hex')}`];
  try {
    const caSubject = `/CN=pgdrill throwaway CA ${request.runId.slice(0, 40)}`;
    await openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', caSubject, ...serial(),
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);

    const sign = async (name: string, subject: string, extensions: string[]) => {
      await openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
      await writeFile(file(`${name}.ext`), extensions.join('\n') + '\n');
      await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', ...serial(), '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
      return { cert: await readFile(file(`${name}.crt`), 'utf8'), key: await readFile(file(`${name}.key`), 'utf8') };
    };

    const names = [...new Set(request.serverNames)];
    const san = names.map((n) => (net.isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    const server = await sign('server', '/CN=pgdrill-server', ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth', `subjectAltName=${san}`]);
    const clients: Record<string, KeyPair> = {};
    for (const [i, user] of [...new Set(request.clientUsers)].entries()) {
      if (!/^[A-Za-z0-9_.-]+$/.test(user)) throw new Error(`client certificate user ${JSON.stringify(user)}: only letters, digits, '_', '.' and '-'`);
      clients[user] = await sign(`client${i}`, `/CN=${user}`, ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth']);
    }
    const caCert = await readFile(file('ca.crt'), 'utf8');
    const { stdout } = await run('openssl', ['x509', '-in', 'ca.crt', '-noout', '-fingerprint', '-sha256'], { cwd: dir, timeout: 10_000 });
    return {
      caCert,
      caSubject: caSubject.slice(1),
      caFingerprint: stdout.trim().replace(/^.*=/, ''),
      server,
      serverNames: names,
      clients,
    };
  } finally {
    // the keys live on in memory and in the nodes' own folders only
    await rm(dir, { recursive: true, force: true });
  }
}
