// Finds the lines whose email may appear more than once in a column, keeping
// 12 bytes per email and no strings: a hash of the lower-cased email and its
// line, appended to a typed array as the file is read (sequential writes, no
// hash table to miss the cache on), then sorted once at the end by an LSD radix
// sort on 48 of its bits (three linear passes, whatever the data, even a file
// made to collide) so that equal hashes sit side by side. Equal hashes only make
// lines *candidates*: the second pass compares the texts, so a collision costs
// a line re-read, never a wrong error (for a million emails, about one chance
// in 500 of one such pair). All arithmetic stays in int32, which V8 keeps unboxed.

let hashLow = 0;
let hashHigh = 0;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Two independent 32-bit lanes (FNV-1a and a polynomial) over the lower-cased text; the result is left in hashLow/hashHigh. */
function hashLowerCase(text: string): void {
  let a = 0x811c9dc5 | 0;
  let b = text.length | 0;
  for (let i = 0; i < text.length; i += 1) {
    let c = text.charCodeAt(i);
    if (c > 127) {
      // Non-ASCII case rules are toLowerCase's, which the second pass uses too.
      hashLowerCased(text.toLowerCase());
      return;
    }
    if (c >= 65 && c <= 90) c += 32;
    a = Math.imul(a ^ c, 0x01000193);
    b = (Math.imul(b, 31) + c) | 0;
  }
  hashLow = fmix(a ^ Math.imul(b, 0x27d4eb2d));
  hashHigh = fmix(b);
}

function hashLowerCased(text: string): void {
  let a = 0x811c9dc5 | 0;
  let b = text.length | 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = (Math.imul(b, 31) + c) | 0;
  }
  hashLow = fmix(a ^ Math.imul(b, 0x27d4eb2d));
  hashHigh = fmix(b);
}

export function emailHash(text: string): [number, number] {
  hashLowerCase(text);
  return [hashLow, hashHigh];
}

/** [low, high, line] side by side */
const STRIDE = 3;
const RADIX_BITS = 16;
const BUCKETS = 1 << RADIX_BITS;
/** up to this many entries, a comparison sort is cheaper than the radix passes */
const SMALL = 2048;
/** entries handled between two chances for the event loop */
const STEP = 1 << 16;

export class DuplicateIndex {
  private entries = new Int32Array(4096 * STRIDE);
  private size = 0;

  /** @param maybeYield gives the event loop a turn now and then during the final sort */
  constructor(private readonly maybeYield: () => Promise<void> | undefined = () => undefined) {}

  add(email: string, line: number): void {
    if ((this.size + 1) * STRIDE > this.entries.length) {
      const bigger = new Int32Array(this.entries.length * 2);
      bigger.set(this.entries);
      this.entries = bigger;
    }
    hashLowerCase(email);
    const at = this.size * STRIDE;
    this.entries[at] = hashLow;
    this.entries[at + 1] = hashHigh;
    this.entries[at + 2] = line;
    this.size += 1;
  }

  /** Every line whose email's hash is also on another line. The index is spent afterwards. */
  async candidateLines(): Promise<Set<number>> {
    const n = this.size;
    if (n <= SMALL) return this.candidateLinesOfSmall();
    let from = this.entries;
    let to = new Int32Array(n * STRIDE);
    const counts = new Uint32Array(BUCKETS);
    // Three stable passes of 16 bits: the low word, then the low half of the high word.
    for (let pass = 0; pass < 3; pass += 1) {
      const field = pass >> 1;
      const shift = (pass & 1) * RADIX_BITS;
      countDigits(from, n, field, shift, counts);
      for (let start = 0; start < n; start += STEP) {
        scatter(from, to, start, Math.min(n, start + STEP), field, shift, counts);
        await this.maybeYield();
      }
      [from, to] = [to, from];
    }
    this.entries = new Int32Array(0);
    this.size = 0;
    const lines = new Set<number>();
    for (let start = 1; start < n; start += STEP) {
      collectEqual(from, start, Math.min(n, start + STEP), lines);
      await this.maybeYield();
    }
    return lines;
  }

  /** The same 48-bit comparison without the radix passes, whose 64K-entry counts would dominate a small file. */
  private candidateLinesOfSmall(): Set<number> {
    const entries = this.entries;
    const order = Array.from({ length: this.size }, (_, i) => i * STRIDE);
    order.sort((a, b) => entries[a] - entries[b] || (entries[a + 1] & (BUCKETS - 1)) - (entries[b + 1] & (BUCKETS - 1)));
    const sorted = new Int32Array(this.size * STRIDE);
    order.forEach((from, i) => sorted.set(entries.subarray(from, from + STRIDE), i * STRIDE));
    this.entries = new Int32Array(0);
    this.size = 0;
    const lines = new Set<number>();
    collectEqual(sorted, 1, order.length, lines);
    return lines;
  }
}

// The loops of the sort are plain functions: V8 optimises them better than loops inside an async function.

/** counts[d] ← where the entries of digit d start in the next order */
function countDigits(entries: Int32Array, n: number, field: number, shift: number, counts: Uint32Array): void {
  counts.fill(0);
  for (let i = 0; i < n; i += 1) counts[(entries[i * STRIDE + field] >>> shift) & (BUCKETS - 1)] += 1;
  let sum = 0;
  for (let b = 0; b < BUCKETS; b += 1) {
    const count = counts[b];
    counts[b] = sum;
    sum += count;
  }
}

function scatter(from: Int32Array, to: Int32Array, start: number, end: number, field: number, shift: number, counts: Uint32Array): void {
  for (let i = start; i < end; i += 1) {
    const at = i * STRIDE;
    const slot = counts[(from[at + field] >>> shift) & (BUCKETS - 1)]++ * STRIDE;
    to[slot] = from[at];
    to[slot + 1] = from[at + 1];
    to[slot + 2] = from[at + 2];
  }
}

/** Lines of sorted entries [start, end) whose sorted 48 bits equal the previous entry's. */
function collectEqual(sorted: Int32Array, start: number, end: number, lines: Set<number>): void {
  for (let i = start; i < end; i += 1) {
    const at = i * STRIDE;
    if (sorted[at] === sorted[at - STRIDE] && ((sorted[at + 1] ^ sorted[at - STRIDE + 1]) & (BUCKETS - 1)) === 0) {
      lines.add(sorted[at - STRIDE + 2]);
      lines.add(sorted[at + 2]);
    }
  }
}
