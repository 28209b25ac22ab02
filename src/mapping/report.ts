// The error report: CSV (Line,Source,Destination,Error), written as a stream and
// safe to open in a spreadsheet (cells that would be read as formulas are
// prefixed with an apostrophe, as OWASP advises against CSV injection).
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import type { MappingError } from './validator';

export const REPORT_HEADER = 'Line,Source,Destination,Error';

export function neutraliseFormula(cell: string): string {
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}

export function csvCell(value: string): string {
  const safe = neutraliseFormula(value);
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function reportLine(error: MappingError): string {
  return `${error.line},${csvCell(error.source)},${csvCell(error.destination)},${csvCell(error.error)}\r\n`;
}

export interface ErrorReportStream extends PassThrough {
  /** writes one row, waiting when the reader is behind */
  writeError(error: MappingError): Promise<void>;
}

export function createErrorReportStream(): ErrorReportStream {
  const stream = new PassThrough() as ErrorReportStream;
  stream.write(`${REPORT_HEADER}\r\n`);
  stream.writeError = async (error) => {
    if (!stream.write(reportLine(error))) await once(stream, 'drain');
  };
  return stream;
}

/** Reads a report back (the CLI's `errors` command and tests). */
export function parseErrorReport(text: string): MappingError[] {
  const rows: string[][] = [];
  let field = '';
  let fields: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\n') {
      fields.push(field.replace(/\r$/, ''));
      rows.push(fields);
      fields = [];
      field = '';
    } else field += ch;
  }
  if (field || fields.length) rows.push([...fields, field]);
  return rows.slice(1).map(([line, source, destination, error]) => ({
    line: Number(line),
    source: source.replace(/^'(?=[=+\-@\t\r])/, ''),
    destination: destination.replace(/^'(?=[=+\-@\t\r])/, ''),
    error: error.replace(/^'(?=[=+\-@\t\r])/, ''),
  }));
}
