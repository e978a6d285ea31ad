// How a client with no middlebox finds the primary on each (re)connect. The default asks each
// node in turn, as libpq's target_session_attrs=read-write does: connect, and keep the
// session only if the node is out of recovery and not read-only. Pluggable: with Patroni a
// lookup can ask its REST API (/cluster) for the leader instead.

import type pg from 'pg';
import type { Address } from '../runtime/runtime.js';
import { errorMessage } from '../errors.js';
import { destroyClient } from '../topology/connect.js';

export interface Candidate {
  name: string;
  address: Address;
}

export interface PrimaryLookup {
  /** how it decides, in words, for the report */
  readonly description: string;
  /**
   * Opens a session on the writable primary among `candidates` (in order), closing every other
   * connection it made; throws saying what each candidate was when none is writable.
   */
  open(candidates: readonly Candidate[], connect: (address: Address) => Promise<pg.Client>): Promise<{ client: pg.Client; chosen: Candidate }>;
}

/** Thrown when no candidate is the writable primary: the client backs off and looks again. */
export class NoWritableNode extends Error {
  constructor(readonly findings: string[]) {
    super(`no writable node: ${findings.join('; ')}`);
  }
}


/** libpq's target_session_attrs=read-write: the first node, in order, that is out of recovery and read-write. */
export const readWriteLookup: PrimaryLookup = {
  description: 'each node in turn, keeping the first that is out of recovery and not read-only (libpq target_session_attrs=read-write)',
  async open(candidates, connect) {
    const findings: string[] = [];
    for (const candidate of candidates) {
      let client: pg.Client;
      try {
        client = await connect(candidate.address);
      } catch (err) {
        findings.push(`${candidate.name} ${errorMessage(err)}`);
        continue;
      }
      try {
        const { rows } = await client.query(
          `SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only`,
        );
        if (!rows[0].recovery && rows[0].read_only === 'off') return { client, chosen: candidate };
        findings.push(`${candidate.name} ${rows[0].recovery ? 'in recovery' : 'read-only'}`);
      } catch (err) {
        findings.push(`${candidate.name} ${errorMessage(err)}`);
      }
      destroyClient(client);
    }
    throw new NoWritableNode(findings);
  },
};
