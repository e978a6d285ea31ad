// Runtime external: the servers are somebody else's (a staging CloudNativePG cluster, an RDS
// instance, a Patroni fleet). pgdrill connects to them by URL and starts, stops, faults and
// removes nothing: preflight checks that each one answers and runs the major the scenario
// says; dispose leaves every server as it is.

import { EnvironmentError, InvalidInputError, errorMessage, type Problem } from '../../errors.js';
import type { NodeConfig } from '../../scenario/scenario.js';
import type { NodeSpec, Runtime, RuntimeNode } from '../runtime.js';
import { connectNode } from '../../topology/connect.js';
import { resolveExternalConnection } from './external-connection.js';
import { ExternalNode } from './external-node.js';

export interface ExternalRuntimeOptions {
  runId: string;
  /** the scenario's nodes, each with its url */
  nodes: Record<string, NodeConfig>;
  /** relative passwordFile and certificate paths resolve against this (the scenario file's folder) */
  baseDir: string;
}

export class ExternalRuntime implements Runtime {
  readonly kind = 'external' as const;
  readonly runId: string;
  private readonly made = new Map<string, ExternalNode>();

  constructor(private readonly options: ExternalRuntimeOptions) {
    this.runId = options.runId;
  }

  async linkHost(): Promise<string> {
    return '127.0.0.1';
  }

  /** Every node answers, as the user its URL names, and runs the major its version says. */
  async preflight(specs: NodeSpec[], signal?: AbortSignal): Promise<void> {
    const problems: Problem[] = [];
    const unreachable: string[] = [];
    for (const spec of specs) {
      signal?.throwIfAborted();
      const node = await this.createNode(spec);
      let client;
      try {
        client = await connectNode(node, { timeout: 10_000, applicationName: 'pgdrill-harness' });
      } catch (err) {
        unreachable.push(`${spec.name} (${node.external!.redacted}): ${errorMessage(err)}`);
        continue;
      }
      try {
        const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
        const major = Math.floor(Number(rows[0].v) / 10000);
        if (major !== spec.version) {
          problems.push({ path: `nodes.${spec.name}.version`, message: `is ${spec.version}, but the server at ${node.external!.redacted} runs PostgreSQL ${major}; write version: ${major}` });
        }
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    if (problems.length) throw new InvalidInputError(problems);
    if (unreachable.length) {
      throw new EnvironmentError(`cannot connect to ${unreachable.length === 1 ? 'a server' : 'servers'} of the scenario: ${unreachable.join('; ')}; check the URL, the password and that the server is up`, 'PGDRILL_EXTERNAL_UNREACHABLE');
    }
  }

  async createNode(spec: NodeSpec): Promise<RuntimeNode> {
    const existing = this.made.get(spec.name);
    if (existing) return existing;
    const config = this.options.nodes[spec.name];
    if (!config) throw new Error(`no node named "${spec.name}" in the scenario`);
    const connection = await resolveExternalConnection(config, { baseDir: this.options.baseDir });
    const node = new ExternalNode(spec.name, spec.version, connection);
    this.made.set(spec.name, node);
    return node;
  }

  async copyDataDir(): Promise<void> {
    throw new Error('pgdrill copies no data directory of a server it did not start (runtime external)');
  }

  /** Nothing to stop or remove: pgdrill started nothing (its bookkeeping schema is dropped by the run). */
  async dispose(): Promise<void> {
    this.made.clear();
  }
}
