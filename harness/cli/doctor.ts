// `pgdrill doctor`: what this machine offers pgdrill, checked without starting or
// downloading anything: server binaries and client tools per major, Docker, the server user.

import Docker from 'dockerode';
import { describeBinaries } from '../runtime/local/pg-binaries.js';
import { errorMessage } from '../errors.js';

export async function runDoctor(): Promise<string> {
  const report = describeBinaries();
  const lines: string[] = [];
  const isRoot = process.getuid?.() === 0;
  lines.push(
    `user: ${isRoot ? 'root' : (process.env.USER ?? `uid ${process.getuid?.()}`)}; servers run as ${
      report.serverUser ? `"${report.serverUser.name}" (uid ${report.serverUser.uid})` : isRoot ? 'an unprivileged user created on first run (pgdrill)' : 'the current user'
    }`,
  );
  lines.push(`binary cache: ${report.cacheDir}; bundled ${report.npmPackage}@${report.bundledVersion ?? 'not installed'}`);
  lines.push('', 'PostgreSQL server binaries and client tools per major:');
  for (const m of report.majors) {
    const server = m.server ? `${m.server.version} from ${m.server.source} (${m.server.binDir})` : `missing: ${m.problem}`;
    const tools = Object.keys(m.clientTools);
    lines.push(`  ${m.major}  server: ${server}`);
    lines.push(`      client tools: ${tools.length ? tools.join(', ') : 'none'}`);
  }
  lines.push('', `docker: ${await dockerStatus()}`);
  return lines.join('\n');
}

async function dockerStatus(): Promise<string> {
  const docker = new Docker();
  try {
    const version = await Promise.race([
      docker.version(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 3s')), 3000)),
    ]);
    const images = await docker.listImages({ filters: { reference: ['postgres', 'pgdrill/*'] } });
    const names = images.flatMap((i) => i.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
    return `reachable (engine ${version.Version}); PostgreSQL images: ${names.length ? names.join(', ') : 'none'}`;
  } catch (err) {
    return `not reachable (${errorMessage(err)}); the local runtime needs no Docker`;
  }
}
