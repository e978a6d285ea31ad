// A Map from numbers to small integers that costs 4 bytes per key for the keys workloads
// use (ids 1, 2, 3... of a growing table), so a long run's bookkeeping stays small: keys
// that are non-negative integers below 2^26 live in a typed array indexed by the key, any
// other key in an ordinary Map.

const ABSENT = -2147483648; // int32 min: never stored as a value
const MAX_DENSE_KEY = 2 ** 26; // 256 MB of int32 at most would be silly; 64 M ids is plenty

export class IntMap {
  private dense = new Int32Array(0);
  private readonly sparse = new Map<number, number>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: number): number | undefined {
    if (isDense(key)) {
      const v = key < this.dense.length ? this.dense[key] : ABSENT;
      return v === ABSENT ? undefined : v;
    }
    return this.sparse.get(key);
  }

  has(key: number): boolean {
    return this.get(key) !== undefined;
  }

  /** `value` must be an int32 other than -2^31 */
  set(key: number, value: number): void {
    if (!Number.isInteger(value) || value === ABSENT || value > 2147483647 || value < ABSENT) throw new RangeError(`IntMap value ${value} is not an int32`);
    if (!isDense(key)) {
      if (!this.sparse.has(key)) this.count++;
      this.sparse.set(key, value);
      return;
    }
    if (key >= this.dense.length) {
      const bigger = new Int32Array(Math.max(key + 1, this.dense.length * 2, 1024)).fill(ABSENT);
      bigger.set(this.dense);
      this.dense = bigger;
    }
    if (this.dense[key] === ABSENT) this.count++;
    this.dense[key] = value;
  }

  delete(key: number): boolean {
    if (!isDense(key)) {
      const had = this.sparse.delete(key);
      if (had) this.count--;
      return had;
    }
    if (key >= this.dense.length || this.dense[key] === ABSENT) return false;
    this.dense[key] = ABSENT;
    this.count--;
    return true;
  }
}

function isDense(key: number): boolean {
  return Number.isInteger(key) && key >= 0 && key < MAX_DENSE_KEY;
}
