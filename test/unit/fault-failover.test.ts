// The pure part of the failover strategy: ordering WAL positions to pick the standby that
// received the most, whatever the width of the two halves of a pg_lsn.

import { describe, expect, it } from 'vitest';
import { compareLsn } from '../../harness/strategies/failover.js';

describe('compareLsn', () => {
  it('orders by the high half first, then the low half, as numbers not strings', () => {
    expect(compareLsn('0/3540418', '0/354CD78')).toBe(-1);
    expect(compareLsn('1/0', '0/FFFFFFFF')).toBe(1);
    expect(compareLsn('A/10', '9/FFFFFFF0')).toBe(1);
    expect(compareLsn('16/B374D848', '16/B374D848')).toBe(0);
  });

  it('sorts candidates most advanced first', () => {
    const lsns = ['0/300', '2/0', '0/1000', '1/FF'];
    expect([...lsns].sort((a, b) => compareLsn(b, a))).toEqual(['2/0', '1/FF', '0/1000', '0/300']);
  });
});
