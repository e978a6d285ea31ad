// pg_dump, pg_restore, pg_dumpall and psql as the data-copying strategies run them: in the
// environment of a node whose tools can read the source (pg_dump refuses servers newer than
// itself), reaching every server through its peer address, with files in that node's scratch
// space. Locally the tools come from system installs; on docker, from the node's image.

import path from 'node:path';
import type { ClientTool, RuntimeNode } from '../runtime/runtime.js';
import { EnvironmentError } from '../errors.js';
import type { StrategyConfig, StrategyKind } from '../scenario/scenario.js';
import type { Strategy } from './strategy.js';

/** What a data-copying strategy runs: pg_dump and pg_restore, plus what copies roles with `globals`. */
export function copyTools(config: StrategyConfig): ClientTool[] {
  return config.globals ? ['pg_dump', 'pg_restore', 'pg_dumpall', 'psql'] : ['pg_dump', 'pg_restore'];
}

/**
 * The preflight of the data-copying strategies: the copy tools are there, on the target or
 * the source, or the run stops (exit 3) before anything is seeded or loaded.
 */
export function requireCopyTools(kind: StrategyKind): NonNullable<Strategy['preflight']> {
  return async ({ config, topology }) => {
    const from = topology.node(config.from);
    const candidates = [topology.node(config.to), from];
    const tools = copyTools(config);
    if (!(await findToolHost(candidates, tools, from.version))) throw missingToolsError(kind, tools, from.version, candidates);
  };
}

/**
 * The first of `candidates` that has every tool of a major >= minMajor. The target comes
 * first: on docker its (newer) image carries tools that read the older source.
 */
export async function findToolHost(candidates: RuntimeNode[], tools: ClientTool[], minMajor: number): Promise<RuntimeNode | undefined> {
  for (const node of candidates) {
    const found = await Promise.all(tools.map((t) => node.hasTool(t, minMajor)));
    if (found.every(Boolean)) return node;
  }
  return undefined;
}

/** exit 3, saying what to install */
export function missingToolsError(kind: StrategyKind, tools: ClientTool[], minMajor: number, candidates: RuntimeNode[]): EnvironmentError {
  const names = candidates.map((n) => n.name).join(' or ');
  return new EnvironmentError(
    `strategy ${kind} needs ${tools.join(', ')} of PostgreSQL ${minMajor} or newer (the source runs ${minMajor}; pg_dump refuses ` +
      `servers newer than itself), and no such tools were found for ${names}. Install client tools of major ${minMajor} or newer: ` +
      `on Debian/Ubuntu \`apt-get install postgresql-client-<N>\` with N >= ${minMajor} (Debian 12 has 15; the PGDG apt repository has every major), ` +
      `or set PGDRILL_PG_BIN_<N> to a bin directory that holds them; with --runtime docker, give the target node an image that ships them (postgres:<N> does).`,
    'PGDRILL_CLIENT_TOOL_MISSING',
  );
}

/** -h -p -U for reaching `node` from wherever the tool runs (loopback locally, a DNS name on docker) */
export function connectionArgs(node: RuntimeNode): string[] {
  return ['-h', node.peerAddress.host, '-p', String(node.peerAddress.port), '-U', node.credentials.superuser];
}

/** A file beside the host node's data directory (inside its run folder or container). */
export function scratchFile(host: RuntimeNode, name: string): string {
  return path.posix.join(path.posix.dirname(host.dataDir), name);
}

export interface ToolRun {
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a tool on `host`; a non-zero exit throws with the tool's own last words. */
export async function runClientTool(
  host: RuntimeNode,
  tool: ClientTool,
  args: string[],
  options: { minMajor: number; password: string; signal?: AbortSignal; timeout?: number },
): Promise<ToolRun> {
  const started = performance.now();
  const result = await host.runTool(tool, args, {
    minMajor: options.minMajor,
    env: { PGPASSWORD: options.password, PGCONNECT_TIMEOUT: '10' },
    signal: options.signal,
    timeout: options.timeout ?? 3_600_000,
  });
  const ms = performance.now() - started;
  if (result.exitCode !== 0) {
    const said = (result.stderr || result.stdout).trim().split('\n').slice(-8).join('\n');
    const why = result.exitCode === 124 ? 'timed out' : `exit ${result.exitCode}`;
    throw new Error(`${tool} on ${host.name} failed (${why}): ${said}`);
  }
  return { stdout: result.stdout, stderr: result.stderr, ms };
}

/** "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> "15.18" */
export async function toolVersion(host: RuntimeNode, tool: ClientTool, minMajor: number): Promise<string> {
  const result = await host.runTool(tool, ['--version'], { minMajor, timeout: 30_000 });
  return /\d+(\.\d+)?/.exec(result.stdout)?.[0] ?? result.stdout.trim();
}

/** 1234.5 -> "1.23s", for step details */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}
