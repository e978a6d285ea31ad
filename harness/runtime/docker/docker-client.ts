// Connecting to the Docker Engine: dockerode honours DOCKER_HOST (and the default socket),
// and every call here is bounded in time, because a dead daemon never answers.

import Docker from 'dockerode';
import { EnvironmentError, errorMessage } from '../../errors.js';

/** Where dockerode will connect, for messages. */
export function dockerEndpoint(): string {
  return process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';
}

export function dockerClient(): Docker {
  return new Docker();
}

/** Rejects after ms with an error naming what did not answer. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${Math.round(ms / 1000)}s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The engine's version, or an EnvironmentError (exit 3) that says how to get one. */
export async function pingDocker(docker: Docker, timeout = 5000): Promise<{ version: string; apiVersion: string }> {
  try {
    const v = await withTimeout(docker.version(), timeout, `Docker at ${dockerEndpoint()}`);
    return { version: v.Version, apiVersion: v.ApiVersion };
  } catch (err) {
    throw new EnvironmentError(
      `Docker is not reachable at ${dockerEndpoint()} (${errorMessage(err)}). Start the engine ` +
        '(e.g. `dockerd --storage-driver=vfs &` after `apt-get install -y docker.io`), set DOCKER_HOST, ' +
        'or use --runtime local.',
      'PGDRILL_DOCKER_UNREACHABLE',
      { cause: err },
    );
  }
}

/** HTTP status of a dockerode error (404 for a missing image or container), if any. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown })?.statusCode;
  return typeof code === 'number' ? code : undefined;
}
