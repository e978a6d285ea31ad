// `pgdrill doctor`: what this machine offers pgdrill, checked without starting or
// downloading anything: server binaries and client tools per major, PgBouncer and HAProxy for
// the endpoint, Docker, the server user.

import { describeBinaries } from '../runtime/local/pg-binaries.js';
import { errorMessage } from '../errors.js';
import { dockerClient, dockerEndpoint, pingDocker } from '../runtime/docker/docker-client.js';
import { listPostgresImages, officialImage, offlineImage } from '../runtime/docker/images.js';
import { SUPPORTED_MAJORS } from '../scenario/scenario.js';
import { SERVICE_PROGRAMS, findServiceProgram } from '../runtime/local/service-programs.js';
import { describeServiceProgramInfo } from '../endpoint/service-origin.js';

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
  lines.push('', 'endpoint programs (endpoint kinds pgbouncer and haproxy):');
  for (const program of SERVICE_PROGRAMS) {
    const info = findServiceProgram(program);
    lines.push(`  ${program}: ${info ? describeServiceProgramInfo(info) : `not installed: apt-get install -y --no-install-recommends ${program}`}`);
  }
  lines.push('', `docker: ${await dockerStatus()}`);
  return lines.join('\n');
}

/** Whether the engine answers, which PostgreSQL images it has, and what a docker run would use per major. */
async function dockerStatus(): Promise<string> {
  const docker = dockerClient();
  let engine: { version: string };
  try {
    engine = await pingDocker(docker, 3000);
  } catch (err) {
    return `not reachable at ${dockerEndpoint()} (${errorMessage(err).replace(/^Docker is not reachable at \S+ /, '')}); the local runtime needs no Docker`;
  }
  const lines = [`reachable at ${dockerEndpoint()} (engine ${engine.version})`];
  try {
    const images = await listPostgresImages(docker);
    lines.push(`  PostgreSQL images: ${images.length ? images.map((i) => `${i.tag} (${i.sizeMb} MB)`).join(', ') : 'none'}`);
    const tags = new Set(images.map((i) => i.tag));
    const perMajor = SUPPORTED_MAJORS.map((m) => {
      const pick = [officialImage(m), offlineImage(m)].find((t) => tags.has(t));
      return `${m}: ${pick ?? 'none'}`;
    });
    lines.push(`  --runtime docker would use: ${perMajor.join(', ')}`);
    if (!tags.has(officialImage(15)) && !tags.has(offlineImage(15))) {
      lines.push('  no registry here? `pgdrill image build 15` builds pgdrill/postgres:15 offline from Debian\'s packages');
    }
  } catch (err) {
    lines.push(`  listing images failed: ${errorMessage(err)}`);
  }
  return lines.join('\n');
}
