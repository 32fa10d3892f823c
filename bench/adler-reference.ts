/**
 * A reference Adler-32 for part 5 only (not used by the function): the same arithmetic as the adler-32
 * package, unrolled 16 bytes at a time with the modulo deferred over 5552-byte runs (zlib's NMAX). It shows
 * what a plain-JS checksum can reach on this machine next to ADLER32.buf.
 */
export function adler32Unrolled(buf: Uint8Array, seed = 1): number {
  let a = seed & 0xffff;
  let b = (seed >>> 16) & 0xffff;
  const length = buf.length;
  let i = 0;
  while (i < length) {
    const end = Math.min(i + 5552, length);
    const end16 = end - ((end - i) & 15);
    while (i < end16) {
      a += buf[i]!;
      b += a;
      a += buf[i + 1]!;
      b += a;
      a += buf[i + 2]!;
      b += a;
      a += buf[i + 3]!;
      b += a;
      a += buf[i + 4]!;
      b += a;
      a += buf[i + 5]!;
      b += a;
      a += buf[i + 6]!;
      b += a;
      a += buf[i + 7]!;
      b += a;
      a += buf[i + 8]!;
      b += a;
      a += buf[i + 9]!;
      b += a;
      a += buf[i + 10]!;
      b += a;
      a += buf[i + 11]!;
      b += a;
      a += buf[i + 12]!;
      b += a;
      a += buf[i + 13]!;
      b += a;
      a += buf[i + 14]!;
      b += a;
      a += buf[i + 15]!;
      b += a;
      i += 16;
    }
    while (i < end) {
      a += buf[i++]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}
