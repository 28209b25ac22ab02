// The usermapping.csv rules of SPEC §4, and sloppy or hostile files.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { validateMapping, MappingError, DirectoryChecker, MappingRow } from '../src/mapping/validator';
import { createDirectoryChecker } from '../src/mapping/directory';
import { INVALID_FILE } from '../src/mapping/messages';
import { createErrorReportStream, parseErrorReport, reportLine } from '../src/mapping/report';

async function check(content: string | Buffer, options: { fileName?: string; directory?: DirectoryChecker } = {}) {
  const errors: MappingError[] = [];
  const result = await validateMapping({
    fileName: options.fileName ?? 'usermapping.csv',
    open: () => Readable.from(typeof content === 'string' ? [Buffer.from(content)] : [content]),
    directory: options.directory,
    onError: (e) => {
      errors.push(e);
    },
  });
  return { ...result, errors: errors.sort((a, b) => a.line - b.line), texts: errors.map((e) => e.error) };
}

describe('user mapping validation', () => {
  it('accepts a good file with or without the header', async () => {
    const withHeader = await check('Source,Destination\nana@contoso.com,ana@fabrikam.com\nbo@contoso.com,bo@fabrikam.net\n');
    assert.deepEqual(withHeader.errors, []);
    assert.equal(withHeader.rows, 2);
    const without = await check('ana@contoso.com,ana@fabrikam.com');
    assert.deepEqual(without.errors, []);
    assert.equal(without.rows, 1);
  });

  it('refuses any other file name, case-sensitively', async () => {
    const r = await check('a@b.com,c@d.com\n', { fileName: 'UserMapping.csv' });
    assert.equal(r.fileInvalid, true);
    assert.match(r.texts[0], new RegExp(`^${INVALID_FILE}`));
  });

  it('reports duplicates on every line that carries them, as written on the first', async () => {
    const r = await check(
      'Source,Destination\nAna@contoso.com,x1@fabrikam.com\nbo@contoso.com,x2@fabrikam.com\ncy@contoso.com,X2@fabrikam.com\nda@contoso.com,x4@fabrikam.com\nana@CONTOSO.com,x5@fabrikam.com\n',
    );
    assert.deepEqual(r.texts.sort(), ["Line '2,6' have the same 'Ana@contoso.com'", "Line '3,4' have the same 'x2@fabrikam.com'"].sort());
  });

  it('reports malformed emails, same source and target, and column counts with physical line numbers', async () => {
    const r = await check('Source,Destination\n\nnot-an-email,b@fabrikam.com\r\nc@contoso.com,C@contoso.com\r\n\r\nd@contoso.com,d@fabrikam.com,extra\ne@contoso.com\n');
    assert.deepEqual(
      r.errors.map((e) => [e.line, e.error]),
      [
        [3, "Invalid Email Format 'not-an-email'"],
        [4, "Target on line '4' is same as source email ID"],
        [6, "Each line must have exactly two columns: '6'"],
        [7, "Each line must have exactly two columns: '7'"],
      ],
    );
  });

  it('counts lines inside quoted fields, and takes quoted fields as one', async () => {
    const r = await check('Source,Destination\n"a@contoso.com","b@fabrikam.com"\n"multi\nline",x@fabrikam.com\n"q""uote@contoso.com",y@fabrikam.com\nbad,z@fabrikam.com\n');
    assert.deepEqual(
      r.errors.map((e) => [e.line, e.error]),
      [
        [3, "Invalid Email Format 'multi\nline'"],
        [5, "Invalid Email Format 'q\"uote@contoso.com'"],
        [6, "Invalid Email Format 'bad'"],
      ],
    );
  });

  it('tolerates a byte-order mark, CRLF, blank lines and a header in other case', async () => {
    const r = await check('\uFEFFsource,destination\r\n\r\na@contoso.com,a@fabrikam.com\r\n');
    assert.deepEqual(r.errors, []);
    assert.equal(r.rows, 1);
  });

  it('refuses semicolons, spaces around the header names, empty files', async () => {
    for (const content of ['Source;Destination\na@contoso.com;a@fabrikam.com\n', 'Source , Destination\na@contoso.com,a@fabrikam.com\n', '', '\n\n']) {
      const r = await check(content);
      assert.equal(r.fileInvalid, true, JSON.stringify(content));
      assert.equal(r.errors.length, 1);
      assert.ok(r.texts[0].startsWith(INVALID_FILE), r.texts[0]);
    }
  });

  it('a header alone is a valid file with no rows', async () => {
    const r = await check('Source,Destination\n');
    assert.deepEqual(r.errors, []);
    assert.equal(r.rows, 0);
  });

  it('a 10 MB single line gets an error, not a crash or a hang', async () => {
    const started = Date.now();
    const r = await check(`Source,Destination\n${'a'.repeat(10 * 1024 * 1024)},b@fabrikam.com\nc@contoso.com,c@fabrikam.com\n`);
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0].line, 2);
    assert.match(r.texts[0], /longer than 64 KiB/);
    assert.equal(r.rows, 1, 'the next line is still checked');
    assert.ok(Date.now() - started < 20_000);
  });

  it('invalid UTF-8 is an invalid file', async () => {
    const r = await check(Buffer.concat([Buffer.from('Source,Destination\n'), Buffer.from([0xc3, 0x28, 0xa0, 0xa1]), Buffer.from('@x.com,b@y.com\n')]));
    assert.equal(r.errors.length, 1);
    assert.match(r.texts[0], /Invalid Email Format|not valid UTF-8/);
  });

  it('checks the directory in batches, with the four directory errors', async () => {
    const calls: number[] = [];
    const users = new Map<string, Map<string, { upn: string; enabled: boolean; licenses: string[] }>>([
      ['src', new Map([['a@contoso.com', { upn: 'a@contoso.com', enabled: true, licenses: ['E3'] }]])],
      [
        'dst',
        new Map([
          ['a@fabrikam.com', { upn: 'a@fabrikam.com', enabled: true, licenses: ['E3'] }],
          ['off@fabrikam.com', { upn: 'off@fabrikam.com', enabled: false, licenses: ['E3'] }],
          ['nolic@fabrikam.com', { upn: 'nolic@fabrikam.com', enabled: true, licenses: [] }],
        ]),
      ],
    ]);
    const directory = createDirectoryChecker(
      {
        async findTenantUsers(tenantId, upns) {
          calls.push(upns.length);
          const all = users.get(tenantId)!;
          return new Map(upns.filter((u) => all.has(u.toLowerCase())).map((u) => [u.toLowerCase(), all.get(u.toLowerCase())!]));
        },
      },
      'src',
      'dst',
    );
    const rows = ['A@contoso.com,a@FABRIKAM.com', 'ghost@contoso.com,a2@fabrikam.com', 'a@contoso.com,off@fabrikam.com', 'a@contoso.com,nolic@fabrikam.com'];
    const many = Array.from({ length: 2500 }, (_, i) => `s${i}@contoso.com,u${i}@fabrikam.com`);
    const r = await check(`${[...rows, ...many].join('\n')}\n`, { directory });
    const first = r.errors.filter((e) => e.line <= 4).map((e) => e.error);
    assert.deepEqual(first, [
      "Line '1,3,4' have the same 'A@contoso.com'",
      "Source user 'ghost@contoso.com' was not found in the source tenant",
      "Destination user 'a2@fabrikam.com' was not found in the target tenant",
      "Destination user 'off@fabrikam.com' is disabled in the target tenant",
      "Destination user 'nolic@fabrikam.com' has no licence in the target tenant",
    ]);
    // 2,504 rows in batches of 1,000: three batches, two look-ups (source, target) each
    assert.equal(calls.length, 6);
  });

  it('skips the directory for rows that are already wrong', async () => {
    const seen: MappingRow[][] = [];
    const r = await check('x@contoso.com,x@contoso.com\nbad,y@fabrikam.com\n', {
      directory: { checkBatch: async (rows) => (seen.push(rows), []) },
    });
    assert.equal(r.errors.length, 2);
    assert.deepEqual(seen, []);
  });
});

describe('error report', () => {
  it('keeps spreadsheets from running formulas, and reads back', async () => {
    const errors: MappingError[] = [
      { line: 2, source: '=cmd|\' /C calc\'!A0', destination: '+1@x.com', error: "Invalid Email Format '=cmd|' /C calc'!A0'" },
      { line: 3, source: '-2@x.com', destination: '@SUM(A1)', error: 'a, "quoted" text' },
    ];
    assert.equal(reportLine(errors[0]).split(',')[1], "'=cmd|' /C calc'!A0");
    const stream = createErrorReportStream();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    for (const e of errors) await stream.writeError(e);
    stream.end();
    await new Promise((r) => stream.on('end', r));
    const text = Buffer.concat(chunks).toString('utf8');
    assert.ok(text.startsWith('Line,Source,Destination,Error\r\n'));
    for (const line of text.split('\r\n').slice(1).filter(Boolean)) {
      for (const cell of line.split(',').slice(1)) assert.doesNotMatch(cell.replace(/^"/, ''), /^[=+\-@]/, `cell starts like a formula: ${cell}`);
    }
    assert.deepEqual(parseErrorReport(text), errors);
  });
});
