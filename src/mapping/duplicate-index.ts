// Finds the lines whose email may appear more than once in a column, keeping
// 12 bytes per email and no strings: a hash of the lower-cased email and its
// line, appended to a typed array as the file is read (sequential writes, no
// hash table to miss the cache on), then sorted once at the end by an LSD radix
// sort on 48 of its bits (three linear passes, whatever the data, even a file
// made to collide) so that equal hashes sit side by side. Equal hashes only make
// lines *candidates*: the second pass compares the texts, so a collision costs
// a line re-read, never a wrong error (for a million emails, about one chance
// in 500 of one such pair). All arithmetic stays in int32, which V8 keeps unboxed.
//
// Memory is bounded whatever the file's size: past a bound (2^20 entries, 12 MB,
// by default: a file of up to a million rows never touches the disk) the entries
// are spilled to a temporary file, grouped by 8 of their compared bits into 256
// partitions (equal entries always share one), in one sequential write per
// spill. At the end each partition is read back alone, sorted and scanned, so
// what the end needs is two buffers of one partition, about 1/256 of the file's
// entries.
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

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
const BYTES_PER_ENTRY = STRIDE * Int32Array.BYTES_PER_ELEMENT;
const RADIX_BITS = 16;
const BUCKETS = 1 << RADIX_BITS;
/** up to this many entries, a comparison sort is cheaper than the radix passes */
const SMALL = 2048;
/** entries handled between two chances for the event loop */
const STEP = 1 << 16;
const PARTITION_BITS = 8;
const PARTITIONS = 1 << PARTITION_BITS;
/** the default bound: entries held in memory before they are spilled */
export const DEFAULT_MEMORY_ENTRIES = 1 << 20;
/** room past the bound for the rest of a batch of records: the index spills between batches */
const SLACK = 1 << 13;

/** The partition of an entry: bits 8–15 of its high word, which the sort compares, so that equal entries share a partition. */
function partitionOf(high: number): number {
  return (high >>> 8) & (PARTITIONS - 1);
}

export interface DuplicateIndexOptions {
  /** gives the event loop a turn now and then (final sort, spilling) */
  maybeYield?: () => Promise<void> | undefined;
  /** entries held in memory before they are spilled to a temporary file (default 2^20, 12 MB) */
  memoryEntries?: number;
  /** where the temporary file is made (default the system's temporary directory) */
  tempDir?: string;
}

export class DuplicateIndex {
  private entries = new Int32Array(4096 * STRIDE);
  private size = 0;
  private readonly limit: number;
  private readonly maybeYield: () => Promise<void> | undefined;
  private readonly tempDir: string | undefined;
  private file: SpillFile | undefined;
  private opening: Promise<SpillFile> | undefined;
  /** entries written to the temporary file so far */
  spilledEntries = 0;

  constructor(options: DuplicateIndexOptions = {}) {
    this.maybeYield = options.maybeYield ?? (() => undefined);
    const limit = options.memoryEntries ?? DEFAULT_MEMORY_ENTRIES;
    this.limit = Number.isFinite(limit) ? Math.max(1, Math.floor(limit)) : DEFAULT_MEMORY_ENTRIES;
    this.tempDir = options.tempDir;
  }

  add(email: string, line: number): void {
    if ((this.size + 1) * STRIDE > this.entries.length) this.grow();
    hashLowerCase(email);
    const at = this.size * STRIDE;
    this.entries[at] = hashLow;
    this.entries[at + 1] = hashHigh;
    this.entries[at + 2] = line;
    this.size += 1;
  }

  private grow(): void {
    const bound = (this.limit + SLACK) * STRIDE;
    // Doubling up to the bound and its slack; past them only if a batch outgrew the slack.
    const length = this.entries.length < bound ? Math.min(this.entries.length * 2, bound) : this.entries.length * 2;
    const bigger = new Int32Array(length);
    bigger.set(this.entries);
    this.entries = bigger;
  }

  /** Whether the entries in memory have reached the bound: the caller then awaits spill() between two batches. */
  get full(): boolean {
    return this.size >= this.limit;
  }

  /** Moves the entries held in memory to the temporary file (made on the first call), grouped by partition. */
  async spill(): Promise<void> {
    if (this.size === 0) return;
    this.opening ??= SpillFile.open(this.tempDir ?? os.tmpdir());
    this.file = await this.opening;
    await this.file.append(this.entries, this.size, this.maybeYield);
    this.spilledEntries += this.size;
    this.size = 0;
  }

  /** Every line whose email's hash is also on another line. The index is spent afterwards, its temporary file removed. */
  async candidateLines(): Promise<Set<number>> {
    try {
      const lines = new Set<number>();
      if (this.spilledEntries === 0) {
        const n = this.size;
        await collectCandidates(this.entries, n, n > SMALL ? new Int32Array(n * STRIDE) : undefined, lines, this.maybeYield);
        return lines;
      }
      await this.spill();
      this.entries = new Int32Array(0);
      await this.file!.candidateLines(lines, this.maybeYield);
      return lines;
    } finally {
      await this.dispose();
    }
  }

  /** Frees the memory and removes the temporary file; for a validation that ends early (an error, a cancellation). */
  async dispose(): Promise<void> {
    this.entries = new Int32Array(0);
    this.size = 0;
    const opening = this.opening;
    this.opening = undefined;
    this.file = undefined;
    const spill = await opening?.catch(() => undefined);
    await spill?.close();
  }
}

/**
 * The temporary file of one index: runs appended one after the other, each the
 * entries of one spill grouped by partition, with where each partition starts.
 * Its name is removed as soon as it is open where the system allows it (the
 * open handle keeps the data), so that even a killed process leaves nothing
 * behind; elsewhere it is removed on close.
 */
class SpillFile {
  private readonly runs: { position: number; starts: Uint32Array }[] = [];
  private position = 0;
  /** the grouped copy of a spill, written from while the next entries are read */
  private grouped: Int32Array | undefined;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly handle: FileHandle,
    private dir: string | undefined,
  ) {}

  static async open(tempDir: string): Promise<SpillFile> {
    const dir = await mkdtemp(path.join(tempDir, 't2t-mapping-'));
    let handle: FileHandle;
    try {
      handle = await open(path.join(dir, 'duplicate-index.bin'), 'w+', 0o600);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    try {
      await rm(dir, { recursive: true, force: true });
      return new SpillFile(handle, undefined);
    } catch {
      return new SpillFile(handle, dir);
    }
  }

  async append(entries: Int32Array, n: number, maybeYield: () => Promise<void> | undefined): Promise<void> {
    // The previous run's write must be done before its buffer is reused.
    await this.writing;
    if (!this.grouped || this.grouped.length < n * STRIDE) this.grouped = new Int32Array(Math.max(n * STRIDE, entries.length));
    const grouped = this.grouped;
    const starts = new Uint32Array(PARTITIONS + 1);
    countPartitions(entries, n, starts);
    const next = starts.slice(0, PARTITIONS);
    for (let start = 0; start < n; start += STEP) {
      scatterPartitions(entries, grouped, start, Math.min(n, start + STEP), next);
      await maybeYield();
    }
    const bytes = n * BYTES_PER_ENTRY;
    this.runs.push({ position: this.position, starts });
    const writing = writeAll(this.handle, new Uint8Array(grouped.buffer, grouped.byteOffset, bytes), this.position);
    this.position += bytes;
    // Awaited by the next append or at the end; meanwhile a failure must not count as an unhandled rejection.
    writing.catch(() => undefined);
    this.writing = writing;
  }

  async candidateLines(lines: Set<number>, maybeYield: () => Promise<void> | undefined): Promise<void> {
    await this.writing;
    this.grouped = undefined;
    const sizes = new Uint32Array(PARTITIONS);
    for (const { starts } of this.runs) for (let p = 0; p < PARTITIONS; p += 1) sizes[p] += starts[p + 1] - starts[p];
    const largest = Math.max(...sizes);
    const entries = new Int32Array(largest * STRIDE);
    const spare = largest > SMALL ? new Int32Array(largest * STRIDE) : undefined;
    const counts = new Uint32Array(BUCKETS);
    const bytes = new Uint8Array(entries.buffer);
    for (let p = 0; p < PARTITIONS; p += 1) {
      let at = 0;
      for (const { position, starts } of this.runs) {
        const length = (starts[p + 1] - starts[p]) * BYTES_PER_ENTRY;
        if (length === 0) continue;
        await readAll(this.handle, bytes.subarray(at, at + length), position + starts[p] * BYTES_PER_ENTRY);
        at += length;
      }
      await collectCandidates(entries, sizes[p], spare, lines, maybeYield, counts);
      await maybeYield();
    }
  }

  async close(): Promise<void> {
    await this.writing.catch(() => undefined);
    await this.handle.close().catch(() => undefined);
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

async function readAll(handle: FileHandle, into: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < into.length; ) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new Error('the duplicate index\'s temporary file is shorter than what was written to it');
    done += bytesRead;
  }
}

/**
 * Adds to `lines` the lines of entries [0, n) whose 48 compared bits equal
 * another entry's. `spare`, as large as the entries, is the radix sort's second
 * buffer (not needed up to SMALL entries); both buffers are overwritten.
 */
async function collectCandidates(
  entries: Int32Array,
  n: number,
  spare: Int32Array | undefined,
  lines: Set<number>,
  maybeYield: () => Promise<void> | undefined,
  counts = new Uint32Array(BUCKETS),
): Promise<void> {
  if (n < 2) return;
  if (n <= SMALL || !spare) {
    collectEqual(sortSmall(entries, n), 1, n, lines);
    return;
  }
  let from = entries;
  let to = spare;
  // Three stable passes of 16 bits: the low word, then the low half of the high word.
  for (let pass = 0; pass < 3; pass += 1) {
    const field = pass >> 1;
    const shift = (pass & 1) * RADIX_BITS;
    countDigits(from, n, field, shift, counts);
    for (let start = 0; start < n; start += STEP) {
      scatter(from, to, start, Math.min(n, start + STEP), field, shift, counts);
      await maybeYield();
    }
    [from, to] = [to, from];
  }
  for (let start = 1; start < n; start += STEP) {
    collectEqual(from, start, Math.min(n, start + STEP), lines);
    await maybeYield();
  }
}

/** The same 48-bit order by a comparison sort, cheaper than the radix passes' 64K-entry counts for a few entries. */
function sortSmall(entries: Int32Array, n: number): Int32Array {
  const order = Array.from({ length: n }, (_, i) => i * STRIDE);
  order.sort((a, b) => entries[a] - entries[b] || (entries[a + 1] & (BUCKETS - 1)) - (entries[b + 1] & (BUCKETS - 1)));
  const sorted = new Int32Array(n * STRIDE);
  order.forEach((from, i) => sorted.set(entries.subarray(from, from + STRIDE), i * STRIDE));
  return sorted;
}

// The loops are plain functions: V8 optimises them better than loops inside an async function.

/** starts[p] ← where the entries of partition p start once grouped; starts[PARTITIONS] = n */
function countPartitions(entries: Int32Array, n: number, starts: Uint32Array): void {
  for (let i = 0; i < n; i += 1) starts[partitionOf(entries[i * STRIDE + 1]) + 1] += 1;
  for (let p = 1; p <= PARTITIONS; p += 1) starts[p] += starts[p - 1];
}

function scatterPartitions(from: Int32Array, to: Int32Array, start: number, end: number, next: Uint32Array): void {
  for (let i = start; i < end; i += 1) {
    const at = i * STRIDE;
    const slot = next[partitionOf(from[at + 1])]++ * STRIDE;
    to[slot] = from[at];
    to[slot + 1] = from[at + 1];
    to[slot + 2] = from[at + 2];
  }
}

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
