// HAProxy's stats socket (its runtime API over a unix socket): one command per connection, the
// answer read to the end. `show stat` says each server's state; a watcher polls it and records
// every change (UP, DOWN, MAINT) with the run's clock, so "HAProxy marked the new primary up N ms
// after the promotion" is measured, not assumed. Parsing is pure.

import net from 'node:net';

/** One server line of `show stat`. */
export interface ServerStat {
  backend: string;
  server: string;
  /** UP, DOWN, MAINT, "UP 1/3" (going down), "DOWN 1/2" (going up), "no check"... */
  status: string;
  /** the last check's status and code, e.g. "L7OK/200", "L7STS/503", "L4CON" */
  check: string;
}

/** The state that counts: UP or DOWN (transitional "UP 1/3" is still UP), MAINT, or what HAProxy says. */
export function settledState(status: string): string {
  const word = status.split(/\s+/)[0] ?? status;
  return word === 'NOLB' || word === 'DRAIN' ? 'UP' : word;
}

/** Parses `show stat` CSV ("# pxname,svname,...") into its server lines (FRONTEND/BACKEND rows left out). */
export function parseShowStat(csv: string): ServerStat[] {
  const lines = csv.split('\n').filter((l) => l.trim().length > 0);
  const header = lines.shift();
  if (!header?.startsWith('# ')) return [];
  const columns = header.slice(2).split(',');
  const at = (name: string) => columns.indexOf(name);
  const [px, sv, status, checkStatus, checkCode] = [at('pxname'), at('svname'), at('status'), at('check_status'), at('check_code')];
  const out: ServerStat[] = [];
  for (const line of lines) {
    const cells = line.split(',');
    const server = cells[sv];
    if (!server || server === 'FRONTEND' || server === 'BACKEND') continue;
    const code = cells[checkCode];
    out.push({
      backend: cells[px],
      server,
      status: cells[status] ?? '',
      check: `${cells[checkStatus] ?? ''}${code ? `/${code}` : ''}`,
    });
  }
  return out;
}

/** Sends one command to the stats socket and resolves with the whole answer. */
export function statsCommand(socketPath: string, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: socketPath });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`HAProxy's stats socket did not answer "${command}" within ${timeoutMs}ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (b: Buffer) => chunks.push(b));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

export interface StateChange {
  /** run time (ms) the change was seen */
  t: number;
  backend: string;
  server: string;
  state: string;
  previous: string | null;
  check: string;
}

/**
 * Polls `show stat` every `intervalMs` and keeps every server's settled state, calling
 * `onChange` for each change (the first sighting too, with previous null). A change is seen
 * within one interval of HAProxy making it.
 */
export class ServerStateWatcher {
  private readonly states = new Map<string, StateChange>();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private polling?: Promise<void>;
  private lastError?: string;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly socketPath: string,
    private readonly now: () => number,
    private readonly onChange: (change: StateChange) => void,
    private readonly intervalMs = 20,
  ) {}

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.polling = this.poll().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.intervalMs);
      });
    };
    tick();
  }

  /** A poll right now (the watcher keeps its own pace too). */
  async poll(): Promise<void> {
    let text: string;
    try {
      text = await statsCommand(this.socketPath, 'show stat');
      this.lastError = undefined;
    } catch (err) {
      this.lastError = (err as Error).message;
      return;
    }
    const t = this.now();
    for (const stat of parseShowStat(text)) {
      const key = `${stat.backend}/${stat.server}`;
      const state = settledState(stat.status);
      const known = this.states.get(key);
      if (known && known.state === state) continue;
      const change: StateChange = { t, backend: stat.backend, server: stat.server, state, previous: known?.state ?? null, check: stat.check };
      this.states.set(key, change);
      this.onChange(change);
    }
    for (const wake of [...this.waiters]) wake();
  }

  /** The server's state and since when it holds, as last seen. */
  state(backend: string, server: string): StateChange | undefined {
    return this.states.get(`${backend}/${server}`);
  }

  /** Resolves once `predicate` holds after a poll, or rejects after timeoutMs saying what was last seen. */
  until(what: string, predicate: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        signal?.removeEventListener('abort', aborted);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (predicate()) finish();
      };
      const aborted = () => finish(new Error(`stopped waiting for ${what}: the run was interrupted`));
      const timer = setTimeout(
        () => finish(new Error(`${what} did not happen within ${Math.round(timeoutMs)}ms${this.lastError ? ` (stats socket: ${this.lastError})` : ''}; ${this.describe()}`)),
        timeoutMs,
      );
      this.waiters.add(check);
      signal?.addEventListener('abort', aborted, { once: true });
    });
  }

  /** "pgdrill_write/primary DOWN, pgdrill_write/replica UP" */
  describe(backend?: string): string {
    const all = [...this.states.values()].filter((s) => backend === undefined || s.backend === backend);
    return all.length ? all.map((s) => `${s.backend}/${s.server} ${s.state} (${s.check || 'no check yet'})`).join(', ') : 'no server state seen yet';
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling?.catch(() => undefined);
  }
}
