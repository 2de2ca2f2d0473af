/**
 * What a full Immutable ID re-plan knows about every value in the tenant without holding the values: per value a
 * 64-bit hash (two 32-bit lanes) and a few flag bits in typed arrays, open addressing with linear probing, at most half
 * full — 9 to 36 bytes per distinct value (the table doubles), no object and no string per user.
 *
 * Two values sharing both lanes of their hash (about 1 in 3·10⁹ for 100,000 values) count as one: the value is then
 * taken to be wanted twice, so it is written to nobody — safe, never a value written to two users. Hand-written: the
 * table is a few lines over typed arrays, and no maintained npm package offers a set of 64-bit keys with flags.
 */

/** Two independent 32-bit hashes of a string: FNV-1a and a multiply-xorshift lane. */
export function hash64(s: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  return [a | 0, (b ^ (b >>> 16)) | 0];
}

/** A value is wanted by one user so far. */
export const WANTED_ONCE = 1;
/** A value is wanted by two users or more. */
export const WANTED_TWICE = 2;
/** Someone holds the value (soft-deleted users included). */
export const HELD = 4;

/** A set of 64-bit keys, each with a byte of flags. */
export class FlagTable {
  private lo = new Int32Array(1024);
  private hi = new Int32Array(1024);
  /** Flags; 0 marks an empty slot (a key in the table has at least one flag). */
  private flags = new Uint8Array(1024);
  private count = 0;

  /** Slots in use (distinct keys). */
  get size(): number {
    return this.count;
  }

  private slot(key: string, add: boolean): number {
    const [a, b] = hash64(key);
    if (add && (this.count + 1) * 2 > this.flags.length) this.grow();
    const mask = this.flags.length - 1;
    let i = (a ^ Math.imul(b, 0x9e3779b1)) & mask;
    while (this.flags[i] !== 0) {
      if (this.lo[i] === a && this.hi[i] === b) return i;
      i = (i + 1) & mask;
    }
    if (!add) return -1;
    this.lo[i] = a;
    this.hi[i] = b;
    this.count++;
    return i;
  }

  /** Adds `flag` (not 0) to the key's flags. */
  set(key: string, flag: number): void {
    const i = this.slot(key, true);
    this.flags[i] = this.flags[i]! | flag;
  }

  /** Counts one more user wanting the key: once, then twice or more. */
  want(key: string): void {
    const i = this.slot(key, true);
    const f = this.flags[i]!;
    this.flags[i] = f & WANTED_ONCE ? f | WANTED_TWICE : f | WANTED_ONCE;
  }

  /** The key's flags (0 when absent). */
  get(key: string): number {
    const i = this.slot(key, false);
    return i < 0 ? 0 : this.flags[i]!;
  }

  /** Bytes held by the arrays. */
  get bytes(): number {
    return this.flags.length * 9;
  }

  private grow(): void {
    const { lo, hi, flags } = this;
    const n = flags.length * 2;
    this.lo = new Int32Array(n);
    this.hi = new Int32Array(n);
    this.flags = new Uint8Array(n);
    const mask = n - 1;
    for (let j = 0; j < flags.length; j++) {
      if (flags[j] === 0) continue;
      let i = (lo[j]! ^ Math.imul(hi[j]!, 0x9e3779b1)) & mask;
      while (this.flags[i] !== 0) i = (i + 1) & mask;
      this.lo[i] = lo[j]!;
      this.hi[i] = hi[j]!;
      this.flags[i] = flags[j]!;
    }
  }
}
