// The reaper: a small watchdog process each run starts (start-reaper.ts), in its own session
// so that neither a Ctrl-C in the terminal nor a kill -9 of pgdrill reaches it (testcontainers'
// Ryuk, as a process). It watches pgdrill's process (a pipe that closes when it dies, and its
// pid with its start time) and, once it is gone without having written `done` to the run's
// registry, removes everything the registry lists (reap.ts), records a `reaper-reaped` event
// in the run's events.jsonl and exits. After a normal teardown it finds `done` and exits.
//
// node reaper-main.js --registry <reaper.jsonl> --owner <pid> --owner-ticks <n> [--events <events.jsonl>] [--t0 <epoch ms>] [--keep]

import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { procInfo } from '../local/proc.js';
import { readRegistry } from './reaper-registry.js';
import { reap } from './reap.js';

const POLL_MS = 100;

const { values: args } = parseArgs({
  options: {
    registry: { type: 'string' },
    owner: { type: 'string' },
    'owner-ticks': { type: 'string' },
    events: { type: 'string' },
    t0: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

const registry = args.registry!;
const owner = Number(args.owner);
const ownerTicks = Number(args['owner-ticks']);

function ownerAlive(): boolean {
  const info = procInfo(owner);
  return info !== undefined && info.state !== 'Z' && info.state !== 'X' && info.startTicks === ownerTicks;
}

// the registry only grows: read it again only when it did
let seenSize = -1;
let done = false;
function finishedNormally(): boolean {
  let size = 0;
  try {
    size = fs.statSync(registry).size;
  } catch {
    return false;
  }
  if (size !== seenSize) {
    seenSize = size;
    done = readRegistry(registry).some((e) => e.kind === 'done');
  }
  return done;
}

let acting = false;
async function check(): Promise<void> {
  if (acting) return;
  // the run tore down: nothing to do, whether pgdrill goes on (a test runner, a comparison) or not
  if (finishedNormally()) process.exit(0);
  if (ownerAlive()) return;
  acting = true;
  // written in the instant before it died?
  seenSize = -1;
  if (finishedNormally()) process.exit(0);
  const startedAt = Date.now();
  const result = await reap(readRegistry(registry), { keep: args.keep });
  if (args.events) {
    const t0 = Number(args.t0);
    const event = {
      t: Number.isFinite(t0) ? Math.round(Date.now() - t0) : null,
      kind: 'reaper-reaped',
      owner,
      tookMs: Date.now() - startedAt,
      killed: byLabel(result.killed),
      containers: result.containers,
      networks: result.networks,
      volumes: result.volumes,
      unmounted: result.unmounted,
      removedDirs: result.removedDirs,
      failures: result.failures,
      keep: args.keep,
    };
    appendLine(args.events, JSON.stringify(event));
  }
  process.exit(result.failures.length ? 1 : 0);
}

/** "postgres primary (postmaster and its children): 14 processes (8886, 8887, ...)" */
function byLabel(killed: { pid: number; label: string }[]): string[] {
  const groups = new Map<string, number[]>();
  for (const k of killed) groups.set(k.label, [...(groups.get(k.label) ?? []), k.pid]);
  return [...groups].map(([label, pids]) => `${label}: ${pids.length} process${pids.length === 1 ? '' : 'es'} (${pids.slice(0, 8).join(', ')}${pids.length > 8 ? ', ...' : ''})`);
}

/** Appends a line, starting a new one if the file's last line was cut short by the crash. */
function appendLine(file: string, line: string): void {
  try {
    let prefix = '';
    const fd = fs.openSync(file, 'a+');
    try {
      const size = fs.fstatSync(fd).size;
      if (size > 0) {
        const last = Buffer.alloc(1);
        fs.readSync(fd, last, 0, 1, size - 1);
        if (last[0] !== 0x0a) prefix = '\n';
      }
      fs.writeSync(fd, prefix + line + '\n');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // the run folder is gone: nobody is left to read it
  }
}

// pgdrill holds the other end of stdin: it closes the instant pgdrill's process ends, however it ends
process.stdin.on('end', () => void check());
process.stdin.on('error', () => void check());
process.stdin.resume();
// and the pid, in case the pipe is not what it seems (a descriptor inherited elsewhere)
setInterval(() => void check(), POLL_MS);
void check();
