// `pgdrill image build <major>`: runs scripts/build-image.sh, which builds a PostgreSQL
// image with no registry (debootstrap from Debian's archive + docker import). Debian 12 has
// only 15; for other majors the npm-packaged server binaries go into the image.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { EnvironmentError } from '../../errors.js';
import { packageRoot } from '../../util/package-info.js';
import { resolveServerBinaries, type ProgressFn } from '../local/pg-binaries.js';
import { dockerClient, pingDocker } from './docker-client.js';
import { offlineImage } from './images.js';

/** The major Debian 12's own packages provide. */
export const DEBIAN_MAJOR = 15;

export interface BuildImageOptions {
  tag?: string;
  force?: boolean;
  mirror?: string;
  progress?: ProgressFn;
}

export function buildScriptPath(): string {
  return path.join(packageRoot(), 'scripts', 'build-image.sh');
}

export async function buildImage(major: number, options: BuildImageOptions = {}): Promise<{ tag: string }> {
  await pingDocker(dockerClient());
  const tag = options.tag ?? offlineImage(major);
  const args = [buildScriptPath(), String(major), '--tag', tag];
  if (options.force) args.push('--force');
  if (options.mirror) args.push('--mirror', options.mirror);
  if (major !== DEBIAN_MAJOR) {
    // the npm package of that major (fetched into the cache when missing), with its libraries
    const binaries = await resolveServerBinaries(major, { allowDownload: true, progress: options.progress });
    if (binaries.source !== 'npm' && binaries.source !== 'npm-cache') {
      // a distribution's install spreads over /usr/lib and /usr/share: only the npm tree is self-contained
      throw new EnvironmentError(
        `PostgreSQL ${major} resolves to ${binaries.source} binaries (${binaries.binDir}); an image of ${major} is built from the npm package (unset PGDRILL_PG_BIN_${major}), or pull postgres:${major}`,
        'PGDRILL_IMAGE_BUILD_FAILED',
      );
    }
    args.push('--server-dir', path.dirname(binaries.copiedFrom ?? binaries.binDir));
  }
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn('bash', args, { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
  });
  if (code !== 0) throw new EnvironmentError(`building ${tag} failed (scripts/build-image.sh exit ${code}; its messages are above)`, 'PGDRILL_IMAGE_BUILD_FAILED');
  return { tag };
}
