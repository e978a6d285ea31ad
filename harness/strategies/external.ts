// Strategy kind external: the cutover is the user's own command (kubectl cnpg promote,
// patronictl switchover, aws rds failover-db-cluster) on servers pgdrill did not start.
// pgdrill checks the prerequisites, waits for sync, runs the command with every node's URL in
// its environment, and meanwhile watches what it can observe, each a step timed from the
// command's start: the old primary refusing writes, a new primary out of recovery and
// accepting a write, the endpoint re-pointed (pgdrill's proxy) or followed, writes through
// the endpoint served again. It never promotes, fences or rolls back anything itself.

import pg from 'pg';
import { connectNode, sleep } from '../topology/connect.js';
import { identifyStandby, nodeRole } from '../topology/external-topology.js';
import type { RuntimeNode } from '../runtime/runtime.js';
import { runCommandStep } from '../steps/command-step.js';
import { stepBaseDir, stepUrlVariables } from '../steps/index.js';
import { endpointUrlFor, externalLogin } from '../endpoint/url-endpoint.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import { errorMessage } from '../errors.js';
import { StepRunner } from './step-runner.js';
import { nextTransactionId } from '../checks/split-brain-facts.js';
import type { CutoverOutcome, StrategyContext } from './strategy.js';
import { plannedStrategy } from './planned.js';

const POLL_MS = 25;
/** after a failed command, how long pgdrill still watches for what it may have done */
const AFTER_FAILURE_MS = 5_000;

export const externalStrategy = plannedStrategy('external', async (context, { dryRun }) => {
    const { config, topology, recorder } = context;
    const from = topology.node(config.from);
    const to = topology.node(config.to);
    const entry = topology.scenario.timeline.find((e) => e.cutover && e.cutover.dryRun === dryRun)?.cutover;
    const command = entry?.command;
    const steps = new StepRunner(recorder);
    const outcome: CutoverOutcome = { ok: false, dryRun, rolledBack: false, steps: steps.steps };
    try {
      await steps.run('prerequisites', () => prerequisites(context, from, to));
      await steps.run('wait-for-sync', () => waitForSync(context, from, to));
      if (dryRun || !command) {
        const now = recorder.now();
        steps.record('cutover-command', now, now, true, command ? `dry run: would run ${command}` : 'dry run: no command given, nothing would run');
        outcome.ok = true;
        return outcome;
      }
      await runAndWatch(context, steps, outcome, from, to, command, entry!.timeout!);
    } catch (err) {
      outcome.error = errorMessage(err);
      outcome.ok = false;
    }
    return outcome;
});

/** Reachable, `from` writable, `to` a streaming standby that `from` lists, and a role that can read the replication view. */
async function prerequisites({ topology }: StrategyContext, from: RuntimeNode, to: RuntimeNode): Promise<string> {
  const source = await connectNode(from, { timeout: 5000, applicationName: 'pgdrill-cutover' });
  try {
    const me = await source.query<{ recovery: boolean; read_only: string; super: boolean; monitor: boolean; user: string }>(
      `SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only, current_user AS user,
              (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS super,
              pg_has_role(current_user, 'pg_monitor', 'USAGE') AS monitor`,
    );
    const row = me.rows[0];
    if (row.recovery) throw new Error(`${from.name} is in recovery: it is not the primary (strategy.from names the node the command moves writes away from)`);
    if (row.read_only === 'on') throw new Error(`${from.name} is read-only: writes cannot be rehearsed through it`);
    if (!row.super && !row.monitor) {
      throw new Error(`${row.user} is neither superuser nor a member of pg_monitor, so pg_stat_replication hides the standbys' positions; GRANT pg_monitor TO ${row.user}`);
    }
    const role = await nodeRole(to);
    if ('error' in role) throw new Error(`${to.name} cannot be reached: ${role.error}`);
    if (!role.recovery) throw new Error(`${to.name} is not in recovery: it is not a standby`);
    if (!role.streaming) throw new Error(`${to.name} is in recovery but not streaming (pg_stat_wal_receiver)`);
    const name = topology.replicationIds.get(to.name)?.applicationName ?? to.name;
    const rep = await source.query<{ state: string }>('SELECT state FROM pg_stat_replication WHERE application_name = $1', [name]);
    if (rep.rows[0]?.state !== 'streaming') throw new Error(`${from.name}'s pg_stat_replication lists no streaming standby named ${JSON.stringify(name)} (${to.name})`);
    return `${from.name} writable (as ${row.user}, ${row.super ? 'superuser' : 'pg_monitor'}); ${to.name} in recovery and streaming as ${JSON.stringify(name)}`;
  } finally {
    await source.end().catch(() => undefined);
  }
}

/** The sync gate, on `from`'s pg_stat_replication row of `to`. */
async function waitForSync({ config, topology, signal }: StrategyContext, from: RuntimeNode, to: RuntimeNode): Promise<string> {
  const gate = config.syncGate;
  const name = topology.replicationIds.get(to.name)?.applicationName ?? to.name;
  const source = await connectNode(from, { timeout: 5000, applicationName: 'pgdrill-cutover' });
  try {
    const deadline = performance.now() + gate.timeout;
    let passes = 0;
    let last = 'no reading';
    while (performance.now() < deadline) {
      signal.throwIfAborted();
      const { rows } = await source.query<{ bytes: number; seconds: number }>(
        `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 AS bytes, coalesce(extract(epoch FROM replay_lag), 0)::float8 AS seconds
           FROM pg_stat_replication WHERE application_name = $1`,
        [name],
      );
      const row = rows[0];
      if (!row) throw new Error(`${to.name} stopped streaming from ${from.name}`);
      last = `${Math.round(row.bytes)} bytes, ${row.seconds.toFixed(3)}s behind`;
      passes = row.bytes <= gate.lagBytes && row.seconds <= gate.lagSeconds ? passes + 1 : 0;
      if (passes >= gate.consecutiveChecks) return `in sync: ${last} (${gate.consecutiveChecks} consecutive checks)`;
      await sleep(100, signal);
    }
    throw new Error(`lag stayed above ${gate.lagBytes} bytes or ${gate.lagSeconds}s for ${gate.timeout}ms; last ${last}`);
  } finally {
    await source.end().catch(() => undefined);
  }
}

interface Seen {
  atMs: number;
  detail: string;
}

/** Runs the command and, at the same time, watches for what it does; every observation is a step from the command's start. */
async function runAndWatch(
  context: StrategyContext,
  steps: StepRunner,
  outcome: CutoverOutcome,
  from: RuntimeNode,
  to: RuntimeNode,
  command: string,
  timeout: number,
): Promise<void> {
  const { topology, endpoint, recorder, signal } = context;
  clock = () => recorder.now();
  const startMs = recorder.now();
  const deadline = performance.now() + timeout;
  const watch = new AbortController();
  const stopWatch = () => watch.abort();
  signal.addEventListener('abort', stopWatch, { once: true });
  const variables = stepUrlVariables(Object.fromEntries([...topology.nodes].map(([n, node]) => [n, node])), endpointUrlFor(endpoint, topology.primary), from.external?.database ?? 'pgdrill');
  const commandRun = runCommandStep({ run: command, timeout, allowFailure: false }, { cwd: stepBaseDir(topology.scenario), variables, signal }).then((result) => {
    const endMs = recorder.now();
    const how = result.ok ? 'exit 0' : (result.error ?? 'failed');
    steps.record('cutover-command', startMs, endMs, result.ok, `${command}: ${how}${result.outputTail ? `; output: ${result.outputTail.trim().slice(-1500)}` : ''}`);
    // a failed command may still have done something: look a little longer, then stop
    if (!result.ok) setTimeout(stopWatch, AFTER_FAILURE_MS).unref();
    return result;
  });

  const until = () => watch.signal.aborted || performance.now() >= deadline;
  const timedOut = `not seen within ${timeout / 1000}s of the command's start`;
  // the old primary is watched on its own: the endpoint follows the new one as soon as it takes writes
  const oldWatch = watchOldPrimary(from, until).then((seen) => {
    if (seen) steps.record('old-primary-read-only', startMs, seen.atMs, true, seen.detail);
    else steps.record('old-primary-read-only', startMs, recorder.now(), false, `${from.name} ${timedOut} to refuse writes (in recovery or read-only)`);
  });
  const promoted = await watchNewPrimary(topology.nodes, from, until);
  let accepted = false;
  if (!promoted) {
    steps.record('new-primary', startMs, recorder.now(), false, `no node other than ${from.name} left recovery: ${timedOut}`);
  } else {
    const node = topology.node(promoted.node);
    const expected = promoted.node === to.name;
    steps.record('new-primary', startMs, promoted.atMs, expected, expected ? promoted.detail : `${promoted.detail}, but strategy.to is ${to.name}`);
    outcome.promotedAtMs = promoted.atMs;
    const accepts = await retryUntil(() => probeWrite(node), until);
    steps.record('validate-new-primary', startMs, accepts.atMs ?? recorder.now(), accepts.ok, accepts.ok ? `${node.name} accepts a write` : `${node.name} took no write: ${accepts.last}`);
    accepted = accepts.ok;
    if (accepts.ok) {
      topology.promoted(node.name);
      await followEndpoint(steps, endpoint, node, from, startMs, signal);
      const served = await retryUntil(() => writeThroughEndpoint(endpoint, topology.primary), until);
      steps.record('endpoint-serving', startMs, served.atMs ?? recorder.now(), served.ok, served.ok ? `a write through the endpoint (${endpoint.address}) succeeded` : `no write through the endpoint succeeded: ${served.last}`);
    }
  }
  await oldWatch;
  if (promoted && accepted) {
    await steps.run('old-primary-position', async () => {
      const role = await nodeRole(from);
      if ('error' in role) return `${from.name} unreachable now (${role.error}): whether it took writes is read at verify`;
      if (role.recovery) return `${from.name} is in recovery${role.streaming ? ' and streaming' : ''}: it takes no writes`;
      const client = await connectNode(from, { timeout: 3000, applicationName: 'pgdrill-cutover' });
      try {
        outcome.oldPrimaryNextXidAtFreeze = String(await nextTransactionId(client));
      } finally {
        await client.end().catch(() => undefined);
      }
      return `${from.name} is out of recovery${role.readOnly ? ' and read-only' : ' and WRITABLE'}; its next transaction id is ${outcome.oldPrimaryNextXidAtFreeze} (verify counts any later one as a write after the promotion)`;
    }).catch(() => undefined);
    await steps.run('observe-standbys', () => observeStandbys(context, topology.primary)).catch(() => undefined);
  }
  const result = await commandRun;
  signal.removeEventListener('abort', stopWatch);
  outcome.ok = result.ok && outcome.steps.every((s) => s.ok);
  if (!outcome.ok) outcome.error = outcome.steps.filter((s) => !s.ok).map((s) => `${s.name}: ${s.detail}`).join('; ');
}

async function watchOldPrimary(from: RuntimeNode, until: () => boolean): Promise<Seen | undefined> {
  let unreachable = false;
  while (!until()) {
    const role = await nodeRole(from);
    const atMs = nowMs();
    if ('error' in role) unreachable = true;
    else if (role.recovery || role.readOnly) {
      return { atMs, detail: `${from.name} ${role.recovery ? `is in recovery${role.streaming ? ' and streaming' : ''}` : 'is read-only (transaction_read_only on)'}${unreachable ? ', after being unreachable for a while' : ''}` };
    }
    await sleep(POLL_MS);
  }
  return undefined;
}

async function watchNewPrimary(nodes: Map<string, RuntimeNode>, from: RuntimeNode, until: () => boolean): Promise<(Seen & { node: string }) | undefined> {
  const others = [...nodes.values()].filter((n) => n.name !== from.name);
  while (!until()) {
    for (const node of others) {
      const role = await nodeRole(node);
      if (!('error' in role) && !role.recovery) return { node: node.name, atMs: nowMs(), detail: `${node.name} is out of recovery` };
    }
    await sleep(POLL_MS);
  }
  return undefined;
}

/** The run's clock (the recorder's), which the watchers time what they see by; set as a cutover starts. */
let clock: () => number = () => performance.now();
function nowMs(): number {
  return clock();
}

async function retryUntil(body: () => Promise<void>, until: () => boolean): Promise<{ ok: boolean; atMs?: number; last: string }> {
  let last = 'not tried before the deadline';
  do {
    try {
      await body();
      return { ok: true, atMs: nowMs(), last: '' };
    } catch (err) {
      last = errorMessage(err);
    }
    await sleep(POLL_MS);
  } while (!until());
  return { ok: false, last };
}

async function probeWrite(node: RuntimeNode): Promise<void> {
  const client = await connectNode(node, { timeout: 2000, applicationName: 'pgdrill-cutover' });
  try {
    await client.query('INSERT INTO _pgdrill.probe DEFAULT VALUES');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Re-points pgdrill's proxy, or waits until the endpoint finds the new primary itself; the user's own endpoint needs neither. */
async function followEndpoint(steps: StepRunner, endpoint: Endpoint, to: RuntimeNode, from: RuntimeNode, startMs: number, signal: AbortSignal): Promise<void> {
  if (endpoint.follow) {
    try {
      const followed = await endpoint.follow(to, from, signal);
      steps.record('endpoint-follows', startMs, followed.atMs, true, followed.detail);
    } catch (err) {
      steps.record('endpoint-follows', startMs, nowMs(), false, errorMessage(err));
    }
  } else if (endpoint.repoint) {
    await steps.run('repoint-endpoint', () => endpoint.repoint!(to, from)).catch(() => undefined);
  }
}

/** One write through the endpoint, as a client would make it. */
async function writeThroughEndpoint(endpoint: Endpoint, primary: RuntimeNode): Promise<void> {
  const login = externalLogin(primary, endpoint);
  const connect = async (address: { host: string; port: number }) => {
    const client = new pg.Client({
      host: address.host,
      port: address.port,
      user: login.user,
      password: login.password,
      database: login.database,
      connectionTimeoutMillis: 2000,
      query_timeout: 2000,
      application_name: 'pgdrill-cutover',
      ...(login.ssl ? { ssl: login.ssl } : {}),
    });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };
  const client = endpoint.writes.open ? await endpoint.writes.open(connect) : await connect(endpoint.writes.address());
  try {
    await client.query('INSERT INTO _pgdrill.probe DEFAULT VALUES');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** After the promotion: which other node now streams from the new primary (lag is sampled for those) and which stands alone. */
async function observeStandbys({ topology }: StrategyContext, primary: RuntimeNode): Promise<string> {
  const said: string[] = [];
  for (const node of topology.nodes.values()) {
    if (node.name === primary.name) continue;
    const role = await nodeRole(node);
    if ('error' in role) {
      topology.upstreamOf.delete(node.name);
      said.push(`${node.name} unreachable`);
    } else if (role.recovery) {
      topology.follow(node.name, primary.name);
      await identifyStandby(topology, node.name);
      said.push(`${node.name} in recovery${role.streaming ? ', streaming' : ' (not streaming yet)'}: counted as a standby of ${primary.name}`);
    } else {
      topology.upstreamOf.delete(node.name);
      said.push(`${node.name} out of recovery${role.readOnly ? ', read-only' : ''}: stands alone`);
    }
  }
  return said.join('; ') || 'no other node';
}
