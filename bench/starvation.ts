// npm run bench:starvation [-- --users 100000 --waiting 50 --period 5000 --batch 200 --baseline 30] [--timeline]
// One worker process serves 50 migrations waiting for approval while one more
// migration re-maps a large environment. Every period (5 s) each waiting
// migration gets a signal (a late stall notice, which changes nothing: one
// workflow task) and five of them the status query `t2t status` sends, spread
// over the period. Printed: the waiting migrations' workflow-task latency (from
// their histories, WorkflowTaskScheduled to WorkflowTaskCompleted) and the
// status queries' latency, first for a run without the re-mapping, then while
// it runs, in the same process and worker.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import { ALL_SEARCH_ATTRIBUTES, migrationWorkflowId, statusQuery } from '../src/contracts';
import { stalledSignal } from '../src/operations/stall-signal';
import { testingExecutable } from '../src/temporal-binaries';
import { startTestAzurite } from '../test/helpers/azurite';
import { startProduct, uploadWithSas } from '../test/helpers/product';
import { benchClient, benchDataConverter, benchWorkerEnv } from './lib/codec';
import { makeTestWorld } from '../test/helpers/world';
import { startMigrationWorkerProcess } from './worker-process';
import { workflowTaskLatencies } from './lib/workflow-task-latency';
import { timeline } from './lib/timeline';
import { numberArg, runBenchmark } from './lib/run';

const USERS = numberArg('users', 100_000);
const WAITING = numberArg('waiting', 50);
/** T2T_REMAP_BATCH_SIZE of the worker; the product's default unless given */
const BATCH = numberArg('batch', 0);
const BASELINE_S = numberArg('baseline', 30);
/** status queries per round, to waiting migrations in turn */
const QUERIES_PER_ROUND = 5;
/** how often each waiting migration gets a signal */
const ROUND_MS = numberArg('period', 5_000);

Runtime.install({ logger: new DefaultLogger('ERROR') });

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The waiting migrations, one environment each with only its admin: the large one is the only one with many users. */
function buildWorld() {
  const w = makeTestWorld({ users: USERS, unmappedUsers: 0, environments: 1 });
  const world = w.world as { environments: { id: string; users: unknown[]; url: string; orgId: string; name: string }[] };
  const [large] = world.environments;
  const waitingIds = Array.from({ length: WAITING }, (_, k) => `${w.environmentId}-waiting-${k + 1}`);
  for (const [k, id] of waitingIds.entries()) {
    world.environments.push({ ...large, id, name: `Waiting ${k + 1}`, url: `https://waiting${w.suffix}${k}.crm.dynamics.com`, orgId: `org-${w.suffix}-w${k}`, users: large.users.slice(0, 1) });
  }
  return { ...w, waitingIds };
}

interface Load {
  /** answered status queries */
  queryMs: number[];
  /** status queries the server gave up on (e.g. `no poller seen for task queue recently`: the worker did not poll) */
  queryFailures: number;
  rounds: number;
}

/**
 * Rounds of signals and status queries to the waiting migrations until `done` says so. Within a
 * round they are spread evenly, as independent people and tools would send them: a burst of 50
 * at once would measure the queue the burst itself makes.
 */
async function load(handles: WorkflowHandle[], done: (round: number) => Promise<boolean>): Promise<Load> {
  const queryMs: number[] = [];
  let queryFailures = 0;
  let queried = 0;
  let round = 0;
  const inFlight = new Set<Promise<void>>();
  const track = (work: Promise<void>) => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };
  // Late on purpose (a phase the migration is not in): the migration ignores it, after a workflow task.
  const notice = { phase: 'Succeeded' as const, since: new Date(0).toISOString(), elapsedMs: 0, thresholdMs: 1, basis: 'limit' as const };
  const query = async (handle: WorkflowHandle) => {
    const t = performance.now();
    const status = await handle.query(statusQuery).catch(() => undefined);
    if (!status) {
      queryFailures += 1;
      return;
    }
    queryMs.push(performance.now() - t);
    if (status.phase !== 'PendingApproval') throw new Error(`${handle.workflowId}: ${status.phase}`);
  };
  const step = ROUND_MS / handles.length;
  const queryEvery = Math.max(1, Math.floor(handles.length / QUERIES_PER_ROUND));
  for (;;) {
    // Each round from its own start: a round that ran late is not made up for with a burst.
    const started = performance.now();
    for (const [i, handle] of handles.entries()) {
      track(handle.signal(stalledSignal, notice));
      if (i % queryEvery === 0) track(query(handles[queried++ % handles.length]));
      const due = started + (i + 1) * step;
      await sleep(Math.max(0, due - performance.now()));
    }
    round += 1;
    if (await done(round)) break;
  }
  await Promise.all(inFlight);
  return { queryMs, queryFailures, rounds: round };
}

const f = (v: number) => (Number.isNaN(v) ? 'n/a' : v.toFixed(0));

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-starvation-'));
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: testingExecutable('temporal'), ip: '127.0.0.1', searchAttributes: ALL_SEARCH_ATTRIBUTES, extraArgs: ['--log-level', 'error'] },
  });
  const azurite = await startTestAzurite();
  const world = buildWorld();
  const t0 = performance.now();
  const p = await startProduct({ env, azurite, world: world.world, databaseUrl: path.join(dir, 'cp.sqlite'), dataConverter: benchDataConverter });
  const client = benchClient(env);
  await p.stopWorker();
  const worker = startMigrationWorkerProcess(p, { temporalAddress: env.address, storageConnectionString: azurite.connectionString, dataDir: dir }, {
    ...(BATCH > 0 ? { T2T_REMAP_BATCH_SIZE: String(BATCH) } : {}),
    // Payloads encrypted, as in production; npm run bench:codec measures what that costs.
    ...benchWorkerEnv,
  });
  const batch = BATCH > 0 ? BATCH : p.config.remapBatchSize;
  console.log(`one worker process; ${WAITING} migrations waiting for approval, each sent a signal every ${ROUND_MS} ms and ${QUERIES_PER_ROUND} of them a status query; Node ${process.version}, ${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(1)} at start`);
  console.log(`the re-mapping: ${USERS} users, ${batch} a batch (T2T_REMAP_BATCH_SIZE)`);
  try {
    // The large migration up to Prepared: its 100,000-row mapping validated, ready to migrate.
    const large = client.workflow.getHandle(migrationWorkflowId(world.environmentId));
    await p.client.submit({ environmentId: world.environmentId, targetTenantId: world.target, actor: world.sourceAdmin });
    await p.client.actOn(large, 'approve', { actor: world.targetAdmin });
    const storage = await p.client.actOn(large, 'requestStorage', { actor: world.sourceAdmin });
    await uploadWithSas(storage.status.storage!.sasUrl, world.mappingCsv);
    await p.client.actOn(large, 'prepare', { actor: world.sourceAdmin, targetTenantId: world.target, mappingContainer: storage.status.storage!.sasUrl });
    const prepared = await p.client.waitForStatus(large, (s) => s.phase !== 'Validating' && s.phase !== 'Approved', 1_800_000);
    if (prepared.phase !== 'Prepared') throw new Error(`large migration: ${prepared.phase} ${prepared.status ?? ''} ${prepared.reason ?? ''}`);
    const waiting: WorkflowHandle[] = [];
    for (const environmentId of world.waitingIds) {
      const status = await p.client.submit({ environmentId, targetTenantId: world.target, actor: world.sourceAdmin });
      if (status.phase !== 'PendingApproval') throw new Error(`${environmentId}: ${status.phase}`);
      waiting.push(client.workflow.getHandle(migrationWorkflowId(environmentId)));
    }
    console.log(`set up (world, validation of the large mapping, ${WAITING} submits) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

    // Warm-up round, not measured: the first signals replay nothing, but the worker's caches fill.
    await load(waiting, async (round) => round >= 3);

    const baselineFrom = Date.now();
    const baseline = await load(waiting, async () => Date.now() - baselineFrom >= BASELINE_S * 1000);
    const baselineTo = Date.now();

    const remapFrom = Date.now();
    await p.client.actOn(large, 'migrate', { actor: world.sourceAdmin, targetTenantId: world.target });
    // Watched beside the load, not inside it: a query to the large migration that waits on the
    // starved worker must not hold back the signals whose latency is measured.
    let ended = '';
    let remapTo = 0;
    const watch = (async () => {
      while (!ended) {
        const status = await large.query(statusQuery).catch(() => undefined);
        if (status && status.phase !== 'Migrating') {
          remapTo = Date.now();
          ended = status.phase;
        } else await sleep(200);
      }
    })();
    const remapping = await load(waiting, async () => ended !== '');
    await watch;
    if (ended !== 'Succeeded') throw new Error(`large migration: ${ended}`);
    const summary = (await large.query(statusQuery)).summary;

    const rows: [string, number, Load, Awaited<ReturnType<typeof workflowTaskLatencies>>][] = [
      ['without the re-mapping', (baselineTo - baselineFrom) / 1000, baseline, await workflowTaskLatencies(waiting, baselineFrom, baselineTo)],
      ['while it re-maps', (remapTo - remapFrom) / 1000, remapping, await workflowTaskLatencies(waiting, remapFrom, remapTo)],
    ];
    console.log(`re-mapped ${summary?.usersRemapped ?? '?'} users; migrate took ${((remapTo - remapFrom) / 1000).toFixed(1)} s from the Update to the status showing its end`);
    console.log('  run                    | seconds | workflow tasks | task p50 ms | task p99 ms | task max ms | timed out | status query p50 ms | p99 ms | max ms | failed');
    for (const [name, seconds, l, t] of rows) {
      console.log(
        `  ${name.padEnd(22)} | ${seconds.toFixed(0).padStart(7)} | ${String(t.latencies.length).padStart(14)} | ${f(percentile(t.latencies, 50)).padStart(11)} | ` +
          `${f(percentile(t.latencies, 99)).padStart(11)} | ${f(Math.max(...t.latencies)).padStart(11)} | ${String(t.retried).padStart(9)} | ` +
          `${f(percentile(l.queryMs, 50)).padStart(18)} | ${f(percentile(l.queryMs, 99)).padStart(6)} | ${f(Math.max(...l.queryMs)).padStart(6)} | ${String(l.queryFailures).padStart(6)}`,
      );
    }
    if (process.argv.includes('--timeline')) console.log('timeline of one waiting migration:', ...(await timeline(waiting[0])).map((line) => `\n${line}`));
    console.log(`load average ${os.loadavg()[0].toFixed(1)} at the end (the machine's other work competes for its ${os.cpus().length} cores)`);
    console.log(`worker peak RSS ${((worker.peakRss() ?? 0) / 1024 / 1024).toFixed(0)} MB`);
  } finally {
    await worker.stop();
    await p.stop();
    await azurite.dispose();
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBenchmark(main);
