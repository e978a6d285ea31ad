// `pgdrill doctor`: what this machine offers pgdrill, checked without starting or
// downloading anything: server binaries and client tools per major, PgBouncer and HAProxy for
// the endpoint, Docker, openssl, the server user; given a scenario, also what that scenario
// asks for (TLS, pg_rewind) and whether it is here.

import { describeBinaries } from '../runtime/local/pg-binaries.js';
import { errorMessage } from '../errors.js';
import { dockerClient, dockerEndpoint, pingDocker } from '../runtime/docker/docker-client.js';
import { listPostgresImages, officialImage, offlineImage } from '../runtime/docker/images.js';
import { SUPPORTED_MAJORS, type Scenario } from '../scenario/scenario.js';
import { findOpenssl } from '../tls/throwaway-ca.js';
import { findClientTool } from '../runtime/local/pg-binaries.js';
import { SERVICE_PROGRAMS, findServiceProgram } from '../runtime/local/service-programs.js';
import { describeServiceProgramInfo } from '../endpoint/service-origin.js';

export async function runDoctor(options: { scenario?: Scenario } = {}): Promise<string> {
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
  const openssl = await findOpenssl();
  lines.push(`openssl: ${openssl ? `${openssl.version} (${openssl.path}); scenarios with tls: get a throwaway CA and certificates per run` : 'missing: scenarios with tls: cannot make their certificates (apt-get install openssl)'}`);
  if (options.scenario) lines.push('', ...scenarioNeeds(options.scenario, openssl !== undefined));
  return lines.join('\n');
}

/** What a scenario asks of this machine beyond servers: TLS (openssl), a rejoin (pg_rewind of the old primary's major). */
function scenarioNeeds(scenario: Scenario, haveOpenssl: boolean): string[] {
  const lines = [`scenario ${scenario.name} (runtime ${scenario.runtime}):`];
  const tls = scenario.tls;
  lines.push(
    tls
      ? `  TLS: on, sslmode ${tls.mode}${tls.clientCerts ? ', client certificates required (CN = user)' : ''}: replication over TLS only, the workload connects with ${tls.mode}; ${haveOpenssl ? 'openssl found' : 'openssl MISSING: the run would stop (exit 3)'}`
      : '  TLS: off (replication and clients on plain TCP with scram-sha-256)',
  );
  const s = scenario.strategy;
  if (s?.rejoinOldPrimary) {
    const old = scenario.nodes[s.from];
    if (scenario.runtime === 'docker') {
      lines.push(`  rejoin: pg_rewind ${old.version} is taken from ${s.from}'s image (${old.image ?? `postgres:${old.version}`}) when the run starts`);
    } else {
      const rewind = findClientTool('pg_rewind', old.version);
      lines.push(`  rejoin: pg_rewind ${old.version} ${rewind ? `found (${rewind.path})` : `MISSING: the run would stop before the load (exit 3); install postgresql-${old.version} or set PGDRILL_PG_BIN_${old.version}`}`);
    }
  }
  return lines;
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
