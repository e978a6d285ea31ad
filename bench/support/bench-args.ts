// The flags of a bench script: node:util's parseArgs, plus what a person at a terminal needs
// from it. --help prints the script's usage and exits 0; an unknown flag, a missing value or
// a number that is not one prints what was wrong, then the usage, and exits 2 before the
// bench starts anything (no server, no temp folder), as `pgdrill run` does on bad input.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closest } from '../../harness/scenario/scenario-schema.js';

type Options = NonNullable<ParseArgsConfig['options']>;
/** A flag as parseArgs takes it (it passes over `help` and `value`), with what --help says of it; its default is printed from `default`. */
type Flag = Options[string] & { help: string; /** the value's placeholder in the usage: N, LIST, PATH */ value?: string };
type Flags = Record<string, Flag>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ options: O; args: string[] }>>['values'];

/** Bad input on a bench's command line; `message` names the flag and what it needs. */
export class BenchArgsError extends Error {}

/** The parse, without exiting: `help` when asked for, else the values (or a BenchArgsError). */
export function parseBenchArgv<O extends Options>(argv: string[], options: O): { help: true } | { help: false; values: Values<O> } {
  if (argv.includes('--help') || argv.includes('-h')) return { help: true };
  try {
    const { values } = parseArgs({ args: argv, options });
    return { help: false, values: values as Values<O> };
  } catch (err) {
    // parseArgs' own messages name the flag ("Unknown option '--rate'", "Option '--seconds <value>' argument missing")
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    const unknown = /^Unknown option '--([^']+)'/.exec(message)?.[1];
    const near = unknown === undefined ? undefined : closest(unknown, Object.keys(options));
    throw new BenchArgsError(near ? `${message}: did you mean --${near}?` : message);
  }
}

/** What --help prints: `about` (the command line and what the script does), then a line per flag with its default. */
export function usageOf(about: string, flags: Flags): string {
  const names = Object.entries(flags).map(([name, f]) => `--${name}${f.value ? ` ${f.value}` : ''}`);
  const width = Math.max(...names.map((n) => n.length)) + 3;
  const lines = Object.values(flags).map((f, i) => {
    const shown = f.type === 'string' && f.default !== undefined && f.default !== '' && !(Array.isArray(f.default) && f.default.length === 0);
    return `  ${names[i].padEnd(width)}${f.help}${shown ? ` (default ${String(f.default)})` : ''}`;
  });
  return `${about.trim()}\n${lines.join('\n')}`;
}

/**
 * The script's flags from process.argv. `check` turns the raw strings into the numbers the
 * script needs (with the helpers below); a BenchArgsError from it exits 2 like a parse error.
 */
export function benchArgs<F extends Flags, R>(about: string, flags: F, check: (values: Values<F>) => R): R {
  const usage = usageOf(about, flags);
  try {
    const parsed = parseBenchArgv(process.argv.slice(2), flags);
    if (parsed.help) {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    }
    return check(parsed.values);
  } catch (err) {
    if (!(err instanceof BenchArgsError)) throw err;
    process.stderr.write(`${err.message}\n\n${usage}\n`);
    process.exit(2);
  }
}

interface NumberRule {
  min?: number;
  integer?: boolean;
}
const numberText = ({ min = 0, integer = false }: NumberRule) => `${integer ? 'a whole number' : 'a number'} of at least ${min}`;
function isNumber(value: string, { min = 0, integer = false }: NumberRule): boolean {
  const n = Number(value);
  return value.trim() !== '' && Number.isFinite(n) && n >= min && (!integer || Number.isInteger(n));
}

/** A number of at least `min` (an integer when `integer`), or a BenchArgsError naming `--flag`. */
export function numberFlag(flag: string, value: string | undefined, rule: NumberRule = {}): number {
  if (value === undefined || !isNumber(value, rule)) throw new BenchArgsError(`--${flag} must be ${numberText(rule)}, not '${value ?? ''}'`);
  return Number(value);
}

/** A comma-separated list of numbers, each at least `min`; at least one. */
export function numberListFlag(flag: string, value: string, rule: NumberRule = {}): number[] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new BenchArgsError(`--${flag} must be a comma-separated list of numbers, not '${value}'`);
  const bad = parts.find((p) => !isNumber(p, rule));
  if (bad !== undefined) throw new BenchArgsError(`--${flag}: '${bad}' in '${value}' is not ${numberText(rule)}`);
  return parts.map(Number);
}

/** One of `choices`, or a BenchArgsError listing them. */
export function choiceFlag<C extends string>(flag: string, value: string, choices: readonly C[]): C {
  if (!(choices as readonly string[]).includes(value)) throw new BenchArgsError(`--${flag} must be one of ${choices.join(', ')}, not '${value}'`);
  return value as C;
}
