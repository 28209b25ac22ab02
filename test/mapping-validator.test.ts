// The usermapping.csv rules of SPEC §4, exact texts and physical line numbers,
// and the sloppy or hostile files an admin may upload.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  validateMapping,
  validateMappingFile,
  type DirectoryChecker,
  type MappingError,
  type MappingProgress,
  type MappingRow,
  type ValidateMappingOptions,
} from '../src/mapping/validator';
import { createDirectoryChecker, type DirectoryUser } from '../src/mapping/directory';
import { INVALID_FILE } from '../src/mapping/messages';
import fc from 'fast-check';
import { EMAIL_PATTERN, isEmail } from '../src/mapping/email';
import { findDuplicates } from '../src/mapping/duplicates';
import { DuplicateIndex, emailHash } from '../src/mapping/duplicate-index';
import { CsvRecordSplitter, type CsvRecord } from '../src/mapping/records';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'mapping');

type CheckOptions = Partial<Omit<ValidateMappingOptions, 'open' | 'onError'>> & { chunk?: number };

async function check(content: string | Buffer, options: CheckOptions = {}) {
  const bytes = typeof content === 'string' ? Buffer.from(content) : content;
  const chunks: Buffer[] = [];
  const size = options.chunk ?? Math.max(1, bytes.length);
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  const errors: MappingError[] = [];
  let opened = 0;
  const result = await validateMapping({
    fileName: 'usermapping.csv',
    ...options,
    open: () => {
      opened += 1;
      return Readable.from(chunks);
    },
    onError: (e) => {
      errors.push(e);
    },
  });
  errors.sort((a, b) => a.line - b.line);
  return { ...result, opened, errors, found: errors.map((e) => [e.line, e.error] as const) };
}

const invalid = (hint: string) => `${INVALID_FILE} (${hint})`;

describe('user mapping validation: the file as a whole', () => {
  it('accepts a good file with the header, without it, and with a header in another letter case', async () => {
    for (const text of [
      'Source,Destination\nana@contoso.com,ana@fabrikam.com\nbo@contoso.com,bo@fabrikam.net\n',
      'ana@contoso.com,ana@fabrikam.com\nbo@contoso.com,bo@fabrikam.net',
      'SOURCE,destination\r\nana@contoso.com,ana@fabrikam.com\r\nbo@contoso.com,bo@fabrikam.net\r\n',
      '"Source","Destination"\n"ana@contoso.com","ana@fabrikam.com"\nbo@contoso.com,bo@fabrikam.net\n',
    ]) {
      const r = await check(text);
      assert.deepEqual(r.errors, [], JSON.stringify(text));
      assert.equal(r.rows, 2);
      assert.equal(r.fileInvalid, false);
    }
  });

  it('refuses any name but exactly usermapping.csv, without reading the file', async () => {
    for (const fileName of ['UserMapping.csv', 'usermapping.CSV', 'usermapping.csv.txt', 'user mapping.csv', '']) {
      const r = await check('a@contoso.com,a@fabrikam.com\n', { fileName });
      assert.equal(r.fileInvalid, true);
      assert.deepEqual(r.found, [[0, invalid(`the file must be named exactly usermapping.csv, not '${fileName}'`)]]);
      assert.equal(r.opened, 0);
    }
  });

  it('a missing file or blob is the invalid-file error', async () => {
    for (const failure of [Object.assign(new Error('no such file'), { code: 'ENOENT' }), Object.assign(new Error('The specified blob does not exist.'), { statusCode: 404 })]) {
      const errors: MappingError[] = [];
      const r = await validateMapping({
        fileName: 'usermapping.csv',
        open: () => new Readable({ read() { this.destroy(failure); } }),
        onError: (e) => {
          errors.push(e);
        },
      });
      assert.deepEqual(r, { rows: 0, errors: 1, fileInvalid: true });
      assert.deepEqual(errors.map((e) => e.error), [invalid('no usermapping.csv was found')]);
    }
  });

  it('other read failures are not hidden as an invalid file', async () => {
    await assert.rejects(
      validateMapping({ fileName: 'usermapping.csv', open: () => new Readable({ read() { this.destroy(new Error('connection reset')); } }), onError: () => undefined }),
      /connection reset/,
    );
  });

  it('an empty file, a file of blank lines and a lone byte-order mark are invalid: empty', async () => {
    for (const text of ['', '\n\n', '\r\n  \r\n', '\uFEFF', ',\n,,\n']) {
      const r = await check(text);
      assert.equal(r.fileInvalid, true);
      assert.deepEqual(r.found, [[0, invalid('the file is empty')]], JSON.stringify(text));
    }
  });

  it('a header without rows is invalid: nobody would be mapped', async () => {
    const r = await check('Source,Destination\r\n\r\n');
    assert.equal(r.fileInvalid, true);
    assert.deepEqual(r.found, [[0, invalid('the file has a header but no mapping rows')]]);
    assert.equal(r.rows, 0);
  });

  it('a semicolon- or tab-separated file is invalid, reported once, nothing else checked', async () => {
    const semicolons = await check('\nSource;Destination\nana@contoso.com;ana@fabrikam.com\nbad;worse\n');
    assert.deepEqual(semicolons.errors, [{ line: 2, source: 'Source;Destination', destination: '', error: invalid('the values must be separated by commas, not semicolons') }]);
    assert.equal(semicolons.fileInvalid, true);
    const noHeader = await check('ana@contoso.com;ana@fabrikam.com\n');
    assert.deepEqual(noHeader.found, [[1, invalid('the values must be separated by commas, not semicolons')]]);
    const tabs = await check('Source\tDestination\nana@contoso.com\tana@fabrikam.com\n');
    assert.deepEqual(tabs.found, [[1, invalid('the values must be separated by commas, not tabs')]]);
  });

  it('spaces around the header names make the file invalid', async () => {
    for (const header of [' Source,Destination', 'Source ,Destination', 'Source, Destination', 'Source,Destination ', '"Source ","Destination"', 'Source,Destination\t']) {
      const r = await check(`${header}\r\nana@contoso.com,ana@fabrikam.com\r\n`);
      assert.equal(r.fileInvalid, true, header);
      assert.deepEqual(r.found, [[1, invalid('the header must be exactly Source,Destination, without spaces around the names')]], header);
    }
  });

  it('a UTF-16 file (PowerShell 5 `>` or Excel "Unicode text") is invalid, with how to save it', async () => {
    const text = '\uFEFFSource,Destination\r\nana@contoso.com,ana@fabrikam.com\r\n';
    const le = await check(Buffer.from(text, 'utf16le'));
    assert.deepEqual(le.found, [[0, invalid('the file is saved as UTF-16; save it as CSV UTF-8')]]);
    const be = Buffer.from(text, 'utf16le').swap16();
    assert.deepEqual((await check(be)).found, le.found);
    assert.equal((await check(Buffer.from(text, 'utf16le'), { chunk: 1 })).fileInvalid, true);
    const noBom = Buffer.from(text.slice(1), 'utf16le');
    assert.deepEqual((await check(noBom)).found, le.found);
    assert.deepEqual((await check(noBom.swap16())).found, le.found);
  });

  it('an Excel workbook saved under the name usermapping.csv is invalid, with how to save it', async () => {
    const expected = [[0, invalid('the file is an Excel workbook, not CSV; save it as CSV UTF-8')]];
    const xlsx = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(2000, 7)]);
    assert.deepEqual((await check(xlsx, { chunk: 3 })).found, expected);
    const xls = Buffer.concat([Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]), Buffer.alloc(2000, 7)]);
    assert.deepEqual((await check(xls)).found, expected);
  });

  it('a file that is not text (an image, random bytes) is one error naming the first byte that shows it', async () => {
    const binary = (byte: number) => invalid(`not a CSV file: binary content at byte ${byte}`);
    // A PNG renamed .csv: its first byte is not UTF-8, its eighth a control character.
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(5000, 0x41)]);
    const r = await check(png, { chunk: 7 });
    assert.deepEqual(r.found, [[0, binary(0)]]);
    assert.equal(r.fileInvalid, true);
    assert.equal(r.binaryAt, 0);
    assert.equal(r.rows, 0);
    // Text then a NUL: the NUL is the first sign.
    const withNul = 'Source,Destination\nana@contoso.com,ana\u0000@fabrikam.com\n';
    assert.deepEqual((await check(withNul)).found, [[0, binary(withNul.indexOf('\u0000'))]]);
    // Bytes that are not UTF-8 before the control character come first.
    assert.deepEqual((await check(Buffer.from('ana@contoso.com,ren\xe9e\x01\n', 'latin1'))).found, [[0, binary(19)]]);
    // A NUL as the second byte of random bytes is not UTF-16: read as UTF-16 they are not text.
    const looksUtf16 = Buffer.from([0x41, 0x00, 0x07, 0x00, 0x41, 0x42, 0x03, 0x99]);
    assert.deepEqual((await check(looksUtf16)).found, [[0, binary(1)]]);
  });

  it('decides from the first 64 KiB: a control character later is a bad line, not a binary file', async () => {
    const good = Array.from({ length: 3000 }, (_, i) => `u${i}@contoso.com,u${i}@fabrikam.com\n`).join('');
    assert.ok(good.length > 64 * 1024);
    const r = await check(`${good}bo@contoso.com,bo\u0001@fabrikam.com\n`, { chunk: 4096 });
    assert.equal(r.fileInvalid, false);
    assert.equal(r.binaryAt, undefined);
    assert.deepEqual(r.found, [[3001, "Invalid Email Format 'bo\u0001@fabrikam.com'"]]);
  });

  it('a megabyte of random bytes is one error, read no further than its start', async () => {
    const bytes = Buffer.alloc(1024 * 1024);
    let seed = 7;
    for (let i = 0; i < bytes.length; i += 1) bytes[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    const r = await check(bytes, { chunk: 64 * 1024 });
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0].error, /\(not a CSV file: binary content at byte \d+\)$/);
    assert.equal(r.errors[0].line, 0);
  });
});

describe('user mapping validation: rows', () => {
  it('reports malformed emails, a target same as its source, and column counts, each on its physical line', async () => {
    const r = await check(
      'Source,Destination\n\nnot-an-email,b@fabrikam.com\r\nc@contoso.com,C@CONTOSO.com\r\n\r\nd@contoso.com,d@fabrikam.com,extra\ne@contoso.com\nf@contoso.com,f@fabrikam.com,\n',
    );
    assert.deepEqual(r.errors, [
      { line: 3, source: 'not-an-email', destination: 'b@fabrikam.com', error: "Invalid Email Format 'not-an-email'" },
      { line: 4, source: 'c@contoso.com', destination: 'C@CONTOSO.com', error: "Target on line '4' is same as source email ID" },
      { line: 6, source: 'd@contoso.com', destination: 'd@fabrikam.com', error: "Each line must have exactly two columns: '6'" },
      { line: 7, source: 'e@contoso.com', destination: '', error: "Each line must have exactly two columns: '7'" },
      { line: 8, source: 'f@contoso.com', destination: 'f@fabrikam.com', error: "Each line must have exactly two columns: '8'" },
    ]);
    assert.equal(r.rows, 5);
  });

  it('reports every error, both emails of a row included, not only the first', async () => {
    const r = await check('bad1,bad2\nbad3,ok@fabrikam.com\n,x@fabrikam.com\n');
    assert.deepEqual(r.found, [
      [1, "Invalid Email Format 'bad1'"],
      [1, "Invalid Email Format 'bad2'"],
      [2, "Invalid Email Format 'bad3'"],
      [3, "Invalid Email Format ''"],
    ]);
  });

  it('trims spaces (and non-breaking spaces) around emails, and reports them trimmed', async () => {
    const r = await check('  ana@contoso.com ,\tana@fabrikam.com\u00a0\n bad email , bo@fabrikam.com\n');
    assert.deepEqual(r.errors, [{ line: 2, source: 'bad email', destination: 'bo@fabrikam.com', error: "Invalid Email Format 'bad email'" }]);
  });

  it('skips blank lines, including the `,` rows Excel leaves at the end, and keeps counting them', async () => {
    const r = await check('Source,Destination\n\n   \n,\n , \nbad,b@fabrikam.com\n,,\n');
    assert.deepEqual(r.found, [[6, "Invalid Email Format 'bad'"]]);
    assert.equal(r.rows, 1);
  });

  it('takes a quoted field as one value, and counts the line breaks inside it', async () => {
    const r = await check('Source,Destination\r\n"a@contoso.com","b@fabrikam.com"\r\n"multi\r\nline",x@fabrikam.com\r\n"q""uote@contoso.com","a,b@fabrikam.com"\r\n"three\n\nlines@x.com",y@fabrikam.com\nbad,z@fabrikam.com\n');
    assert.deepEqual(r.errors, [
      { line: 3, source: 'multi\r\nline', destination: 'x@fabrikam.com', error: "Invalid Email Format 'multi\r\nline'" },
      { line: 5, source: 'q"uote@contoso.com', destination: 'a,b@fabrikam.com', error: "Invalid Email Format 'q\"uote@contoso.com'" },
      { line: 5, source: 'q"uote@contoso.com', destination: 'a,b@fabrikam.com', error: "Invalid Email Format 'a,b@fabrikam.com'" },
      { line: 6, source: 'three\n\nlines@x.com', destination: 'y@fabrikam.com', error: "Invalid Email Format 'three\n\nlines@x.com'" },
      { line: 9, source: 'bad', destination: 'z@fabrikam.com', error: "Invalid Email Format 'bad'" },
    ]);
  });

  it('a quote inside an unquoted value is an ordinary character, not the start of a field that swallows lines', async () => {
    const r = await check('ab"c@contoso.com,d@fabrikam.com\ne@contoso.com,e@fabrikam.com\n"f@contoso.com"@x,f@fabrikam.com\n');
    assert.deepEqual(r.found, [
      [1, 'Invalid Email Format \'ab"c@contoso.com\''],
      [3, "Invalid Email Format 'f@contoso.com@x'"],
    ]);
  });

  it('a quote that is never closed is reported on the line where it opens', async () => {
    const r = await check('a@contoso.com,a@fabrikam.com\n"b@contoso.com,b@fabrikam.com\nc@contoso.com,c@fabrikam.com\n');
    assert.deepEqual(r.found, [[2, invalid('the quoted value that starts on line 2 is never closed')]]);
  });

  it('the same result whatever the chunking, down to one byte at a time (multi-byte characters split)', async () => {
    const text = '\uFEFFSource,Destination\r\n"zoë@contoso.com",zoë@fabrikam.com\r\n"multi\nline",bad\r\nZOË@contoso.com,İnci@fabrikam.com\r\nx@contoso.com,x@contoso.com';
    const whole = await check(text);
    assert.equal(whole.errors.length, 4);
    for (const chunk of [1, 2, 3, 7, 64]) assert.deepEqual((await check(text, { chunk })).errors, whole.errors, `chunk ${chunk}`);
  });

  it('a 10 MB single line is one error, held in bounded memory, and the lines after it are still checked', async () => {
    const started = Date.now();
    const r = await check(`Source,Destination\n${'a'.repeat(10 * 1024 * 1024)},b@fabrikam.com\nc@contoso.com,c@fabrikam.com\nbad,d@fabrikam.com\n`);
    assert.deepEqual(r.found, [
      [2, invalid('line 2 is longer than 65,536 characters')],
      [4, "Invalid Email Format 'bad'"],
    ]);
    assert.equal(r.rows, 3);
    assert.ok(Date.now() - started < 10_000);
  });

  it('an endless line (100 MB, never one string) does not grow memory or hang', async function () {
    this.timeout(30_000);
    const slice = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const endless = new Readable({
      read() {
        sent += 1;
        this.push(sent <= 1600 ? slice : sent === 1601 ? Buffer.from('\nbad,b@fabrikam.com\n') : null);
      },
    });
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    const sampler = setInterval(() => (heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed)), 5);
    const errors: MappingError[] = [];
    try {
      await validateMapping({
        fileName: 'usermapping.csv',
        open: () => endless,
        onError: (e) => {
          errors.push(e);
        },
      });
    } finally {
      clearInterval(sampler);
    }
    assert.deepEqual(errors.map((e) => [e.line, e.error]), [
      [1, invalid('line 1 is longer than 65,536 characters')],
      [2, "Invalid Email Format 'bad'"],
    ]);
    assert.ok(heapPeak - heapBefore < 50 * 1024 * 1024, `heap grew by ${heapPeak - heapBefore} bytes`);
  });

  it('a long quoted record keeps the line numbers after it right', async () => {
    const long = `"${'x\n'.repeat(40_000)}"`;
    const r = await check(`a@contoso.com,a@fabrikam.com\n${long},b@fabrikam.com\nbad,c@fabrikam.com\n`);
    assert.deepEqual(r.found, [
      [2, invalid('line 2 is longer than 65,536 characters')],
      [40_003, "Invalid Email Format 'bad'"],
    ]);
  });

  it('bytes that are not UTF-8 are reported on their line, as an invalid file, and the rest is still checked', async () => {
    const r = await check(Buffer.concat([Buffer.from('Source,Destination\nren'), Buffer.from([0xe9]), Buffer.from('e@contoso.com,renee@fabrikam.com\nbad,b@fabrikam.com\n')]));
    assert.deepEqual(r.found, [
      [2, invalid('line 2 is not valid UTF-8; save the file as CSV UTF-8')],
      [3, "Invalid Email Format 'bad'"],
    ]);
    assert.equal(r.fileInvalid, false);
  });

  it('a syntactically bad row, or one mapping a user to itself, skips the directory checks', async () => {
    const seen: MappingRow[] = [];
    const r = await check('x@contoso.com,X@contoso.com\nbad,y@fabrikam.com\nz@contoso.com,z@fabrikam.com,extra\nok@contoso.com,ok@fabrikam.com\n', {
      directory: {
        checkBatch: async (rows) => {
          seen.push(...rows);
          return [];
        },
      },
    });
    assert.equal(r.errors.length, 3);
    assert.deepEqual(seen, [{ line: 4, source: 'ok@contoso.com', destination: 'ok@fabrikam.com' }]);
  });
});

describe('user mapping validation: what counts as an email', () => {
  it('accepts the addresses real tenants use', () => {
    for (const email of ['ana@contoso.com', 'Ana.Lopez@contoso.com', "pat.o'brien@contoso.com", 'ana+test@contoso.co.uk', 'a_b-c@sub.contoso-corp.com', 'u0@contosoab12.onmicrosoft.com', 'zoë@fabrikam.com', 'ana@xn--bcher-kva.example', '1234@contoso.com']) {
      assert.ok(isEmail(email), email);
    }
  });
  it('refuses what would break a mapping', () => {
    for (const email of ['', 'ana', 'ana@', '@contoso.com', 'ana@contoso', 'ana@@contoso.com', 'a@b@contoso.com', 'ana lopez@contoso.com', 'ana@contoso .com', '.ana@contoso.com', 'ana.@contoso.com', 'an..a@contoso.com', 'ana@contoso..com', 'ana@-contoso.com', 'ana@contoso-.com', 'ana@contoso.c', 'ana@10.0.0.1', '"ana"@contoso.com', 'ana,bo@contoso.com', 'ana;bo@contoso.com', '<ana@contoso.com>', 'ana@contoso.com\u0000', 'an\uFFFDa@contoso.com', `${'a'.repeat(65)}@contoso.com`, `a@${'b'.repeat(250)}.com`]) {
      assert.ok(!isEmail(email), JSON.stringify(email));
    }
  });
  it('the fast scanner agrees with the documented pattern on ASCII text (property)', () => {
    const byPattern = (t: string) => {
      const tld = t.slice(t.lastIndexOf('.') + 1);
      return t.length >= 5 && t.length <= 254 && t.indexOf('@') <= 64 && EMAIL_PATTERN.test(t) && tld.length >= 2 && !/^[0-9]+$/.test(tld);
    };
    const unit = fc.constantFrom('a', 'Z', '0', '7', '.', '.', '-', '@', '@', '_', '+', "'", ' ', ',', '"', '(', 'ab', 'co', 'x-y', '..');
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit, maxLength: 30 }), fc.emailAddress(), fc.string({ unit: 'binary-ascii', maxLength: 80 })), (text) => {
        assert.equal(isEmail(text), byPattern(text), JSON.stringify(text));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('user mapping validation: duplicates', () => {
  it('lists every line carrying the email, ascending, as written on its first line, per column, case-insensitively', async () => {
    const r = await check(
      'Source,Destination\nAna@contoso.com,x1@fabrikam.com\nbo@contoso.com,x2@fabrikam.com\ncy@contoso.com,X2@FABRIKAM.com\nda@contoso.com,x4@fabrikam.com\nana@CONTOSO.com,x5@fabrikam.com\nANA@contoso.com,x6@fabrikam.com\n',
    );
    assert.deepEqual(r.errors, [
      { line: 2, source: 'Ana@contoso.com', destination: 'x1@fabrikam.com', error: "Line '2,6,7' have the same 'Ana@contoso.com'" },
      { line: 3, source: 'bo@contoso.com', destination: 'x2@fabrikam.com', error: "Line '3,4' have the same 'x2@fabrikam.com'" },
    ]);
    assert.equal(r.opened, 2, 'a second pass spells the duplicates out');
  });

  it('the example of the spec, byte for byte', async () => {
    const r = await check('Source,Destination\nana@contoso.com,a1@fabrikam.com\nb@contoso.com,b@fabrikam.com\nc@contoso.com,c@fabrikam.com\nd@contoso.com,d@fabrikam.com\nana@contoso.com,a2@fabrikam.com\n');
    assert.deepEqual(r.found, [[2, "Line '2,6' have the same 'ana@contoso.com'"]]);
  });

  it('an email that is the source of one row and the destination of another is not a duplicate', async () => {
    const r = await check('ana@contoso.com,bo@fabrikam.com\nbo@fabrikam.com,ana@contoso.com\n');
    assert.deepEqual(r.errors, []);
    assert.equal(r.opened, 1, 'no second pass without duplicates');
  });

  it('counts a well-formed email even when the other one of its row is wrong, and rows mapping a user to itself', async () => {
    const r = await check('ana@contoso.com,bad\nana@contoso.com,a@fabrikam.com\nbo@contoso.com,bo@contoso.com\nbo@contoso.com,b@fabrikam.com\n');
    assert.deepEqual(r.found, [
      [1, "Invalid Email Format 'bad'"],
      [1, "Line '1,2' have the same 'ana@contoso.com'"],
      [3, "Target on line '3' is same as source email ID"],
      [3, "Line '3,4' have the same 'bo@contoso.com'"],
    ]);
  });

  it('lines with the wrong column count or bytes that are not UTF-8 do not count', async () => {
    const r = await check(Buffer.from('ana@contoso.com,a@fabrikam.com,x\nana@contoso.com,b\xff@fabrikam.com\nana@contoso.com,b@fabrikam.com\n', 'latin1'));
    assert.deepEqual(r.found, [
      [1, "Each line must have exactly two columns: '1'"],
      [2, invalid('line 2 is not valid UTF-8; save the file as CSV UTF-8')],
    ]);
  });

  it('a hash collision is told apart by comparing the texts', async () => {
    // Lines 1 and 3 are candidates as if their hashes had collided; only 2 and 4 really share an email.
    const text = 'ana@contoso.com,a@fabrikam.com\nbo@contoso.com,b@fabrikam.com\ncy@contoso.com,c@fabrikam.com\nBO@contoso.com,d@fabrikam.com\n';
    const errors = await findDuplicates(Readable.from([Buffer.from(text)]), { sources: new Set([1, 2, 3, 4]), destinations: new Set([1, 3]) });
    assert.deepEqual(errors, [{ line: 2, source: 'bo@contoso.com', destination: 'b@fabrikam.com', error: "Line '2,4' have the same 'bo@contoso.com'" }]);
    assert.deepEqual(emailHash('ZOË@Contoso.COM'), emailHash('zoë@contoso.com'));
    assert.notDeepEqual(emailHash('ana@contoso.com'), emailHash('ana@contoso.co'));
  });

  it('the duplicate index finds every repeated email among many, and only those', async () => {
    const index = new DuplicateIndex();
    const repeats = new Map([[65_535, 3], [65_536, 70_000], [131_072, 199_999], [5, 6]]);
    for (let line = 1; line <= 200_000; line += 1) index.add(repeats.has(line) ? `u${repeats.get(line)}@Contoso.com` : `u${line}@contoso.com`, line);
    const expected = [...repeats].flat().sort((a, b) => a - b);
    assert.deepEqual([...(await index.candidateLines())].sort((a, b) => a - b), expected);
  });

  it('a small duplicate index (sorted without the radix passes) finds the same repeated emails', async () => {
    const index = new DuplicateIndex();
    // Line 1,500 takes u2's email, but line 2 has given its own up: it repeats nothing.
    const repeats = new Map([[2, 1], [700, 3], [1_999, 1_000], [1_500, 2]]);
    for (let line = 1; line <= 2_000; line += 1) index.add(repeats.has(line) ? `U${repeats.get(line)}@contoso.com` : `u${line}@contoso.com`, line);
    assert.deepEqual([...(await index.candidateLines())].sort((a, b) => a - b), [1, 2, 3, 700, 1_000, 1_999]);
    const single = new DuplicateIndex();
    single.add('ana@contoso.com', 1);
    assert.equal((await single.candidateLines()).size, 0);
  });

  describe('past its memory bound, the duplicate index spills to a temporary file', () => {
    let tempDir: string;
    beforeEach(() => {
      tempDir = mkdtempSync(path.join(os.tmpdir(), 't2t-spill-test-'));
    });
    afterEach(() => rmSync(tempDir, { recursive: true, force: true }));
    const leftovers = () => readdirSync(tempDir);

    it('finds exactly the repeated emails of every spill and of what is still in memory, then leaves nothing behind', async () => {
      const index = new DuplicateIndex({ memoryEntries: 10_000, tempDir });
      // Repeats within a spill, across spills, and between the last spill and the entries left in memory.
      const repeats = new Map([[5, 6], [9_000, 12], [25_000, 24_999], [65_536, 3], [131_072, 199_999], [150_000, 7], [200_003, 100]]);
      for (let line = 1; line <= 200_005; line += 1) {
        index.add(repeats.has(line) ? `U${repeats.get(line)}@Contoso.com` : `u${line}@contoso.com`, line);
        // The validator spills between batches of records, so the bound may be passed by a batch.
        if (line % 1_500 === 0 && index.full) await index.spill();
      }
      assert.ok(index.spilledEntries >= 190_000, `${index.spilledEntries} entries spilled`);
      const expected = [...repeats].flat().sort((a, b) => a - b);
      assert.deepEqual([...(await index.candidateLines())].sort((a, b) => a - b), expected);
      assert.deepEqual(leftovers(), []);
    });

    it('a validation that spills reports the same errors as one that does not', async () => {
      const lines = ['Source,Destination'];
      for (let i = 0; i < 30_000; i += 1) {
        if (i % 4_999 === 17) lines.push(`u${i - 9_000}@CONTOSO.com,n${i}@fabrikam.com`);
        else if (i % 7_001 === 3) lines.push(`s${i}@contoso.com,u${i + 11_000}@Fabrikam.com`);
        else if (i === 29_999) lines.push('u2@contoso.com,u2@fabrikam.com');
        else lines.push(`u${i}@contoso.com,u${i}@fabrikam.com`);
      }
      const bytes = Buffer.from(`${lines.join('\r\n')}\r\n`);
      const inMemory = await check(bytes, { chunk: 4096 });
      const spilled = await check(bytes, { chunk: 4096, duplicateIndex: { memoryEntries: 1_000, tempDir } });
      assert.ok(inMemory.found.filter(([, error]) => error.includes('have the same')).length >= 8, JSON.stringify(inMemory.found));
      assert.deepEqual(spilled.errors, inMemory.errors);
      assert.deepEqual(leftovers(), []);
      // It does spill there: a folder that does not exist fails the validation.
      await assert.rejects(check(bytes, { chunk: 4096, duplicateIndex: { memoryEntries: 1_000, tempDir: path.join(tempDir, 'missing') } }), { code: 'ENOENT' });
    });

    it('a cancelled or failed validation removes its temporary files too', async () => {
      const lines = Array.from({ length: 40_000 }, (_, i) => `u${i}@contoso.com,u${i}@fabrikam.com`);
      const bytes = Buffer.from(lines.join('\n'));
      const controller = new AbortController();
      await assert.rejects(
        check(bytes, {
          chunk: 4096,
          duplicateIndex: { memoryEntries: 1_000, tempDir },
          signal: controller.signal,
          onProgress: (p) => p.rowsValidated > 20_000 && controller.abort(new Error('activity cancelled')),
        }),
        /activity cancelled/,
      );
      assert.deepEqual(leftovers(), []);
      const failing: DirectoryChecker = {
        checkBatch: async (rows) => {
          if (rows[0].line > 10_000) throw new Error('directory unavailable');
          return [];
        },
      };
      await assert.rejects(check(bytes, { chunk: 4096, directory: failing, duplicateIndex: { memoryEntries: 1_000, tempDir } }), /directory unavailable/);
      assert.deepEqual(leftovers(), []);
      const index = new DuplicateIndex({ memoryEntries: 10, tempDir });
      for (let line = 1; line <= 100; line += 1) index.add(`u${line}@contoso.com`, line);
      await index.spill();
      await index.dispose();
      assert.equal(index.spilledEntries, 100);
      assert.deepEqual(leftovers(), []);
    });
  });

  it('the splitter cuts one, two and more fields alike, marks only the lines with U+FFFD, and gives only the lines asked for', () => {
    const piece = 'ana@contoso.com,a@fabrikam.com\r\none column\nx,y,z\n\nbo\uFFFD@contoso.com,b@fabrikam.com\n"q,1",c@fabrikam.com\ncy@contoso.com,\n';
    const all: CsvRecord[] = [];
    new CsvRecordSplitter().push(piece, all);
    assert.deepEqual(all, [
      { line: 1, fields: ['ana@contoso.com', 'a@fabrikam.com'], problem: undefined },
      { line: 2, fields: ['one column'], problem: undefined },
      { line: 3, fields: ['x', 'y', 'z'], problem: undefined },
      { line: 4, fields: [''], problem: undefined },
      { line: 5, fields: ['bo\uFFFD@contoso.com', 'b@fabrikam.com'], problem: 'invalidUtf8' },
      { line: 6, fields: ['q,1', 'c@fabrikam.com'], problem: undefined },
      { line: 7, fields: ['cy@contoso.com', ''], problem: undefined },
    ]);
    const seen: number[] = [];
    const some: CsvRecord[] = [];
    new CsvRecordSplitter(undefined, (line) => seen.push(line) > 0 && (line === 3 || line === 7)).push(piece, some);
    // A quoted record takes the slow path and is given whatever is asked.
    assert.deepEqual(some.map((r) => r.line), [3, 6, 7]);
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 7]);
  });

  it('the second pass stops reading after the last line involved', async () => {
    let generated = 0;
    function* lines() {
      yield Buffer.from('ana@contoso.com,a@fabrikam.com\nana@contoso.com,b@fabrikam.com\n');
      for (let i = 0; i < 100_000; i += 1) {
        generated += 1;
        yield Buffer.from(`u${i}@contoso.com,u${i}@fabrikam.com\n`);
      }
    }
    let opened = 0;
    const errors: string[] = [];
    await validateMapping({
      fileName: 'usermapping.csv',
      open: () => {
        opened += 1;
        return Readable.from(lines());
      },
      onError: (e) => {
        errors.push(e.error);
      },
    });
    assert.deepEqual(errors, ["Line '1,2' have the same 'ana@contoso.com'"]);
    assert.equal(opened, 2);
    assert.ok(generated < 100_000 + 1000, `the second pass read ${generated - 100_000} lines`);
  });
});

describe('user mapping validation: directory checks', () => {
  const user = (upn: string, enabled = true, licenses = ['E3']): [string, DirectoryUser] => [upn.toLowerCase(), { upn, enabled, licenses }];
  function fakeDirectory() {
    const calls: { tenant: string; upns: string[] }[] = [];
    const tenants = new Map<string, Map<string, DirectoryUser>>([
      ['src', new Map([user('a@contoso.com'), user('B@contoso.com')])],
      ['dst', new Map([user('a@fabrikam.com'), user('off@fabrikam.com', false), user('nolic@fabrikam.com', true, []), user('both@fabrikam.com', false, [])])],
    ]);
    for (let i = 0; i < 2600; i += 1) {
      tenants.get('src')!.set(`s${i}@contoso.com`, { upn: `s${i}@contoso.com`, enabled: true, licenses: [] });
      tenants.get('dst')!.set(`u${i}@fabrikam.com`, { upn: `u${i}@fabrikam.com`, enabled: true, licenses: ['E3'] });
    }
    const lookup = {
      async findTenantUsers(tenant: string, upns: string[]) {
        calls.push({ tenant, upns });
        const users = tenants.get(tenant)!;
        return new Map(upns.filter((u) => users.has(u.toLowerCase())).map((u) => [u.toLowerCase(), users.get(u.toLowerCase())!] as const));
      },
    };
    return { calls, lookup };
  }

  it('reports the four directory errors with their exact texts, case-insensitively', async () => {
    const { lookup } = fakeDirectory();
    const r = await check(
      'Source,Destination\nA@CONTOSO.com,a@FABRIKAM.com\nghost@contoso.com,a2@fabrikam.com\na@contoso.com,off@fabrikam.com\nb@contoso.com,nolic@fabrikam.com\nb@contoso.com,both@fabrikam.com\n',
      { directory: createDirectoryChecker(lookup, 'src', 'dst') },
    );
    assert.deepEqual(r.found, [
      [2, "Line '2,4' have the same 'A@CONTOSO.com'"],
      [3, "Source user 'ghost@contoso.com' was not found in the source tenant"],
      [3, "Destination user 'a2@fabrikam.com' was not found in the target tenant"],
      [4, "Destination user 'off@fabrikam.com' is disabled in the target tenant"],
      [5, "Destination user 'nolic@fabrikam.com' has no licence in the target tenant"],
      [5, "Line '5,6' have the same 'b@contoso.com'"],
      [6, "Destination user 'both@fabrikam.com' is disabled in the target tenant"],
      [6, "Destination user 'both@fabrikam.com' has no licence in the target tenant"],
    ]);
  });

  it('asks the directory in batches, one look-up per tenant per batch, never one per row', async () => {
    const { calls, lookup } = fakeDirectory();
    const rows = Array.from({ length: 2500 }, (_, i) => `s${i}@contoso.com,u${i}@fabrikam.com`);
    const r = await check(`${rows.join('\n')}\nbad,u1@fabrikam.com\n`, { directory: createDirectoryChecker({ ...lookup, sourceTenantId: 'src', targetTenantId: 'dst' }) });
    assert.deepEqual(r.found, [
      [2, "Line '2,2501' have the same 'u1@fabrikam.com'"],
      [2501, "Invalid Email Format 'bad'"],
    ]);
    // 2,500 rows in batches of 1,000: three batches, two look-ups (source, target) each
    assert.deepEqual(calls.map((c) => [c.tenant, c.upns.length]), [
      ['src', 1000], ['dst', 1000], ['src', 1000], ['dst', 1000], ['src', 500], ['dst', 500],
    ]);
    const small = fakeDirectory();
    await check(rows.slice(0, 10).join('\n'), { directory: createDirectoryChecker(small.lookup, 'src', 'dst'), directoryBatchSize: 4 });
    assert.deepEqual(small.calls.map((c) => c.upns.length), [4, 4, 4, 4, 2, 2]);
  });

  it('a directory failure fails the validation (the activity retries it)', async () => {
    const failing: DirectoryChecker = { checkBatch: () => Promise.reject(new Error('directory unavailable')) };
    await assert.rejects(check('a@contoso.com,a@fabrikam.com\n', { directory: failing }), /directory unavailable/);
  });
});

describe('user mapping validation: streaming', () => {
  const bigFile = (rows: number) => {
    const lines = ['Source,Destination'];
    for (let i = 0; i < rows; i += 1) lines.push(i % 5000 === 0 ? `bad${i},u${i}@fabrikam.com` : `u${i}@contoso.com,u${i}@fabrikam.com`);
    return Buffer.from(`${lines.join('\r\n')}\r\n`);
  };

  it('waits for a slow error writer instead of queueing errors', async () => {
    let writing = false;
    let overlapped = false;
    let written = 0;
    await validateMapping({
      fileName: 'usermapping.csv',
      open: () => Readable.from([Buffer.from(Array.from({ length: 50 }, (_, i) => `bad${i},x${i}@fabrikam.com`).join('\n'))]),
      onError: async () => {
        if (writing) overlapped = true;
        writing = true;
        await new Promise((resolve) => setTimeout(resolve, 1));
        writing = false;
        written += 1;
      },
    });
    assert.equal(written, 50);
    assert.equal(overlapped, false);
  });

  it('reports progress while it reads, and at the end', async () => {
    const progress: MappingProgress[] = [];
    const bytes = bigFile(30_000);
    await check(bytes, { chunk: 16 * 1024, onProgress: (p) => progress.push(p) });
    assert.ok(progress.length >= 3, `${progress.length} progress reports`);
    assert.deepEqual(progress.at(-1), { rowsValidated: 30_000, errors: 6, bytesRead: bytes.length, phase: 'rows' });
    for (let i = 1; i < progress.length; i += 1) assert.ok(progress[i].rowsValidated >= progress[i - 1].rowsValidated);
  });

  it('stops when cancelled', async () => {
    const controller = new AbortController();
    await assert.rejects(
      check(bigFile(50_000), { chunk: 8 * 1024, signal: controller.signal, onProgress: () => controller.abort(new Error('activity cancelled')) }),
      /activity cancelled/,
    );
  });

  it('never blocks the event loop for long, even when the whole file arrives as one buffer', async () => {
    const bytes = bigFile(200_000);
    // CPU time spent between two turns of the event loop: what our code held it for, whatever else the machine is doing.
    let last = process.cpuUsage();
    let worstMs = 0;
    const sample = () => {
      const spent = process.cpuUsage(last);
      last = process.cpuUsage();
      worstMs = Math.max(worstMs, (spent.user + spent.system) / 1000);
    };
    const timer = setInterval(sample, 1);
    try {
      const r = await check(bytes);
      sample();
      assert.equal(r.rows, 200_000);
    } finally {
      clearInterval(timer);
    }
    assert.ok(worstMs < 100, `the event loop was held for ${worstMs.toFixed(0)} ms of CPU`);
  });
});

describe('user mapping validation of a local file (t2t mapping check)', () => {
  const fixture = (name: string) => path.join(FIXTURES, name, name === 'wrong-name' ? 'UserMapping.csv' : 'usermapping.csv');

  it('an Excel export: byte-order mark, CRLF, quotes, spaces, trailing `,` rows', async () => {
    const r = await validateMappingFile(fixture('excel-export'));
    assert.deepEqual(r, {
      rows: 5,
      fileInvalid: false,
      errors: [{ line: 6, source: 'LEE.GU@contoso.com', destination: 'lee.gu@fabrikam.com', error: "Line '6,7' have the same 'LEE.GU@contoso.com'" }],
    });
  });

  it('semicolons, UTF-16, Windows-1252, a wrong name, a header alone', async () => {
    assert.deepEqual((await validateMappingFile(fixture('semicolons'))).errors.map((e) => e.error), [invalid('the values must be separated by commas, not semicolons')]);
    assert.deepEqual((await validateMappingFile(fixture('powershell-utf16'))).errors.map((e) => e.error), [invalid('the file is saved as UTF-16; save it as CSV UTF-8')]);
    assert.deepEqual((await validateMappingFile(fixture('windows-1252'))).errors.map((e) => [e.line, e.error]), [[3, invalid('line 3 is not valid UTF-8; save the file as CSV UTF-8')]]);
    assert.deepEqual((await validateMappingFile(fixture('wrong-name'))).errors.map((e) => e.error), [invalid("the file must be named exactly usermapping.csv, not 'UserMapping.csv'")]);
    assert.deepEqual((await validateMappingFile(fixture('header-only'))).errors.map((e) => e.error), [invalid('the file has a header but no mapping rows')]);
  });

  it('a missing file or a folder is the invalid-file error; errors come sorted by line', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-mapping-'));
    try {
      const missing = path.join(dir, 'usermapping.csv');
      assert.deepEqual(await validateMappingFile(missing), { rows: 0, fileInvalid: true, errors: [{ line: 0, source: '', destination: '', error: invalid(`no usermapping.csv at ${missing}`) }] });
      assert.equal((await validateMappingFile(dir)).errors[0].error, invalid(`${dir} is a folder, not a file`));
      writeFileSync(missing, 'b@contoso.com,x@fabrikam.com\na@contoso.com,bad\nb@contoso.com,y@fabrikam.com\n');
      assert.deepEqual((await validateMappingFile(missing)).errors.map((e) => e.line), [1, 2]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
