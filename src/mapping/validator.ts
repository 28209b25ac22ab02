// The one usermapping.csv validator (SPEC §4), used by the prepare activity (on
// the blob) and by `t2t mapping check` (on a local file). It streams the file,
// reports every problem with its physical line number as soon as it is found,
// checks the directory in batches, and keeps in memory only what duplicate
// detection needs (see duplicate-index.ts). Duplicates are spelled out by a
// second pass over the file, up to the last line involved.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import {
  MAPPING_FILE_NAME,
  invalidEmail,
  invalidFile,
  invalidFileHints,
  targetSameAsSource,
  wrongColumnCount,
} from './messages';
import { DEFAULT_MAX_RECORD_LENGTH, readRecordBatches, type CsvRecord } from './records';
import { classifyFirstRecord } from './header';
import { equalsIgnoreCase, isEmail } from './email';
import { DuplicateIndex, type DuplicateIndexOptions } from './duplicate-index';
import { findDuplicates } from './duplicates';
import { createYielder } from './event-loop';

export { MAPPING_FILE_NAME } from './messages';
export { isEmail } from './email';

export interface MappingError {
  /** physical line (1-based, header included); 0 when the error is about the file as a whole */
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
  /** `rows` while reading the file, `duplicates` during the second pass that spells duplicates out */
  phase?: 'rows' | 'duplicates';
  /** during the second pass: the line it has reached */
  line?: number;
}
export interface ValidateMappingOptions {
  /** the file's name as uploaded or given: anything but exactly `usermapping.csv` is the invalid-file error */
  fileName: string;
  /** opens the file from its start; called a second time only when there are duplicates to spell out */
  open: () => Promise<NodeJS.ReadableStream> | NodeJS.ReadableStream;
  directory?: DirectoryChecker;
  /** rows per directory batch (default 1000) */
  directoryBatchSize?: number;
  /** every error, as it is found; awaited, so a slow report writer slows the validation down instead of queueing */
  onError: (error: MappingError) => void | Promise<void>;
  /** at most every 10,000 rows or every second, whichever comes first, and once at the end */
  onProgress?: (progress: MappingProgress) => void;
  signal?: AbortSignal;
  /** longest record accepted, in characters (default 65,536) */
  maxRecordLength?: number;
  /** the duplicate index's memory bound and where it spills past it (default 2^20 emails per column, the system's temporary directory) */
  duplicateIndex?: Pick<DuplicateIndexOptions, 'memoryEntries' | 'tempDir'>;
}
export interface MappingValidationResult {
  /** data rows read (blank lines and the header not counted) */
  rows: number;
  errors: number;
  /** the file as a whole was refused (name, missing, empty, no rows, separator, header, UTF-16, a workbook, binary): only that error was reported */
  fileInvalid: boolean;
  /** the file is not text: the offset of the first byte that shows it (records.ts `sniff`); then `fileInvalid` too */
  binaryAt?: number;
}

const DEFAULT_BATCH = 1000;
const PROGRESS_ROWS = 10_000;
const PROGRESS_MS = 1000;

function isNotFound(error: unknown): boolean {
  const e = error as { code?: unknown; statusCode?: unknown } | null;
  return e?.code === 'ENOENT' || e?.code === 'BlobNotFound' || e?.statusCode === 404;
}

function isBlank(fields: readonly string[]): boolean {
  for (const field of fields) if (field.trim() !== '') return false;
  return true;
}

class Validation {
  private rows = 0;
  private errors = 0;
  private bytesRead = 0;
  private sawFirstRecord = false;
  private fileInvalid = false;
  private binaryAt: number | undefined;
  private readonly sources: DuplicateIndex;
  private readonly destinations: DuplicateIndex;
  private readonly batchSize: number;
  private readonly maxRecordLength: number;
  private directoryRows: MappingRow[] = [];
  private pending: MappingError[] = [];
  private progressRows = 0;
  private progressTime = performance.now();

  constructor(private readonly options: ValidateMappingOptions) {
    const batchSize = options.directoryBatchSize ?? DEFAULT_BATCH;
    this.batchSize = Number.isFinite(batchSize) ? Math.max(1, Math.floor(batchSize)) : DEFAULT_BATCH;
    this.maxRecordLength = options.maxRecordLength ?? DEFAULT_MAX_RECORD_LENGTH;
    this.sources = new DuplicateIndex({ ...options.duplicateIndex, maybeYield: createYielder() });
    this.destinations = new DuplicateIndex({ ...options.duplicateIndex, maybeYield: createYielder() });
  }

  async run(): Promise<MappingValidationResult> {
    try {
      return await this.validate();
    } finally {
      // The indexes' temporary files go whatever happened (an error, a cancellation).
      await Promise.all([this.sources.dispose(), this.destinations.dispose()]);
    }
  }

  private async validate(): Promise<MappingValidationResult> {
    if (this.options.fileName !== MAPPING_FILE_NAME) return this.refuse(0, invalidFileHints.wrongName(this.options.fileName));
    try {
      await this.firstPass();
    } catch (error) {
      if (!isNotFound(error) || this.bytesRead > 0) throw error;
      return this.refuse(0, invalidFileHints.missing());
    }
    if (this.fileInvalid) return this.result();
    if (!this.sawFirstRecord) return this.refuse(0, invalidFileHints.empty);
    if (this.rows === 0) return this.refuse(0, invalidFileHints.noRows);
    await this.checkDirectory();
    await this.secondPass();
    this.progress(true);
    return this.result();
  }

  private async firstPass(): Promise<void> {
    const input = await this.options.open();
    const reading = { signal: this.options.signal, maxRecordLength: this.maxRecordLength, onBytes: (n: number) => (this.bytesRead += n) };
    for await (const records of readRecordBatches(input, reading)) {
      for (const record of records) {
        this.check(record);
        if (this.pending.length > 0) await this.flushErrors();
        if (this.fileInvalid) return;
        if (this.directoryRows.length >= this.batchSize) await this.checkDirectory();
      }
      if (this.sources.full) await this.sources.spill();
      if (this.destinations.full) await this.destinations.spill();
      this.progress(false);
    }
  }

  /** The rules of one record; errors go to `pending`, rows for the directory to `directoryRows`. */
  private check(record: CsvRecord): void {
    const { line, fields, problem } = record;
    if (problem === 'utf16' || problem === 'spreadsheet') {
      this.invalid(0, invalidFileHints[problem]);
      return;
    }
    if (problem === 'binary') {
      this.binaryAt = record.byte ?? 0;
      this.invalid(0, invalidFileHints.binary(this.binaryAt));
      return;
    }
    if (problem === 'tooLong' || problem === 'unclosedQuote') {
      this.sawFirstRecord = true;
      this.rows += 1;
      const hint = problem === 'tooLong' ? invalidFileHints.tooLong(line, this.maxRecordLength) : invalidFileHints.unclosedQuote(line);
      this.report(line, '', '', invalidFile(hint));
      return;
    }
    if (isBlank(fields)) return;
    if (!this.sawFirstRecord) {
      this.sawFirstRecord = true;
      if (problem === undefined) {
        const first = classifyFirstRecord(fields);
        if (first.kind === 'header') return;
        if (first.kind === 'invalid') {
          this.invalid(line, first.hint, fields[0], fields[1] ?? '');
          return;
        }
      }
    }
    this.rows += 1;
    const source = fields[0].trim();
    const destination = fields.length > 1 ? fields[1].trim() : '';
    if (problem === 'invalidUtf8') {
      this.report(line, source, destination, invalidFile(invalidFileHints.notUtf8(line)));
      return;
    }
    if (fields.length !== 2) {
      this.report(line, source, destination, wrongColumnCount(line));
      return;
    }
    const sourceOk = isEmail(source);
    const destinationOk = isEmail(destination);
    // Each well-formed email counts for duplicates even when the other one is wrong: one round of fixes, not two.
    if (sourceOk) this.sources.add(source, line);
    else this.report(line, source, destination, invalidEmail(source));
    if (destinationOk) this.destinations.add(destination, line);
    else this.report(line, source, destination, invalidEmail(destination));
    if (!sourceOk || !destinationOk) return;
    if (equalsIgnoreCase(source, destination)) {
      this.report(line, source, destination, targetSameAsSource(line));
      return;
    }
    if (this.options.directory) this.directoryRows.push({ line, source, destination });
  }

  private report(line: number, source: string, destination: string, error: string): void {
    this.pending.push({ line, source, destination, error });
  }

  /** The whole file is refused: one error, and nothing else is checked. */
  private invalid(line: number, hint: string, source = '', destination = ''): void {
    this.fileInvalid = true;
    this.report(line, source, destination, invalidFile(hint));
  }

  private async refuse(line: number, hint: string): Promise<MappingValidationResult> {
    this.invalid(line, hint);
    await this.flushErrors();
    return this.result();
  }

  private async flushErrors(): Promise<void> {
    const errors = this.pending;
    this.pending = [];
    for (const error of errors) {
      this.errors += 1;
      const written = this.options.onError(error);
      if (written) await written;
    }
  }

  private async checkDirectory(): Promise<void> {
    const rows = this.directoryRows;
    if (!this.options.directory || rows.length === 0) return;
    this.directoryRows = [];
    this.options.signal?.throwIfAborted();
    this.pending.push(...(await this.options.directory.checkBatch(rows)));
    await this.flushErrors();
    this.progress(false);
  }

  private async secondPass(): Promise<void> {
    const candidates = { sources: await this.sources.candidateLines(), destinations: await this.destinations.candidateLines() };
    if (candidates.sources.size === 0 && candidates.destinations.size === 0) return;
    const duplicates = await findDuplicates(await this.options.open(), candidates, {
      signal: this.options.signal,
      maxRecordLength: this.maxRecordLength,
      onLine: (line) => this.progress(false, line),
    });
    this.pending.push(...duplicates);
    await this.flushErrors();
  }

  private progress(force: boolean, line?: number): void {
    const onProgress = this.options.onProgress;
    if (!onProgress) return;
    const now = performance.now();
    if (!force && this.rows - this.progressRows < PROGRESS_ROWS && now - this.progressTime < PROGRESS_MS) return;
    this.progressRows = this.rows;
    this.progressTime = now;
    const progress: MappingProgress = { rowsValidated: this.rows, errors: this.errors, bytesRead: this.bytesRead, phase: line === undefined ? 'rows' : 'duplicates' };
    if (line !== undefined) progress.line = line;
    onProgress(progress);
  }

  private result(): MappingValidationResult {
    const result: MappingValidationResult = { rows: this.rows, errors: this.errors, fileInvalid: this.fileInvalid };
    if (this.binaryAt !== undefined) result.binaryAt = this.binaryAt;
    return result;
  }
}

export async function validateMapping(options: ValidateMappingOptions): Promise<MappingValidationResult> {
  return new Validation(options).run();
}

export interface MappingFileCheck {
  rows: number;
  /** sorted by line */
  errors: MappingError[];
  fileInvalid: boolean;
  /** see MappingValidationResult */
  binaryAt?: number;
}

/** `t2t mapping check` and tests: the whole validation of a local file, its errors collected and sorted by line. */
export async function validateMappingFile(
  file: string,
  options: Pick<ValidateMappingOptions, 'directory' | 'directoryBatchSize' | 'onProgress' | 'signal' | 'maxRecordLength' | 'duplicateIndex'> = {},
): Promise<MappingFileCheck> {
  const refused = (hint: string): MappingFileCheck => ({ rows: 0, errors: [{ line: 0, source: '', destination: '', error: invalidFile(hint) }], fileInvalid: true });
  try {
    if ((await stat(file)).isDirectory()) return refused(invalidFileHints.notAFile(file));
  } catch (error) {
    if (isNotFound(error)) return refused(invalidFileHints.missing(file));
    throw error;
  }
  const errors: MappingError[] = [];
  const result = await validateMapping({
    ...options,
    fileName: path.basename(file),
    open: () => createReadStream(file),
    onError: (error) => {
      errors.push(error);
    },
  });
  const check: MappingFileCheck = { rows: result.rows, errors: errors.sort((a, b) => a.line - b.line), fileInvalid: result.fileInvalid };
  if (result.binaryAt !== undefined) check.binaryAt = result.binaryAt;
  return check;
}
