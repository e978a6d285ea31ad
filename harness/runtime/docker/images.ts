// Which image a node runs: the scenario's `image`, else a template (PGDRILL_DOCKER_IMAGE,
// "{major}" replaced), else the official postgres:<major> or, where no registry is reachable,
// the offline-built pgdrill/postgres:<major>. pgdrill never pulls: a missing image is an
// environment error that names the image and how to build or pull it.

import type Docker from 'dockerode';
import { EnvironmentError } from '../../errors.js';
import { statusOf } from './docker-client.js';

export const OFFLINE_REPOSITORY = 'pgdrill/postgres';

export function officialImage(major: number): string {
  return `postgres:${major}`;
}

export function offlineImage(major: number): string {
  return `${OFFLINE_REPOSITORY}:${major}`;
}

export interface ImageChoice {
  /** the reference as given or picked (postgres:17, pgdrill/postgres:15, ...) */
  image: string;
  /** sha256:... of the local image */
  id: string;
}

/** The images to try for a node, in order; a named image (scenario or template) is the only one. */
export function imageCandidates(spec: { version: number; image?: string }, template?: string): { candidates: string[]; explicit: boolean } {
  if (spec.image) return { candidates: [spec.image], explicit: true };
  if (template) return { candidates: [template.replace(/\{major\}/g, String(spec.version))], explicit: true };
  return { candidates: [officialImage(spec.version), offlineImage(spec.version)], explicit: false };
}

async function localImageId(docker: Docker, image: string): Promise<string | undefined> {
  try {
    return (await docker.getImage(image).inspect()).Id;
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

export function missingImageMessage(node: string, major: number, candidates: string[], explicit: boolean): string {
  const build = `\`pgdrill image build ${major}\` (or scripts/build-image.sh ${major})`;
  const never = ' pgdrill does not pull images itself.';
  if (!explicit) {
    return (
      `no PostgreSQL ${major} image for node "${node}": neither ${candidates.map((c) => `"${c}"`).join(' nor ')} is present in the Docker engine. ` +
      `Pull one (\`docker pull ${officialImage(major)}\`), or, without a registry, build ${offlineImage(major)} offline with ${build}.` +
      never
    );
  }
  const named = candidates[0];
  const head = `image "${named}" for node "${node}" (PostgreSQL ${major}) is not present in the Docker engine. `;
  if (named === offlineImage(major)) return head + `Build it offline with ${build}.` + never;
  return (
    head +
    `Pull it (\`docker pull ${named}\`), or, without a registry, build ${offlineImage(major)} offline with ${build} ` +
    `and name that image instead (--set nodes.${node}.image=${offlineImage(major)}).` +
    never
  );
}

/** The first present candidate, or an EnvironmentError (exit 3) naming the image and the fix. */
export async function resolveImage(docker: Docker, spec: { name: string; version: number; image?: string }, template?: string): Promise<ImageChoice> {
  const { candidates, explicit } = imageCandidates(spec, template);
  for (const image of candidates) {
    const id = await localImageId(docker, image);
    if (id) return { image, id };
  }
  throw new EnvironmentError(missingImageMessage(spec.name, spec.version, candidates, explicit), 'PGDRILL_DOCKER_IMAGE_MISSING');
}

/** PostgreSQL images present locally (official, offline-built, or labelled by pgdrill's build). */
export async function listPostgresImages(docker: Docker): Promise<{ tag: string; sizeMb: number }[]> {
  const images = await docker.listImages();
  const out: { tag: string; sizeMb: number }[] = [];
  for (const image of images) {
    const labelled = image.Labels?.['pgdrill.image'] === 'postgres';
    for (const tag of image.RepoTags ?? []) {
      if (tag === '<none>:<none>') continue;
      const repo = tag.slice(0, tag.lastIndexOf(':'));
      if (labelled || /(^|\/)postgres$/.test(repo)) out.push({ tag, sizeMb: Math.round(image.Size / 1e6) });
    }
  }
  return out.sort((a, b) => a.tag.localeCompare(b.tag));
}
