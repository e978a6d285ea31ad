// The scenario FILE as zod schemas: field types, units, per-field bounds and defaults, plus the
// threshold expression grammar. Checks that relate two fields live in load-scenario.ts.
import { z } from 'zod';
import { parseDuration, parseSize } from '../util/units.js';
import { DEFAULT_MAJOR, SUPPORTED_MAJORS, type FaultKind } from './scenario.js';
import { THRESHOLD_NAMES, type ThresholdName } from '../checks/metrics.js';
import { parseLimit } from '../checks/threshold-grammar.js';
import { scriptsSchema, seedFileFields } from './own-schema-fields.js';
import { externalCutoverFields, externalNodeFields, externalSeedFields } from './external-fields.js';

export const DAY_MS = 24 * 3_600_000;
export const MAX_RATE = 50_000;
export const MAX_CONNECTIONS = 500;
export const MAX_SEED_ROWS = 10_000_000;
export const MAX_ITEMS_PER_ORDER = 20;
/** Sizes above this are certainly typos (a lag gate of 2PB gates nothing). */
export const MAX_SIZE = 1024 ** 4;

/** Link targets that are not node names; a node may not take these names or they would be ambiguous. */
export const LINK_KEYWORDS = ['client', 'replication'] as const;

/**
 * postgresql.conf settings pgdrill itself must control so that the runtime, the endpoint and the
 * topology can find and rebuild the node; a scenario overriding them would break the run, not tune it.
 */
export const MANAGED_SETTINGS = [
  'port',
  'listen_addresses',
  'unix_socket_directories',
  'data_directory',
  'config_file',
  'hba_file',
  'ident_file',
] as const;

// ---------------------------------------------------------------------------------------------
// Message helpers shared with the loader

/** An exact duration for messages (units.formatDuration rounds 70s to "1.2m", which reads as 72s). */
export function exactDuration(ms: number): string {
  if (ms !== 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms !== 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms !== 0 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A value as it should appear in an error message: short, quoted when a string. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? text.slice(0, 57) + '...' : text;
}

function normalizeKey(word: string): string {
  return word.toLowerCase().replace(/[-_\s]/g, '');
}

/** Edit distance counting a swap of two neighbours as one edit: "alpah" is one slip from "alpha". */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidate a typo most likely meant, if any is close. Case, '-' and '_' are ignored first
 * because replica_of / ReplicaOf / dump_restore are the commonest slips.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = normalizeKey(word);
  if (!w) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, normalizeKey(c));
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const allowed = Math.max(1, Math.floor(w.length / 3));
  return bestDistance <= allowed ? best : undefined;
}

export function didYouMean(word: unknown, candidates: readonly string[]): string {
  if (typeof word !== 'string') return '';
  const hit = closest(word, candidates);
  return hit !== undefined && hit !== word ? `; did you mean ${JSON.stringify(hit)}?` : '';
}

/** Message for keys a strict object does not know; one message per object so all keys are listed. */
export function unknownKeysMessage(keys: readonly string[], known: readonly string[]): string {
  const allowed = known.length ? `allowed keys: ${known.join(', ')}` : 'no keys are allowed here';
  if (keys.length === 1) {
    const hit = closest(keys[0], known);
    return hit !== undefined
      ? `unknown key ${JSON.stringify(keys[0])}; did you mean ${JSON.stringify(hit)}?`
      : `unknown key ${JSON.stringify(keys[0])}; ${allowed}`;
  }
  const listed = keys.map((key) => {
    const hit = closest(key, known);
    return hit !== undefined ? `${JSON.stringify(key)} (did you mean ${JSON.stringify(hit)}?)` : JSON.stringify(key);
  });
  return `unknown keys ${listed.join(', ')}; ${allowed}`;
}

const EXPECTED_TEXT: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  record: 'a mapping (key: value)',
  array: 'a list',
};

/**
 * The fallback error map for every parse: zod's default wording ("Invalid input: expected
 * number, received string") names neither the bad value nor what would be right.
 */
export const scenarioErrorMap: z.core.$ZodErrorMap = (issue) => {
  const input = issue.input;
  switch (issue.code) {
    case 'invalid_type': {
      const expected = EXPECTED_TEXT[issue.expected] ?? issue.expected;
      if (input === undefined) return `required: ${expected}`;
      if (input === null) return `is empty (null); expected ${expected}`;
      return `expected ${expected}, got ${show(input)}`;
    }
    case 'invalid_value': {
      const allowed = issue.values.map((v) => (typeof v === 'string' ? v : String(v)));
      return `${show(input)} is not allowed; allowed: ${allowed.join(', ')}${didYouMean(input, allowed)}`;
    }
    case 'unrecognized_keys': {
      const shape = (issue.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
      return unknownKeysMessage(issue.keys, Object.keys(shape ?? {}));
    }
    case 'too_small':
      return `must be ${issue.inclusive ? 'at least' : 'more than'} ${String(issue.minimum)}, got ${show(input)}`;
    case 'too_big':
      return `must be ${issue.inclusive ? 'at most' : 'less than'} ${String(issue.maximum)}, got ${show(input)}`;
    case 'invalid_key':
      // The issue's path already ends with the key, and the key schema's messages quote it.
      return issue.issues.map((i) => i.message).join('; ');
    case 'invalid_format':
      return `${show(input)} has the wrong format${issue.pattern ? ` (must match ${issue.pattern})` : ''}`;
    default:
      return undefined;
  }
};

// ---------------------------------------------------------------------------------------------
// Field builders

interface DurationOptions {
  /** smallest allowed value in ms; 0 allows "0s" */
  min: number;
  /** why 0 is special, shown when the value is out of range */
  zeroMeans?: string;
  max?: number;
}

/**
 * A duration written with a unit, resolved to ms. Bare numbers are refused on purpose:
 * `timeout: 5` could mean 5ms or 5s, and guessing wrong silently ruins a run.
 */
export function durationField(opts: DurationOptions) {
  const max = opts.max ?? DAY_MS;
  const example = '"500ms", "10s" or "2m"';
  return z
    .string({
      error: (iss) =>
        iss.input === undefined
          ? `required: a duration such as ${example}`
          : typeof iss.input === 'number'
            ? `a duration needs a unit: write "${iss.input}s" or "${iss.input}ms", got ${iss.input}`
            : `expected a duration such as ${example}, got ${show(iss.input)}`,
    })
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.addIssue({
          code: 'custom',
          input: text,
          message: `expected a duration with a unit (us, ms, s, m, h) such as ${example}, got ${show(text)}`,
        });
        return z.NEVER;
      }
      const zeroNote = opts.zeroMeans ? ` (0 ${opts.zeroMeans})` : '';
      if (ms < opts.min) {
        const bound = `at least ${exactDuration(opts.min)}`;
        ctx.addIssue({ code: 'custom', input: text, message: `must be ${bound}${zeroNote}, got ${show(text)}` });
        return z.NEVER;
      }
      if (ms > max) {
        ctx.addIssue({ code: 'custom', input: text, message: `must be at most ${exactDuration(max)}, got ${show(text)}` });
        return z.NEVER;
      }
      return ms;
    });
}

/** A size as "64MB"-like text (binary multiples, as PostgreSQL reads them) or a number of bytes. */
export function sizeField(opts: { min: number; max?: number }) {
  const max = opts.max ?? MAX_SIZE;
  const what = 'a size such as "64MB", "512kB" or a number of bytes';
  return z
    .union([z.string(), z.number()], {
      error: (iss) => (iss.input === undefined ? `required: ${what}` : `expected ${what}, got ${show(iss.input)}`),
    })
    .transform((value, ctx) => {
      const bytes = parseSize(value);
      if (bytes === undefined) {
        ctx.addIssue({ code: 'custom', input: value, message: `expected ${what} (units B, kB, MB, GB, TB), got ${show(value)}` });
        return z.NEVER;
      }
      if (bytes < opts.min || bytes > max) {
        const range = opts.min > 0 ? `between ${opts.min} byte${opts.min === 1 ? '' : 's'} and 1TB` : 'at most 1TB';
        ctx.addIssue({ code: 'custom', input: value, message: `must be ${range}, got ${show(value)}` });
        return z.NEVER;
      }
      return bytes;
    });
}

/** A number in [min, max]; one message for wrong type, fraction and range so the fix is obvious. */
export function numberField(min: number, max: number, what: string, opts: { int?: boolean } = {}) {
  const kind = opts.int ? 'an integer' : 'a number';
  const message = (iss: { input?: unknown }) =>
    iss.input === undefined ? `required: ${what}, ${kind} from ${min} to ${max}` : `expected ${what}: ${kind} from ${min} to ${max}, got ${show(iss.input)}`;
  const base = z.number({ error: message });
  const checked = opts.int ? base.int({ error: message }) : base;
  return checked.min(min, { error: message }).max(max, { error: message });
}

const intField = (min: number, max: number, what: string) => numberField(min, max, what, { int: true });

function enumField<const T extends readonly [string, ...string[]]>(values: T, what: string) {
  return z.enum(values, {
    error: (iss) =>
      iss.input === undefined
        ? `required: ${what}, one of: ${values.join(', ')}`
        : `${show(iss.input)} is not a valid ${what}; allowed: ${values.join(', ')}${didYouMean(iss.input, values)}`,
  });
}

const booleanField = (what: string) =>
  z.boolean({
    error: (iss) => {
      if (iss.input === undefined) return `required: ${what}, true or false`;
      // YAML 1.2 reads yes/no/on/off (and anything quoted) as strings.
      const hint = typeof iss.input === 'string' && /^(yes|no|on|off|true|false|y|n)$/i.test(iss.input) ? ' (write true or false, unquoted)' : '';
      return `expected true or false (${what}), got ${show(iss.input)}${hint}`;
    },
  });

function isPlainMapping(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** YAML writes an empty mapping as `key:` (null); for sections whose fields all default that means "defaults". */
const nullAsEmpty = (v: unknown) => (v === null ? {} : v);

// ---------------------------------------------------------------------------------------------
// Sections

export const SCENARIO_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const NODE_NAME_RE = /^[a-z][a-z0-9_-]{0,39}$/;
const SETTING_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

export const nameSchema = z
  .string({
    error: (iss) =>
      iss.input === undefined
        ? 'required: a name made of a-z, 0-9, "-" and "_" (it names the report folder)'
        : `expected a name made of a-z, 0-9, "-" and "_", got ${show(iss.input)}`,
  })
  .regex(SCENARIO_NAME_RE, {
    error: (iss) =>
      `${show(iss.input)} is not a valid name: use 1-64 characters a-z, 0-9, "-" and "_", starting with a letter or digit (it names the report folder)`,
  });

export const nodeNameSchema = z
  .string()
  .regex(NODE_NAME_RE, {
    error: (iss) => `${show(iss.input)} is not a valid node name: use 1-40 characters a-z, 0-9, "-" and "_", starting with a letter`,
  })
  .refine((n) => !(LINK_KEYWORDS as readonly string[]).includes(n), {
    error: (iss) => `${show(iss.input)} is reserved for link targets (client, replication); pick another node name`,
  });

const settingValue = z
  .union([z.string(), z.number(), z.boolean()], {
    error: (iss) => `expected a setting value (string, number or boolean), got ${show(iss.input)}`,
  })
  // PostgreSQL spells booleans on/off in its own docs and pg_settings output, so keep that form.
  .transform((v) => (typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v)));

const settingName = z
  .string()
  .regex(SETTING_NAME_RE, {
    error: (iss) => `${show(iss.input)} is not a PostgreSQL setting name (letters, digits and "_", optionally "extension.name")`,
  })
  .refine((n) => !(MANAGED_SETTINGS as readonly string[]).includes(n.toLowerCase()), {
    error: (iss) => `${show(iss.input)} is managed by pgdrill (it decides where each node listens and lives); remove it`,
  });

export const nodeFieldsSchema = z.strictObject({
  version: z
    .number({
      error: (iss) => `expected a PostgreSQL major version (${SUPPORTED_MAJORS.join(', ')}), got ${show(iss.input)}`,
    })
    .refine((v) => (SUPPORTED_MAJORS as readonly number[]).includes(v), {
      error: (iss) => `unsupported PostgreSQL major version ${show(iss.input)}; supported: ${SUPPORTED_MAJORS.join(', ')}`,
    })
    .default(DEFAULT_MAJOR),
  replicaOf: z
    .string({ error: (iss) => `expected the name of another node, got ${show(iss.input)}` })
    .optional(),
  synchronous: booleanField('list this replica in synchronous_standby_names').default(false),
  settings: z.record(settingName, settingValue).default({}),
  image: z
    .string({ error: (iss) => `expected a Docker image reference such as "postgres:17", got ${show(iss.input)}` })
    .min(1, { error: 'must not be empty; omit it to use postgres:<version>' })
    .optional(),
  // runtime external (external-rules.ts says when they are required and what they may hold)
  ...externalNodeFields,
});

export const nodeSchema = z.preprocess(nullAsEmpty, nodeFieldsSchema);

export const nodesSchema = z
  .record(nodeNameSchema, nodeSchema, {
    // Only the record's own type issue: a bad node name (invalid_key) keeps the key schema's message.
    error: (iss) =>
      iss.code !== 'invalid_type'
        ? undefined
        : iss.input === undefined
        ? 'required: a mapping of node name -> settings, e.g. nodes: { primary: { version: 17 } }'
        : `expected a mapping of node name -> settings, e.g. nodes: { primary: { version: 17 } }, got ${show(iss.input)}`,
  })
  .transform((nodes) => {
    const named: Record<string, { name: string } & (typeof nodes)[string]> = {};
    for (const [name, node] of Object.entries(nodes)) named[name] = { name, ...node };
    return named;
  });

const STRATEGY_KINDS = ['streaming', 'dump-restore', 'logical', 'failover', 'patroni', 'external'] as const;
const nodeRef = (role: string) =>
  z.string({
    error: (iss) =>
      iss.input === undefined ? `required: the name of the ${role} node` : `expected the name of the ${role} node, got ${show(iss.input)}`,
  });

export const syncGateSchema = z.strictObject({
  lagBytes: sizeField({ min: 0 }).default(1024),
  lagSeconds: z
    .union([z.number(), z.string()], {
      error: (iss) => `expected a number of seconds (or a duration such as "1s"), got ${show(iss.input)}`,
    })
    .transform((v, ctx) => {
      // Accept "1s" as well: the field name says seconds, but every other time in the file has units.
      const seconds = typeof v === 'number' ? v : (parseDuration(v) ?? NaN) / 1000;
      if (!Number.isFinite(seconds) || seconds < 0 || seconds > DAY_MS / 1000) {
        ctx.addIssue({ code: 'custom', input: v, message: `expected seconds from 0 to 86400 (or a duration such as "1s"), got ${show(v)}` });
        return z.NEVER;
      }
      return seconds;
    })
    .default(1),
  consecutiveChecks: intField(1, 1000, 'consecutive passing checks').default(3),
  timeout: durationField({ min: 1 }).default(300_000),
});

export const DEFAULT_DETECTION = { interval: 200, failures: 3 } as const;

export const detectionSchema = z.strictObject({
  interval: durationField({ min: 10, max: 60_000 }).default(DEFAULT_DETECTION.interval),
  failures: intField(1, 100, 'consecutive failed health checks').default(DEFAULT_DETECTION.failures),
});

export const strategySchema = z.strictObject({
  kind: enumField(STRATEGY_KINDS, 'strategy kind'),
  from: nodeRef('old (source)'),
  to: nodeRef('new (target)'),
  syncGate: z.preprocess(nullAsEmpty, syncGateSchema).prefault({}),
  promoteTimeout: durationField({ min: 1 }).default(30_000),
  fenceOldPrimary: booleanField('make the old primary read-only after the cutover').default(true),
  holdConnections: booleanField('hold new client connections at the endpoint during the freeze').default(false),
  // optional and without a default, so streaming scenarios resolve as before
  globals: booleanField('copy roles and grants with pg_dumpall --globals-only (dump-restore, logical)').optional(),
  syncSequences: booleanField('set the target\'s sequences from the source\'s at the cutover (logical)').optional(),
  // dump-restore: parallel jobs of pg_dump -Fd / pg_restore; absent, the strategy picks by the database's size
  jobs: intField(1, 64, 'parallel pg_dump/pg_restore jobs').optional(),
  // kind failover only; its defaults are filled when the scenario is resolved
  detection: z.preprocess(nullAsEmpty, detectionSchema).optional(),
  // streaming and failover: optional and without a default, so other scenarios resolve as before
  rejoinOldPrimary: booleanField('rewind the old primary with pg_rewind and start it as a standby of the new one after the cutover').optional(),
});

export const seedSchema = z.strictObject({
  users: intField(0, MAX_SEED_ROWS, 'a row count').default(1000),
  products: intField(0, MAX_SEED_ROWS, 'a row count').default(500),
  orders: intField(0, MAX_SEED_ROWS, 'a row count').default(2000),
  itemsPerOrder: intField(1, MAX_ITEMS_PER_ORDER, 'the most order_items per order').default(3),
  // your own schema and data instead of the shop (own-schema-fields.ts)
  ...seedFileFields,
  // runtime external: use the tables already there (external-fields.ts)
  ...externalSeedFields,
});

const rateField = (what: string) => numberField(0, MAX_RATE, `${what} per second (0 turns them off)`);
const connectionsField = () => intField(1, MAX_CONNECTIONS, 'a connection count');
const weightField = () => numberField(0, 1_000_000, 'a relative weight');

export const DEFAULT_MIX = { insert: 50, update: 40, delete: 10 } as const;

export const writeMixSchema = z
  // A mix that is written out is taken as the whole mix: `{ insert: 100 }` means inserts only,
  // not inserts on top of the default updates and deletes.
  .strictObject({
    insert: weightField().default(0),
    update: weightField().default(0),
    delete: weightField().default(0),
  })
  .refine((m) => m.insert + m.update + m.delete > 0, {
    error: 'all weights are 0; give at least one of insert, update, delete a weight above 0',
    // A negative weight is already reported on its own field; do not add a second, vaguer problem.
    when: (payload) => payload.issues.length === 0,
  });

export const workloadSchema = z.strictObject({
  writes: z
    .preprocess(
      nullAsEmpty,
      z.strictObject({
        rate: rateField('intended writes').default(200),
        connections: connectionsField().default(10),
        mix: writeMixSchema.default({ ...DEFAULT_MIX }),
        timeout: durationField({ min: 1 }).default(5000),
        scripts: scriptsSchema,
      }),
    )
    .prefault({}),
  reads: z
    .preprocess(
      nullAsEmpty,
      z.strictObject({
        rate: rateField('intended reads').default(0),
        connections: connectionsField().default(4),
        timeout: durationField({ min: 1 }).default(5000),
        scripts: scriptsSchema,
      }),
    )
    .prefault({}),
  probe: z
    .preprocess(
      nullAsEmpty,
      z.strictObject({
        interval: durationField({ min: 0, zeroMeans: 'turns the probe off' })
          .refine((ms) => ms === 0 || ms >= 1, { error: (iss) => `must be 0 (off) or at least 1ms, got ${String(iss.input)}ms` })
          .default(50),
        timeout: durationField({ min: 1 }).default(2000),
      }),
    )
    .prefault({}),
});

export const FAULT_KINDS = [
  'kill',
  'stop',
  'restart',
  'pause',
  'disk-full',
  'latency',
  'bandwidth',
  'partition',
  'reset-peer',
] as const satisfies readonly FaultKind[];

export const faultSchema = z.strictObject({
  kind: enumField(FAULT_KINDS, 'fault kind'),
  node: z.string({ error: (iss) => `expected a node name, got ${show(iss.input)}` }).optional(),
  link: z.string({ error: (iss) => `expected a link: client, replication or a replica's name, got ${show(iss.input)}` }).optional(),
  for: durationField({ min: 1 }).optional(),
  delay: durationField({ min: 1 }).optional(),
  jitter: durationField({ min: 0 }).optional(),
  bytesPerSecond: sizeField({ min: 1 }).optional(),
  mode: enumField(['blackhole', 'reject'], 'partition mode').optional(),
  direction: enumField(['both', 'upstream', 'downstream'], 'direction').optional(),
  stopMode: enumField(['smart', 'fast', 'immediate'], 'stop mode').optional(),
  restartAfter: durationField({ min: 0, zeroMeans: 'restarts at once' }).optional(),
  // Patroni members only: the fault takes the whole host (the Patroni agent with PostgreSQL)
  host: booleanField('act on the whole host of a Patroni member (its Patroni agent and PostgreSQL), not PostgreSQL alone').optional(),
});

export const cutoverSchema = z.preprocess(
  nullAsEmpty,
  z.strictObject({
    dryRun: booleanField('only check the cutover, stop before the write freeze').default(false),
    // strategy external: the user's own cutover command (external-fields.ts)
    ...externalCutoverFields,
  }),
);

/** Text that must say something: an empty statement or command would be recorded as a step that did nothing. */
const nonEmptyText = (what: string, example: string) =>
  z
    .string({
      error: (iss) => (iss.input === undefined ? `required: ${what}, e.g. ${example}` : `expected ${what} (a string), got ${show(iss.input)}`),
    })
    .refine((text) => text.trim() !== '', { error: `must not be empty: give ${what}, e.g. ${example}` });

/** A step given as bare text (`command: ./x.sh`) is the likeliest slip: say which mapping it belongs in. */
const stepError = (kind: string, example: string) => (iss: { code?: string; input?: unknown }) =>
  iss.code === 'invalid_type' && iss.input !== undefined && iss.input !== null
    ? `expected a mapping (key: value), got ${show(iss.input)}; write ${kind}: ${example}`
    : undefined;

export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const sqlStepSchema = z.strictObject(
  {
    node: z.string({
      error: (iss) => (iss.input === undefined ? 'required: the node to run the statement on' : `expected a node name, got ${show(iss.input)}`),
    }),
    statement: nonEmptyText('the SQL to run', '"DELETE FROM orders WHERE id % 97 = 0"'),
    database: z
      .string({ error: (iss) => `expected a database name, got ${show(iss.input)}` })
      .min(1, { error: 'must not be empty; omit it to use the scenario\'s database' })
      .optional(),
    timeout: durationField({ min: 1 }).default(60_000),
    allowFailure: booleanField('let the run pass when this step fails').default(false),
  },
  { error: stepError('sql', '{ node: primary, statement: "..." }') },
);

const envValue = z
  .union([z.string(), z.number(), z.boolean()], {
    error: (iss) => `expected an environment value (string, number or boolean), got ${show(iss.input)}`,
  })
  .transform((v) => String(v));

const envName = z
  .string()
  .regex(ENV_NAME_RE, {
    error: (iss) => `${show(iss.input)} is not an environment variable name (letters, digits and "_", not starting with a digit)`,
  })
  // pgdrill sets PGDRILL_<NODE>_URL and PGDRILL_ENDPOINT_URL itself; a step overriding them would connect elsewhere.
  .refine((n) => !n.toUpperCase().startsWith('PGDRILL_'), {
    error: (iss) => `${show(iss.input)} starts with PGDRILL_, which pgdrill keeps for the nodes' and the endpoint's URLs; pick another name`,
  });

export const commandStepSchema = z.strictObject(
  {
    run: nonEmptyText('the command to run (through /bin/sh -c, in the scenario file\'s folder)', '"./my-runbook-step.sh"'),
    timeout: durationField({ min: 1 }).default(300_000),
    allowFailure: booleanField('let the run pass when this step fails').default(false),
    env: z.record(envName, envValue).optional(),
  },
  { error: stepError('command', '{ run: "./my-runbook-step.sh" }') },
);

const timelineEntryShape = {
  at: durationField({ min: 0 }),
  fault: faultSchema.optional(),
  cutover: cutoverSchema.optional(),
  sql: sqlStepSchema.optional(),
  command: commandStepSchema.optional(),
};

/** The kinds of timeline entry; an entry has exactly one of these keys. */
export const TIMELINE_ENTRY_KINDS = ['fault', 'cutover', 'sql', 'command'] as const;

export const timelineEntrySchema = z.strictObject(timelineEntryShape, {
  // Writing the fault's fields flat on the entry is the commonest timeline slip; say where they go.
  error: (iss) => {
    if (iss.code !== 'unrecognized_keys') return undefined;
    const message = unknownKeysMessage(iss.keys, Object.keys(timelineEntryShape));
    // statement and run first: node is a fault field and a sql field alike
    if (iss.keys.includes('statement')) return `${message}; sql fields go inside sql:, e.g. { at: 20s, sql: { node: primary, statement: "..." } }`;
    if (iss.keys.includes('run')) return `${message}; command fields go inside command:, e.g. { at: 25s, command: { run: "./step.sh" } }`;
    const faultKeys = Object.keys(faultSchema.shape);
    return iss.keys.some((k) => faultKeys.includes(k))
      ? `${message}; fault fields go inside fault:, e.g. { at: 10s, fault: { kind: kill, node: primary } }`
      : message;
  },
});

export const timelineSchema = z
  .array(timelineEntrySchema, {
    error: (iss) =>
      `expected a list of { at, fault | cutover | sql | command } entries, got ${show(iss.input)}${isPlainMapping(iss.input) ? ' (start each entry with "- ")' : ''}`,
  })
  .default([]);

// ---------------------------------------------------------------------------------------------
// Thresholds: names and units come from the metric registry, the grammar from checks/, so a
// limit is parsed once here and means one thing everywhere.

const thresholdField = (name: ThresholdName) =>
  z
    .string({ error: (iss) => parseLimit(name, iss.input) as string })
    .transform((text, ctx) => {
      const parsed = parseLimit(name, text);
      if (typeof parsed === 'string') {
        ctx.addIssue({ code: 'custom', input: text, message: parsed });
        return z.NEVER;
      }
      return parsed;
    })
    .optional();

export const thresholdsSchema = z
  .strictObject(
    Object.fromEntries(THRESHOLD_NAMES.map((n) => [n, thresholdField(n)])) as Record<ThresholdName, ReturnType<typeof thresholdField>>,
  )
  .default({});

export const downtimeSchema = z.strictObject({
  stall: durationField({ min: 1 }).default(250),
  mergeGap: durationField({ min: 0, zeroMeans: 'merges only windows that touch' }).default(1000),
});

export const TLS_MODES = ['verify-full', 'verify-ca', 'require'] as const;

export const tlsSchema = z.strictObject({
  mode: enumField(TLS_MODES, 'TLS mode (as libpq sslmode)').default('verify-full'),
  clientCerts: booleanField('require a client certificate whose CN is the user (pg_hba clientcert=verify-full)').default(false),
});

export const monitorSchema = z.strictObject({
  interval: durationField({ min: 1 }).default(500),
});

// ---------------------------------------------------------------------------------------------
// The application in the loop (app:). Which fields the sample service fills in when command is
// absent, and that a command needs its own requests, are cross-field rules in load-scenario.ts.

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;
/** Set by pgdrill in the app's environment; app.env may not override them. */
export const APP_RESERVED_ENV = ['DATABASE_URL', 'PORT'] as const;

const httpPath = z
  .string({ error: (iss) => (iss.input === undefined ? 'required: a path such as "/health"' : `expected a path such as "/health", got ${show(iss.input)}`) })
  .refine((p) => p.startsWith('/') && !/\s/.test(p), { error: (iss) => `${show(iss.input)} is not a request path: start it with "/" and leave out spaces (the host is the app's, 127.0.0.1:PORT)` });

const httpMethod = z
  .string({ error: (iss) => `expected an HTTP method (${HTTP_METHODS.join(', ')}), got ${show(iss.input)}` })
  .transform((m) => m.toUpperCase())
  .pipe(enumField(HTTP_METHODS, 'HTTP method'));

const httpBody = z
  .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())], {
    error: (iss) => `expected the request body as text or a mapping (sent as JSON), got ${show(iss.input)}`,
  })
  .transform((b) => (typeof b === 'string' ? b : JSON.stringify(b)));

const httpHeaders = z.record(
  z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, { error: (iss) => `${show(iss.input)} is not an HTTP header name` }),
  z.union([z.string(), z.number()], { error: (iss) => `expected a header value (text), got ${show(iss.input)}` }).transform(String),
);

const appRequestShape = {
  method: httpMethod.default('GET'),
  path: httpPath,
  body: httpBody.optional(),
  headers: httpHeaders.optional(),
};

export const appLedgerSchema = z.strictObject({
  table: nonEmptyText('the table the request writes', '"orders"'),
  key: nonEmptyText('the field of the JSON response holding the row\'s key', '"id"'),
  op: enumField(['insert', 'update', 'delete'], 'ledger operation').default('insert'),
});

export const appLoadRequestSchema = z.strictObject({
  ...appRequestShape,
  weight: weightField().default(1),
  ledger: appLedgerSchema.optional(),
});

export const appCheckSchema = z.strictObject({
  ...appRequestShape,
  expect: intField(100, 599, 'the HTTP status the request must answer').default(200),
  within: durationField({ min: 1 }).default(5000),
});

const appEnvName = z
  .string()
  .regex(ENV_NAME_RE, { error: (iss) => `${show(iss.input)} is not an environment variable name (letters, digits and "_", not starting with a digit)` })
  .refine((n) => !(APP_RESERVED_ENV as readonly string[]).includes(n), {
    error: (iss) => `${show(iss.input)} is set by pgdrill (DATABASE_URL is the endpoint with the run's credentials, PORT the port the app must listen on); remove it`,
  });

export const appLoadSchema = z.strictObject({
  rate: rateField('intended requests').default(50),
  connections: connectionsField().default(10),
  timeout: durationField({ min: 1 }).default(5000),
  // absent: the sample service's requests (a command must list its own; load-scenario.ts says so)
  requests: z
    .array(appLoadRequestSchema, { error: (iss) => `expected a list of { method, path, body } requests, got ${show(iss.input)}` })
    .min(1, { error: 'must list at least one request, e.g. - { method: GET, path: /health }' })
    .optional(),
});

export const appSchema = z.strictObject({
  command: nonEmptyText('the command that starts the app (through /bin/sh -c, in the scenario file\'s folder)', '"node server.js"').optional(),
  env: z.record(appEnvName, envValue).default({}),
  ready: z
    .preprocess(
      nullAsEmpty,
      z.strictObject({
        path: httpPath.default('/health'),
        timeout: durationField({ min: 1 }).default(30_000),
      }),
    )
    .prefault({}),
  load: z.preprocess(nullAsEmpty, appLoadSchema).prefault({}),
  checks: z
    .array(appCheckSchema, { error: (iss) => `expected a list of { method, path, expect } checks, got ${show(iss.input)}` })
    .default([]),
});

// ---------------------------------------------------------------------------------------------
// Patroni clusters (patroni:): which nodes it manages and how. Cross-field rules (members are
// nodes, loopWait + 2 x retryTimeout <= ttl, ...) are in patroni-rules.ts.

export const patroniSchema = z.strictObject({
  members: z
    .array(z.string({ error: (iss) => `expected a node name, got ${show(iss.input)}` }), {
      error: (iss) => `expected a list of node names, e.g. members: [pg1, pg2, pg3], got ${show(iss.input)}`,
    })
    .min(1, { error: 'must list at least one node; the first one bootstraps the cluster' }),
  etcd: z
    .union([z.literal(1), z.literal(3)], { error: (iss) => `expected the number of etcd members, 1 or 3, got ${show(iss.input)}` })
    .default(1),
  ttl: durationField({ min: 1000, max: 3_600_000 }).default(30_000),
  loopWait: durationField({ min: 1000, max: 3_600_000 }).default(10_000),
  retryTimeout: durationField({ min: 1000, max: 3_600_000 }).default(10_000),
  synchronousMode: booleanField("Patroni's synchronous_mode: a failover only promotes a synchronous standby").default(false),
  standbyOf: z.string({ error: (iss) => `expected the name of the node the cluster replicates from, got ${show(iss.input)}` }).optional(),
  /** more of Patroni's dynamic configuration (bootstrap.dcs), written as given */
  dcs: z.record(z.string(), z.unknown(), { error: (iss) => `expected a mapping of Patroni dynamic settings, got ${show(iss.input)}` }).default({}),
  /** postgresql.conf parameters every member gets (postgresql.parameters) */
  postgresql: z.record(settingName, settingValue).default({}),
});

// The endpoint: which fields belong to which kind, and their defaults, are in endpoint-rules.ts

export const ENDPOINT_KINDS = ['proxy', 'pgbouncer', 'haproxy', 'discovery', 'url'] as const;
const PGBOUNCER_SETTING_RE = /^[a-z_][a-z0-9_]*$/;

export const endpointSchema = z.strictObject({
  kind: enumField(ENDPOINT_KINDS, 'endpoint kind').default('proxy'),
  pool: enumField(['session', 'transaction'], 'PgBouncer pool mode').optional(),
  pauseTimeout: durationField({ min: 1 }).optional(),
  queryWaitTimeout: durationField({ min: 0, zeroMeans: 'lets clients wait for ever' }).optional(),
  settings: z
    .record(
      z.string().regex(PGBOUNCER_SETTING_RE, { error: (iss) => `${show(iss.input)} is not a PgBouncer setting name (a-z, 0-9 and "_")` }),
      settingValue,
    )
    .optional(),
  check: z
    .preprocess(
      nullAsEmpty,
      z.strictObject({
        inter: durationField({ min: 10, max: 60_000 }).optional(),
        fall: intField(1, 100, 'failed checks that mark a server down').optional(),
        rise: intField(1, 100, 'passed checks that mark a server up').optional(),
      }),
    )
    .optional(),
  reads: enumField(['primary', 'standbys'], 'read route').optional(),
  url: z
    .string({ error: (iss) => `expected the postgres:// URL of your own endpoint (a Service, PgBouncer, a DNS name), got ${show(iss.input)}` })
    .optional(),
});

// ---------------------------------------------------------------------------------------------
// The whole file

/**
 * One schema per top-level key, so the loader can validate each section on its own and still run
 * cross-field checks on the sections that are valid when another one is not.
 */
export const sectionSchemas = {
  name: nameSchema,
  description: z
    .string({ error: (iss) => `expected a one-line description (a string), got ${show(iss.input)}` })
    .default(''),
  runtime: enumField(['local', 'docker', 'external'], 'runtime').default('local'),
  duration: durationField({ min: 1 }).default(60_000),
  nodes: nodesSchema,
  strategy: z.preprocess(nullAsEmpty, strategySchema).optional(),
  seed: z.preprocess(nullAsEmpty, seedSchema).prefault({}),
  workload: z.preprocess(nullAsEmpty, workloadSchema).prefault({}),
  timeline: timelineSchema,
  thresholds: z.preprocess(nullAsEmpty, thresholdsSchema),
  monitor: z.preprocess(nullAsEmpty, monitorSchema).prefault({}),
  downtime: z.preprocess(nullAsEmpty, downtimeSchema).prefault({}),
  app: z.preprocess(nullAsEmpty, appSchema).optional(),
  // optional and without a default, so scenarios without it resolve as before
  tls: z.preprocess(nullAsEmpty, tlsSchema).optional(),
  endpoint: z.preprocess(nullAsEmpty, endpointSchema).optional(),
  patroni: patroniSchema.optional(),
};

export type SectionName = keyof typeof sectionSchemas;
export const SECTION_NAMES = Object.keys(sectionSchemas) as SectionName[];

/** The scenario file, every field checked on its own (cross-field rules are in load-scenario.ts). */
export const scenarioFileSchema = z.strictObject(sectionSchemas);
export type ScenarioFile = z.input<typeof scenarioFileSchema>;
export type ScenarioFileParsed = z.output<typeof scenarioFileSchema>;

/** Only the top-level key names, to report unknown sections without re-validating them. */
export const topLevelKeysSchema = z.strictObject(
  Object.fromEntries(SECTION_NAMES.map((k) => [k, z.unknown().optional()])) as Record<SectionName, z.ZodOptional<z.ZodUnknown>>,
);
