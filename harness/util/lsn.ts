// WAL positions as PostgreSQL prints them ("16/B374D848"): the harness compares them in JS
// where asking a server is not possible (it is down) or not worth a round trip.

/** Orders pg_lsn texts: negative when a is before b, 0 when equal. */
export function compareLsn(a: string, b: string): number {
  const value = (lsn: string) => {
    const [hi, lo] = lsn.split('/');
    return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
  };
  const d = value(a) - value(b);
  return d > 0n ? 1 : d < 0n ? -1 : 0;
}
