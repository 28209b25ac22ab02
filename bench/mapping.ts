// npm run bench:mapping [-- --rows N]
// Generates a mapping file with a known number of seeded errors, then, in the
// same run on the same file, times a bare csv-parse pass (the baseline) and the
// full validation (with batched directory checks), and prints rows per second,
// the ratio, peak memory and the worst event-loop delay during validation.
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parse } from 'csv-parse';
import { validateMapping } from '../src/mapping/validator';
import { createDirectoryChecker } from '../src/mapping/directory';

const rowsArg = process.argv.indexOf('--rows');
const ROWS = rowsArg > 0 ? Number(process.argv[rowsArg + 1]) : 1_000_000;
const SEEDED_EACH = Math.max(1, Math.floor(ROWS / 1000));
const KINDS = ['invalidEmail', 'sameAsSource', 'columns', 'duplicate', 'directory'] as const;

async function generate(file: string): Promise<number> {
  const out = createWriteStream(file);
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  await write('Source,Destination\n');
  // Seeded rows are spread evenly: every (ROWS / (kinds × seeded)) rows one of each kind in turn.
  const stride = Math.floor(ROWS / (KINDS.length * SEEDED_EACH));
  let seeded = 0;
  let buffer = '';
  for (let i = 0; i < ROWS; i += 1) {
    let row = `user${i}@contoso.com,user${i}@fabrikam.com`;
    if (i % stride === 0 && seeded < KINDS.length * SEEDED_EACH) {
      const kind = KINDS[seeded % KINDS.length];
      seeded += 1;
      if (kind === 'invalidEmail') row = `user${i}@contoso.com,not-an-email-${i}`;
      if (kind === 'sameAsSource') row = `user${i}@contoso.com,user${i}@contoso.com`;
      if (kind === 'columns') row = `user${i}@contoso.com,user${i}@fabrikam.com,extra`;
      if (kind === 'duplicate') row = `user${i - 1}@contoso.com,other${i}@fabrikam.com`;
      if (kind === 'directory') row = `user${i}@contoso.com,ghost${i}@fabrikam.com`;
    }
    buffer += `${row}\n`;
    if (buffer.length > 1 << 16) {
      await write(buffer);
      buffer = '';
    }
  }
  await write(buffer);
  out.end();
  await once(out, 'finish');
  return seeded;
}

/** A directory that knows every userN and no ghost, without holding them in memory. */
const directory = createDirectoryChecker(
  {
    async findTenantUsers(_tenantId, upns) {
      const found = new Map<string, { upn: string; enabled: boolean; licenses: string[] }>();
      for (const upn of upns) if (/^(user|other)\d+@/.test(upn)) found.set(upn.toLowerCase(), { upn, enabled: true, licenses: ['E3'] });
      return found;
    },
  },
  'source',
  'target',
);

function sampler() {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  return () => {
    clearInterval(timer);
    return Math.max(peak, process.memoryUsage().rss);
  };
}

async function bareParse(file: string): Promise<number> {
  let records = 0;
  for await (const _record of createReadStream(file).pipe(parse({ relax_column_count: true, bom: true }))) records += 1;
  return records;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const rate = (rows: number, ms: number) => `${Math.round((rows / ms) * 1000).toLocaleString('en-US')} rows/s`;

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-bench-'));
  const file = path.join(dir, 'usermapping.csv');
  try {
    const seeded = await generate(file);
    console.log(`mapping file: ${ROWS.toLocaleString('en-US')} rows, ${mb(statSync(file).size)}, ${seeded} seeded errors (${KINDS.join(', ')})`);
    const gc = (globalThis as { gc?: () => void }).gc;

    gc?.();
    let t = performance.now();
    const parsed = await bareParse(file);
    const baselineMs = performance.now() - t;

    gc?.();
    const rssBefore = process.memoryUsage().rss;
    const stopSampling = sampler();
    const delay = monitorEventLoopDelay({ resolution: 10 });
    let errors = 0;
    t = performance.now();
    delay.enable();
    const result = await validateMapping({
      fileName: 'usermapping.csv',
      open: () => createReadStream(file),
      directory,
      onError: () => {
        errors += 1;
      },
    });
    delay.disable();
    const validationMs = performance.now() - t;
    const peakRss = stopSampling();

    console.log(`bare csv-parse:   ${parsed.toLocaleString('en-US')} records in ${(baselineMs / 1000).toFixed(2)} s (${rate(parsed, baselineMs)})`);
    console.log(`full validation:  ${result.rows.toLocaleString('en-US')} rows in ${(validationMs / 1000).toFixed(2)} s (${rate(result.rows, validationMs)})`);
    console.log(`ratio validation / bare parse: ${(validationMs / baselineMs).toFixed(2)}x (target within 2x)`);
    console.log(`peak RSS during validation: ${mb(peakRss)} (started at ${mb(rssBefore)}; target under 300 MB)`);
    console.log(`worst event-loop delay during validation: ${(delay.max / 1e6).toFixed(1)} ms (target under 100 ms)`);
    console.log(`errors found: ${errors} (seeded: ${seeded})`);
    if (errors !== seeded) {
      console.error('the validator did not find exactly the seeded errors');
      process.exitCode = 1;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
