// The bench scripts' flags: a good command line gives the values, a bad one a message that
// names the flag (and, for a typo, the flag it meant), so the script exits 2 before it starts
// a server.

import { describe, expect, it } from 'vitest';
import { BenchArgsError, choiceFlag, numberFlag, numberListFlag, parseBenchArgv, usageOf } from '../../bench/support/bench-args.js';

const OPTIONS = {
  rates: { type: 'string', default: '1000,2000' },
  seconds: { type: 'string', default: '8' },
  keep: { type: 'boolean', default: false },
} as const;

describe('bench flags', () => {
  it('gives the defaults, the values given, and help when asked for', () => {
    expect(parseBenchArgv([], OPTIONS)).toEqual({ help: false, values: { rates: '1000,2000', seconds: '8', keep: false } });
    expect(parseBenchArgv(['--rates', '500', '--keep'], OPTIONS)).toEqual({ help: false, values: { rates: '500', seconds: '8', keep: true } });
    expect(parseBenchArgv(['--rates', '500', '--help'], OPTIONS)).toEqual({ help: true });
    expect(parseBenchArgv(['-h'], OPTIONS)).toEqual({ help: true });
  });

  it('refuses an unknown flag naming the one it meant, a missing value and a stray argument', () => {
    expect(() => parseBenchArgv(['--rate', '500'], OPTIONS)).toThrow(new BenchArgsError("Unknown option '--rate': did you mean --rates?"));
    expect(() => parseBenchArgv(['--colour'], OPTIONS)).toThrow(/^Unknown option '--colour'$/);
    expect(() => parseBenchArgv(['--seconds'], OPTIONS)).toThrow(/--seconds <value>' argument missing/);
    expect(() => parseBenchArgv(['500'], OPTIONS)).toThrow(BenchArgsError);
  });

  it('reads numbers and lists, and names the flag of one that is not a number it can use', () => {
    expect(numberFlag('seconds', '8', { min: 1 })).toBe(8);
    expect(numberFlag('seconds', '0.5')).toBe(0.5);
    expect(numberListFlag('rates', '1000, 2000,4000', { min: 1 })).toEqual([1000, 2000, 4000]);
    expect(() => numberFlag('seconds', 'eight', { min: 1 })).toThrow("--seconds must be a number of at least 1, not 'eight'");
    expect(() => numberFlag('seconds', '', { min: 1 })).toThrow(/--seconds must be/);
    expect(() => numberFlag('reps', '1.5', { min: 1, integer: true })).toThrow("--reps must be a whole number of at least 1, not '1.5'");
    expect(() => numberFlag('rate', '-3')).toThrow(/--rate must be a number of at least 0/);
    expect(() => numberListFlag('rates', '1000,abc', { min: 1 })).toThrow("--rates: 'abc' in '1000,abc' is not a number of at least 1");
    expect(() => numberListFlag('rates', '1000,,2000')).toThrow("--rates must be a comma-separated list of numbers, not '1000,,2000'");
    expect(() => numberListFlag('rates', '0', { min: 1 })).toThrow(BenchArgsError);
  });

  it('takes one of a set of words, and lists them when given another', () => {
    expect(choiceFlag('mode', 'down', ['hold', 'down'])).toBe('down');
    expect(() => choiceFlag('mode', 'up', ['hold', 'down'])).toThrow("--mode must be one of hold, down, not 'up'");
  });

  it('prints each flag once, with its placeholder, what it does and its default', () => {
    const usage = usageOf('node bench.js [flags]\n\nWhat it does.', {
      rates: { type: 'string', default: '1000,2000', value: 'LIST', help: 'writes per second' },
      profile: { type: 'string', value: 'RATE', help: 'profile at this rate' },
      keep: { type: 'boolean', default: false, help: 'keep the run folder' },
    });
    expect(usage).toBe(
      ['node bench.js [flags]', '', 'What it does.', '  --rates LIST     writes per second (default 1000,2000)', '  --profile RATE   profile at this rate', '  --keep           keep the run folder'].join('\n'),
    );
  });
});
