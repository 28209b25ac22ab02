// npm run bench:mapping [-- --rows N[,N...]] [--runs N] [--graph-up-to N] [--keep] [--strict]
//
// For each size (1,000,000 and 10,000,000 rows by default), generates a usermapping.csv
// on the fly into a temporary directory (deleted after, never committed) with a known set of
// seeded errors of every kind, then on that same file times, each in a fresh
// child process so that memory figures are the work's own: a bare csv-parse pass
// (the baseline) and the full validation (batched directory checks against an
// in-memory directory, the error report streamed to a file). Prints rows per
// second, the ratio, peak RSS and the worst event-loop delay, and checks every
// error found against the seeded ones (exit code 1 if they differ; with
// --strict, also if a target is missed). Best of --runs (default 2) for times.
//
// Then the directory join through Microsoft Graph: the same file against the
// Graph fake (a million users per tenant, in this process, on local HTTP), the
// validating child reading both directories once by delta paging and joining
// locally; its time as a ratio to the full validation above, its peak RSS, and
// its errors checked against the seeded ones the same way.
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse';
import { validateMapping } from '../src/mapping/validator';
import { createErrorReportStream, parseErrorReport } from '../src/mapping/report';
import { generateMapping, SEEDED_KINDS } from './lib/generate-mapping';
import { createDirectoryTable } from './lib/directory-table';
import { measure, type Measured } from './lib/measure';
import { startGraphDirectoryServer, validateThroughGraph, type GraphRunResult } from './lib/graph-directory-run';
import { DELTA_PAGE_GUESS } from '../test/fakes/graph-routes';

const TARGET_RATIO = 1.2;
const TARGET_RSS_MB = 300;
const TARGET_LOOP_MS = 100;

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const graphUpTo = () => Number(option('--graph-up-to') ?? 1_000_000);
type GraphRequests = Awaited<ReturnType<typeof startGraphDirectoryServer>>['state']['requests'];

const n = (value: number, digits = 0) => value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function bareParse(file: string): Promise<number> {
  const parser = createReadStream(file).pipe(parse({ bom: true, relax_column_count: true }));
  let records = 0;
  parser.on('readable', () => {
    while (parser.read() !== null) records += 1;
  });
  await once(parser, 'end');
  return records;
}

async function validate(dir: string): Promise<{ rows: number; errors: number; directoryCalls: number }> {
  const file = path.join(dir, 'usermapping.csv');
  const targetStates = new Uint8Array(readFileSync(path.join(dir, 'target-states.bin')));
  const directory = createDirectoryTable(targetStates);
  const report = createErrorReportStream();
  const written = once(report.pipe(createWriteStream(path.join(dir, 'errors.csv'))), 'finish');
  const result = await validateMapping({
    fileName: 'usermapping.csv',
    open: () => createReadStream(file),
    directory: directory.checker,
    onError: (error) => report.writeError(error),
    onProgress: () => undefined,
  });
  report.end();
  await written;
  return { rows: result.rows, errors: result.errors, directoryCalls: directory.calls() };
}

/** Child process: one measured job, its figures as JSON on stdout. */
async function child(job: string, dir: string, graphUrl?: string): Promise<void> {
  const file = path.join(dir, 'usermapping.csv');
  const measured =
    job === 'baseline'
      ? await measure(() => bareParse(file))
      : job === 'graph'
        ? await measure(() => validateThroughGraph(file, path.join(dir, 'errors-graph.csv'), graphUrl!))
        : await measure(() => validate(dir));
  process.stdout.write(JSON.stringify(measured));
}

function runChild<T>(job: string, dir: string, ...extra: string[]): Promise<Measured<T>> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...process.execArgv, __filename, '--child', job, dir, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    proc.on('error', reject);
    proc.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Measured<T>) : reject(new Error(`the ${job} run exited with ${code}`))));
  });
}

function cpuModel(): string {
  try {
    return execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], { encoding: 'utf8' }).trim();
  } catch {
    return os.cpus()[0]?.model ?? 'unknown cpu';
  }
}

async function main(): Promise<void> {
  const sizes = (option('--rows') ?? '1000000,10000000').split(',').map(Number);
  const runs = Math.max(1, Number(option('--runs') ?? 2));
  // The Graph fake holds a directory as large as the file: past a million users it measures the fake more than the join.
  let exitCode = 0;
  for (const rows of sizes) {
    if (!Number.isInteger(rows) || rows < 100) throw new Error('--rows must be whole numbers of at least 100');
    console.log(`\n== ${n(rows)} rows`);
    exitCode = Math.max(exitCode, await runSize(rows, runs, rows <= graphUpTo()));
  }
  process.exitCode = exitCode;
}

async function runSize(rows: number, runs: number, withGraph: boolean): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-bench-mapping-'));
  try {
    const file = path.join(dir, 'usermapping.csv');
    const generated = await generateMapping(file, rows);
    writeFileSync(path.join(dir, 'target-states.bin'), generated.targetStates);
    console.log(`node ${process.version}, ${os.cpus().length} × ${cpuModel()}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    console.log(
      `mapping file: ${n(rows)} rows on ${n(generated.lines)} lines, ${n(generated.bytes / 1024 / 1024, 1)} MB, CRLF, some quoted rows and blank lines; ` +
        `${n(generated.expected.length)} seeded errors (${generated.seededPerKind} each: ${SEEDED_KINDS.join(', ')})`,
    );

    const graphServer = withGraph ? await startGraphDirectoryServer(generated.targetStates) : undefined;
    const baselines: Measured<number>[] = [];
    const validations: Measured<{ rows: number; errors: number; directoryCalls: number }>[] = [];
    const graphRuns: Measured<GraphRunResult>[] = [];
    const graphRequests: GraphRequests[] = [];
    try {
      for (let run = 0; run < runs; run += 1) {
        baselines.push(await runChild<number>('baseline', dir));
        validations.push(await runChild('validate', dir));
        if (!graphServer) continue;
        graphServer.state.resetCounters();
        graphRuns.push(await runChild<GraphRunResult>('graph', dir, graphServer.url));
        graphRequests.push({ ...graphServer.state.requests });
      }
    } finally {
      await graphServer?.close();
    }
    const best = <T>(all: Measured<T>[]) => all.reduce((a, b) => (b.ms < a.ms ? b : a));
    const worst = <T>(all: Measured<T>[], figure: (m: Measured<T>) => number) => Math.max(...all.map(figure));
    const baseline = best(baselines);
    const validation = best(validations);
    const ratio = validation.ms / baseline.ms;
    const peakRss = worst(validations, (m) => Math.max(m.maxRssMb, m.rssPeakMb));
    const loopDelay = worst(validations, (m) => m.loopDelayMaxMs);
    const cpuHeld = worst(validations, (m) => m.cpuHeldMaxMs);
    const verdict = (met: boolean) => (met ? 'met' : 'MISSED');
    const times = (all: Measured<unknown>[]) => all.map((m) => `${n(m.ms / 1000, 2)} s`).join(', ');

    console.log(`bare csv-parse pass: ${n(baseline.result)} records in ${n(baseline.ms / 1000, 2)} s (${n((baseline.result / baseline.ms) * 1000)} records/s; runs: ${times(baselines)}), peak RSS ${n(baseline.maxRssMb)} MB`);
    console.log(
      `full validation:     ${n(validation.result.rows)} rows in ${n(validation.ms / 1000, 2)} s (${n((validation.result.rows / validation.ms) * 1000)} rows/s; runs: ${times(validations)}), ` +
        `${n(validation.result.directoryCalls)} directory look-ups (batches of 1,000, one per tenant), error report streamed to a file`,
    );
    console.log(`ratio validation / bare parse: ${n(ratio, 2)}× (target within ${TARGET_RATIO}×): ${verdict(ratio <= TARGET_RATIO)}`);
    console.log(`peak RSS of the validating process: ${n(peakRss)} MB (node alone at start: ${n(validation.rssStartMb)} MB; target under ${TARGET_RSS_MB} MB): ${verdict(peakRss < TARGET_RSS_MB)}`);
    console.log(
      `worst event-loop delay during validation: ${n(loopDelay, 1)} ms (p99 ${n(worst(validations, (m) => m.loopDelayP99Ms), 1)} ms); ` +
        `longest run of the ${validation.cpuClock} between two turns: ${n(cpuHeld, 1)} ms (target under ${TARGET_LOOP_MS} ms): ${verdict(loopDelay < TARGET_LOOP_MS)}`,
    );

    /** The report's errors against the seeded ones: prints the line, says whether they agree. */
    const checkReport = (label: string, report: string, reported: number): boolean => {
      const found = parseErrorReport(readFileSync(path.join(dir, report), 'utf8')).map((e) => `${e.line}|${e.error}`);
      const expected = new Set(generated.expected);
      const unexpected = found.filter((key) => !expected.delete(key));
      const missing = [...expected];
      console.log(`${label}: ${n(found.length)}, seeded: ${n(generated.expected.length)}; unexpected: ${unexpected.length}, missing: ${missing.length}`);
      for (const key of [...unexpected.slice(0, 5).map((k) => `unexpected ${k}`), ...missing.slice(0, 5).map((k) => `missing ${k}`)]) console.log(`  ${key}`);
      return unexpected.length === 0 && missing.length === 0 && found.length === reported;
    };
    const correct = checkReport('errors found', 'errors.csv', validation.result.errors);
    if (!correct) console.error('the validator did not find exactly the seeded errors');

    const targetsMet = ratio <= TARGET_RATIO && peakRss < TARGET_RSS_MB && loopDelay < TARGET_LOOP_MS;
    if (!withGraph) {
      console.log(`directory join through Microsoft Graph: not run at ${n(rows)} rows (--graph-up-to ${n(graphUpTo())})`);
      return !correct || (process.argv.includes('--strict') && !targetsMet) ? 1 : 0;
    }
    const graphBest = best(graphRuns);
    const requests = graphRequests[graphRuns.indexOf(graphBest)];
    const graphPeakRss = worst(graphRuns, (m) => Math.max(m.maxRssMb, m.rssPeakMb));
    const { snapshotUsers, snapshotBytes } = graphBest.result;
    console.log(
      `directory join through Microsoft Graph: ${n(graphBest.result.rows)} rows in ${n(graphBest.ms / 1000, 2)} s (${n((graphBest.result.rows / graphBest.ms) * 1000)} rows/s; runs: ${times(graphRuns)}); ` +
        `ratio to the full validation: ${n(graphBest.ms / validation.ms, 2)}×`,
    );
    console.log(
      `  Graph requests: ${n(requests.batch)} $batch (${n(requests.batchSubRequests)} look-ups) before the switch, then ${n(requests.deltaFullPages)} users/delta pages ` +
        `reading both tenants (${n(generated.targetStates.length)} users each) once (${n(DELTA_PAGE_GUESS)} users a page, Graph's undocumented delta page size as the fake guesses it: ` +
        `${n((requests.deltaFullPages / (2 * generated.targetStates.length)) * 1_000_000)} requests per million users); snapshots: ${n(snapshotUsers)} users in ${n(snapshotBytes / 1024 / 1024, 1)} MB (${n(snapshotBytes / Math.max(1, snapshotUsers), 1)} bytes per user)`,
    );
    console.log(
      `  peak RSS of the Graph-joining process: ${n(graphPeakRss)} MB (node alone at start: ${n(graphBest.rssStartMb)} MB; target under ${TARGET_RSS_MB} MB): ${verdict(graphPeakRss < TARGET_RSS_MB)}; ` +
        `worst event-loop delay ${n(worst(graphRuns, (m) => m.loopDelayMaxMs), 1)} ms (longest run of the ${graphBest.cpuClock} between two turns: ${n(worst(graphRuns, (m) => m.cpuHeldMaxMs), 1)} ms)`,
    );
    const graphCorrect = checkReport('  errors found through Graph', 'errors-graph.csv', graphBest.result.errors);
    if (!graphCorrect) console.error('the validation through Graph did not find exactly the seeded errors');

    return !correct || !graphCorrect || (process.argv.includes('--strict') && !targetsMet) ? 1 : 0;
  } finally {
    if (process.argv.includes('--keep')) console.log(`files kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

const childJob = option('--child');
const childArgs = process.argv.slice(process.argv.indexOf('--child') + 2);
(childJob ? child(childJob, childArgs[0], childArgs[1]) : main()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
