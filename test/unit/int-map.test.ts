import { describe, expect, it } from 'vitest';
import { IntMap } from '../../harness/util/int-map.js';
import { IdPool } from '../../harness/workload/write-ops.js';

describe('IntMap', () => {
  it('behaves as a Map for dense ids, other numbers and deletes', () => {
    const m = new IntMap();
    const ref = new Map<number, number>();
    const keys = [0, 1, 7, 1023, 1024, 5_000_000, -3, 2.5, 2 ** 40];
    for (const [i, k] of keys.entries()) {
      m.set(k, i * 3 - 4);
      ref.set(k, i * 3 - 4);
    }
    m.delete(7);
    ref.delete(7);
    m.delete(2.5);
    ref.delete(2.5);
    expect(m.delete(999)).toBe(false);
    for (const k of [...keys, 999]) expect([k, m.get(k), m.has(k)]).toEqual([k, ref.get(k), ref.has(k)]);
    expect(m.size).toBe(ref.size);
    expect(() => m.set(1, -2147483648)).toThrow(RangeError);
  });
});

describe('IdPool', () => {
  it('adds, takes and picks uniformly as before, without duplicates', () => {
    const pool = new IdPool([1, 2, 3]);
    pool.add(2);
    pool.add(10_000);
    expect(pool.size).toBe(4);
    expect(pool.remove(2)).toBe(true);
    expect(pool.has(2)).toBe(false);
    expect(pool.remove(2)).toBe(false);
    const seen = new Set<number>();
    let r = 0;
    const random = () => ((r = (r + 0.37) % 1), r);
    while (pool.size > 0) seen.add(pool.take(random)!);
    expect([...seen].sort((a, b) => a - b)).toEqual([1, 3, 10_000]);
    expect(pool.pick()).toBeUndefined();
    const big = new IdPool();
    for (let id = 1; id <= 5000; id++) big.add(id);
    expect(big.size).toBe(5000);
    expect(big.has(4999)).toBe(true);
  });
});
