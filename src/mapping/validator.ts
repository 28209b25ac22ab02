// The one usermapping.csv validator (SPEC §4), used by the prepare activity (on
// the blob) and by `t2t mapping check` (on a local file). It streams the file,
// reports every problem with its physical line number, and keeps in memory only
// what duplicate detection needs: a 53-bit hash and a line number per email.
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import {
  INVALID_FILE,
  duplicateEmail,
  invalidEmail,
  targetSameAsSource,
  wrongColumnCount,
} from './messages';
import { readRecordBatches, readRecords } from './records';

export interface MappingError {
  line: number;
  source: string;
  destination: string;
  error: string;
}
export interface MappingRow {
  line: number;
  source: string;
  destination: string;
}
/** Batched directory checks (the caller adapts the control plane). Returns the errors for the rows given. */
export interface DirectoryChecker {
  checkBatch(rows: MappingRow[]): Promise<MappingError[]>;
}
export interface MappingProgress {
  rowsValidated: number;
  errors: number;
  bytesRead: number;
}
export interface ValidateMappingOptions {
  /** the file's name as uploaded or given: anything but exactly `usermapping.csv` is invalid */
  fileName: string;
  /** opens the file from its start; called a second time only when duplicates must be spelled out */
  open: () => Promise<NodeJS.ReadableStream> | NodeJS.ReadableStream;
  directory?: DirectoryChecker;
  directoryBatchSize?: number;
  onError: (error: MappingError) => void | Promise<void>;
  onProgress?: (progress: MappingProgress) => void;
  signal?: AbortSignal;
}
export interface MappingValidationResult {
  rows: number;
  errors: number;
  fileInvalid: boolean;
}

export const MAPPING_FILE_NAME = 'usermapping.csv';
const MAX_EMAIL_LENGTH = 254;
// Permissive on purpose (UPNs are varied), strict on what breaks a mapping:
// one @, a dotted domain, no spaces, commas, quotes or angle brackets.
const EMAIL = /^[^\s@,;"'<>()[\]\\]+@[^\s@,;"'<>()[\]\\]+\.[^\s@,;"'<>()[\]\\.]+$/;

export function isEmail(text: string): boolean {
  return text.length <= MAX_EMAIL_LENGTH && EMAIL.test(text) && !text.includes('\uFFFD');
}

/**
 * Two 32-bit FNV-style lanes over the UTF-16 units of a lower-cased email: 64
 * bits to tell emails apart without keeping them (collisions are settled by the
 * second pass, which compares the texts).
 */
let hashLow = 0;
let hashHigh = 0;
export function hashEmail(lowerCased: string): void {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ lowerCased.length;
  for (let i = 0; i < lowerCased.length; i += 1) {
    const c = lowerCased.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  hashLow = a >>> 0;
  hashHigh = b >>> 0;
}

/**
 * An open-addressing table of 64-bit email hashes and the first line each was
 * seen on, in typed arrays (about 12 bytes an email, no strings), and the lines
 * of hashes seen more than once.
 */
class HashShard {
  private capacity = 1 << 12;
  private low = new Uint32Array(this.capacity);
  private high = new Uint32Array(this.capacity);
  private firstLine = new Int32Array(this.capacity);
  private size = 0;
  readonly repeated = new Map<number, number[]>();

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

  private find(low: number, high: number): number {
    const mask = this.capacity - 1;
    let slot = (low ^ Math.imul(high, 0x9e3779b1)) & mask;
    while (this.firstLine[slot] !== 0 && (this.low[slot] !== low || this.high[slot] !== high)) slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    const { low, high, firstLine, capacity } = this;
    // Repeated entries are keyed by slot: remember their hashes to find their new slots.
    const repeated = [...this.repeated.entries()].map(([slot, lines]) => ({ low: low[slot], high: high[slot], lines }));
    this.capacity = capacity * 2;
    this.low = new Uint32Array(this.capacity);
    this.high = new Uint32Array(this.capacity);
    this.firstLine = new Int32Array(this.capacity);
    for (let i = 0; i < capacity; i += 1) {
      if (firstLine[i] === 0) continue;
      const slot = this.find(low[i], high[i]);
      this.low[slot] = low[i];
      this.high[slot] = high[i];
      this.firstLine[slot] = firstLine[i];
    }
    this.repeated.clear();
    for (const entry of repeated) this.repeated.set(this.find(entry.low, entry.high), entry.lines);
  }

  candidateLines(into: Set<number>): void {
    for (const lines of this.repeated.values()) for (const line of lines) into.add(line);
  }
}

/**
 * Per column: sixteen shards, so that growing one rehashes a sixteenth of the
 * emails — a pause of a few milliseconds, not one long enough to miss a heartbeat.
 */
class DuplicateIndex {
  private readonly shards = Array.from({ length: 16 }, () => new HashShard());

  add(low: number, high: number, line: number): void {
    this.shards[high >>> 28].add(low, high, line);
  }

  /** Lines that may carry a duplicate (a hash collision is told apart in the second pass). */
  candidateLines(into: Set<number>): void {
    for (const shard of this.shards) shard.candidateLines(into);
  }
}

export async function validateMapping(options: ValidateMappingOptions): Promise<MappingValidationResult> {
  let rows = 0;
  let errors = 0;
  const report = async (error: MappingError) => {
    errors += 1;
    await options.onError(error);
  };
  if (options.fileName !== MAPPING_FILE_NAME) {
    await report({ line: 0, source: '', destination: '', error: `${INVALID_FILE} (the file must be named exactly ${MAPPING_FILE_NAME})` });
    return { rows, errors, fileInvalid: true };
  }

  const sources = new DuplicateIndex();
  const destinations = new DuplicateIndex();
  const batchSize = options.directoryBatchSize ?? 1000;
  let batch: MappingRow[] = [];
  const flushBatch = async () => {
    if (!options.directory || batch.length === 0) return;
    const found = await options.directory.checkBatch(batch);
    batch = [];
    for (const error of found) await report(error);
  };

  let sawRecord = false;
  let bytesRead = 0;
  for await (const records of readRecordBatches(await options.open(), { signal: options.signal, onBytes: (n) => (bytesRead += n) })) for (const record of records) {
    if (record.tooLong) {
      await report({ line: record.line, source: '', destination: '', error: `${INVALID_FILE} (line ${record.line} is longer than 64 KiB)` });
      continue;
    }
    const fields = record.fields;
    if (fields.length === 1 && fields[0].trim() === '') continue;
    if (!sawRecord) {
      sawRecord = true;
      if (record.invalidUtf8) {
        await report({ line: record.line, source: '', destination: '', error: `${INVALID_FILE} (the file is not valid UTF-8)` });
        return { rows, errors, fileInvalid: true };
      }
      if (fields.length === 1 && fields[0].includes(';')) {
        await report({ line: record.line, source: '', destination: '', error: `${INVALID_FILE} (the file must be comma-separated, not semicolon-separated)` });
        return { rows, errors, fileInvalid: true };
      }
      if (fields.length === 2 && fields[0].trim().toLowerCase() === 'source' && fields[1].trim().toLowerCase() === 'destination') {
        if (fields[0] !== fields[0].trim() || fields[1] !== fields[1].trim()) {
          await report({ line: record.line, source: fields[0], destination: fields[1], error: `${INVALID_FILE} (no spaces around the header names: Source,Destination)` });
          return { rows, errors, fileInvalid: true };
        }
        continue;
      }
    }
    rows += 1;
    if (rows % 10_000 === 0) options.onProgress?.({ rowsValidated: rows, errors, bytesRead });
    if (fields.length !== 2) {
      await report({ line: record.line, source: fields[0] ?? '', destination: fields[1] ?? '', error: wrongColumnCount(record.line) });
      continue;
    }
    const source = fields[0].trim();
    const destination = fields[1].trim();
    const sourceOk = isEmail(source);
    const destinationOk = isEmail(destination);
    if (!sourceOk) await report({ line: record.line, source, destination, error: invalidEmail(source) });
    if (!destinationOk) await report({ line: record.line, source, destination, error: invalidEmail(destination) });
    if (!sourceOk || !destinationOk) continue;
    const sourceKey = source.toLowerCase();
    const destinationKey = destination.toLowerCase();
    hashEmail(sourceKey);
    sources.add(hashLow, hashHigh, record.line);
    hashEmail(destinationKey);
    destinations.add(hashLow, hashHigh, record.line);
    if (sourceKey === destinationKey) {
      await report({ line: record.line, source, destination, error: targetSameAsSource(record.line) });
      continue;
    }
    if (options.directory) {
      batch.push({ line: record.line, source, destination });
      if (batch.length >= batchSize) await flushBatch();
    }
  }
  await flushBatch();

  if (!sawRecord) {
    await report({ line: 0, source: '', destination: '', error: `${INVALID_FILE} (the file is empty)` });
    return { rows, errors, fileInvalid: true };
  }

  const candidates = new Set<number>();
  sources.candidateLines(candidates);
  destinations.candidateLines(candidates);
  if (candidates.size > 0) {
    for (const error of await spellOutDuplicates(options, candidates)) await report(error);
  }
  options.onProgress?.({ rowsValidated: rows, errors, bytesRead });
  return { rows, errors, fileInvalid: false };
}

/** Second pass over only the candidate lines: exact texts, grouped by email, case-insensitively. */
async function spellOutDuplicates(options: ValidateMappingOptions, candidates: Set<number>): Promise<MappingError[]> {
  const bySource = new Map<string, { first: string; lines: number[]; destination: string }>();
  const byDestination = new Map<string, { first: string; lines: number[]; source: string }>();
  for await (const record of readRecords(await options.open(), { signal: options.signal })) {
    if (!candidates.has(record.line) || record.fields.length !== 2) continue;
    const source = record.fields[0].trim();
    const destination = record.fields[1].trim();
    const s = bySource.get(source.toLowerCase());
    if (s) s.lines.push(record.line);
    else bySource.set(source.toLowerCase(), { first: source, lines: [record.line], destination });
    const d = byDestination.get(destination.toLowerCase());
    if (d) d.lines.push(record.line);
    else byDestination.set(destination.toLowerCase(), { first: destination, lines: [record.line], source });
  }
  const errors: MappingError[] = [];
  for (const group of bySource.values()) {
    if (group.lines.length > 1) {
      errors.push({ line: group.lines[0], source: group.first, destination: group.destination, error: duplicateEmail(group.lines, group.first) });
    }
  }
  for (const group of byDestination.values()) {
    if (group.lines.length > 1) {
      errors.push({ line: group.lines[0], source: group.source, destination: group.first, error: duplicateEmail(group.lines, group.first) });
    }
  }
  return errors.sort((a, b) => a.line - b.line);
}

/** `t2t mapping check`: the whole validation of a local file, errors sorted by line. */
export async function validateMappingFile(file: string, options: { directory?: DirectoryChecker } = {}): Promise<{ rows: number; errors: MappingError[] }> {
  const errors: MappingError[] = [];
  try {
    await access(file);
  } catch {
    return { rows: 0, errors: [{ line: 0, source: '', destination: '', error: `${INVALID_FILE} (cannot read ${file})` }] };
  }
  const result = await validateMapping({
    fileName: path.basename(file),
    open: () => createReadStream(file),
    directory: options.directory,
    onError: (error) => {
      errors.push(error);
    },
  });
  return { rows: result.rows, errors: errors.sort((a, b) => a.line - b.line) };
}
