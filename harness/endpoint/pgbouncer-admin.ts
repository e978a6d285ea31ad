// PgBouncer's admin console (the virtual database "pgbouncer", simple query protocol only) over
// its unix socket: SHOW, PAUSE, RESUME, RELOAD, RECONNECT, KILL. Every command is bounded in
// time; a command that does not answer leaves its connection unusable, so it is dropped.

import pg from 'pg';
import { destroyClient } from '../topology/connect.js';

export interface AdminOptions {
  socketDir: string;
  port: number;
  user: string;
  password: string;
}

export class AdminTimeout extends Error {}


export class PgBouncerAdmin {
  private session?: Promise<pg.Client>;

  constructor(private readonly options: AdminOptions) {}

  /** A connection of its own (PAUSE blocks the connection it was sent on until it completes). */
  async open(): Promise<pg.Client> {
    const client = new pg.Client({
      host: this.options.socketDir,
      port: this.options.port,
      user: this.options.user,
      password: this.options.password,
      database: 'pgbouncer',
      connectionTimeoutMillis: 3000,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      destroyClient(client);
      throw err;
    }
    return client;
  }

  /** Runs `command` on the shared console session (opened on first use, again after a failure). */
  async run<T extends Record<string, unknown> = Record<string, unknown>>(command: string, timeoutMs = 5000): Promise<T[]> {
    this.session ??= this.open();
    const session = this.session;
    let client: pg.Client;
    try {
      client = await session;
    } catch (err) {
      if (this.session === session) this.session = undefined;
      throw err;
    }
    try {
      return await runOn<T>(client, command, timeoutMs);
    } catch (err) {
      // a console session that timed out or broke is not reused
      if (this.session === session) this.session = undefined;
      destroyClient(client);
      throw err;
    }
  }

  async close(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    const client = await session?.catch(() => undefined);
    if (client) destroyClient(client);
  }
}

/** `command` on `client` within timeoutMs; an AdminTimeout leaves the client to be dropped by the caller. */
export async function runOn<T extends Record<string, unknown>>(client: pg.Client, command: string, timeoutMs: number): Promise<T[]> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AdminTimeout(`PgBouncer did not answer ${command} within ${timeoutMs}ms`)), timeoutMs);
  });
  const query = client.query(command);
  query.catch(() => undefined);
  try {
    const result = await Promise.race([query, expired]);
    return result.rows as T[];
  } finally {
    clearTimeout(timer);
  }
}

