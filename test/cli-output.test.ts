// What `t2t mapping check` puts on an admin's terminal: one line for a file that
// is not text at all, and a screenful of a long list of errors, while --json
// keeps every error. No server: the client runs as a child process, as an admin
// runs it.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../src/temporal-binaries';
import { createPrinter, listLimit, LIST_LINES } from '../src/client/output';

const CLI = path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function t2t(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? '' }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The same bytes on every run: a failure can be replayed. */
function randomBytes(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i += 1) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

const BINARY_LINE = /^not a CSV file: binary content at byte (\d+)$/;

describe('t2t mapping check on the terminal', function () {
  this.timeout(60_000);
  let dir: string;
  const file = () => path.join(dir, 'usermapping.csv');

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-cli-output-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a megabyte of random bytes is one line and exit 1, not an error per line', async () => {
    writeFileSync(file(), randomBytes(1024 * 1024, 42));
    const run = await t2t(['mapping', 'check', '--file', 'usermapping.csv'], dir);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stderr, '');
    const lines = run.stdout.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, run.stdout.slice(0, 2000));
    assert.match(lines[0], BINARY_LINE);
  });

  it('--json for it keeps the mapping-check shape: no rows, one error on line 0 naming the same byte', async () => {
    writeFileSync(file(), randomBytes(1024 * 1024, 42));
    const text = await t2t(['mapping', 'check', '--file', 'usermapping.csv'], dir);
    const byte = Number(BINARY_LINE.exec(text.stdout.trim())![1]);
    const run = await t2t(['--json', 'mapping', 'check', '--file', 'usermapping.csv'], dir);
    assert.equal(run.code, 1, run.stderr);
    const document = JSON.parse(run.stdout) as { rows: number; errors: { line: number; source: string; destination: string; error: string }[] };
    assert.deepEqual(document, {
      rows: 0,
      errors: [{ line: 0, source: '', destination: '', error: `The User mapping file provided for Tenant To Tenant migration is invalid (not a CSV file: binary content at byte ${byte})` }],
    });
  });

  it('a PNG renamed usermapping.csv: binary from its first byte', async () => {
    const png = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), randomBytes(4096, 7)]);
    writeFileSync(file(), png);
    const run = await t2t(['mapping', 'check', '--file', 'usermapping.csv'], dir);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, 'not a CSV file: binary content at byte 0\n');
  });

  it('a file saved as ANSI is still text: its lines are named, not the file refused as binary', async () => {
    writeFileSync(file(), Buffer.from('Source,Destination\r\nren\xe9e@contoso.com,renee@fabrikam.com\r\n', 'latin1'));
    const run = await t2t(['mapping', 'check', '--file', 'usermapping.csv'], dir);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /line 2: .*line 2 is not valid UTF-8; save the file as CSV UTF-8/);
    assert.doesNotMatch(run.stdout, /binary/);
  });

  it('500 errors: 20 lines and how many more when the output is not a terminal, while --json has all 500', async () => {
    const rows = Array.from({ length: 500 }, (_, i) => `not-an-email-${i},user${i}@fabrikam.com`);
    writeFileSync(file(), `Source,Destination\n${rows.join('\n')}\n`);
    const run = await t2t(['mapping', 'check', '--file', 'usermapping.csv'], dir);
    assert.equal(run.code, 1, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'usermapping.csv: 500 rows, 500 errors:');
    assert.equal(lines.length, 1 + LIST_LINES + 1, run.stdout);
    assert.equal(lines[1], "  line 2: Invalid Email Format 'not-an-email-0'");
    assert.equal(lines[LIST_LINES], `  line ${LIST_LINES + 1}: Invalid Email Format 'not-an-email-${LIST_LINES - 1}'`);
    assert.equal(lines[lines.length - 1], `  and ${500 - LIST_LINES} more: use --json for all of them`);

    const json = await t2t(['mapping', 'check', '--file', 'usermapping.csv', '--json'], dir);
    assert.equal(json.code, 1);
    const document = JSON.parse(json.stdout) as { rows: number; errors: { line: number }[] };
    assert.equal(document.rows, 500);
    assert.equal(document.errors.length, 500);
    assert.deepEqual(document.errors.map((e) => e.line), rows.map((_, i) => i + 2));
  });

  it('500 errors on a terminal of 30 rows: a screenful, then how many more', function () {
    // A real terminal, through util-linux `script`, where it is installed.
    const probe = spawnSync('script', ['--version'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) this.skip();
    const rows = Array.from({ length: 500 }, (_, i) => `not-an-email-${i},user${i}@fabrikam.com`);
    writeFileSync(file(), `${rows.join('\n')}\n`);
    const command = `stty rows 30 cols 200; '${process.execPath}' '${CLI}' mapping check --file usermapping.csv`;
    const run = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', TERM: 'dumb' } });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    const lines = run.stdout.replace(/\r/g, '').trimEnd().split('\n');
    const shown = 30 - 4;
    assert.equal(lines.length, 1 + shown + 1, run.stdout);
    assert.equal(lines[lines.length - 1], `  and ${500 - shown} more: use --json for all of them`);
    assert.ok(lines.length < 30, 'the header, the list and the last line fit on the screen with the prompt');
  });

  it('a list one line too long is printed whole: "and 1 more" would take the same room', () => {
    let out = '';
    const printer = createPrinter(false, (s) => (out += s), 3);
    printer.list(['a', 'b', 'c', 'd'], (k) => `and ${k} more`);
    assert.equal(out, 'a\nb\nc\nd\n');
    out = '';
    printer.list(['a', 'b', 'c', 'd', 'e'], (k) => `and ${k} more`);
    assert.equal(out, 'a\nb\nc\nand 2 more\n');
    out = '';
    createPrinter(true, (s) => (out += s), 3).list(['a', 'b', 'c', 'd', 'e'], (k) => `and ${k} more`);
    assert.equal(out, '', '--json prints its document only');
  });

  it('a screenful is the terminal height less a few lines, and 20 lines when stdout is not a terminal', () => {
    assert.equal(listLimit({ isTTY: true, rows: 50 }), 46);
    assert.equal(listLimit({ isTTY: true, rows: 6 }), 5);
    assert.equal(listLimit({ isTTY: false, rows: 50 }), 20);
    assert.equal(listLimit({}), 20);
  });
});
