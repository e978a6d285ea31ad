// A node whose PostgreSQL an HA agent (Patroni) starts, stops and re-points, on this machine:
// pgdrill made its folder, port and binaries (a LocalNode it never starts) and reads the
// postmaster's pid from the data directory, where the agent's server writes it. Faults act on
// that postmaster (kill, stop, pause) or, through `host`, on the agent and the server together.

import fs from 'node:fs';
import path from 'node:path';
import type { StopMode } from '../../scenario/scenario.js';
import type { ClientTool, MemberHost, NodeState, RunService, RuntimeNode, StagedFile, ToolOptions, ToolResult } from '../runtime.js';
import { ReaperRegistry } from '../reaper/reaper-registry.js';
import type { LocalNode } from './local-node.js';
import { continueTree, isAlive, killTreeSync, signal, stopTree, waitGone } from './proc.js';
import { STOP_SIGNALS, STOP_TIMEOUTS } from '../server-conventions.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class ManagedLocalNode implements RuntimeNode {
  readonly host: MemberHost;
  /** what the last fault did to the server (or its host), until the server runs again */
  private fault?: 'stopped' | 'killed' | 'paused';
  private pausedPid?: number;
  /** postmasters already written down for the reaper */
  private readonly registered = new Set<number>();

  constructor(
    private readonly node: LocalNode,
    private readonly agent: RunService,
    startAgent: () => Promise<void>,
    /**
     * Patroni starts its postmaster in a session of its own (setsid), outside the agent's process
     * group the reaper kills: each one pgdrill sees is registered (and the run folder, which is
     * its working directory, is registered by the runtime besides)
     */
    private readonly reaper: ReaperRegistry = ReaperRegistry.none,
  ) {
    const self = this;
    let hostState: MemberHost['state'] = 'running';
    this.host = {
      get state() {
        return hostState === 'running' && !agent.running ? 'stopped' : hostState;
      },
      async kill() {
        // the agent first: it must not see its server die and start it again
        await agent.pause();
        const pid = self.postmasterPid();
        const pids = pid ? killTreeSync(pid) : [];
        await agent.kill();
        await waitGone(pids, 10_000);
        hostState = 'killed';
        self.fault = 'killed';
      },
      async stop() {
        await agent.stop();
        // Patroni shuts its server down before it exits; one that outlived it is stopped too
        await self.killLeftover();
        hostState = 'stopped';
        self.fault = 'stopped';
      },
      async pause() {
        await agent.pause();
        const pid = self.postmasterPid();
        if (pid) {
          await stopTree(pid);
          self.pausedPid = pid;
        }
        hostState = 'paused';
        self.fault = 'paused';
      },
      async resume() {
        if (self.pausedPid) continueTree(self.pausedPid);
        self.pausedPid = undefined;
        await agent.resume();
        hostState = 'running';
        self.fault = undefined;
      },
      async start() {
        if (agent.running) return;
        await startAgent();
        hostState = 'running';
        self.fault = undefined;
      },
    };
  }

  get name() {
    return this.node.name;
  }
  get version() {
    return this.node.version;
  }
  get credentials() {
    return this.node.credentials;
  }
  get address() {
    return this.node.address;
  }
  get peerAddress() {
    return this.node.peerAddress;
  }
  get dataDir() {
    return this.node.dataDir;
  }
  get origin() {
    return `${this.node.origin}, run by ${this.agent.program.program} ${this.agent.program.version}`;
  }

  /** The postmaster's pid from postmaster.pid, when that process is alive. */
  postmasterPid(): number | undefined {
    try {
      const pid = Number(fs.readFileSync(path.join(this.node.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (!(Number.isInteger(pid) && pid > 0 && isAlive(pid))) return undefined;
      if (!this.registered.has(pid)) {
        this.registered.add(pid);
        this.reaper.process(pid, `postgres ${this.name} (started by Patroni, postmaster and its children)`);
      }
      return pid;
    } catch {
      return undefined;
    }
  }

  get state(): NodeState {
    if (this.fault === 'paused') return 'paused';
    const alive = this.postmasterPid() !== undefined;
    if (alive) {
      // the agent started it again after a kill or a stop
      if (this.fault && this.host.state === 'running') this.fault = undefined;
      return this.fault === undefined ? 'running' : this.fault;
    }
    return this.fault ?? (this.agent.running ? 'stopped' : 'killed');
  }

  private refuse(what: string): never {
    throw new Error(`node "${this.name}" is run by ${this.agent.program.program}: pgdrill does not ${what} it`);
  }
  initdb(): Promise<void> {
    this.refuse('initdb');
  }
  configure(): Promise<void> {
    this.refuse('configure');
  }
  writeDataFile(): Promise<void> {
    this.refuse('write into the data directory of');
  }
  writeNodeFile(name: string, content: string | Buffer): Promise<string> {
    return this.node.writeNodeFile(name, content);
  }
  stageFile(hostPath: string, name: string): Promise<StagedFile> {
    return this.node.stageFile(hostPath, name);
  }

  /** The agent starts the server: wait until it runs (starting the host's agent if it is down). */
  async start(options: { signal?: AbortSignal; timeout?: number } = {}): Promise<void> {
    if (!this.agent.running) await this.host.start();
    const deadline = Date.now() + (options.timeout ?? 60_000);
    while (this.postmasterPid() === undefined) {
      options.signal?.throwIfAborted();
      if (Date.now() > deadline) throw new Error(`${this.agent.program.program} did not start the server of "${this.name}" within ${Math.round((options.timeout ?? 60_000) / 1000)}s`);
      await sleep(100);
    }
    this.fault = undefined;
  }

  /** Stops the server under the agent, as `pg_ctl stop` by hand would (the agent may start it again). */
  async stop(mode: StopMode = 'fast'): Promise<void> {
    const pid = this.postmasterPid();
    if (!pid) return;
    signal(pid, STOP_SIGNALS[mode]);
    if (!(await waitGone([pid], STOP_TIMEOUTS[mode]))) throw new Error(`the server of "${this.name}" did not stop (${mode}) within ${Math.round(STOP_TIMEOUTS[mode] / 1000)}s`);
    this.fault = 'stopped';
  }

  /** SIGKILL the postmaster and its children; the agent is left alone (it sees the crash). */
  async kill(): Promise<void> {
    const pid = this.postmasterPid();
    if (!pid) return;
    const pids = killTreeSync(pid);
    await waitGone(pids, 10_000);
    this.fault = 'killed';
  }

  async pause(): Promise<void> {
    const pid = this.postmasterPid();
    if (!pid) throw new Error(`node "${this.name}" has no running server to pause`);
    await stopTree(pid);
    this.pausedPid = pid;
    this.fault = 'paused';
  }

  async resume(): Promise<void> {
    if (this.pausedPid) continueTree(this.pausedPid);
    this.pausedPid = undefined;
    if (this.fault === 'paused') this.fault = undefined;
  }

  /** The server's own log (logging_collector writes it beside the data directory). */
  async logTail(lines = 20): Promise<string> {
    const file = path.join(path.dirname(this.node.dataDir), 'postgresql.log');
    try {
      return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(-lines).join('\n');
    } catch {
      return this.agent.logTail(lines);
    }
  }

  runTool(tool: ClientTool, args: string[], options?: ToolOptions): Promise<ToolResult> {
    return this.node.runTool(tool, args, options);
  }
  hasTool(tool: ClientTool, minMajor: number): Promise<boolean> {
    return this.node.hasTool(tool, minMajor);
  }

  /** Teardown, after the agent was stopped: a server that outlived it (the agent was killed) is killed. */
  async killLeftover(): Promise<void> {
    if (this.pausedPid) continueTree(this.pausedPid);
    const pid = this.postmasterPid();
    if (!pid) return;
    signal(pid, 'SIGQUIT');
    if (await waitGone([pid], 5000)) return;
    await waitGone(killTreeSync(pid), 5000);
  }
}
