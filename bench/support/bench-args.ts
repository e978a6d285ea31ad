// The flags of a bench script: node:util's parseArgs, plus what a person at a terminal needs
// from it. --help prints the script's usage and exits 0; an unknown flag, a missing value or
// a number that is not one prints what was wrong, then the usage, and exits 2 before the
// bench starts anything (no server, no temp folder), as `pgdrill run` does on bad input.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closest } from '../../harness/scenario/scenario-schema.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ options: O; args: string[] }>>['values'];

/** Bad input on a bench's command line; `message` names the flag and what it needs. */
export class BenchArgsError extends Error {}

/** The parse, without exiting: `help` when asked for, else the values (or a BenchArgsError). */
export function parseBenchArgv<O extends Options>(argv: string[], options: O): { help: true } | { help: false; values: Values<O> } {
  if (argv.includes('--help') || argv.includes('-h')) return { help: true };
  try {
    const { values } = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
    return { help: false, values: values as Values<O> };
  } catch (err) {
    // parseArgs' own messages name the flag ("Unknown option '--rate'", "Option '--seconds <value>' argument missing")
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    const unknown = /^Unknown option '--([^']+)'/.exec(message)?.[1];
    const near = unknown === undefined ? undefined : closest(unknown, Object.keys(options));
    throw new BenchArgsError(near ? `${message}: did you mean --${near}?` : message);
  }
}

/**
 * The script's flags from process.argv. `usage` is the text --help prints: the command line
 * and one line per flag. `check` turns the raw strings into the numbers the script needs
 * (with the helpers below); a BenchArgsError from it exits 2 like a parse error.
 */
export function benchArgs<O extends Options, R>(usage: string, options: O, check: (values: Values<O>) => R): R {
  try {
    const parsed = parseBenchArgv(process.argv.slice(2), options);
    if (parsed.help) {
      process.stdout.write(`${usage.trim()}\n`);
      process.exit(0);
    }
    return check(parsed.values);
  } catch (err) {
    if (!(err instanceof BenchArgsError)) throw err;
    process.stderr.write(`${err.message}\n\n${usage.trim()}\n`);
    process.exit(2);
  }
}

/** A number of at least `min` (an integer when `integer`), or a BenchArgsError naming `--flag`. */
export function numberFlag(flag: string, value: string | undefined, { min = 0, integer = false }: { min?: number; integer?: boolean } = {}): number {
  const n = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new BenchArgsError(`--${flag} must be ${integer ? 'a whole number' : 'a number'} of at least ${min}, not '${value ?? ''}'`);
  }
  return n;
}

/** A comma-separated list of numbers, each at least `min`; at least one. */
export function numberListFlag(flag: string, value: string, options: { min?: number; integer?: boolean } = {}): number[] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) throw new BenchArgsError(`--${flag} must be a comma-separated list of numbers, not '${value}'`);
  return parts.map((p) => {
    try {
      return numberFlag(flag, p, options);
    } catch {
      throw new BenchArgsError(`--${flag}: '${p}' in '${value}' is not ${options.integer ? 'a whole number' : 'a number'} of at least ${options.min ?? 0}`);
    }
  });
}

/** One of `choices`, or a BenchArgsError listing them. */
export function choiceFlag<C extends string>(flag: string, value: string, choices: readonly C[]): C {
  if (!(choices as readonly string[]).includes(value)) throw new BenchArgsError(`--${flag} must be one of ${choices.join(', ')}, not '${value}'`);
  return value as C;
}
