// Client tools run on this machine as the current user, outside any run (pgdrill init dumps a
// live database with pg_dump): the same search for a tool of the right major as the nodes use.

import { EnvironmentError } from '../../errors.js';
import type { ClientTool, ToolResult } from '../runtime.js';
import { clientToolHint, findClientTool } from './pg-binaries.js';
import { runProcess } from './run-process.js';

export async function runLocalTool(
  tool: ClientTool,
  args: string[],
  options: { minMajor: number; env?: Record<string, string>; signal?: AbortSignal; timeout?: number },
): Promise<ToolResult> {
  const found = findClientTool(tool, options.minMajor);
  if (!found) throw new EnvironmentError(clientToolHint(tool, options.minMajor), 'PGDRILL_CLIENT_TOOL_MISSING');
  return runProcess(found.path, args, {
    user: null,
    cwd: process.cwd(),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C', HOME: process.env.HOME ?? '/', ...options.env },
    signal: options.signal,
    timeout: options.timeout,
  });
}
