// `--set key=value` overrides, applied to the raw scenario object before validation so that an
// overridden value is checked exactly like one written in the file.
import YAML from 'yaml';
import type { Problem } from '../errors.js';

type Segment = string | number;

const KEY_SEGMENT_RE = /^([A-Za-z_][A-Za-z0-9_-]*)((?:\[\d+\])*)$/;

/** "timeline[0].fault.delay" -> ["timeline", 0, "fault", "delay"]; undefined when malformed. */
export function parseOverridePath(key: string): Segment[] | undefined {
  const segments: Segment[] = [];
  for (const part of key.split('.')) {
    const m = KEY_SEGMENT_RE.exec(part);
    if (!m) return undefined;
    segments.push(m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) segments.push(Number(idx[1]));
  }
  return segments;
}

/**
 * A value as YAML would read it in the file (500 -> number, true -> boolean, 20s -> string), so
 * `--set` and the file never disagree. Text that is not valid YAML on its own stays a string.
 */
function parseValue(text: string): unknown {
  const doc = YAML.parseDocument(text);
  if (doc.errors.length > 0) return text;
  const value: unknown = doc.toJS();
  // Only explicit flow collections ({...} / [...]) become structures: `description=Cutover: fast`
  // means a sentence, not a mapping.
  if (typeof value === 'object' && value !== null && !/^[[{]/.test(text)) return text;
  return value;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describePath(segments: Segment[]): string {
  return segments.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/** Sets one value; returns an error message instead when the path crosses a non-container. */
function setAt(root: Record<string, unknown>, segments: Segment[], value: unknown): string | undefined {
  let node: unknown = root;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    const last = i === segments.length - 1;
    const here = describePath(segments.slice(0, i)) || 'the scenario';
    if (typeof seg === 'number') {
      if (!Array.isArray(node)) return `${here} is not a list, so [${seg}] cannot be set`;
      if (seg > node.length) return `${here} has ${node.length} entr${node.length === 1 ? 'y' : 'ies'}; index ${seg} is out of range (use 0..${node.length})`;
    } else if (!isMapping(node)) {
      return `${here} is ${JSON.stringify(node)}, not a mapping, so "${seg}" cannot be set inside it`;
    }
    const container = node as Record<string | number, unknown>;
    if (last) {
      // null removes the key so that the default applies again (`--set strategy=null`).
      if (value === null) {
        if (Array.isArray(container)) container.splice(seg as number, 1);
        else delete container[seg];
      } else {
        container[seg] = value;
      }
      return undefined;
    }
    if (container[seg] === undefined || container[seg] === null) {
      container[seg] = typeof segments[i + 1] === 'number' ? [] : {};
    }
    node = container[seg];
  }
  return undefined;
}

/**
 * Applies `key=value` overrides in order to a copy of `raw`. Every malformed override is
 * reported (path `--set`) and skipped; the others still apply, so one run shows all problems.
 */
export function applyOverrides(raw: unknown, sets: string[]): { value: unknown; problems: Problem[] } {
  const problems: Problem[] = [];
  if (sets.length === 0) return { value: raw, problems };
  if (raw !== undefined && raw !== null && !isMapping(raw)) {
    return { value: raw, problems: [{ path: '--set', message: 'the scenario is not a mapping, so --set cannot apply to it' }] };
  }
  const value = (raw === undefined || raw === null ? {} : structuredClone(raw)) as Record<string, unknown>;
  for (const set of sets) {
    const eq = set.indexOf('=');
    if (eq < 0) {
      problems.push({ path: '--set', message: `expected key=value (e.g. --set workload.writes.rate=500), got ${JSON.stringify(set)}` });
      continue;
    }
    const key = set.slice(0, eq).trim();
    const valueText = set.slice(eq + 1).trim();
    const segments = parseOverridePath(key);
    if (!key || !segments) {
      problems.push({
        path: '--set',
        message: `${JSON.stringify(set)}: ${key ? `${JSON.stringify(key)} is not a key path` : 'missing key before "="'}; write dotted keys with optional [index], e.g. workload.writes.rate=500 or timeline[0].at=5s`,
      });
      continue;
    }
    if (valueText === '') {
      problems.push({ path: '--set', message: `${JSON.stringify(set)}: missing value after "=" (use ${key}=null to remove the key)` });
      continue;
    }
    const error = setAt(value, segments, parseValue(valueText));
    if (error) problems.push({ path: '--set', message: `${JSON.stringify(set)}: ${error}` });
  }
  return { value, problems };
}
