// The error report: CSV (Line,Source,Destination,Error; RFC 4180 quoting, CRLF),
// produced as a stream that storage can pipe into a blob, and safe to open in a
// spreadsheet: a cell that would be read as a formula gets a leading apostrophe
// (OWASP, CSV injection). Emails in the report come from the uploaded file, so
// they are attacker-controlled.
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { MappingError } from './validator';

export const REPORT_HEADER = 'Line,Source,Destination,Error';

// Any run of apostrophes before a trigger is prefixed too, so that reading the
// report back (drop one apostrophe) gives exactly the original text.
const FORMULA = /^'*[=+\-@\t\r]/;

export function neutraliseFormula(cell: string): string {
  return FORMULA.test(cell) ? `'${cell}` : cell;
}

function restoreFormula(cell: string): string {
  return cell.startsWith("'") && FORMULA.test(cell) ? cell.slice(1) : cell;
}

export function csvCell(value: string): string {
  const safe = neutraliseFormula(value);
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function reportLine(error: MappingError): string {
  return `${error.line},${csvCell(error.source)},${csvCell(error.destination)},${csvCell(error.error)}\r\n`;
}

/** MappingError objects in, report bytes out (the header first, even when no error follows). */
export class ErrorReportStream extends Transform {
  constructor() {
    super({ writableObjectMode: true });
    this.push(`${REPORT_HEADER}\r\n`);
  }

  override _transform(error: MappingError, _encoding: BufferEncoding, callback: TransformCallback): void {
    callback(null, reportLine(error));
  }

  /** Writes one row, waiting while the reader is behind; fails if the stream fails or closes first. */
  writeError(error: MappingError): Promise<void> {
    if (this.destroyed) return Promise.reject(new Error('the error report stream is closed'));
    if (this.write(error)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (failure?: Error) => {
        this.off('drain', onDrain);
        this.off('error', onError);
        this.off('close', onClose);
        if (failure) reject(failure);
        else resolve();
      };
      const onDrain = () => done();
      const onError = (e: Error) => done(e);
      const onClose = () => done(new Error('the error report stream closed before the report was written'));
      this.on('drain', onDrain);
      this.on('error', onError);
      this.on('close', onClose);
    });
  }
}

export function createErrorReportStream(): ErrorReportStream {
  return new ErrorReportStream();
}

/** A whole report from errors that are already at hand (or come from an async source). */
export function errorReportFrom(errors: Iterable<MappingError> | AsyncIterable<MappingError>): Readable {
  return Readable.from(
    (async function* lines() {
      yield `${REPORT_HEADER}\r\n`;
      for await (const error of errors) yield reportLine(error);
    })(),
    { objectMode: false },
  );
}

/** Every record of a CSV text, as RFC 4180 reads it (LF or CRLF, a byte-order mark tolerated). */
function csvRecords(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  let started = false;
  for (let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; i < text.length; i += 1) {
    const ch = text[i];
    if (quoted) {
      if (ch !== '"') field += ch;
      else if (text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else quoted = false;
      continue;
    }
    started = true;
    if (ch === '"') quoted = true;
    else if (ch === ',') {
      record.push(field);
      field = '';
    } else if (ch === '\n' || (ch === '\r' && text[i + 1] === '\n')) {
      if (ch === '\r') i += 1;
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      started = false;
    } else field += ch;
  }
  if (started) {
    record.push(field);
    records.push(record);
  }
  return records;
}

/** Reads a report back (the CLI's `errors` command and tests); the apostrophes added against formulas are removed. */
export function parseErrorReport(text: string): MappingError[] {
  const [header, ...rows] = csvRecords(text);
  if (header && header.join(',') !== REPORT_HEADER) throw new Error(`not a mapping error report: its header is '${header.join(',')}'`);
  return rows
    .filter((row) => !(row.length === 1 && row[0] === ''))
    .map((row) => {
      if (row.length !== 4) throw new Error(`not a mapping error report: a row has ${row.length} cells`);
      const [line, source, destination, error] = row.map(restoreFormula);
      return { line: Number(line), source, destination, error };
    });
}
