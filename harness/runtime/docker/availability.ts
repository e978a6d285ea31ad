// Whether docker end-to-end work can run here (engine reachable, a PostgreSQL image
// present), and why not: the docker test suites skip loudly with this reason, never silently.

import { errorMessage } from '../../errors.js';
import { dockerClient, pingDocker } from './docker-client.js';
import { officialImage, offlineImage } from './images.js';

export interface DockerAvailability {
  available: boolean;
  /** why not (engine unreachable, no image), with what to do */
  reason?: string;
  /** the image to use for `major` (offline-built first: it is what CI builds) */
  image?: string;
  engineVersion?: string;
}

export async function dockerAvailability(major = 15): Promise<DockerAvailability> {
  const docker = dockerClient();
  let engineVersion: string;
  try {
    engineVersion = (await pingDocker(docker, 5000)).version;
  } catch (err) {
    const why = process.env.PGDRILL_DOCKER_UNAVAILABLE_REASON;
    return { available: false, reason: `${errorMessage(err)}${why ? ` (.ci/run: ${why})` : ''}` };
  }
  const wanted = process.env.PGDRILL_TEST_IMAGE ? [process.env.PGDRILL_TEST_IMAGE] : [offlineImage(major), officialImage(major)];
  for (const image of wanted) {
    try {
      await docker.getImage(image).inspect();
      return { available: true, image, engineVersion };
    } catch {
      // try the next
    }
  }
  return {
    available: false,
    engineVersion,
    reason: `Docker ${engineVersion} is reachable but has no PostgreSQL ${major} image (${wanted.join(', ')}): build one with \`pgdrill image build ${major}\``,
  };
}

/** The banner a skipped docker suite prints to stderr, impossible to miss in a CI log. */
export function skipBanner(suite: string, reason: string): string {
  const line = '!'.repeat(78);
  return `\n${line}\n!!! ${suite}: SKIPPED, Docker is not usable here.\n!!! reason: ${reason}\n${line}\n`;
}
