// A service of a local run (HAProxy here, PgBouncer alike) on the real program: it runs as the
// server user in its own folder of the run folder, dispose stops it, and `pgdrill cleanup`
// kills one that a dead pgdrill left behind, as it does the servers.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalRuntime, cleanupStaleLocalRuns } from '../../harness/runtime/local/local-runtime.js';
import { serverUser } from '../../harness/runtime/local/pg-binaries.js';
import { isAlive, processCwd } from '../../harness/runtime/local/proc.js';
import type { NodeCredentials } from '../../harness/runtime/runtime.js';
import { statsCommand } from '../../harness/endpoint/haproxy-stats.js';
import type { ServiceProcess } from '../../harness/runtime/local/service-process.js';

const credentials: NodeCredentials = { superuser: 'drill', superuserPassword: 'x', replicationUser: 'rep', replicationPassword: 'y' };

/** A HAProxy with nothing but its stats socket, started as a service of `runtime`. */
async function startHaproxy(runtime: LocalRuntime): Promise<{ service: ServiceProcess; socket: string }> {
  const service = await runtime.createService('haproxy', 'haproxy');
  const socket = path.join(service.dir, 'stats.sock');
  const cfg = await service.writeFile('haproxy.cfg', `global\n    stats socket ${socket} mode 600 level admin\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n`);
  await service.start(['-db', '-f', cfg], { ready: async () => (await statsCommand(socket, 'show info', 500)).includes('Name: HAProxy') });
  return { service, socket };
}

function uidOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
}

describe('services of a local run', () => {
  it('run as the server user in their own folder of the run, with their files 0600, and stop at dispose', async () => {
    const runtime = new LocalRuntime({ runId: `e2e-svc-${process.pid}`, credentials });
    try {
      const { service } = await startHaproxy(runtime);
      const pid = service.pid!;
      expect(service.dir).toBe(path.join(runtime.runDir, 'haproxy'));
      expect(processCwd(pid)).toBe(service.dir);
      const user = serverUser();
      if (user) expect(uidOf(pid)).toBe(user.uid);
      expect(fs.statSync(path.join(service.dir, 'haproxy.cfg')).mode & 0o777).toBe(0o600);
      expect(service.program.packageOrigin).toMatch(/^Debian package haproxy /);
      await runtime.dispose();
      expect(isAlive(pid)).toBe(false);
      expect(fs.existsSync(runtime.runDir)).toBe(false);
    } finally {
      await runtime.dispose();
    }
  });

  it('are killed by cleanup when the pgdrill that started them died', async () => {
    const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgdrill-stale-svc-'));
    fs.chmodSync(runsDir, 0o755);
    const dead = new LocalRuntime({ runId: 'dead', credentials, baseDir: runsDir });
    try {
      const { service } = await startHaproxy(dead);
      const pid = service.pid!;
      fs.writeFileSync(path.join(dead.runDir, 'pgdrill-run.json'), JSON.stringify({ runId: 'dead', pid: 2 ** 22 + 1, startTicks: 1, createdAt: '' }));
      const result = await cleanupStaleLocalRuns({ runsDir });
      expect(result.killedPids).toContain(pid);
      expect(isAlive(pid)).toBe(false);
      expect(fs.existsSync(dead.runDir)).toBe(false);
    } finally {
      await dead.dispose();
      fs.rmSync(runsDir, { recursive: true, force: true });
    }
  });
});
