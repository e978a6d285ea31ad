// The docker runtime: each node a container on one user-defined bridge network per run
// (peers find each other by node name), its 5432 published on 127.0.0.1 for the harness.
// Everything it makes carries the run's labels; dispose() removes containers, then volumes,
// then the network, and `pgdrill cleanup` finds what a crashed run left by the same labels.

import type Docker from 'dockerode';
import { EnvironmentError, InterruptedError, errorMessage } from '../../errors.js';
import type { NodeCredentials, NodeSpec, Runtime, RuntimeNode } from '../runtime.js';
import { DATA_DIR, KEEPER, PG_PORT, ROOT, SETUP_AND_PROBE, parseProbe } from './container-layout.js';
import { dockerClient, pingDocker, statusOf, withTimeout } from './docker-client.js';
import { DockerNode, publishedPort } from './docker-node.js';
import { execIn } from './exec.js';
import { DockerVolume } from './docker-volume.js';
import { assertMemoryForVolume } from '../data-volume.js';
import { resolveImage, type ImageChoice } from './images.js';
import { LABEL, runLabels } from './labels.js';
import { BACKUP_EMPTY_DIRS, BACKUP_SKIP_FILES } from '../server-conventions.js';
import { ReaperRegistry } from '../reaper/reaper-registry.js';
import { freeListenPort } from '../../util/free-port.js';

export interface DockerRuntimeOptions {
  runId: string;
  credentials: NodeCredentials;
  /** the scenario's name, for the pgdrill.scenario label (default: read from the run id) */
  scenario?: string;
  /** image for every node that names none, "{major}" replaced; default PGDRILL_DOCKER_IMAGE */
  imageTemplate?: string;
  docker?: Docker;
  /** the run's reaper (runtime/reaper): removes the run's labelled containers and network if pgdrill is killed */
  reaper?: ReaperRegistry;
}

/**
 * "streaming-cutover-20261122T004516-ab12" -> "streaming-cutover": run-scenario's run id form
 * (the name may be cut to 24 characters there), for when the caller does not say.
 */
export function scenarioFromRunId(runId: string): string {
  return runId.replace(/-(\d{8}T\d{6}|\d{4}-\d{2}-\d{2}T[\d-]+)-[0-9a-f]{4}$/, '') || runId;
}

const PORT_TAKEN = /port is already allocated|address already in use/i;

export class DockerRuntime implements Runtime {
  readonly kind = 'docker' as const;
  readonly runId: string;
  /** the run's network, also the prefix of its containers' names */
  readonly networkName: string;
  /** what this run starts is written down here for the reaper (see reaper-registry.ts) */
  readonly reaper: ReaperRegistry;

  private readonly docker: Docker;
  private readonly credentials: NodeCredentials;
  private readonly labels: Record<string, string>;
  private readonly imageTemplate?: string;
  private readonly nodes = new Map<string, DockerNode>();
  /** containers made, including ones whose node never came to be (removed at dispose) */
  private readonly containers = new Set<Docker.Container>();
  private readonly images = new Map<string, ImageChoice>();
  private readonly portsGiven = new Set<number>();
  private network?: Promise<Docker.Network>;
  private pinged?: Promise<unknown>;
  private disposing?: Promise<void>;

  constructor(options: DockerRuntimeOptions) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(options.runId)) throw new Error(`run id ${JSON.stringify(options.runId)}: use letters, digits, '.', '_' and '-' only`);
    this.runId = options.runId;
    this.networkName = `pgdrill-${options.runId}`;
    this.credentials = options.credentials;
    this.docker = options.docker ?? dockerClient();
    this.labels = runLabels(options.runId, options.scenario ?? scenarioFromRunId(options.runId));
    this.imageTemplate = options.imageTemplate ?? (process.env.PGDRILL_DOCKER_IMAGE || undefined);
    this.reaper = options.reaper ?? ReaperRegistry.none;
  }

  private assertOpen(): void {
    if (this.disposing) throw new Error(`run ${this.runId} is disposed`);
  }

  private ping(): Promise<unknown> {
    this.pinged ??= pingDocker(this.docker);
    this.pinged.catch(() => (this.pinged = undefined));
    return this.pinged;
  }

  private async image(spec: NodeSpec): Promise<ImageChoice> {
    const known = this.images.get(spec.name);
    if (known) return known;
    const choice = await resolveImage(this.docker, spec, this.imageTemplate);
    this.images.set(spec.name, choice);
    return choice;
  }

  /**
   * The run network's gateway: the host's address on the bridge, which containers reach
   * (as they do the internet's, here nothing). pgdrill's replication link proxies listen
   * on it, so standbys stream through them as on the local runtime.
   */
  async linkHost(): Promise<string> {
    this.assertOpen();
    const network = await this.runNetwork();
    const info = (await network.inspect()) as { IPAM?: { Config?: { Gateway?: string }[] } };
    const gateway = info.IPAM?.Config?.find((c) => c.Gateway)?.Gateway;
    if (!gateway) throw new EnvironmentError(`the docker network ${this.networkName} has no gateway address; pgdrill's link proxies cannot be reached from its containers`, 'PGDRILL_DOCKER_NETWORK');
    return gateway;
  }

  /** Docker answers and every node's image is present: nothing is created yet (exit 3 otherwise). */
  async preflight(specs: NodeSpec[], signal?: AbortSignal): Promise<void> {
    this.assertOpen();
    await this.ping();
    const problems: string[] = [];
    for (const spec of specs) {
      if (signal?.aborted) throw new InterruptedError('preflight interrupted');
      try {
        await this.image(spec);
      } catch (err) {
        if (!(err instanceof EnvironmentError)) throw err;
        problems.push(err.message);
      }
    }
    if (problems.length === 1) throw new EnvironmentError(problems[0], 'PGDRILL_DOCKER_IMAGE_MISSING');
    if (problems.length > 1) throw new EnvironmentError(problems.map((p) => `- ${p}`).join('\n'), 'PGDRILL_DOCKER_IMAGE_MISSING');
  }

  /** The run's bridge network, made on first use (its DNS is what peers use: node names). */
  private runNetwork(): Promise<Docker.Network> {
    this.network ??= (async () => {
      // before anything exists: every container and the network carry the run's label
      this.reaper.dockerRun(this.runId);
      const created = await this.docker.createNetwork({
        Name: this.networkName,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: this.labels,
      });
      return this.docker.getNetwork(created.id);
    })();
    return this.network;
  }

  async createNode(spec: NodeSpec): Promise<DockerNode> {
    this.assertOpen();
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(spec.name)) throw new Error(`node name ${JSON.stringify(spec.name)}: use letters, digits, '_' and '-' only`);
    if (this.nodes.has(spec.name)) throw new Error(`node "${spec.name}" already exists in run ${this.runId}`);
    await this.ping();
    const image = await this.image(spec);
    const network = await this.runNetwork();
    if (spec.dataVolumeBytes) assertMemoryForVolume(spec.dataVolumeBytes);
    const containerName = `${this.networkName}-${spec.name}`;
    // The host port is picked here, not by Docker: a port Docker picks is given up when the
    // container leaves the network (a partition) and a new one taken on reconnect, which
    // would strand the harness's endpoint. A port taken meanwhile by someone else: retry.
    let container: Docker.Container | undefined;
    let hostPort = 0;
    for (let attempt = 0; !container; attempt++) {
      hostPort = await this.pickPort();
      const created = await this.createContainer(spec, image, containerName, hostPort);
      this.containers.add(created);
      try {
        await created.start();
        container = created;
      } catch (err) {
        await created.remove({ force: true, v: true }).catch(() => undefined);
        this.containers.delete(created);
        if (attempt < 3 && PORT_TAKEN.test(errorMessage(err))) continue;
        throw new EnvironmentError(`starting the container of node "${spec.name}" (image ${image.image}) failed: ${errorMessage(err)}`, 'PGDRILL_DOCKER_CREATE_FAILED', { cause: err });
      }
    }
    try {
      if ((await publishedPort(container)) !== hostPort) throw new Error(`Docker did not publish ${PG_PORT}/tcp on 127.0.0.1:${hostPort}`);
      const probe = await execIn(this.docker, container, ['/bin/sh', '-c', SETUP_AND_PROBE], { user: 'root', timeout: 60_000 });
      if (probe.exitCode !== 0) throw new Error(`preparing the container failed (exit ${probe.exitCode}): ${(probe.stderr || probe.stdout).trim()}`);
      const volume = spec.dataVolumeBytes ? new DockerVolume(this.docker, container, DATA_DIR, `pgdrill-${this.runId}-${spec.name}`, spec.dataVolumeBytes) : undefined;
      await volume?.prepare();
      const node = new DockerNode({
        volume,
        docker: this.docker,
        container,
        containerName,
        name: spec.name,
        version: spec.version,
        credentials: this.credentials,
        image,
        network,
        hostPort,
        programs: parseProbe(probe.stdout),
      });
      this.nodes.set(spec.name, node);
      return node;
    } catch (err) {
      // a node that never came to be leaves nothing behind
      await container.remove({ force: true, v: true }).catch(() => undefined);
      this.containers.delete(container);
      if (err instanceof EnvironmentError) throw err;
      throw new EnvironmentError(`node "${spec.name}" (image ${image.image}): ${errorMessage(err)}`, 'PGDRILL_DOCKER_CREATE_FAILED', { cause: err });
    }
  }

  private async pickPort(): Promise<number> {
    for (;;) {
      const port = await freeListenPort();
      if (!this.portsGiven.has(port)) {
        this.portsGiven.add(port);
        return port;
      }
    }
  }

  private async createContainer(spec: NodeSpec, image: ImageChoice, containerName: string, hostPort: number): Promise<Docker.Container> {
    try {
      return await this.docker.createContainer({
        name: containerName,
        Image: image.image,
        // the image's own entrypoint (the official one runs initdb itself) is not used
        Entrypoint: KEEPER,
        Cmd: [],
        User: 'root',
        Hostname: spec.name.toLowerCase(),
        WorkingDir: '/',
        Env: ['LANG=C', 'LC_ALL=C'],
        Labels: { ...this.labels, [LABEL.node]: spec.name },
        ExposedPorts: { [`${PG_PORT}/tcp`]: {} },
        StopTimeout: 5,
        HostConfig: {
          NetworkMode: this.networkName,
          // only loopback: the harness is the one client from outside the network
          PortBindings: { [`${PG_PORT}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] },
          // PostgreSQL's dynamic shared memory lives in /dev/shm (64 MB by default)
          ShmSize: 256 * 1024 * 1024,
          // a disk-full fault's node keeps its data directory on a filesystem of its own
          ...(spec.dataVolumeBytes ? { Tmpfs: { [DATA_DIR]: `rw,size=${spec.dataVolumeBytes},mode=0700` } } : {}),
          Init: false,
        },
        NetworkingConfig: { EndpointsConfig: { [this.networkName]: { Aliases: [spec.name] } } },
      });
    } catch (err) {
      throw new EnvironmentError(`creating the container of node "${spec.name}" (image ${image.image}) failed: ${errorMessage(err)}`, 'PGDRILL_DOCKER_CREATE_FAILED', { cause: err });
    }
  }

  private own(node: RuntimeNode): DockerNode {
    if (!(node instanceof DockerNode) || this.nodes.get(node.name) !== node) {
      throw new Error(`node "${node.name}" does not belong to docker run ${this.runId}`);
    }
    return node;
  }

  /**
   * Low-level base backup between containers: tar in the source (leaving out what the
   * PostgreSQL docs say a backup must not carry), moved through the Engine's archive API,
   * unpacked in the target as its postgres user. For images whose pg_basebackup is older
   * than the server (an offline image of 17 carries Debian's 15 client tools).
   */
  async copyDataDir(source: RuntimeNode, target: RuntimeNode): Promise<void> {
    const from = this.own(source);
    const to = this.own(target);
    if (to.state === 'running' || to.state === 'paused') throw new Error(`cannot copy into node "${to.name}" while it runs`);
    const archive = `${ROOT}/copy-${to.name}.tar`;
    const excluded = [...BACKUP_SKIP_FILES.map((f) => `./${f}`), '*/pgsql_tmp*', ...BACKUP_EMPTY_DIRS.map((d) => `./${d}/*`)];
    // GNU tar exits 1 when a file changed or vanished while read: expected on a live cluster,
    // and WAL replay from the backup's start fixes it, as with pg_basebackup
    await from.execRoot(
      `tar -C "$D" ${excluded.map((e) => `--exclude='${e}'`).join(' ')} -cf "$A" . ; rc=$?; [ $rc -le 1 ] || exit $rc`,
      `archiving the data directory of "${from.name}"`,
      { D: DATA_DIR, A: archive },
    );
    try {
      const stream = await withTimeout(from.dockerContainer.getArchive({ path: archive }), 60_000, 'Docker archive download');
      await to.dockerContainer.putArchive(stream, { path: ROOT });
      await to.execRoot(
        `set -e; [ ! -e "$D" ] || [ -z "$(ls -A "$D")" ] || { echo "$D is not empty" >&2; exit 1; }
mkdir -p "$D"; tar -C "$D" -xf "$A"; rm -f "$A"
mkdir -p "$D/pg_wal/archive_status"
chown -R "postgres:$(id -g postgres)" "$D"; chmod 700 "$D"`,
        `unpacking the data directory of "${from.name}" into "${to.name}"`,
        { D: DATA_DIR, A: archive },
      );
    } finally {
      await from.execRoot(`rm -f "$A"`, 'removing the archive', { A: archive }).catch(() => undefined);
    }
  }

  /**
   * Removes what this run made, in a fixed order: containers (force: their servers die with
   * them), then volumes, then the network. Found by label as well as by memory, so a
   * container whose creation answer was lost goes too. With keep, servers are stopped
   * cleanly and containers and network stay for inspection (`pgdrill cleanup` removes them).
   */
  dispose(options: { keep?: boolean } = {}): Promise<void> {
    this.disposing ??= (async () => {
      if (!this.network && this.containers.size === 0) return;
      const failures: unknown[] = [];
      if (options.keep) {
        const results = await Promise.allSettled([...this.nodes.values()].map((n) => n.shutdownForKeep()));
        for (const r of results) if (r.status === 'rejected') failures.push(r.reason);
      } else {
        failures.push(...(await removeRunResources(this.docker, this.runId, [...this.containers])));
      }
      if (failures.length === 1) throw failures[0];
      if (failures.length > 1) throw new AggregateError(failures, `disposing docker run ${this.runId}: ${failures.length} removals failed`);
    })();
    return this.disposing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

export interface RemovedResources {
  containers: string[];
  volumes: string[];
  networks: string[];
}

/**
 * Containers, then volumes, then networks labelled with the run id (and any containers
 * given), each step collecting failures rather than stopping at the first.
 */
export async function removeRunResources(docker: Docker, runId: string, known: Docker.Container[] = [], removed?: RemovedResources): Promise<unknown[]> {
  const failures: unknown[] = [];
  const filters = JSON.stringify({ label: [`${LABEL.runId}=${runId}`] });
  const ids = new Map<string, string>();
  for (const c of known) ids.set(c.id, c.id);
  try {
    for (const c of await docker.listContainers({ all: true, filters })) ids.set(c.Id, c.Names?.[0]?.replace(/^\//, '') ?? c.Id);
  } catch (err) {
    failures.push(err);
  }
  const gone = (err: unknown) => statusOf(err) === 404;
  const containerResults = await Promise.allSettled(
    [...ids].map(async ([id, name]) => {
      try {
        await docker.getContainer(id).remove({ force: true, v: true });
        removed?.containers.push(name);
      } catch (err) {
        // 409: removal already in progress (a second dispose, or cleanup racing us)
        if (!gone(err) && statusOf(err) !== 409) throw err;
      }
    }),
  );
  for (const r of containerResults) if (r.status === 'rejected') failures.push(r.reason);
  try {
    const { Volumes } = await docker.listVolumes({ filters });
    for (const v of Volumes ?? []) {
      try {
        await docker.getVolume(v.Name).remove();
        removed?.volumes.push(v.Name);
      } catch (err) {
        if (!gone(err)) failures.push(err);
      }
    }
  } catch (err) {
    failures.push(err);
  }
  try {
    for (const n of await docker.listNetworks({ filters })) {
      try {
        await docker.getNetwork(n.Id).remove();
        removed?.networks.push(n.Name);
      } catch (err) {
        if (!gone(err)) failures.push(err);
      }
    }
  } catch (err) {
    failures.push(err);
  }
  return failures;
}
