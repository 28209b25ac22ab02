// Many generated mapping files against a naive, obviously-correct model of the
// rules (whole file in memory, one character at a time, plain maps of strings,
// one directory look-up per row): the validator always returns, and reports
// exactly the model's errors, whatever the chunking, batch size or record limit.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { validateMapping, type MappingError } from '../src/mapping/validator';
import { createDirectoryChecker, type DirectoryUser } from '../src/mapping/directory';
import { isEmail } from '../src/mapping/email';
import {
  destinationDisabled,
  destinationNotFound,
  destinationUnlicensed,
  duplicateEmail,
  invalidEmail,
  invalidFile,
  invalidFileHints as hints,
  sourceNotFound,
  targetSameAsSource,
  wrongColumnCount,
} from '../src/mapping/messages';

interface Directory {
  source: Map<string, DirectoryUser>;
  target: Map<string, DirectoryUser>;
}

interface ModelResult {
  rows: number;
  errors: string[];
  fileInvalid: boolean;
  directoryRows: number;
  binaryAt?: number;
}

interface ModelRecord {
  line: number;
  fields: string[];
  problem?: 'tooLong' | 'unclosedQuote' | 'invalidUtf8';
}

/** CSV as the docs describe it, read the slow and simple way. */
function modelRecords(text: string, maxLength: number): ModelRecord[] {
  const records: ModelRecord[] = [];
  let pos = 0;
  let line = 1;
  while (pos < text.length) {
    const start = pos;
    const startLine = line;
    const fields: string[] = [];
    let field = '';
    let crBeforeEnd = false;
    let unclosed = false;
    let terminated = false;
    for (;;) {
      if (text[pos] === '"') {
        pos += 1;
        for (;;) {
          if (pos >= text.length) {
            unclosed = true;
            break;
          }
          if (text[pos] === '"' && text[pos + 1] === '"') {
            field += '"';
            pos += 2;
          } else if (text[pos] === '"') {
            pos += 1;
            break;
          } else {
            if (text[pos] === '\n') line += 1;
            field += text[pos];
            pos += 1;
          }
        }
        if (unclosed) break;
      }
      crBeforeEnd = false;
      while (pos < text.length && text[pos] !== ',' && text[pos] !== '\n') {
        field += text[pos];
        crBeforeEnd = text[pos] === '\r';
        pos += 1;
      }
      if (pos < text.length && text[pos] === ',') {
        fields.push(field);
        field = '';
        pos += 1;
        continue;
      }
      terminated = pos < text.length;
      break;
    }
    const length = pos - start;
    if (terminated) {
      pos += 1;
      line += 1;
    }
    if (unclosed) {
      records.push({ line: startLine, fields: [], problem: 'unclosedQuote' });
      break;
    }
    fields.push(crBeforeEnd ? field.slice(0, -1) : field);
    if (length > maxLength) records.push({ line: startLine, fields: [], problem: 'tooLong' });
    else records.push({ line: startLine, fields, problem: fields.some((f) => f.includes('\uFFFD')) ? 'invalidUtf8' : undefined });
  }
  return records;
}

const SNIFF_BYTES = 64 * 1024;
const isControl = (c: number) => c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d;

/** Binary, as the docs define it: a control character in the first 64 KiB; the offset of the first byte from which the file is not UTF-8 text. */
function modelBinaryAt(bytes: Buffer): number | undefined {
  const head = bytes.subarray(0, SNIFF_BYTES);
  const control = head.findIndex(isControl);
  if (control === -1) return undefined;
  // Valid UTF-8 decodes and encodes back to the same bytes: the first character that does not is where the bytes stop being UTF-8.
  let offset = 0;
  for (const char of new TextDecoder('utf-8', { ignoreBOM: true }).decode(head.subarray(0, control))) {
    const encoded = Buffer.from(char);
    if (!head.subarray(offset, offset + encoded.length).equals(encoded)) return offset;
    offset += encoded.length;
  }
  return control;
}

function model(bytes: Buffer, directory: Directory | undefined, maxLength: number): ModelResult {
  const errors: string[] = [];
  const error = (line: number, source: string, destination: string, text: string) => errors.push(`${line}|${source}|${destination}|${text}`);
  const refuse = (line: number, hint: string, rows = 0, source = '', destination = ''): ModelResult => ({
    rows,
    errors: [`${line}|${source}|${destination}|${invalidFile(hint)}`],
    fileInvalid: true,
    directoryRows: 0,
  });
  if (bytes.length >= 2 && (bytes.subarray(0, 2).equals(Buffer.from([0xff, 0xfe])) || bytes.subarray(0, 2).equals(Buffer.from([0xfe, 0xff])) || bytes[0] === 0 || bytes[1] === 0)) {
    // UTF-16 only if it reads as UTF-16 text; random bytes may start with a NUL too.
    const bigEndian = bytes.subarray(0, 2).equals(Buffer.from([0xfe, 0xff])) || bytes[0] === 0;
    const head = bytes.subarray(0, SNIFF_BYTES);
    const units = Buffer.from(head.subarray(0, head.length - (head.length % 2)));
    const text = (bigEndian ? units.swap16() : units).toString('utf16le');
    if (![...text].some((c) => isControl(c.charCodeAt(0)))) return refuse(0, hints.utf16);
    const at = modelBinaryAt(bytes) ?? -1;
    return { ...refuse(0, hints.binary(at)), binaryAt: at };
  }
  if (['504b0304', 'd0cf11e0'].includes(bytes.subarray(0, 4).toString('hex'))) return refuse(0, hints.spreadsheet);
  const binaryAt = modelBinaryAt(bytes);
  if (binaryAt !== undefined) return { ...refuse(0, hints.binary(binaryAt)), binaryAt };
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  const sources = new Map<string, { lines: number[]; source: string; destination: string }>();
  const destinations = new Map<string, { lines: number[]; source: string; destination: string }>();
  let first = true;
  let rows = 0;
  let directoryRows = 0;
  for (const { line, fields, problem } of modelRecords(text, maxLength)) {
    if (problem === 'tooLong' || problem === 'unclosedQuote') {
      first = false;
      rows += 1;
      error(line, '', '', invalidFile(problem === 'tooLong' ? hints.tooLong(line, maxLength) : hints.unclosedQuote(line)));
      continue;
    }
    if (fields.every((f) => f.trim() === '')) continue;
    if (first) {
      first = false;
      if (!problem) {
        if (fields.length === 1 && fields[0].includes(';')) return refuse(line, hints.notCommaSeparated('semicolons'), rows, fields[0]);
        if (fields.length === 1 && fields[0].includes('\t')) return refuse(line, hints.notCommaSeparated('tabs'), rows, fields[0]);
        if (fields.length === 2 && fields[0].trim().toLowerCase() === 'source' && fields[1].trim().toLowerCase() === 'destination') {
          if (fields[0] !== fields[0].trim() || fields[1] !== fields[1].trim()) return refuse(line, hints.headerSpaces, rows, fields[0], fields[1]);
          continue;
        }
      }
    }
    rows += 1;
    const s = fields[0].trim();
    const d = (fields[1] ?? '').trim();
    if (problem === 'invalidUtf8') {
      error(line, s, d, invalidFile(hints.notUtf8(line)));
      continue;
    }
    if (fields.length !== 2) {
      error(line, s, d, wrongColumnCount(line));
      continue;
    }
    if (isEmail(s)) {
      const group = sources.get(s.toLowerCase());
      if (group) group.lines.push(line);
      else sources.set(s.toLowerCase(), { lines: [line], source: s, destination: d });
    } else error(line, s, d, invalidEmail(s));
    if (isEmail(d)) {
      const group = destinations.get(d.toLowerCase());
      if (group) group.lines.push(line);
      else destinations.set(d.toLowerCase(), { lines: [line], source: s, destination: d });
    } else error(line, s, d, invalidEmail(d));
    if (!isEmail(s) || !isEmail(d)) continue;
    if (s.toLowerCase() === d.toLowerCase()) {
      error(line, s, d, targetSameAsSource(line));
      continue;
    }
    if (!directory) continue;
    directoryRows += 1;
    if (!directory.source.has(s.toLowerCase())) error(line, s, d, sourceNotFound(s));
    const target = directory.target.get(d.toLowerCase());
    if (!target) error(line, s, d, destinationNotFound(d));
    else {
      if (!target.enabled) error(line, s, d, destinationDisabled(d));
      if (target.licenses.length === 0) error(line, s, d, destinationUnlicensed(d));
    }
  }
  if (first) return refuse(0, hints.empty);
  if (rows === 0) return refuse(0, hints.noRows);
  for (const group of sources.values()) if (group.lines.length > 1) error(group.lines[0], group.source, group.destination, duplicateEmail(group.lines, group.source));
  for (const group of destinations.values()) {
    if (group.lines.length > 1) error(group.lines[0], group.source, group.destination, duplicateEmail(group.lines, group.destination));
  }
  return { rows, errors: errors.sort(), fileInvalid: false, directoryRows };
}

interface Run {
  bytes: Buffer;
  chunk: number;
  batchSize: number;
  maxLength: number;
  directory?: Directory;
}

async function validate(run: Run) {
  const chunks: Buffer[] = [];
  for (let i = 0; i < run.bytes.length; i += run.chunk) chunks.push(run.bytes.subarray(i, i + run.chunk));
  const errors: MappingError[] = [];
  const calls: { tenant: string; upns: number }[] = [];
  const { directory } = run;
  const checker = directory
    ? createDirectoryChecker({
        sourceTenantId: 'src',
        targetTenantId: 'dst',
        async findTenantUsers(tenant, upns) {
          calls.push({ tenant, upns: upns.length });
          const users = tenant === 'src' ? directory.source : directory.target;
          return new Map(upns.flatMap((u) => (users.has(u.toLowerCase()) ? [[u.toLowerCase(), users.get(u.toLowerCase())!] as const] : [])));
        },
      })
    : undefined;
  const result = await validateMapping({
    fileName: 'usermapping.csv',
    open: () => Readable.from(chunks),
    directory: checker,
    directoryBatchSize: run.batchSize,
    maxRecordLength: run.maxLength,
    onError: (e) => {
      errors.push(e);
    },
  });
  return { result, calls, errors: errors.map((e) => `${e.line}|${e.source}|${e.destination}|${e.error}`).sort() };
}

async function agrees(run: Run): Promise<void> {
  const expected = model(run.bytes, run.directory, run.maxLength);
  const { result, calls, errors } = await validate(run);
  assert.deepEqual(errors, expected.errors);
  assert.equal(result.rows, expected.rows, 'rows');
  assert.equal(result.errors, expected.errors.length, 'error count');
  assert.equal(result.fileInvalid, expected.fileInvalid, 'fileInvalid');
  assert.equal(result.binaryAt, expected.binaryAt, 'binaryAt');
  // Batched: one call per tenant per full or last batch, never one per row.
  assert.equal(calls.length, 2 * Math.ceil(expected.directoryRows / run.batchSize), 'directory calls');
  assert.ok(calls.every((c) => c.upns >= 1 && c.upns <= run.batchSize));
}

const BAD_BYTE = '\u0001';
/** Text to bytes, with BAD_BYTE standing for a byte that is never valid UTF-8. */
function toBytes(text: string): Buffer {
  return Buffer.concat(text.split(BAD_BYTE).flatMap((part, i) => (i === 0 ? [Buffer.from(part)] : [Buffer.from([0xff]), Buffer.from(part)])));
}

// Case variants (ASCII and not, one whose lower case is longer: 'İ'), and addresses in both columns.
const SOURCES = ['ana@contoso.com', 'ANA@Contoso.com', 'bo@contoso.com', "cy.o'neil@contoso.com", 'dé@contoso.com', 'DÉ@contoso.com', 'ed+x@contoso.com', 'İnci@contoso.com'];
const DESTINATIONS = ['ana@fabrikam.com', 'Ana@FABRIKAM.com', 'bo@fabrikam.net', 'cy@fabrikam.com', 'ana@contoso.com', 'zoë@fabrikam.com', 'ZOË@fabrikam.com', 'i̇nci@contoso.com'];
const JUNK = ['', 'bad', 'a@b', '@x.com', 'x y@z.com', '=cmd|x', '-1+1', ' ana@contoso.com ', '\tbo@contoso.com', 'a@b.c', 'a..b@x.com', `b${BAD_BYTE}d@x.com`, 'x@1.2'];
const QUOTED = ['"ana@contoso.com"', '"bo@fabrikam.net"', '"a,b@x.com"', '"multi\nline@x.com"', '"q""uote@x.com"', '"crlf\r\ninside"', '"unclosed@x.com', '"a"@x.com', 'b"c@x.com', '""'];

const cell = (column: string[]) =>
  fc.oneof({ weight: 10, arbitrary: fc.constantFrom(...column) }, { weight: 2, arbitrary: fc.constantFrom(...JUNK) }, { weight: 1, arbitrary: fc.constantFrom(...QUOTED) });
const row = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(cell(SOURCES), cell(DESTINATIONS)).map(([a, b]) => `${a},${b}`) },
  { weight: 2, arbitrary: fc.constantFrom(...SOURCES).map((s) => `${s},${s.toUpperCase()}`) },
  { weight: 1, arbitrary: cell(SOURCES) },
  { weight: 1, arbitrary: fc.tuple(cell(SOURCES), cell(DESTINATIONS), cell(DESTINATIONS)).map((c) => c.join(',')) },
  { weight: 2, arbitrary: fc.constantFrom('', '   ', ',', ' , ', ',,') },
);
const HEADERS = ['', 'Source,Destination', 'source,DESTINATION', '"Source","Destination"', ' Source,Destination', 'Source ,Destination', 'Source;Destination', 'Source\tDestination', 'Source,Destination,'];

const user = fc.record({ exists: fc.boolean(), enabled: fc.boolean(), licensed: fc.boolean() });
const directory = fc.record({ sources: fc.array(user, { minLength: SOURCES.length, maxLength: SOURCES.length }), targets: fc.array(user, { minLength: DESTINATIONS.length, maxLength: DESTINATIONS.length }) }).map(
  ({ sources, targets }): Directory => {
    const tenant = (emails: string[], states: { exists: boolean; enabled: boolean; licensed: boolean }[]) =>
      new Map(emails.flatMap((email, i) => (states[i].exists ? [[email.toLowerCase(), { upn: email, enabled: states[i].enabled, licenses: states[i].licensed ? ['E3'] : [] }] as const] : [])));
    return { source: tenant(SOURCES, sources), target: tenant(DESTINATIONS, targets) };
  },
);

const mappingFile = fc.record({
  bom: fc.boolean(),
  header: fc.constantFrom(...HEADERS),
  headerNewline: fc.constantFrom('\n', '\r\n'),
  leadingBlank: fc.boolean(),
  rows: fc.array(fc.tuple(row, fc.constantFrom('\n', '\r\n')), { maxLength: 30 }),
  trailing: fc.boolean(),
});

const settings = {
  chunk: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 17, max: 4096 })),
  batchSize: fc.integer({ min: 1, max: 6 }),
  maxLength: fc.oneof({ weight: 3, arbitrary: fc.constant(65_536) }, { weight: 1, arbitrary: fc.integer({ min: 8, max: 60 }) }),
};

describe('user mapping validation, generated files', function () {
  this.timeout(60_000);

  it('agrees with the reference model on generated mapping files (rows, duplicates, junk, quotes, CRLF, BOM, headers, directory)', async () => {
    await fc.assert(
      fc.asyncProperty(mappingFile, fc.option(directory, { nil: undefined }), fc.record(settings), async (f, dir, s) => {
        const lines = [...(f.leadingBlank ? [''] : []), ...(f.header ? [f.header] : [])].map((l) => `${l}${f.headerNewline}`);
        f.rows.forEach(([r, newline], i) => lines.push(i === f.rows.length - 1 && !f.trailing ? r : `${r}${newline}`));
        const text = `${f.bom ? '\uFEFF' : ''}${lines.join('')}`;
        await agrees({ bytes: toBytes(text), directory: dir, ...s });
      }),
      { numRuns: 600 },
    );
  });

  it('agrees with the reference model on text made of CSV-hostile pieces', async () => {
    const piece = fc.constantFrom('a@b.co', 'A@B.CO', 'x.y@z.org', ',', ',', '"', '""', '\n', '\n', '\r\n', '\r', ' ', ';', '\t', '\uFEFF', 'é', '\uFFFD', BAD_BYTE, 'Source', 'Destination', '@');
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 60 }), fc.option(directory, { nil: undefined }), fc.record(settings), async (pieces, dir, s) => {
        await agrees({ bytes: toBytes(pieces.join('')), directory: dir, ...s });
      }),
      { numRuns: 600 },
    );
  });

  it('always returns, and agrees with the model, on arbitrary bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.record(settings), async (bytes, s) => {
        await agrees({ bytes: Buffer.from(bytes), ...s });
      }),
      { numRuns: 400 },
    );
  });

  it('agrees with the model on arbitrary bytes that hold no control character (text that may not be UTF-8)', async () => {
    // Arbitrary bytes are nearly always binary now: these keep the splitter and the UTF-8 rules under fire.
    const textByte = fc.oneof(fc.integer({ min: 0x20, max: 0xff }), fc.constantFrom(0x09, 0x0a, 0x0d, 0x2c, 0x22));
    await fc.assert(
      fc.asyncProperty(fc.array(textByte, { maxLength: 300 }), fc.record(settings), async (bytes, s) => {
        await agrees({ bytes: Buffer.from(bytes), ...s });
      }),
      { numRuns: 400 },
    );
  });
});
