// Splits a CSV byte stream into records, each with the physical line it starts
// on. RFC 4180 quoting: a field that starts with a quote may hold commas,
// doubled quotes and line breaks (every line break still counts for the line
// numbers); a quote anywhere else is an ordinary character. LF or CRLF. Memory is
// bounded whatever the input: a record longer than the limit is reported, not
// held, and the input is consumed in slices of at most 64 KiB.
import { StringDecoder } from 'node:string_decoder';
import { createYielder } from './event-loop';

export type RecordProblem =
  /** longer than the limit: its fields were dropped */
  | 'tooLong'
  /** a quoted field still open at the end of the file */
  | 'unclosedQuote'
  /** bytes that are not UTF-8 (decoded as U+FFFD) */
  | 'invalidUtf8'
  /** the file is UTF-16 (a byte-order mark, or a NUL in its first two bytes): nothing else is read */
  | 'utf16'
  /** the file is an Excel workbook (a ZIP or OLE2 container), not text: nothing else is read */
  | 'spreadsheet'
  /** the file is not text at all (an image, an archive, random bytes): nothing else is read; see `binaryOffset` */
  | 'binary';

export interface CsvRecord {
  /** physical line (1-based) the record starts on */
  line: number;
  fields: string[];
  problem: RecordProblem | undefined;
  /** `binary`: the offset of the first byte that shows it */
  byte?: number;
}

export const DEFAULT_MAX_RECORD_LENGTH = 65_536;
const SLICE_BYTES = 64 * 1024;

function indexOrLength(text: string, search: string, from: number): number {
  const at = text.indexOf(search, from);
  return at === -1 ? text.length : at;
}

const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
/** a quote inside a quoted field: the next character tells a doubled quote from the closing one */
const QUOTE_IN_QUOTED = 3;
/** after the closing quote: anything up to the comma is kept, leniently */
const AFTER_QUOTE = 4;

const COMMA = 44;
const LF = 10;
const CR = 13;
const QUOTE = 34;

/**
 * An incremental splitter: push() text as it comes, end() at the end of input.
 * Lines without a quote take a fast path (indexOf and split), which is nearly
 * every line of a real mapping file; the rest go through a state machine that
 * carries its state from one piece of text to the next.
 */
export class CsvRecordSplitter {
  private line = 1;
  private inRecord = false;
  private recordLine = 1;
  private fields: string[] = [];
  private field = '';
  private state = FIELD_START;
  /** characters of the current record so far, its line break excluded */
  private length = 0;
  private overflow = false;
  private undecodable = false;
  /** the last character taken outside quotes was a CR (dropped if a line break follows) */
  private pendingCr = false;
  /** where the current piece's next comma and next U+FFFD are (its length if none), once looked for */
  private nextComma = -1;
  private nextReplacement = -1;

  /**
   * @param only when given, the lines of the fast path for which it is false give no record (the
   * second pass, which wants a few lines): they are still counted, and it sees every one of them
   */
  constructor(
    private readonly maxLength = DEFAULT_MAX_RECORD_LENGTH,
    private readonly only?: (line: number) => boolean,
  ) {}

  push(text: string, out: CsvRecord[]): void {
    const hasReplacement = text.includes('\uFFFD');
    // Searched once per piece, not once per line: most pieces hold no quote at all.
    let nextQuote = -2;
    this.nextComma = -1;
    this.nextReplacement = hasReplacement ? -1 : text.length;
    let pos = 0;
    while (pos < text.length) {
      if (!this.inRecord) {
        const nl = text.indexOf('\n', pos);
        if (nl !== -1) {
          if (nextQuote !== -1 && nextQuote < pos) nextQuote = text.indexOf('"', pos);
          if (nextQuote === -1 || nextQuote > nl) {
            this.takeLine(text, pos, nl, out);
            pos = nl + 1;
            continue;
          }
        }
        this.inRecord = true;
        this.recordLine = this.line;
      }
      pos = this.scan(text, pos, hasReplacement, out);
    }
  }

  /** The input has ended: the last record, if it had no line break. */
  end(out: CsvRecord[]): void {
    if (!this.inRecord) return;
    if (this.state === QUOTED) {
      out.push({ line: this.recordLine, fields: [], problem: 'unclosedQuote' });
      this.reset();
      return;
    }
    this.endRecord(out);
  }

  /** Fast path: a whole line without quotes. */
  private takeLine(text: string, start: number, nl: number, out: CsvRecord[]): void {
    const line = this.line;
    this.line += 1;
    if (this.only !== undefined && !this.only(line)) return;
    const end = nl > start && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
    if (nl - start > this.maxLength) {
      out.push({ line, fields: [], problem: 'tooLong' });
      return;
    }
    // The next comma and the next U+FFFD of the piece are looked for once each, not once per line.
    if (this.nextComma < start) this.nextComma = indexOrLength(text, ',', start);
    if (this.nextReplacement < start) this.nextReplacement = indexOrLength(text, '\uFFFD', start);
    const problem = this.nextReplacement < end ? 'invalidUtf8' : undefined;
    const comma = this.nextComma;
    if (comma >= end) {
      out.push({ line, fields: [text.slice(start, end)], problem });
      return;
    }
    this.nextComma = indexOrLength(text, ',', comma + 1);
    // Two fields, nearly every line of a mapping file: two slices cost less than split.
    const fields = this.nextComma >= end ? [text.slice(start, comma), text.slice(comma + 1, end)] : text.slice(start, end).split(',');
    out.push({ line, fields, problem });
  }

  /** Slow path: consumes text up to the end of the current record (its line break included) or of the piece. */
  private scan(text: string, pos: number, hasReplacement: boolean, out: CsvRecord[]): number {
    const n = text.length;
    while (pos < n) {
      const state = this.state;
      if (state === QUOTED) {
        const quote = text.indexOf('"', pos);
        const stop = quote === -1 ? n : quote;
        for (let nl = text.indexOf('\n', pos); nl !== -1 && nl < stop; nl = text.indexOf('\n', nl + 1)) this.line += 1;
        this.append(text, pos, stop, hasReplacement);
        if (quote === -1) return n;
        this.count(1);
        this.state = QUOTE_IN_QUOTED;
        pos = quote + 1;
        continue;
      }
      if (state === QUOTE_IN_QUOTED) {
        if (text.charCodeAt(pos) === QUOTE) {
          this.append(text, pos, pos + 1, false);
          this.state = QUOTED;
          pos += 1;
          continue;
        }
        this.state = AFTER_QUOTE;
      } else if (state === FIELD_START) {
        if (text.charCodeAt(pos) === QUOTE) {
          this.count(1);
          this.pendingCr = false;
          this.state = QUOTED;
          pos += 1;
          continue;
        }
        this.state = UNQUOTED;
      }
      // UNQUOTED or AFTER_QUOTE: everything up to a comma or a line break belongs to the field.
      let end = pos;
      for (; end < n; end += 1) {
        const c = text.charCodeAt(end);
        if (c === COMMA || c === LF) break;
      }
      if (end > pos) {
        this.append(text, pos, end, hasReplacement);
        this.pendingCr = text.charCodeAt(end - 1) === CR;
      }
      if (end === n) return n;
      if (text.charCodeAt(end) === COMMA) {
        this.count(1);
        if (!this.overflow) this.fields.push(this.field);
        this.field = '';
        this.pendingCr = false;
        this.state = FIELD_START;
        pos = end + 1;
        continue;
      }
      this.endRecord(out);
      this.line += 1;
      return end + 1;
    }
    return pos;
  }

  private count(chars: number): void {
    this.length += chars;
    if (!this.overflow && this.length > this.maxLength) {
      this.overflow = true;
      this.fields = [];
      this.field = '';
    }
  }

  private append(text: string, start: number, end: number, hasReplacement: boolean): void {
    if (end === start) return;
    this.count(end - start);
    if (this.overflow) return;
    const part = text.slice(start, end);
    if (hasReplacement && !this.undecodable && part.includes('\uFFFD')) this.undecodable = true;
    this.field += part;
  }

  private endRecord(out: CsvRecord[]): void {
    if (this.overflow) {
      out.push({ line: this.recordLine, fields: [], problem: 'tooLong' });
    } else {
      const last = this.pendingCr ? this.field.slice(0, -1) : this.field;
      this.fields.push(last);
      out.push({ line: this.recordLine, fields: this.fields, problem: this.undecodable ? 'invalidUtf8' : undefined });
    }
    this.reset();
  }

  private reset(): void {
    this.inRecord = false;
    this.fields = [];
    this.field = '';
    this.state = FIELD_START;
    this.length = 0;
    this.overflow = false;
    this.undecodable = false;
    this.pendingCr = false;
  }
}

export interface ReadRecordsOptions {
  signal?: AbortSignal;
  /** bytes read so far, as they come */
  onBytes?: (bytes: number) => void;
  maxRecordLength?: number;
  /** the file is known to be text (a second pass over what a first pass read): records start at once, without holding its start back to tell */
  knownText?: boolean;
  /** see CsvRecordSplitter: a line without quotes for which it is false gives no record */
  only?: (line: number) => boolean;
}

/** What the start of a file says about it; undefined for UTF-8 text (or ANSI text, reported line by line). */
export type Sniffed = { kind: 'utf16' | 'spreadsheet'; byte?: undefined } | { kind: 'binary'; byte: number };

/** How much of a file's start decides whether it is text: one read of a local file, and enough that random bytes never pass. */
export const SNIFF_BYTES = 64 * 1024;

/**
 * C0 controls other than tab, LF and CR. No text file an admin could produce
 * holds one, whatever its encoding (UTF-8, or an ANSI code page), while a NUL or
 * another of them turns up within a few dozen bytes of any binary file.
 */
function isControl(code: number): boolean {
  return code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d;
}

/** The offset of the first UTF-8 sequence before `end` that is not valid (one cut short by `end` included), or -1. */
function firstInvalidUtf8(bytes: Buffer, end: number): number {
  let i = 0;
  while (i < end) {
    const b = bytes[i];
    if (b < 0x80) {
      i += 1;
      continue;
    }
    let length: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) length = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      length = 3;
      // No overlong forms, no UTF-16 surrogates.
      if (b === 0xe0) low = 0xa0;
      if (b === 0xed) high = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      length = 4;
      // No overlong forms, nothing above U+10FFFF.
      if (b === 0xf0) low = 0x90;
      if (b === 0xf4) high = 0x8f;
    } else return i;
    if (i + length > end) return i;
    const second = bytes[i + 1];
    if (second < low || second > high) return i;
    for (let k = 2; k < length; k += 1) {
      const next = bytes[i + k];
      if (next < 0x80 || next > 0xbf) return i;
    }
    i += length;
  }
  return -1;
}

/**
 * Where the start of a file shows that it is binary: undefined when it holds no
 * control character (bytes that are merely not UTF-8 are an ANSI file, text
 * that deserves its per-line errors), else the first byte from which it is not
 * UTF-8 text: that control character, or an earlier byte that is not UTF-8.
 */
export function binaryOffset(head: Buffer): number | undefined {
  const control = head.findIndex(isControl);
  if (control === -1) return undefined;
  const invalid = firstInvalidUtf8(head, control);
  return invalid === -1 ? control : invalid;
}

/** Whether two bytes that look like the start of UTF-16 are followed by UTF-16 text, not by binary that happens to start so. */
function isUtf16Text(head: Buffer, bigEndian: boolean): boolean {
  const units = Buffer.from(head.subarray(0, head.length - (head.length % 2)));
  const text = (bigEndian ? units.swap16() : units).toString('utf16le');
  for (let i = 0; i < text.length; i += 1) if (isControl(text.charCodeAt(i))) return false;
  return true;
}

/** What the start of a file (its first SNIFF_BYTES, or all of it) says it is, when that is not UTF-8 text. */
export function sniff(start: Buffer): Sniffed | undefined {
  const head = start.subarray(0, SNIFF_BYTES);
  if (head.length >= 2) {
    const [b0, b1] = [head[0], head[1]];
    if ((b0 === 0xff && b1 === 0xfe) || (b0 === 0xfe && b1 === 0xff) || b0 === 0 || b1 === 0) {
      // A byte-order mark says which; without one, the NUL is the high byte of an ASCII character.
      const bigEndian = b0 === 0xfe && b1 === 0xff ? true : b0 === 0xff && b1 === 0xfe ? false : b0 === 0;
      if (isUtf16Text(head, bigEndian)) return { kind: 'utf16' };
      return { kind: 'binary', byte: binaryOffset(head) ?? 0 };
    }
  }
  const magic = head.length >= 4 ? head.readUInt32BE(0) : 0;
  // .xlsx is a ZIP archive (PK\x03\x04), .xls an OLE2 compound file: named for what they are, before the binary rule.
  if (magic === 0x504b0304 || magic === 0xd0cf11e0) return { kind: 'spreadsheet' };
  const byte = binaryOffset(head);
  return byte === undefined ? undefined : { kind: 'binary', byte };
}

/**
 * Records in batches, one batch per slice of input (a generator step per record
 * would cost more than the splitting). A batch may be empty (a slice inside a
 * long record): the consumer still gets its turn, to report progress. A leading
 * UTF-8 byte-order mark is dropped; a file that is UTF-16, a workbook or binary
 * yields a single `utf16`, `spreadsheet` or `binary` record on line 1 and stops.
 */
export async function* readRecordBatches(input: NodeJS.ReadableStream, options: ReadRecordsOptions = {}): AsyncGenerator<CsvRecord[]> {
  const decoder = new StringDecoder('utf8');
  const splitter = new CsvRecordSplitter(options.maxRecordLength, options.only);
  const maybeYield = createYielder();
  /** the first bytes, held until there are enough to tell what the file is (pieces, not one growing buffer: chunks may be one byte each) */
  let head: Buffer[] | undefined = options.knownText ? undefined : [];
  let headLength = 0;
  let started = false;

  const take = (bytes: Buffer, final: boolean): CsvRecord[] => {
    let text = final ? decoder.write(bytes) + decoder.end() : decoder.write(bytes);
    if (!started && text.length > 0) {
      started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const batch: CsvRecord[] = [];
    splitter.push(text, batch);
    if (final) splitter.end(batch);
    return batch;
  };

  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    let bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    options.onBytes?.(bytes.length);
    if (head) {
      head.push(bytes);
      headLength += bytes.length;
      if (headLength < SNIFF_BYTES) continue;
      bytes = Buffer.concat(head);
      head = undefined;
      const sniffed = sniff(bytes);
      if (sniffed) {
        yield [{ line: 1, fields: [], problem: sniffed.kind, byte: sniffed.byte }];
        return;
      }
    }
    for (let offset = 0; offset < bytes.length; offset += SLICE_BYTES) {
      options.signal?.throwIfAborted();
      yield take(bytes.subarray(offset, offset + SLICE_BYTES), false);
      await maybeYield();
    }
  }
  options.signal?.throwIfAborted();
  const rest = head ? Buffer.concat(head) : Buffer.alloc(0);
  const sniffed = head ? sniff(rest) : undefined;
  if (sniffed) {
    yield [{ line: 1, fields: [], problem: sniffed.kind, byte: sniffed.byte }];
    return;
  }
  const batch = take(rest, true);
  if (batch.length > 0) yield batch;
}
