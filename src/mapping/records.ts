// Splits a CSV stream into records with the physical line each starts on:
// RFC 4180 quoting (a quoted field may hold commas, quotes and line breaks),
// CRLF or LF, a leading byte-order mark. A record longer than the limit is
// reported as too long and skipped instead of growing memory without bound.
// Lines without a quote take a fast path (indexOf and split), which is most
// of any real mapping file.
import { StringDecoder } from 'node:string_decoder';

export interface CsvRecord {
  line: number;
  fields: string[];
  tooLong?: boolean;
  invalidUtf8?: boolean;
}

export const MAX_RECORD_LENGTH = 64 * 1024;

interface QuotedRecord {
  fields: string[];
  /** index just after the record's line break (or the end of the text) */
  end: number;
  /** line breaks inside the record, its own included */
  breaks: number;
}

/** Parses one record that contains quotes, starting at `start`; undefined if it does not end within `text`. */
function parseQuoted(text: string, start: number, final: boolean): QuotedRecord | undefined {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  let breaks = 0;
  for (let i = start; i < text.length; i += 1) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (i + 1 >= text.length && !final) return undefined;
        if (text[i + 1] === '"') {
          field += '"';
          i += 1;
        } else quoted = false;
      } else {
        if (ch === '\n') breaks += 1;
        field += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\n') {
      fields.push(field.endsWith('\r') ? field.slice(0, -1) : field);
      return { fields, end: i + 1, breaks: breaks + 1 };
    } else {
      field += ch;
    }
  }
  if (!final) return undefined;
  fields.push(field.endsWith('\r') ? field.slice(0, -1) : field);
  return { fields, end: text.length, breaks };
}

/** Records in batches (one per chunk of input): a generator step per record would cost more than the parsing. */
export async function* readRecordBatches(
  input: NodeJS.ReadableStream,
  options: { signal?: AbortSignal; onBytes?: (n: number) => void } = {},
): AsyncGenerator<CsvRecord[]> {
  const decoder = new StringDecoder('utf8');
  let line = 1;
  let carry = '';
  let started = false;
  /** inside an over-long record: drop text until its line ends */
  let skipping = false;

  /** Splits what is complete in `text` into `out`; returns the incomplete rest. */
  function take(text: string, final: boolean, out: CsvRecord[]): string {
    let pos = 0;
    if (skipping) {
      const nl = text.indexOf('\n');
      if (nl === -1) return '';
      skipping = false;
      line += 1;
      pos = nl + 1;
    }
    // Searched once per chunk, not once per line: most chunks have no quote and no bad byte at all.
    let nextQuote = text.indexOf('"', pos);
    const hasReplacement = text.includes('\uFFFD');
    while (pos < text.length) {
      const nl = text.indexOf('\n', pos);
      const lineEnd = nl === -1 ? text.length : nl;
      if (nl === -1 && !final) break;
      if (nextQuote !== -1 && nextQuote < pos) nextQuote = text.indexOf('"', pos);
      if (nextQuote === -1 || nextQuote > lineEnd) {
        let content = text.slice(pos, lineEnd);
        if (content.endsWith('\r')) content = content.slice(0, -1);
        const record: CsvRecord = { line, fields: content.split(',') };
        if (content.length > MAX_RECORD_LENGTH) {
          record.fields = [];
          record.tooLong = true;
        }
        if (hasReplacement && content.includes('\uFFFD')) record.invalidUtf8 = true;
        out.push(record);
        line += 1;
        pos = lineEnd + 1;
        continue;
      }
      const quoted = parseQuoted(text, pos, final);
      if (!quoted) break;
      const record: CsvRecord = { line, fields: quoted.fields };
      if (quoted.end - pos > MAX_RECORD_LENGTH) {
        record.fields = [];
        record.tooLong = true;
      }
      if (quoted.fields.some((f) => f.includes('\uFFFD'))) record.invalidUtf8 = true;
      out.push(record);
      line += quoted.breaks;
      pos = quoted.end;
    }
    const rest = text.slice(pos);
    if (!final && rest.length > MAX_RECORD_LENGTH) {
      // A record longer than any mapping row can be: report it and skip to its end.
      out.push({ line, fields: [], tooLong: true });
      skipping = true;
      return '';
    }
    return rest;
  }

  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    options.onBytes?.(buffer.length);
    let text = decoder.write(buffer);
    if (!started && text.length > 0) {
      started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const batch: CsvRecord[] = [];
    carry = take(carry + text, false, batch);
    if (batch.length > 0) yield batch;
  }
  const last = carry + decoder.end();
  if (last.length > 0 && !skipping) {
    const batch: CsvRecord[] = [];
    take(last, true, batch);
    if (batch.length > 0) yield batch;
  }
}

export async function* readRecords(
  input: NodeJS.ReadableStream,
  options: { signal?: AbortSignal; onBytes?: (n: number) => void } = {},
): AsyncGenerator<CsvRecord> {
  for await (const batch of readRecordBatches(input, options)) yield* batch;
}
