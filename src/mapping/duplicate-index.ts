// Finds the lines whose email may appear more than once in a column, keeping
// about 12–24 bytes per email and no strings: a 64-bit hash of the lower-cased
// email and the first line it was seen on, in typed-array hash tables. A hash
// collision only makes a line a *candidate*; the second pass compares the texts.

let hashLow = 0;
let hashHigh = 0;

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Two independent 32-bit lanes over the lower-cased text; the result is left in hashLow/hashHigh. */
function hashLowerCase(text: string, lowerCased: boolean): void {
  let a = 0x811c9dc5 ^ text.length;
  let b = 0x9747b28c;
  for (let i = 0; i < text.length; i += 1) {
    let c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    else if (c > 127 && !lowerCased) {
      // Non-ASCII case rules are toLowerCase's, which the second pass uses too.
      hashLowerCase(text.toLowerCase(), true);
      return;
    }
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  hashLow = mix(a);
  hashHigh = mix(b ^ Math.imul(a, 0x27d4eb2d));
}

export function emailHash(text: string): [number, number] {
  hashLowerCase(text, false);
  return [hashLow, hashHigh];
}

/** Open addressing with linear probing; a first line of 0 marks a free slot. */
class HashShard {
  private capacity = 1 << 10;
  private low = new Uint32Array(this.capacity);
  private high = new Uint32Array(this.capacity);
  private firstLine = new Int32Array(this.capacity);
  private size = 0;
  /** slot → every line of a hash seen more than once */
  private repeated = new Map<number, number[]>();

  add(low: number, high: number, line: number): void {
    if (this.size * 2 >= this.capacity) this.grow();
    const slot = this.find(low, high);
    if (this.firstLine[slot] === 0) {
      this.low[slot] = low;
      this.high[slot] = high;
      this.firstLine[slot] = line;
      this.size += 1;
      return;
    }
    const lines = this.repeated.get(slot);
    if (lines) lines.push(line);
    else this.repeated.set(slot, [this.firstLine[slot], line]);
  }

  collect(into: Set<number>): void {
    for (const lines of this.repeated.values()) for (const line of lines) into.add(line);
  }

  private find(low: number, high: number): number {
    const mask = this.capacity - 1;
    let slot = (low ^ Math.imul(high, 0x9e3779b1)) & mask;
    while (this.firstLine[slot] !== 0 && (this.low[slot] !== low || this.high[slot] !== high)) slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    const { low, high, firstLine, capacity, repeated } = this;
    this.capacity = capacity * 2;
    this.low = new Uint32Array(this.capacity);
    this.high = new Uint32Array(this.capacity);
    this.firstLine = new Int32Array(this.capacity);
    this.repeated = new Map();
    for (let i = 0; i < capacity; i += 1) {
      if (firstLine[i] === 0) continue;
      const slot = this.find(low[i], high[i]);
      this.low[slot] = low[i];
      this.high[slot] = high[i];
      this.firstLine[slot] = firstLine[i];
      const lines = repeated.get(i);
      if (lines) this.repeated.set(slot, lines);
    }
  }
}

/**
 * One column's index. Sixteen shards, so that growing one rehashes a sixteenth
 * of the emails: a pause of a few milliseconds at a million rows, never one long
 * enough to delay a heartbeat.
 */
export class DuplicateIndex {
  private readonly shards = Array.from({ length: 16 }, () => new HashShard());

  add(email: string, line: number): void {
    hashLowerCase(email, false);
    this.shards[hashHigh >>> 28].add(hashLow, hashHigh, line);
  }

  /** Every line whose email's hash was seen on another line too. */
  candidateLines(): Set<number> {
    const lines = new Set<number>();
    for (const shard of this.shards) shard.collect(lines);
    return lines;
  }
}
