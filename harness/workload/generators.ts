// The generators a script's variables draw from: random(a, b), text(n), uuid(), now() and
// pick(table.column). Parsing is pure (the scenario loader uses it); drawing is per operation,
// so it allocates only the value itself.

import { randomUUID } from 'node:crypto';

export type GeneratorSpec =
  | { kind: 'random'; min: number; max: number }
  | { kind: 'text'; length: number }
  | { kind: 'uuid' }
  | { kind: 'now' }
  | { kind: 'pick'; table: string; column: string };

export const GENERATOR_FORMS = 'random(a, b), text(n), uuid(), now(), pick(table.column)';
export const MAX_TEXT = 100_000;

const IDENT = String.raw`(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")`;
const PICK_ARG = new RegExp(`^(${IDENT}(?:\\.${IDENT})?)\\.(${IDENT})$`);

function unquote(name: string): string {
  return name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name;
}

/** Parses a generator, or says what is wrong with it and what is allowed. */
export function parseGenerator(text: string): GeneratorSpec | { error: string } {
  const m = /^\s*([A-Za-z_]+)\s*\((.*)\)\s*$/s.exec(text);
  if (!m) return { error: `${JSON.stringify(text)} is not a generator; use one of ${GENERATOR_FORMS}` };
  const name = m[1].toLowerCase();
  const args = m[2].trim();
  switch (name) {
    case 'random': {
      const parts = args.split(',').map((a) => a.trim());
      const nums = parts.map((p) => (/^-?\d+$/.test(p) ? Number(p) : NaN));
      if (parts.length !== 2 || nums.some((v) => !Number.isSafeInteger(v))) {
        return { error: `random takes two integers, the smallest and the largest value: random(1, 1000); got ${JSON.stringify(text)}` };
      }
      if (nums[0] > nums[1]) return { error: `random(${nums[0]}, ${nums[1]}): the first bound must not be above the second` };
      return { kind: 'random', min: nums[0], max: nums[1] };
    }
    case 'text': {
      const length = /^\d+$/.test(args) ? Number(args) : NaN;
      if (!(length >= 1 && length <= MAX_TEXT)) {
        return { error: `text takes a length from 1 to ${MAX_TEXT}: text(40); got ${JSON.stringify(text)}` };
      }
      return { kind: 'text', length };
    }
    case 'uuid':
    case 'now':
      if (args !== '') return { error: `${name}() takes no arguments; got ${JSON.stringify(text)}` };
      return { kind: name };
    case 'pick': {
      const p = PICK_ARG.exec(args);
      if (!p) return { error: `pick takes a table and a column: pick(notes.id) or pick(app.notes.id); got ${JSON.stringify(text)}` };
      // the table as SQL names it (to_regclass folds and unquotes it); the column as stored
      return { kind: 'pick', table: p[1], column: p[2].startsWith('"') ? unquote(p[2]) : p[2].toLowerCase() };
    }
    default:
      return { error: `unknown generator ${JSON.stringify(m[1])}; use one of ${GENERATOR_FORMS}` };
  }
}

/** Where pick() draws from: a live set of existing keys (see key-pool.ts). */
export interface KeySource {
  /** a random key, or undefined when none is known */
  pick(random: () => number): string | undefined;
}

/** Draws one value; undefined only for a pick() with no key left. */
export type Draw = () => unknown;

// text(n) slices one long random string: the slice is the only allocation per value
const TEXT_POOL_SIZE = 1 << 16;
let textPool: string | undefined;
function randomText(): string {
  if (!textPool) {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789';
    let s = '';
    for (let i = 0; i < TEXT_POOL_SIZE; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
    textPool = s;
  }
  return textPool;
}

/**
 * The drawing function of a generator. `keys` resolves a pick's table and column to its
 * source (the run's key pools); random() is injectable for tests.
 */
export function drawFor(spec: GeneratorSpec, keys: (table: string, column: string) => KeySource, random: () => number = Math.random): Draw {
  switch (spec.kind) {
    case 'random': {
      const span = spec.max - spec.min + 1;
      return () => spec.min + Math.floor(random() * span);
    }
    case 'text': {
      const pool = randomText();
      const length = spec.length;
      if (length >= pool.length) return () => pool.repeat(Math.ceil(length / pool.length)).slice(0, length);
      const room = pool.length - length;
      return () => {
        const at = Math.floor(random() * room);
        return pool.slice(at, at + length);
      };
    }
    case 'uuid':
      return () => randomUUID();
    case 'now':
      return () => new Date().toISOString();
    case 'pick': {
      const source = keys(spec.table, spec.column);
      return () => source.pick(random);
    }
  }
}
