// The run's throwaway CA (openssl CLI, no server): the server certificate holds every name
// standbys and clients reach a node by and is signed by the CA, client certificates carry the
// user as CN (what pg_hba clientcert=verify-full compares), and the keys fit the certificates.
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { findOpenssl, makeThrowawayCa } from '../../harness/tls/throwaway-ca.js';

const openssl = await findOpenssl();

describe.skipIf(!openssl)('makeThrowawayCa', () => {
  it('makes a CA, a server certificate for every name, and one client certificate per user', async () => {
    const ca = await makeThrowawayCa({ runId: 'unit-run', serverNames: ['primary', 'replica', 'localhost', '127.0.0.1', '172.20.0.1', 'primary'], clientUsers: ['replicator', 'pgdrill'] });
    const root = new X509Certificate(ca.caCert);
    expect(root.ca).toBe(true);
    expect(root.subject).toContain('pgdrill throwaway CA unit-run');
    expect(ca.caFingerprint).toBe(root.fingerprint256);

    const server = new X509Certificate(ca.server.cert);
    expect(server.verify(root.publicKey)).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.subjectAltName).toBe('DNS:primary, DNS:replica, DNS:localhost, IP Address:127.0.0.1, IP Address:172.20.0.1');
    // verify-full through a link proxy checks the proxy's address: the certificate must hold it
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkHost('replica')).toBe('replica');
    expect(createPublicKey(createPrivateKey(ca.server.key)).export({ format: 'pem', type: 'spki' })).toBe(server.publicKey.export({ format: 'pem', type: 'spki' }));

    expect(Object.keys(ca.clients)).toEqual(['replicator', 'pgdrill']);
    for (const [user, pair] of Object.entries(ca.clients)) {
      const cert = new X509Certificate(pair.cert);
      expect(cert.subject).toBe(`CN=${user}`);
      expect(cert.verify(root.publicKey)).toBe(true);
      expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.2'); // clientAuth
    }
  });

  it('refuses a user name that would not survive a certificate subject', async () => {
    await expect(makeThrowawayCa({ runId: 'x', serverNames: ['a'], clientUsers: ['bad/name'] })).rejects.toThrow(/only letters, digits/);
  });
});
