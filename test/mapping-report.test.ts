// The error report: RFC 4180 CSV, streamed, formulas neutralised, read back exactly.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import type { MappingError } from '../src/mapping/validator';
import { createErrorReportStream, csvCell, errorReportFrom, neutraliseFormula, parseErrorReport, REPORT_HEADER, reportLine } from '../src/mapping/report';

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

const TRIGGERS = ['=', '+', '-', '@', '\t', '\r'];

/** The cells of a report as a spreadsheet sees them (quotes removed), row by row. */
function cellsOf(report: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < report.length; i += 1) {
    const ch = report[i];
    if (quoted && ch === '"' && report[i + 1] === '"') {
      cell += '"';
      i += 1;
    } else if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === ',') {
      row.push(cell);
      cell = '';
    } else if (!quoted && ch === '\r' && report[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i += 1;
    } else cell += ch;
  }
  return rows;
}

describe('error report', () => {
  it('starts with the header, one CRLF-terminated row per error, RFC 4180 quoting', async () => {
    const report = createErrorReportStream();
    const reading = text(report);
    await report.writeError({ line: 3, source: 'a,b@x.com', destination: 'say "hi"', error: "Invalid Email Format 'a,b@x.com'" });
    await report.writeError({ line: 4, source: 'multi\nline', destination: 'b@x.com', error: 'plain' });
    report.end();
    assert.equal(
      await reading,
      `${REPORT_HEADER}\r\n3,"a,b@x.com","say ""hi""","Invalid Email Format 'a,b@x.com'"\r\n4,"multi\nline",b@x.com,plain\r\n`,
    );
  });

  it('is just the header when there is no error', async () => {
    const report = createErrorReportStream();
    report.end();
    assert.equal(await text(report), 'Line,Source,Destination,Error\r\n');
    assert.deepEqual(parseErrorReport(await text(errorReportFrom([]))), []);
  });

  it('keeps spreadsheets from running formulas: a leading =, +, -, @, tab or CR gets an apostrophe, in every column', () => {
    for (const trigger of TRIGGERS) {
      const value = `${trigger}cmd|' /C calc'!A0`;
      const line = reportLine({ line: 2, source: value, destination: value, error: value });
      const [, source, destination, error] = cellsOf(line)[0];
      for (const cell of [source, destination, error]) assert.equal(cell, `'${value}`, JSON.stringify(trigger));
    }
    assert.equal(neutraliseFormula('ana@contoso.com'), 'ana@contoso.com');
    assert.equal(neutraliseFormula("'=1+1"), "''=1+1", 'an apostrophe already there is kept, so that reading back is exact');
    assert.equal(neutraliseFormula("o'brien@x.com"), "o'brien@x.com");
    assert.equal(csvCell('=HYPERLINK("http://x")'), `"'=HYPERLINK(""http://x"")"`);
  });

  it('reads back exactly what was written, whatever the text (property)', async () => {
    const value = fc.string({ unit: fc.oneof(fc.constantFrom(...TRIGGERS, "'", '"', ',', '\n', '\r\n', ' ', 'é', '😀'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: 20 });
    const error = fc.record({ line: fc.nat({ max: 1_000_000 }), source: value, destination: value, error: value });
    await fc.assert(
      fc.asyncProperty(fc.array(error, { maxLength: 20 }), async (generated: MappingError[]) => {
        const errors = generated.map((e) => ({ ...e }));
        const written = await text(errorReportFrom(errors));
        assert.deepEqual(parseErrorReport(written), errors);
        for (const [i, row] of cellsOf(written).entries()) {
          assert.equal(row.length, 4, `row ${i} has four cells`);
          for (const cell of row) assert.ok(!TRIGGERS.some((t) => cell.startsWith(t)), `a cell starts like a formula: ${JSON.stringify(cell)}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('waits for a slow reader (back-pressure) and pipes into any writable, like a blob upload', async () => {
    const report = createErrorReportStream();
    let received = '';
    const slowUpload = new Writable({
      highWaterMark: 64,
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.toString('utf8');
        setTimeout(callback, 0);
      },
    });
    const uploading = pipeline(report, slowUpload);
    const errors = Array.from({ length: 500 }, (_, i) => ({ line: i + 2, source: `u${i}@contoso.com`, destination: `-u${i}@fabrikam.com`, error: `Invalid Email Format '-u${i}@fabrikam.com'` }));
    let waited = 0;
    for (const error of errors) {
      const writing = report.writeError(error);
      if (report.writableNeedDrain) waited += 1;
      await writing;
    }
    report.end();
    await uploading;
    assert.ok(waited > 0, 'the writer had to wait');
    assert.deepEqual(parseErrorReport(received), errors);
  });

  it('a writer waiting on a report that fails is told, not left hanging', async () => {
    const report = createErrorReportStream();
    const failures: Error[] = [];
    report.on('error', (e) => failures.push(e));
    const error = { line: 1, source: 'x'.repeat(1000), destination: '', error: 'e' };
    // Nobody reads: the report fills up and the writer has to wait.
    const writes: Promise<void>[] = [];
    while (!report.writableNeedDrain) writes.push(report.writeError(error));
    report.destroy(new Error('upload failed'));
    const settled = await Promise.allSettled(writes);
    assert.deepEqual(settled.slice(0, -1).map((s) => s.status), Array(writes.length - 1).fill('fulfilled'));
    assert.match(String((settled.at(-1) as PromiseRejectedResult).reason), /upload failed/);
    await assert.rejects(report.writeError(error), /closed/);
    assert.equal(failures.length, 1);
  });

  it('parses reports with a byte-order mark, LF line ends or no final line break, and refuses other files', () => {
    const row = { line: 7, source: 'a@x.com', destination: '=b', error: 'E' };
    assert.deepEqual(parseErrorReport(`\uFEFF${REPORT_HEADER}\n7,a@x.com,'=b,E`), [row]);
    assert.deepEqual(parseErrorReport(`${REPORT_HEADER}\r\n7,a@x.com,'=b,E\r\n\r\n`), [row]);
    assert.deepEqual(parseErrorReport(''), []);
    assert.throws(() => parseErrorReport('Source,Destination\na@x.com,b@y.com\n'), /not a mapping error report/);
    assert.throws(() => parseErrorReport(`${REPORT_HEADER}\n1,2\n`), /a row has 2 cells/);
  });
});
