// Many generated mapping files against a naive, obviously-correct model of the
// rules: the validator always returns, and finds exactly the model's errors.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { validateMapping, MappingError, isEmail } from '../src/mapping/validator';
import { duplicateEmail, invalidEmail, targetSameAsSource, wrongColumnCount } from '../src/mapping/messages';

/** The rules, written the simple way: whole file in memory, split on newlines. */
function referenceModel(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const errors: string[] = [];
  const sources = new Map<string, { first: string; lines: number[] }>();
  const destinations = new Map<string, { first: string; lines: number[] }>();
  let first = true;
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    const fields = raw.split(',');
    if (first) {
      first = false;
      if (fields.length === 2 && fields[0].toLowerCase() === 'source' && fields[1].toLowerCase() === 'destination') return;
    }
    if (fields.length !== 2) {
      errors.push(`${line}|${wrongColumnCount(line)}`);
      return;
    }
    const [s, d] = fields.map((f) => f.trim());
    if (!isEmail(s)) errors.push(`${line}|${invalidEmail(s)}`);
    if (!isEmail(d)) errors.push(`${line}|${invalidEmail(d)}`);
    if (!isEmail(s) || !isEmail(d)) return;
    for (const [map, email] of [[sources, s], [destinations, d]] as const) {
      const group = map.get(email.toLowerCase());
      if (group) group.lines.push(line);
      else map.set(email.toLowerCase(), { first: email, lines: [line] });
    }
    if (s.toLowerCase() === d.toLowerCase()) errors.push(`${line}|${targetSameAsSource(line)}`);
  });
  for (const map of [sources, destinations]) {
    for (const group of map.values()) {
      if (group.lines.length > 1) errors.push(`${group.lines[0]}|${duplicateEmail(group.lines, group.first)}`);
    }
  }
  return errors.sort();
}

const email = fc.constantFrom('ana@contoso.com', 'ANA@contoso.com', 'bo@contoso.com', 'cy@fabrikam.com', 'Cy@Fabrikam.com', 'di@fabrikam.net', 'ed@contoso.com', 'fi@fabrikam.com');
const junk = fc.constantFrom('', 'bad', 'a@b', '@x.com', 'x y@z.com', '=cmd|x', ' ana@contoso.com ');
const cell = fc.oneof({ weight: 5, arbitrary: email }, { weight: 1, arbitrary: junk });
const row = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(cell, cell).map(([a, b]) => `${a},${b}`) },
  { weight: 1, arbitrary: cell },
  { weight: 1, arbitrary: fc.tuple(cell, cell, cell).map((c) => c.join(',')) },
  { weight: 1, arbitrary: fc.constantFrom('', '   ') },
);
const file = fc
  .record({
    bom: fc.boolean(),
    header: fc.constantFrom('', 'Source,Destination', 'source,destination'),
    rows: fc.array(row, { minLength: 1, maxLength: 40 }),
    newline: fc.constantFrom('\n', '\r\n'),
    trailing: fc.boolean(),
    chunk: fc.integer({ min: 1, max: 64 }),
  })
  .filter((f) => f.rows.some((r) => r.trim() !== ''));

async function validate(text: string, chunk: number): Promise<MappingError[]> {
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) chunks.push(bytes.subarray(i, i + chunk));
  const errors: MappingError[] = [];
  await validateMapping({
    fileName: 'usermapping.csv',
    open: () => Readable.from(chunks),
    onError: (e) => {
      errors.push(e);
    },
  });
  return errors;
}

describe('user mapping validation, generated files', function () {
  this.timeout(60_000);
  it('agrees with the reference model on every generated file, whatever the chunking', async () => {
    await fc.assert(
      fc.asyncProperty(file, async (f) => {
        const lines = [...(f.header ? [f.header] : []), ...f.rows];
        const text = `${f.bom ? '\uFEFF' : ''}${lines.join(f.newline)}${f.trailing ? f.newline : ''}`;
        const found = (await validate(text, f.chunk)).map((e) => `${e.line}|${e.error}`).sort();
        assert.deepEqual(found, referenceModel(text));
      }),
      { numRuns: 400 },
    );
  });
});
