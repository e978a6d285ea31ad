// Scenario loading: YAML text -> --set overrides -> per-section schema -> cross-field checks ->
// the resolved Scenario. Every problem found is reported at once, each with its path.
import { readFile } from 'node:fs/promises';
import nodePath from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { InvalidInputError, errorMessage, type Problem } from '../errors.js';
import { endpointProblems, resolveEndpoint } from './endpoint-rules.js';
import { dcsLinkMember, patroniProblems } from './patroni-rules.js';
import { applyOverrides } from './overrides.js';
import { clashingUrlVariables } from '../steps/node-urls.js';
import { SAMPLE_SERVICE_REQUESTS } from '../app/sample-service.js';
import { ownSchemaProblems, resolveOwnSchema } from './own-schema-fields.js';
import { seedFileProblems } from '../seed/seed-files.js';
import { externalProblems, withCutoverDefaults, withExternalDefaults } from './external-fields.js';
import {
  LINK_KEYWORDS,
  SECTION_NAMES,
  TIMELINE_ENTRY_KINDS,
  DEFAULT_DETECTION,
  cutoverSchema,
  didYouMean,
  exactDuration as ms,
  faultSchema,
  nodeNameSchema,
  nodeFieldsSchema,
  nodeSchema,
  scenarioErrorMap,
  sectionSchemas,
  show,
  sqlStepSchema,
  strategySchema,
  timelineEntrySchema,
  topLevelKeysSchema,
  type SectionName,
} from './scenario-schema.js';
import {
  LINK_FAULTS,
  NODE_FAULTS,
  type FaultConfig,
  type FaultKind,
  type NodeConfig,
  type Scenario,
  type SqlStepConfig,
  type StrategyConfig,
  type ThresholdName,
  type TimelineEntry,
  type AppConfig,
} from './scenario.js';


type Segment = PropertyKey;

/** ["timeline", 2, "fault", "node"] -> "timeline[2].fault.node"; odd keys are quoted. */
export function formatPath(segments: readonly Segment[]): string {
  let out = '';
  for (const seg of segments) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type ParseResult<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

function parseWith<S extends z.ZodType>(schema: S, input: unknown, prefix: readonly Segment[]): ParseResult<z.output<S>> {
  const result = schema.safeParse(input, { error: scenarioErrorMap, reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((issue) => ({ path: formatPath([...prefix, ...issue.path]), message: issue.message })),
  };
}

/** The fields of a mapping that are valid on their own, so one bad field does not hide checks on the others. */
function salvageFields(shape: Record<string, z.ZodType>, raw: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isMapping(raw)) return out;
  for (const [key, schema] of Object.entries(shape)) {
    const r = schema.safeParse(raw[key]);
    if (r.success && r.data !== undefined) out[key] = r.data;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// What the per-section parse left for the cross-field checks

type Parsed = { [K in SectionName]?: z.output<(typeof sectionSchemas)[K]> };

type SalvagedNode = Pick<NodeConfig, 'name'> & Partial<NodeConfig>;
type SalvagedFault = Partial<FaultConfig>;
interface SalvagedEntry {
  raw: Record<string, unknown> | undefined;
  at?: number;
  fault?: SalvagedFault;
  cutover?: { dryRun: boolean };
  sql?: Partial<SqlStepConfig>;
}

interface Context {
  raw: Record<string, unknown>;
  parsed: Parsed;
  /** every node name written in the file, valid config or not: references to them are not "unknown" */
  nodeNames?: string[];
  /** node fields that are valid on their own (a node with a bad version still has a usable replicaOf) */
  nodes: Record<string, SalvagedNode>;
  strategy?: Partial<StrategyConfig>;
  timeline: SalvagedEntry[];
  problems: Problem[];
}

function salvage(ctx: Context): void {
  const { raw, parsed } = ctx;
  if (isMapping(raw.nodes)) {
    ctx.nodeNames = Object.keys(raw.nodes);
    if (parsed.nodes) ctx.nodes = parsed.nodes;
    else {
      for (const [name, value] of Object.entries(raw.nodes)) {
        if (!nodeNameSchema.safeParse(name).success) continue;
        const node = nodeSchema.safeParse(value);
        ctx.nodes[name] = node.success ? { name, ...node.data } : { ...salvageFields(nodeFieldsSchema.shape, value), name };
      }
    }
  }
  if (parsed.strategy) ctx.strategy = parsed.strategy;
  else if (isMapping(raw.strategy)) ctx.strategy = salvageFields(strategySchema.shape, raw.strategy) as Partial<StrategyConfig>;

  if (Array.isArray(raw.timeline)) {
    ctx.timeline = raw.timeline.map((entry, i): SalvagedEntry => {
      const valid = parsed.timeline?.[i];
      if (valid) return { raw: entry as Record<string, unknown>, ...valid };
      if (!isMapping(entry)) return { raw: undefined };
      const fields = salvageFields(timelineEntrySchema.shape, entry);
      const fault = (fields.fault ?? (isMapping(entry.fault) ? salvageFields(faultSchema.shape, entry.fault) : undefined)) as
        | SalvagedFault
        | undefined;
      const cutover = cutoverSchema.safeParse(entry.cutover);
      const sql = (fields.sql ?? (isMapping(entry.sql) ? salvageFields(sqlStepSchema.shape, entry.sql) : undefined)) as
        | Partial<SqlStepConfig>
        | undefined;
      return {
        raw: entry,
        at: fields.at as number | undefined,
        fault,
        cutover: 'cutover' in entry && cutover.success ? cutover.data : undefined,
        sql,
      };
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Cross-field checks

function knownNodes(ctx: Context): string {
  return ctx.nodeNames && ctx.nodeNames.length ? ctx.nodeNames.join(', ') : '(none)';
}

function unknownNode(ctx: Context, name: string): string {
  return `unknown node ${show(name)}; known nodes: ${knownNodes(ctx)}${didYouMean(name, ctx.nodeNames ?? [])}`;
}

function checkNodes(ctx: Context): void {
  const { problems } = ctx;
  if (ctx.nodeNames && ctx.nodeNames.length === 0) {
    problems.push({ path: 'nodes', message: 'at least one node is required, e.g. nodes: { primary: { version: 17 } }' });
  }
  for (const node of Object.values(ctx.nodes)) {
    const base = `nodes.${node.name}`;
    if (node.replicaOf === undefined) {
      if (node.synchronous) {
        problems.push({
          path: `${base}.synchronous`,
          message: `only a replica can be synchronous, but ${show(node.name)} has no replicaOf; remove synchronous or add replicaOf`,
        });
      }
      continue;
    }
    if (node.replicaOf === node.name) {
      problems.push({ path: `${base}.replicaOf`, message: `a node cannot be a replica of itself (${show(node.name)}); name its primary` });
      continue;
    }
    if (ctx.nodeNames && !ctx.nodeNames.includes(node.replicaOf)) {
      problems.push({ path: `${base}.replicaOf`, message: unknownNode(ctx, node.replicaOf) });
      continue;
    }
    const upstream = ctx.nodes[node.replicaOf];
    if (upstream?.version !== undefined && node.version !== undefined && upstream.version !== node.version) {
      problems.push({
        path: `${base}.replicaOf`,
        message:
          `${show(node.name)} runs PostgreSQL ${node.version} but its primary ${show(upstream.name)} runs ${upstream.version}; ` +
          'a streaming replica needs the same major version (to change versions use strategy kind logical or dump-restore)',
      });
    }
  }
  // Follow each chain upwards; a chain that comes back to a node it passed is a cycle.
  const reported = new Set<string>();
  for (const start of Object.keys(ctx.nodes)) {
    const chain: string[] = [];
    let current: string | undefined = start;
    while (current !== undefined && ctx.nodes[current] && !chain.includes(current)) {
      chain.push(current);
      current = ctx.nodes[current].replicaOf;
      if (current === chain[chain.length - 1]) break; // self-reference, reported above
    }
    if (current === undefined || !chain.includes(current) || current === chain[chain.length - 1]) continue;
    const cycle = chain.slice(chain.indexOf(current));
    if (cycle.some((n) => reported.has(n))) continue;
    cycle.forEach((n) => reported.add(n));
    problems.push({
      path: `nodes.${cycle[0]}.replicaOf`,
      message: `replication cycle ${[...cycle, cycle[0]].join(' -> ')}; one of these nodes must be a primary (no replicaOf)`,
    });
  }
}

function checkStrategy(ctx: Context): void {
  const s = ctx.strategy;
  if (!s) return;
  const { problems } = ctx;
  const names = ctx.nodeNames;
  const fromKnown = s.from !== undefined && (!names || names.includes(s.from));
  const toKnown = s.to !== undefined && (!names || names.includes(s.to));
  if (s.from !== undefined && !fromKnown) problems.push({ path: 'strategy.from', message: unknownNode(ctx, s.from) });
  if (s.to !== undefined && !toKnown) problems.push({ path: 'strategy.to', message: unknownNode(ctx, s.to) });
  if (s.from !== undefined && s.from === s.to) {
    problems.push({ path: 'strategy.to', message: `must differ from strategy.from (both are ${show(s.from)}); a cutover moves to another node` });
    return;
  }
  const from = s.from !== undefined ? ctx.nodes[s.from] : undefined;
  const to = s.to !== undefined ? ctx.nodes[s.to] : undefined;
  if (from?.replicaOf !== undefined) {
    problems.push({
      path: 'strategy.from',
      message: `${show(from.name)} is a replica of ${show(from.replicaOf)}, but the workload writes to strategy.from, so it must be a primary (a node without replicaOf)`,
    });
  }
  if (s.rejoinOldPrimary && s.kind && s.kind !== 'streaming' && s.kind !== 'failover') {
    problems.push({
      path: 'strategy.rejoinOldPrimary',
      message: `applies to kinds streaming and failover (the old primary is rewound onto the promoted standby's timeline); kind ${s.kind} leaves the old primary as it is: remove it`,
    });
  }
  // A target whose own replicaOf names no node is already reported; judging it here only adds noise.
  if (!to || !s.kind || (to.replicaOf !== undefined && names && !names.includes(to.replicaOf))) return;
  if ((s.kind === 'streaming' || s.kind === 'failover') && s.from !== undefined && to.replicaOf !== s.from) {
    const now = to.replicaOf === undefined ? 'is not a replica' : `is a replica of ${show(to.replicaOf)}`;
    problems.push({
      path: 'strategy.to',
      message:
        `kind ${s.kind} promotes a streaming replica of ${show(s.from)}, but ${show(to.name)} ${now}; ` +
        `add replicaOf: ${s.from} to nodes.${to.name} (or use kind logical or dump-restore for a standalone target)`,
    });
  }
  if ((s.kind === 'dump-restore' || s.kind === 'logical') && to.replicaOf !== undefined) {
    problems.push({
      path: 'strategy.to',
      message:
        `kind ${s.kind} needs a standalone, writable target, but ${show(to.name)} is a streaming replica of ${show(to.replicaOf)}; ` +
        `remove replicaOf from nodes.${to.name}${to.replicaOf === s.from ? ' (or use kind streaming to promote it)' : ''}`,
    });
  }
}

const FIELD_KINDS: Record<string, readonly FaultKind[]> = {
  delay: ['latency'],
  jitter: ['latency'],
  bytesPerSecond: ['bandwidth'],
  mode: ['partition'],
  direction: LINK_FAULTS,
  stopMode: ['stop', 'restart'],
  restartAfter: ['kill'],
  host: ['kill', 'stop', 'pause'],
};

function linkTargets(ctx: Context): string[] {
  const replicas = Object.values(ctx.nodes)
    .filter((n) => n.replicaOf !== undefined)
    .map((n) => n.name);
  return replicas.length ? [...LINK_KEYWORDS, ...replicas] : ['client'];
}

function checkFault(ctx: Context, entry: SalvagedEntry, base: string, duration: number | undefined): void {
  const { problems } = ctx;
  const fault = entry.fault ?? {};
  const rawFault = isMapping(entry.raw?.fault) ? entry.raw.fault : {};
  const has = (key: string) => rawFault[key] !== undefined;
  const kind = fault.kind;

  // One problem per mistaken target: `node:` on a link fault is one slip, not three.
  const isNodeFault = kind !== undefined && (NODE_FAULTS as readonly string[]).includes(kind);
  const isLinkFault = kind !== undefined && (LINK_FAULTS as readonly string[]).includes(kind);
  let checkNode = fault.node !== undefined;
  let checkLinkTarget = fault.link !== undefined;
  if (isNodeFault && has('link')) {
    checkLinkTarget = false;
    problems.push({
      path: `${base}.link`,
      message: `kind ${kind} targets a node, not a link; ${has('node') ? 'remove link' : `use node: <name> instead (known nodes: ${knownNodes(ctx)})`}`,
    });
  } else if (isNodeFault && !has('node')) {
    problems.push({ path: `${base}.node`, message: `required: kind ${kind} targets a node; known nodes: ${knownNodes(ctx)}` });
  }
  if (isLinkFault && has('node')) {
    checkNode = false;
    const asLink = typeof rawFault.node === 'string' && ctx.nodes[rawFault.node]?.replicaOf !== undefined;
    const fix = has('link') ? 'remove node' : asLink ? `use link: ${String(rawFault.node)} for its replication link` : `use link: ${linkTargets(ctx).join(' | ')}`;
    problems.push({ path: `${base}.node`, message: `kind ${kind} targets a link, not a node; ${fix}` });
  } else if (isLinkFault && !has('link')) {
    problems.push({ path: `${base}.link`, message: `required: kind ${kind} targets a link; allowed links: ${linkTargets(ctx).join(', ')}` });
  }
  if (checkNode && fault.node !== undefined && ctx.nodeNames && !ctx.nodeNames.includes(fault.node)) {
    problems.push({ path: `${base}.node`, message: unknownNode(ctx, fault.node) });
  }
  if (checkLinkTarget && fault.link !== undefined) checkLink(ctx, fault.link, `${base}.link`);

  if (kind === 'latency' && !has('delay')) {
    problems.push({ path: `${base}.delay`, message: 'required for kind latency: the added delay, e.g. delay: 50ms' });
  }
  if (kind === 'bandwidth' && !has('bytesPerSecond')) {
    problems.push({ path: `${base}.bytesPerSecond`, message: 'required for kind bandwidth: the link speed, e.g. bytesPerSecond: 1MB' });
  }
  if (kind) {
    for (const [field, kinds] of Object.entries(FIELD_KINDS)) {
      if (has(field) && !kinds.includes(kind)) {
        problems.push({ path: `${base}.${field}`, message: `does not apply to kind ${kind} (it applies to ${kinds.join(', ')}); remove it` });
      }
    }
  }
  if (duration !== undefined && entry.at !== undefined && entry.at < duration) {
    const room = duration - entry.at;
    for (const field of ['for', 'restartAfter'] as const) {
      const length = fault[field];
      if (length !== undefined && entry.at + length > duration) {
        problems.push({
          path: `${base}.${field}`,
          message:
            `${ms(length)} from at ${ms(entry.at)} ends at ${ms(entry.at + length)}, after the load phase ` +
            `(duration ${ms(duration)}); use at most ${ms(room)} or raise duration`,
        });
      }
    }
  }
}

function checkLink(ctx: Context, link: string, path: string): void {
  // a Patroni member's link to etcd: judged with the patroni: section (patroni-rules.ts)
  if (dcsLinkMember(link) !== undefined) return;
  if ((LINK_KEYWORDS as readonly string[]).includes(link)) {
    // Judged on the raw file: a node whose replicaOf is itself invalid still means to be a replica.
    const rawNodes = isMapping(ctx.raw.nodes) ? Object.values(ctx.raw.nodes) : undefined;
    // Patroni members stream from their leader through pgdrill's proxies (patroni/member-links.ts)
    const patroniMembers = isMapping(ctx.raw.patroni) && Array.isArray(ctx.raw.patroni.members) ? ctx.raw.patroni.members.length : 0;
    if (link === 'replication' && patroniMembers < 2 && rawNodes && rawNodes.every((n) => !isMapping(n) || n.replicaOf === undefined)) {
      ctx.problems.push({ path, message: 'no node has replicaOf, so there is no replication link; allowed links: client' });
    }
    return;
  }
  const allowed = linkTargets(ctx).join(', ');
  if (ctx.nodeNames && !ctx.nodeNames.includes(link)) {
    ctx.problems.push({ path, message: `unknown link ${show(link)}; allowed links: ${allowed}${didYouMean(link, linkTargets(ctx))}` });
    return;
  }
  const node = ctx.nodes[link];
  if (node && node.replicaOf === undefined) {
    ctx.problems.push({
      path,
      message: `${show(link)} is not a replica, so it has no replication link; allowed links: ${allowed} (a fault on the node itself uses node: ${link})`,
    });
  }
}

function checkTimeline(ctx: Context): void {
  const { problems, raw } = ctx;
  const duration = ctx.parsed.duration;
  let firstCutover: number | undefined;
  let commandChecked = false;
  ctx.timeline.forEach((entry, i) => {
    const base = `timeline[${i}]`;
    if (!entry.raw) return; // not a mapping: the schema said so
    const hasFault = entry.raw.fault !== undefined;
    const hasCutover = 'cutover' in entry.raw;
    // a written `sql:` counts as given even when empty: the schema already says what it lacks
    const given = TIMELINE_ENTRY_KINDS.filter((k) => (k === 'fault' ? hasFault : k in entry.raw!));
    if (given.length > 1) {
      const listed = given.length === 2 ? `both ${given[0]} and ${given[1]}` : `${given.slice(0, -1).join(', ')} and ${given[given.length - 1]}`;
      problems.push({ path: base, message: `has ${listed}; put each in its own entry (they may share the same at)` });
    } else if (given.length === 0) {
      problems.push({
        path: base,
        message: 'needs either fault: { kind, ... }, cutover: {}, sql: { node, statement } or command: { run }',
      });
    }
    if (entry.sql?.node !== undefined && ctx.nodeNames && !ctx.nodeNames.includes(entry.sql.node)) {
      problems.push({ path: `${base}.sql.node`, message: unknownNode(ctx, entry.sql.node) });
    }
    if ('command' in entry.raw && !commandChecked && ctx.nodeNames) {
      commandChecked = true; // the clash is the nodes', not each command's: say it once
      for (const { variable, nodes } of clashingUrlVariables(ctx.nodeNames)) {
        problems.push({
          path: `${base}.command`,
          message:
            nodes.length > 1
              ? `nodes ${nodes.map((n) => show(n)).join(' and ')} would ${nodes.length === 2 ? 'both' : 'all'} be ${variable} ` +
                `in the command's environment; rename ${nodes.length === 2 ? 'one of them' : 'all but one'}`
              : `node ${show(nodes[0])} would be ${variable}, the endpoint's URL, in the command's environment; rename the node`,
        });
      }
    }
    if (duration !== undefined && entry.at !== undefined && entry.at >= duration) {
      problems.push({
        path: `${base}.at`,
        message: `${ms(entry.at)} is not inside the load phase (duration ${ms(duration)}); use a time below ${ms(duration)} or raise duration`,
      });
    }
    if (hasFault) checkFault(ctx, entry, `${base}.fault`, duration);
    if (hasCutover) {
      if (raw.strategy === undefined) {
        problems.push({ path: `${base}.cutover`, message: 'a cutover needs a strategy; add strategy: { kind, from, to }' });
      }
      if (entry.cutover && !entry.cutover.dryRun) {
        if (firstCutover === undefined) firstCutover = i;
        else {
          problems.push({
            path: `${base}.cutover`,
            message: `a second cutover (the first is timeline[${firstCutover}]); only one real cutover can run, mark the others dryRun: true`,
          });
        }
      }
    }
  });
}

/**
 * Kind failover is unplanned: it is triggered by pgdrill detecting that strategy.from failed,
 * so the timeline must make it fail (a node fault on it) and may not schedule a cutover.
 */
function checkFailover(ctx: Context): void {
  const s = ctx.strategy;
  const rawStrategy = isMapping(ctx.raw.strategy) ? ctx.raw.strategy : undefined;
  if (!s?.kind) return;
  if (s.kind !== 'failover') {
    if (rawStrategy?.detection !== undefined) {
      ctx.problems.push({
        path: 'strategy.detection',
        message: `applies to kind failover only (how pgdrill decides the primary is dead); remove it for kind ${s.kind}`,
      });
    }
    return;
  }
  let faultOnFrom = false;
  ctx.timeline.forEach((entry, i) => {
    if (entry.raw && 'cutover' in entry.raw) {
      ctx.problems.push({
        path: `timeline[${i}].cutover`,
        message:
          `kind failover is triggered when pgdrill detects that ${show(s.from ?? 'strategy.from')} failed, not by a cutover entry; ` +
          `remove it and make the primary fail with a fault, e.g. { at: 10s, fault: { kind: kill, node: ${s.from ?? 'primary'} } }`,
      });
    }
    const kind = entry.fault?.kind;
    if (kind && (NODE_FAULTS as readonly string[]).includes(kind) && entry.fault?.node === s.from) faultOnFrom = true;
    // a rejoin rewinds the old primary once it is back: the fault must end during the load
    const fault = entry.fault;
    if (s.rejoinOldPrimary && fault && fault.node === s.from && (fault.kind === 'kill' ? fault.restartAfter === undefined : fault.kind !== 'restart' && fault.for === undefined)) {
      ctx.problems.push({
        path: `timeline[${i}].fault`,
        message:
          `strategy.rejoinOldPrimary rewinds ${show(s.from)} when it comes back, but this ${kind} keeps it down until the load ends; ` +
          `give it ${kind === 'kill' ? 'restartAfter' : 'for'}: e.g. { kind: ${kind}, node: ${s.from}, ${kind === 'kill' ? 'restartAfter' : 'for'}: 3s }`,
      });
    }
  });
  if (!faultOnFrom && s.from !== undefined) {
    ctx.problems.push({
      path: 'timeline',
      message:
        `kind failover needs the primary to fail, but no fault targets ${show(s.from)}; ` +
        `add one, e.g. { at: 10s, fault: { kind: kill, node: ${s.from} } }`,
    });
  }
}

function checkSeed(ctx: Context): void {
  const seed = ctx.parsed.seed;
  if (!seed || seed.orders === 0 || seed.sql !== undefined || seed.dump !== undefined) return;
  for (const key of ['users', 'products'] as const) {
    if (seed[key] === 0) {
      ctx.problems.push({
        path: `seed.${key}`,
        message: `must be at least 1 when seed.orders is ${seed.orders} (every order references ${key}); raise it or set orders: 0`,
      });
    }
  }
}

/** What an endpoint kind cannot do with another section (not yet): refused before anything starts. */
function endpointAndSections(ctx: Context): void {
  const kind = ctx.parsed.endpoint?.kind ?? 'proxy';
  if (ctx.parsed.tls && kind === 'pgbouncer') {
    ctx.problems.push({
      path: 'tls',
      message: 'TLS is not set up on PgBouncer yet (its client_tls_* and server_tls_* settings): use endpoint kind proxy, haproxy or discovery with tls, or drop tls',
    });
  }
  if (ctx.parsed.app && ctx.parsed.app.command === undefined && kind === 'discovery') {
    ctx.problems.push({
      path: 'app',
      message:
        'the bundled sample service connects with node-postgres, which takes one host, and a discovery endpoint is a list of nodes ' +
        '(target_session_attrs=read-write); use endpoint kind proxy, pgbouncer or haproxy with it, or app.command with a driver that takes several hosts',
    });
  }
}

/** A threshold on something that is never measured would pass on nothing: a silent false green. */
function checkThresholds(ctx: Context): void {
  const { thresholds, workload } = ctx.parsed;
  if (!thresholds || !workload) return;
  const off: Partial<Record<ThresholdName, string | undefined>> = {
    writeDowntime: workload.writes.rate === 0 ? 'writes are off (workload.writes.rate is 0)' : undefined,
    writeErrorRate: workload.writes.rate === 0 ? 'writes are off (workload.writes.rate is 0)' : undefined,
    p99WriteLatency: workload.writes.rate === 0 ? 'writes are off (workload.writes.rate is 0)' : undefined,
    readDowntime: workload.reads.rate === 0 ? 'reads are off (workload.reads.rate is 0)' : undefined,
    serverWriteGap: workload.probe.interval === 0 ? 'the probe is off (workload.probe.interval is 0)' : undefined,
    ...appThresholdsOff(ctx),
  };
  for (const [name, reason] of Object.entries(off)) {
    if (reason && thresholds[name as ThresholdName] !== undefined) {
      ctx.problems.push({ path: `thresholds.${name}`, message: `cannot be measured: ${reason}; turn it on or remove this threshold` });
    }
  }
}

/** The app thresholds need an app, and all but the log scan need its load. */
function appThresholdsOff(ctx: Context): Partial<Record<ThresholdName, string>> {
  const noApp = ctx.raw.app === undefined ? 'there is no app: section' : undefined;
  const noLoad = noApp ?? (ctx.parsed.app?.load.rate === 0 ? 'the app load is off (app.load.rate is 0)' : undefined);
  const out: Partial<Record<ThresholdName, string>> = {};
  for (const name of ['appDowntime', 'appErrorRate', 'p99AppLatency'] as const) if (noLoad) out[name] = noLoad;
  if (noApp) out.appLogErrors = noApp;
  return out;
}

/**
 * app: a command must say what to send it (pgdrill cannot guess a user's API); the sample
 * service's default requests need a user and two products in the seed.
 */
function checkApp(ctx: Context): void {
  // judged on what was written when another field of app: is invalid, so every problem shows at once
  const raw = isMapping(ctx.raw.app) ? ctx.raw.app : undefined;
  const rawLoad = isMapping(raw?.load) ? raw.load : undefined;
  const app = ctx.parsed.app ?? (raw && {
    command: typeof raw.command === 'string' ? raw.command : undefined,
    load: { requests: Array.isArray(rawLoad?.requests) ? (rawLoad.requests as { weight: number }[]) : undefined, rate: typeof rawLoad?.rate === 'number' ? rawLoad.rate : 50 },
  });
  if (!app) return;
  if (app.command !== undefined && app.load.requests === undefined && app.load.rate > 0) {
    ctx.problems.push({
      path: 'app.load.requests',
      message:
        'required with app.command: list what the load sends to your app, e.g. - { method: GET, path: /health } ' +
        '(or set app.load.rate: 0 for no app load; without a command the bundled sample service and its requests are used)',
    });
  }
  if (ctx.parsed.app && app.load.requests && app.load.rate > 0 && app.load.requests.every((r) => r.weight === 0)) {
    ctx.problems.push({ path: 'app.load.requests', message: 'every weight is 0, so nothing would be sent; give at least one request a weight above 0' });
  }
  const seed = ctx.parsed.seed;
  if (app.command === undefined && app.load.requests === undefined && app.load.rate > 0 && seed && (seed.users < 1 || seed.products < 2)) {
    ctx.problems.push({
      path: 'app.load',
      message: `the sample service's default requests order product 2 for user 1, but the seed has ${seed.users} users and ${seed.products} products; seed at least 1 user and 2 products, or list app.load.requests`,
    });
  }
}

/** The sample service's requests fill in an absent list, so results.json records what was sent. */
function resolveApp(app: NonNullable<Parsed['app']>): AppConfig {
  const requests = app.load.requests ?? (app.command === undefined ? SAMPLE_SERVICE_REQUESTS.map((r) => ({ ...r })) : []);
  return { ...app, load: { ...app.load, requests } };
}

// ---------------------------------------------------------------------------------------------
// Resolution

/** Fills the fault fields that have an obvious default, so results.json records what actually ran. */
function withFaultDefaults(fault: FaultConfig): FaultConfig {
  const out: FaultConfig = { ...fault };
  if ((LINK_FAULTS as readonly string[]).includes(fault.kind)) out.direction ??= 'both';
  if (fault.kind === 'latency') out.jitter ??= 0;
  if (fault.kind === 'partition') out.mode ??= 'blackhole';
  if (fault.kind === 'stop' || fault.kind === 'restart') out.stopMode ??= 'fast'; // pg_ctl's own default
  return out;
}

/** Kind failover always records how it detects a failure; other kinds carry no detection. */
function withStrategyDefaults(strategy: StrategyConfig): StrategyConfig {
  if (strategy.kind !== 'failover') return strategy;
  return { ...strategy, detection: strategy.detection ?? { ...DEFAULT_DETECTION } };
}

function resolve(p: Required<Omit<Parsed, 'strategy' | 'app' | 'tls' | 'endpoint' | 'patroni'>> & Pick<Parsed, 'strategy' | 'app' | 'tls' | 'endpoint' | 'patroni'>): Scenario {
  const timeline: TimelineEntry[] = p.timeline.map((e) => {
    const entry: TimelineEntry = { at: e.at };
    if (e.fault) entry.fault = withFaultDefaults(e.fault);
    if (e.cutover) entry.cutover = withCutoverDefaults(e.cutover);
    if (e.sql) entry.sql = e.sql;
    if (e.command) entry.command = e.command;
    return entry;
  });
  const thresholds: Scenario['thresholds'] = {};
  for (const [k, v] of Object.entries(p.thresholds)) if (v !== undefined) thresholds[k as ThresholdName] = v;
  const own = resolveOwnSchema(p.seed, p.workload as Scenario['workload']);
  const scenario: Scenario = {
    name: p.name,
    description: p.description,
    runtime: p.runtime,
    duration: p.duration,
    nodes: p.nodes,
    ...(p.strategy ? { strategy: withStrategyDefaults(p.strategy) } : {}),
    seed: own.seed,
    workload: own.workload,
    timeline,
    thresholds,
    monitor: p.monitor,
    downtime: p.downtime,
    ...(p.app ? { app: resolveApp(p.app) } : {}),
    ...(p.tls ? { tls: p.tls } : {}),
    ...(p.patroni ? { patroni: p.patroni as Scenario['patroni'] } : {}),
  };
  const endpoint = resolveEndpoint(p.endpoint, own.workload);
  if (endpoint) scenario.endpoint = endpoint;
  return scenario;
}

/**
 * Validates a raw scenario object (already YAML-parsed, overrides applied). Returns the resolved
 * scenario when there is no problem; otherwise every problem found, schema and cross-field.
 */
export function validateScenario(file: unknown): { scenario?: Scenario; problems: Problem[] } {
  // runtime external's defaults (strategy from/to, an endpoint given by url) before the sections are parsed
  const raw = isMapping(file) ? withExternalDefaults(file) : file;
  if (raw === undefined || raw === null) {
    return { problems: [{ path: '', message: 'the scenario is empty; it needs at least name: and nodes: (see docs/scenario-reference.md)' }] };
  }
  if (!isMapping(raw)) {
    return { problems: [{ path: '', message: `expected a mapping at the top level (name:, nodes:, ...), got ${show(raw)}` }] };
  }
  const problems: Problem[] = [];
  const top = parseWith(topLevelKeysSchema, raw, []);
  if (!top.ok) problems.push(...top.problems);

  const parsed: Parsed = {};
  for (const key of SECTION_NAMES) {
    const r = parseWith(sectionSchemas[key], raw[key], [key]);
    if (r.ok) (parsed as Record<string, unknown>)[key] = r.value;
    else problems.push(...r.problems);
  }

  const ctx: Context = { raw, parsed, nodes: {}, timeline: [], problems: [] };
  salvage(ctx);
  checkNodes(ctx);
  checkStrategy(ctx);
  checkTimeline(ctx);
  checkFailover(ctx);
  checkSeed(ctx);
  checkThresholds(ctx);
  checkApp(ctx);
  ctx.problems.push(...endpointProblems(ctx.parsed.endpoint, isMapping(raw.strategy) ? raw.strategy : undefined));
  endpointAndSections(ctx);
  if (raw.patroni !== undefined || ctx.strategy?.kind === 'patroni' || ctx.timeline.some((e) => e.fault?.host !== undefined || (e.fault?.link !== undefined && dcsLinkMember(e.fault.link) !== undefined))) {
    ctx.problems.push(
      ...patroniProblems({
        patroni: parsed.patroni ?? (isMapping(raw.patroni) ? (raw.patroni as Record<string, unknown>) : undefined),
        hasSection: raw.patroni !== undefined,
        nodeNames: ctx.nodeNames,
        nodes: ctx.nodes,
        strategy: ctx.strategy,
        faults: ctx.timeline.flatMap((e, index) => (e.fault ? [{ index, fault: e.fault }] : [])),
        endpointKind: parsed.endpoint?.kind ?? 'proxy',
        tls: raw.tls !== undefined,
      }),
    );
  }
  ctx.problems.push(...ownSchemaProblems(raw, { seed: parsed.seed, workload: parsed.workload as Scenario['workload'] | undefined }));
  ctx.problems.push(...externalProblems(raw));
  problems.push(...ctx.problems);

  if (problems.length > 0) return { problems: inFileOrder(dedupe(problems)) };
  return { scenario: resolve(parsed as Parameters<typeof resolve>[0]), problems: [] };
}

/** Groups problems by top-level section in the order the file is usually written; stable within a section. */
function inFileOrder(problems: Problem[]): Problem[] {
  const rank = (p: Problem) => {
    const section = /^[A-Za-z_]+/.exec(p.path)?.[0] ?? '';
    const i = SECTION_NAMES.indexOf(section as SectionName);
    return p.path === '' ? -1 : i < 0 ? SECTION_NAMES.length : i;
  };
  return problems
    .map((p, i) => ({ p, i, r: rank(p) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.p);
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function yamlProblems(errors: readonly YAML.YAMLError[], text: string): Problem[] {
  const lines = text.split(/\r?\n/);
  return errors.map((err) => {
    const pos = err.linePos?.[0];
    // yaml's message repeats the position and appends its own excerpt; keep the first clause only.
    const what = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    if (!pos) return { path: 'yaml', message: what };
    const source = lines[pos.line - 1] ?? '';
    const excerpt = source.trim() ? `\n      ${source.replace(/\t/g, ' ')}\n      ${' '.repeat(Math.max(0, pos.col - 1))}^` : '';
    return { path: `line ${pos.line}, column ${pos.col}`, message: `YAML syntax: ${what}${excerpt}` };
  });
}

/**
 * Parses scenario YAML, applies `--set` overrides, validates and resolves it. Throws one
 * InvalidInputError listing every problem; `sourceName` names the file in the error.
 */
export function parseScenarioText(text: string, sourceName: string, overrides: string[] = []): Scenario {
  // merge: shared node settings are commonly written with anchors and `<<: *base`.
  const doc = YAML.parseDocument(text, { merge: true });
  if (doc.errors.length > 0) throw new InvalidInputError(yamlProblems(doc.errors, text), sourceName);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new InvalidInputError([{ path: 'yaml', message: errorMessage(err) }], sourceName);
  }
  const applied = applyOverrides(raw, overrides);
  const { scenario, problems } = validateScenario(applied.value);
  const all = [...applied.problems, ...problems];
  if (all.length > 0 || !scenario) throw new InvalidInputError(all, sourceName);
  return scenario;
}

/**
 * Reads and resolves a scenario file; an unreadable file is invalid input (exit 2), not a crash.
 * The result's baseDir is the file's folder, so the file's relative paths mean the same from any cwd.
 */
export async function loadScenarioFile(path: string, overrides: string[] = []): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? `scenario file not found: ${path}`
        : code === 'EISDIR'
          ? `${path} is a directory; give a scenario .yaml file`
          : `cannot read scenario file ${path}: ${errorMessage(err)}`;
    throw new InvalidInputError([{ path: '', message }], path);
  }
  const scenario: Scenario = { ...parseScenarioText(text, path, overrides), baseDir: nodePath.dirname(nodePath.resolve(path)) };
  // the seed's files are found (relative to the file) before anything starts
  const missing = seedFileProblems(scenario);
  if (missing.length) throw new InvalidInputError(missing, path);
  return scenario;
}
