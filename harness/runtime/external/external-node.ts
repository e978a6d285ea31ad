// A server pgdrill did not start (runtime external): it connects to it and nothing else.
// Every operation that would start, stop, fault or change the server is refused with the
// reason; the scenario loader refuses the scenarios that would need them, so reaching one
// here is pgdrill's bug, not the user's.

import type {
  Address,
  ClientTool,
  ExternalConnection,
  NodeCredentials,
  NodeState,
  RuntimeNode,
  StagedFile,
  ToolOptions,
  ToolResult,
} from '../runtime.js';
import { findClientTool, runExternalTool } from './external-tools.js';

export class ExternalNode implements RuntimeNode {
  readonly state: NodeState = 'running';
  readonly dataDir = '';
  readonly credentials: NodeCredentials;
  readonly address: Address;
  readonly peerAddress: Address;

  constructor(
    readonly name: string,
    readonly version: number,
    readonly external: ExternalConnection,
  ) {
    this.address = { host: external.host, port: external.port };
    this.peerAddress = this.address;
    // the user's role stands in for the run's superuser; replication is the platform's own
    this.credentials = { superuser: external.user, superuserPassword: external.password ?? '', replicationUser: '', replicationPassword: '' };
  }

  get origin(): string {
    return `external server ${this.external.redacted} (not started by pgdrill)`;
  }

  private refuse(what: string): never {
    throw new Error(`pgdrill does not ${what} ${this.name}: it is a server pgdrill did not start (runtime external)`);
  }

  initdb(): Promise<void> {
    this.refuse('initdb');
  }
  configure(): Promise<void> {
    this.refuse('change the settings of');
  }
  writeDataFile(): Promise<void> {
    this.refuse('write into the data directory of');
  }
  writeNodeFile(): Promise<string> {
    this.refuse('write files beside');
  }
  start(): Promise<void> {
    this.refuse('start');
  }
  stop(): Promise<void> {
    this.refuse('stop');
  }
  kill(): Promise<void> {
    this.refuse('kill');
  }
  pause(): Promise<void> {
    this.refuse('pause');
  }
  resume(): Promise<void> {
    this.refuse('resume');
  }
  async logTail(): Promise<string> {
    return `(the server log of ${this.name} is on its own host: pgdrill did not start it)`;
  }
  runTool(tool: ClientTool, args: string[], options: ToolOptions = {}): Promise<ToolResult> {
    return runExternalTool(this, tool, args, options);
  }
  async hasTool(tool: ClientTool, minMajor: number): Promise<boolean> {
    return (await findClientTool(tool, minMajor)) !== undefined;
  }
  async stageFile(hostPath: string): Promise<StagedFile> {
    // the tools run on this machine: the file is where it is
    return { path: hostPath, remove: async () => undefined };
  }
}
