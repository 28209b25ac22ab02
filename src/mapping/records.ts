// Splits a CSV stream into records with the physical line each starts on:
// RFC 4180 quoting (a quoted field may hold commas, quotes and line breaks),
// CRLF or LF, a leading byte-order mark. A record longer than the limit is cut
// off and flagged instead of growing memory without bound.
import { StringDecoder } from 'node:string_decoder';

export interface CsvRecord {
  line: number;
  fields: string[];
  tooLong?: boolean;
  invalidUtf8?: boolean;
}

export const MAX_RECORD_LENGTH = 64 * 1024;

export async function* readRecords(
  input: NodeJS.ReadableStream,
  options: { signal?: AbortSignal; onBytes?: (n: number) => void } = {},
): AsyncGenerator<CsvRecord> {
  const decoder = new StringDecoder('utf8');
  let line = 1;
  let recordLine = 1;
  let fields: string[] = [];
  let field = '';
  let recordLength = 0;
  let quoted = false;
  let afterQuote = false;
  let tooLong = false;
  let invalidUtf8 = false;
  let started = false;
  let pendingCR = false;

  const endRecord = (): CsvRecord => {
    fields.push(field);
    const record: CsvRecord = { line: recordLine, fields: tooLong ? [] : fields };
    if (tooLong) record.tooLong = true;
    if (invalidUtf8) record.invalidUtf8 = true;
    fields = [];
    field = '';
    recordLength = 0;
    quoted = false;
    afterQuote = false;
    tooLong = false;
    invalidUtf8 = false;
    recordLine = line;
    return record;
  };

  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    options.onBytes?.(buffer.length);
    let text = decoder.write(buffer);
    if (!started) {
      if (text.length === 0) continue;
      started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const out: CsvRecord[] = [];
    for (let i = 0; i < text.length; i += 1) {
      const ch = text[i];
      if (pendingCR) {
        pendingCR = false;
        if (ch === '\n') continue;
      }
      if (quoted) {
        if (ch === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 1;
          } else if (i + 1 === text.length) {
            // The closing quote or an escaped one: the next chunk decides. Treat as closing;
            // a following '"' then starts an escaped quote in afterQuote state.
            quoted = false;
            afterQuote = true;
          } else {
            quoted = false;
            afterQuote = true;
          }
          continue;
        }
        if (ch === '\n') line += 1;
        if (ch === '\r') {
          line += 1;
          pendingCR = true;
        }
        if (!tooLong) field += ch;
      } else if (ch === ',') {
        if (!tooLong) fields.push(field);
        field = '';
        afterQuote = false;
      } else if (ch === '\n' || ch === '\r') {
        line += 1;
        if (ch === '\r') pendingCR = true;
        out.push(endRecord());
        continue;
      } else if (ch === '"' && (field.length === 0 || afterQuote)) {
        if (afterQuote) field += '"';
        quoted = true;
        afterQuote = false;
      } else {
        if (!tooLong) field += ch;
        afterQuote = false;
      }
      if (ch === '\uFFFD') invalidUtf8 = true;
      recordLength += 1;
      if (recordLength > MAX_RECORD_LENGTH && !tooLong) {
        tooLong = true;
        fields = [];
        field = '';
      }
    }
    yield* out;
  }
  const rest = decoder.end();
  if (rest.includes('\uFFFD')) invalidUtf8 = true;
  if (field.length > 0 || fields.length > 0 || quoted || tooLong) yield endRecord();
}
