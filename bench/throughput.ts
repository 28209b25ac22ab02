// npm run bench:throughput [-- --sizes 10,100,1000] [--timeline]
// Runs N migrations end to end (submit, approve, storage, upload, prepare,
// migrate) on a local dev server with one worker process, and — in the same run — N
// trivial workflows with the same signals and activities, and prints
// migrations per second, p50/p95 latency, peak memory and the ratio.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { ALL_SEARCH_ATTRIBUTES, migrationWorkflowId } from '../src/contracts';
import { testingExecutable } from '../src/temporal-binaries';
import { startTestAzurite } from '../test/helpers/azurite';
import { startProduct, uploadWithSas, Product } from '../test/helpers/product';
import { benchClient, benchDataConverter, benchWorkerEnv } from './lib/codec';
import { makeTestWorld } from '../test/helpers/world';
import { stepUpdate, doneQuery } from './fixtures/trivial-workflow';
import { historyCounts, type HistoryCounts } from './lib/history';
import { timeline } from './lib/timeline';
import { freePort } from '../test/helpers/ports';
import { serverRequests, requestsPer } from './server-requests';
import { processCpu, cpuPer } from './process-cpu';
import { startMigrationWorkerProcess, startWorkerProcess, writeTrivialBundle } from './worker-process';
import { runBenchmark } from './lib/run';

const sizesArg = process.argv.indexOf('--sizes');
const SIZES = (sizesArg > 0 ? process.argv[sizesArg + 1] : '10,100,1000').split(',').map(Number);
const IN_FLIGHT = 50;
/** migrations and trivial workflows run first at each size, not measured (JIT, caches, connections) */
const WARM_UP = 20;
/** completed workflows of each kind whose histories are counted */
const HISTORY_SAMPLE = 10;
const historyLines: string[] = [];
let metricsUrl = '';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const mb = (bytes: number | undefined) => (bytes === undefined ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(0)} MB`);

let peakRss = 0;
// rss() alone: the full memoryUsage() walks the heap, which would cost the run itself.
setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100).unref();

async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function runMigrations(p: Product, env: TestWorkflowEnvironment, world: ReturnType<typeof makeTestWorld>, environmentIds: string[]): Promise<number[]> {
  const latencies: number[] = [];
  await pool(environmentIds, IN_FLIGHT, async (environmentId) => {
    const started = performance.now();
    const submitted = await p.client.submit({ environmentId, targetTenantId: world.target, actor: world.sourceAdmin });
    const handle = benchClient(env).workflow.getHandle(migrationWorkflowId(environmentId));
    await p.client.actOn(handle, 'approve', { actor: world.targetAdmin });
    const storage = await p.client.actOn(handle, 'requestStorage', { actor: world.sourceAdmin });
    await uploadWithSas(storage.status.storage!.sasUrl, world.mappingCsv);
    await p.client.actOn(handle, 'prepare', { actor: world.sourceAdmin, targetTenantId: world.target, mappingContainer: storage.status.storage!.sasUrl });
    await p.client.actOn(handle, 'migrate', { actor: world.sourceAdmin, targetTenantId: world.target });
    const final = await p.client.waitForStatus(handle, (s) => s.phase === 'Succeeded' || s.phase === 'Failed', 600_000);
    if (final.phase !== 'Succeeded') throw new Error(`${submitted.migrationId}: ${final.phase} ${final.reason}`);
    latencies.push(performance.now() - started);
  });
  return latencies;
}

async function runTrivial(env: TestWorkflowEnvironment, taskQueue: string, n: number, ids?: string[]): Promise<number[]> {
  const latencies: number[] = [];
  await pool(Array.from({ length: n }, (_, i) => i), IN_FLIGHT, async () => {
    const started = performance.now();
    const workflowId = `trivial-${randomUUID()}`;
    ids?.push(workflowId);
    const handle = await benchClient(env).workflow.start('trivialMigration', { taskQueue, workflowId });
    // As t2t acts: each action an Update, then one query for the status it shows.
    for (let step = 0; step < 4; step += 1) {
      const requestId = randomUUID();
      await handle.executeUpdate(stepUpdate, { args: [{ requestId }], updateId: requestId });
      await handle.query(doneQuery);
    }
    // As t2t waits for the end: the status query, polled with the same back-off.
    let delay = 50;
    while (!(await handle.query(doneQuery))) {
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 500);
    }
    await handle.result();
    latencies.push(performance.now() - started);
  });
  return latencies;
}

/**
 * The least a completed migration's history can hold for what it does: its start and end; each
 * Update accepted and completed (submit's own among them); each activity scheduled, started and
 * completed; one marker per local activity (role checks, audit writes); one upsert per phase shown
 * (PendingApproval, Approved, Validating, Prepared, Migrating, Succeeded); each deadline timer
 * started and cancelled; one patch marker and its TemporalChangeVersion upsert; and one workflow
 * task (three events) for the start, each later Update and each activity's completion, the only
 * things that wake it.
 */
function leastLine(m: HistoryCounts): string {
  const get = (t: string) => m.byType.get(t) ?? 0;
  const updates = get('WORKFLOW_EXECUTION_UPDATE_ACCEPTED');
  const activities = get('ACTIVITY_TASK_SCHEDULED');
  const localActivities = get('MARKER_RECORDED core_local_activity');
  const timers = get('TIMER_STARTED');
  const phases = 6;
  // submit's own Update (`submitted`) arrives with the start: it wakes no workflow task of its own.
  const wakingUpdates = updates - 1;
  const least = 2 + 2 * updates + 3 * activities + localActivities + phases + 2 * timers + 2 + 3 * (1 + wakingUpdates + activities);
  return `least the lifecycle needs for that: ${least.toFixed(1)} (start and end 2, ${updates.toFixed(0)} Updates × 2, ${activities.toFixed(1)} activities × 3, ${localActivities.toFixed(1)} local-activity markers, ${phases} phase upserts, ${timers.toFixed(0)} deadline timers × 2, one patch 2, ${(1 + wakingUpdates + activities).toFixed(1)} workflow tasks × 3); migration / least ${(m.perWorkflow / least).toFixed(2)}x`;
}

function historyTable(migration: HistoryCounts, trivial: HistoryCounts): string[] {
  const types = [...new Set([...migration.byType.keys(), ...trivial.byType.keys()])].sort((a, b) => (migration.byType.get(b) ?? 0) - (migration.byType.get(a) ?? 0));
  const f = (v: number | undefined) => (v ?? 0).toFixed(1).padStart(9);
  return [
    `history events per completed workflow (mean of ${migration.workflows} migrations and ${trivial.workflows} trivial workflows): migration ${migration.perWorkflow.toFixed(1)}, trivial ${trivial.perWorkflow.toFixed(1)}, ratio ${(migration.perWorkflow / trivial.perWorkflow).toFixed(2)}x`,
    leastLine(migration),
    '  event type                                 | migration |   trivial',
    ...types.map((t) => `  ${t.padEnd(42)} | ${f(migration.byType.get(t))} | ${f(trivial.byType.get(t))}`),
  ];
}

/** One timed run with the CPU and server requests around it. */
async function measure(run: () => Promise<number[]>) {
  const requestsBefore = await serverRequests(metricsUrl);
  const cpuBefore = processCpu();
  const started = performance.now();
  const latencies = await run();
  const ms = performance.now() - started;
  return { ms, latencies, cpuBefore, cpuAfter: processCpu(), requestsBefore, requestsAfter: await serverRequests(metricsUrl) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-throughput-'));
  const metricsPort = await freePort();
  metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: testingExecutable('temporal'), ip: '127.0.0.1', searchAttributes: ALL_SEARCH_ATTRIBUTES, extraArgs: ['--log-level', 'error', '--metrics-port', String(metricsPort)] },
  });
  const azurite = await startTestAzurite();
  const trivialQueue = `trivial-${randomBytes(3).toString('hex')}`;
  const trivialBundle = await writeTrivialBundle(dir);
  console.log(`one worker process, ${IN_FLIGHT} migrations in flight at most, 3 mapped users each; Node ${process.version}, ${os.cpus().length} cores`);
  console.log(`each N: ${WARM_UP} of each kind to warm up, then trivial, migrations, trivial again (the ratio uses the mean of the two trivial runs)`);
  console.log('     N | migrations/s | p50 ms | p95 ms | trivial/s | trivial p50 ms | ratio (time) | worker peak RSS');
  const details: string[] = [];
  try {
    for (const n of SIZES) {
      const world = makeTestWorld({ users: 3, unmappedUsers: 0, environments: n + WARM_UP });
      // This process only drives, as an admin's client would; each worker is a process of its own.
      const p = await startProduct({ env, azurite, world: world.world, databaseUrl: path.join(dir, `cp-${n}.sqlite`), dataConverter: benchDataConverter });
      await p.stopWorker();
      const worker = startMigrationWorkerProcess(p, { temporalAddress: env.address, storageConnectionString: azurite.connectionString, dataDir: dir }, {
        // Payloads encrypted, as in production; npm run bench:codec measures what that costs.
        ...benchWorkerEnv,
      });
      const trivialWorker = startWorkerProcess(path.join(__dirname, 'fixtures', 'trivial-worker.js'), {
        TEMPORAL_ADDRESS: env.address,
        T2T_TASK_QUEUE: trivialQueue,
        T2T_BENCH_WORKFLOW_BUNDLE: trivialBundle,
        // The baseline pays for the codec too: the ratio is of the migration's own work.
        ...benchWorkerEnv,
      });
      try {
        await runMigrations(p, env, world, world.environmentIds.slice(n));
        await runTrivial(env, trivialQueue, WARM_UP);
        // What each worker holds before the measured runs (start, bundling, warm-up): the rest of its peak is load.
        const afterWarmUp = `migration worker ${mb(worker.rss())} (peak so far ${mb(worker.peakRss())}), trivial worker ${mb(trivialWorker.rss())} (peak so far ${mb(trivialWorker.peakRss())})`;
        const trivialIds: string[] = [];
        const trivialBefore = await measure(() => runTrivial(env, trivialQueue, n, trivialIds));
        const real = await measure(() => runMigrations(p, env, world, world.environmentIds.slice(0, n)));
        const trivialAfter = await measure(() => runTrivial(env, trivialQueue, n));
        const trivialMs = (trivialBefore.ms + trivialAfter.ms) / 2;
        const trivialLatencies = [...trivialBefore.latencies, ...trivialAfter.latencies];
        console.log(
          `${String(n).padStart(6)} | ${(n / (real.ms / 1000)).toFixed(2).padStart(12)} | ${percentile(real.latencies, 50).toFixed(0).padStart(6)} | ` +
            `${percentile(real.latencies, 95).toFixed(0).padStart(6)} | ${(n / (trivialMs / 1000)).toFixed(2).padStart(9)} | ` +
            `${percentile(trivialLatencies, 50).toFixed(0).padStart(14)} | ${(real.ms / trivialMs).toFixed(2).padStart(11)}x | ${mb(worker.peakRss())}`,
        );
        if (!historyLines.length) {
          // Events per completed workflow, by type: read once, from a few of the measured runs.
          const sample = (ids: string[]) => ids.slice(0, HISTORY_SAMPLE).map((id) => benchClient(env).workflow.getHandle(id));
          const migrationsCounted = await historyCounts(sample(world.environmentIds.slice(0, n).map(migrationWorkflowId)));
          const trivialCounted = await historyCounts(sample(trivialIds));
          historyLines.push(...historyTable(migrationsCounted, trivialCounted));
          if (process.argv.includes('--timeline')) {
            // One of each, side by side in time: where a migration's latency goes.
            const [migration] = sample(world.environmentIds.slice(0, n).map(migrationWorkflowId));
            const [trivial] = sample(trivialIds);
            historyLines.push('timeline of one migration:', ...(await timeline(migration)), 'timeline of one trivial workflow:', ...(await timeline(trivial)));
          }
        }
        details.push(`N=${n} peak RSS: migration worker ${mb(worker.peakRss())}, trivial worker ${mb(trivialWorker.peakRss())}, this driver ${mb(peakRss)}; after start and warm-up: ${afterWarmUp}`);
        const fmt = (rows: [string, number][]) => rows.map(([op, v]) => `${op} ${v.toFixed(1)}`).join(', ');
        details.push(
          `N=${n} CPU per migration: ${cpuPer(real.cpuBefore, real.cpuAfter, n)}`,
          `N=${n} CPU per trivial:   ${cpuPer(trivialAfter.cpuBefore, trivialAfter.cpuAfter, n)}`,
          `N=${n} server requests per migration: ${fmt(requestsPer(real.requestsBefore, real.requestsAfter, n))}`,
          `N=${n} server requests per trivial:   ${fmt(requestsPer(trivialAfter.requestsBefore, trivialAfter.requestsAfter, n))}`,
        );
      } finally {
        await Promise.all([worker.stop(), trivialWorker.stop()]);
        await p.stop();
      }
    }
    // Where the cost goes: CPU by process (this one is client and worker) and the server's requests by operation.
    console.log(details.join('\n'));
    console.log(historyLines.join('\n'));
  } finally {
    await azurite.dispose();
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBenchmark(main);
