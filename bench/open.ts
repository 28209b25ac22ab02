// npm run bench:open [-- --total 10000 --cache 500 --approve 1000]
// Many open migrations on one worker with a bounded workflow cache: migrations
// are submitted and left waiting for approval (as most are, for days); the
// worker's resident memory is printed as they grow, then the latency of a query
// to any of them (most are no longer cached: the worker replays them to answer),
// then the rate at which approving many of them at once drains.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { ALL_SEARCH_ATTRIBUTES, approveUpdate, migrationWorkflowId, statusQuery } from '../src/contracts';
import { testingExecutable } from '../src/temporal-binaries';
import { startTestAzurite } from '../test/helpers/azurite';
import { startProduct } from '../test/helpers/product';
import { benchClient, benchDataConverter, benchWorkerEnv } from './lib/codec';
import { makeTestWorld } from '../test/helpers/world';
import { startMigrationWorkerProcess } from './worker-process';
import { numberArg, runBenchmark } from './lib/run';

const TOTAL = numberArg('total', 10_000);
const CACHE = numberArg('cache', 500);
const APPROVE = numberArg('approve', 1_000);
const QUERIES = numberArg('queries', 200);
const IN_FLIGHT = 50;
const CHECKPOINTS = [1_000, 5_000, 10_000].filter((n) => n < TOTAL).concat(TOTAL);

Runtime.install({ logger: new DefaultLogger('ERROR') });

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

const mb = (bytes: number | undefined) => (bytes === undefined ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(0)} MB`);

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-open-'));
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: testingExecutable('temporal'), ip: '127.0.0.1', searchAttributes: ALL_SEARCH_ATTRIBUTES, extraArgs: ['--log-level', 'error'] },
  });
  const azurite = await startTestAzurite();
  const world = makeTestWorld({ users: 3, unmappedUsers: 0, environments: TOTAL });
  const p = await startProduct({ env, azurite, world: world.world, databaseUrl: path.join(dir, 'cp.sqlite'), dataConverter: benchDataConverter });
  const client = benchClient(env);
  await p.stopWorker();
  const worker = startMigrationWorkerProcess(p, { temporalAddress: env.address, storageConnectionString: azurite.connectionString, dataDir: dir }, {
    T2T_MAX_CACHED_WORKFLOWS: String(CACHE),
    // Payloads encrypted, as in production; npm run bench:codec measures what that costs.
    ...benchWorkerEnv,
  });
  console.log(`one worker process, workflow cache ${CACHE} (T2T_MAX_CACHED_WORKFLOWS), ${IN_FLIGHT} submits in flight; Node ${process.version}, ${os.cpus().length} cores`);
  try {
    const started = performance.now();
    let submitted = 0;
    console.log('  open migrations (PendingApproval) | submitted/s | worker RSS now | worker peak RSS');
    for (const checkpoint of CHECKPOINTS) {
      const from = submitted;
      const t0 = performance.now();
      await pool(world.environmentIds.slice(from, checkpoint), IN_FLIGHT, async (environmentId) => {
        const status = await p.client.submit({ environmentId, targetTenantId: world.target, actor: world.sourceAdmin });
        if (status.phase !== 'PendingApproval') throw new Error(`${environmentId}: ${status.phase} ${status.reason ?? ''}`);
      });
      submitted = checkpoint;
      const rate = (checkpoint - from) / ((performance.now() - t0) / 1000);
      // Settle: let the worker finish its tasks and its collector run before reading RSS.
      await new Promise((r) => setTimeout(r, 5_000));
      console.log(`${String(checkpoint).padStart(35)} | ${rate.toFixed(1).padStart(11)} | ${mb(worker.rss()).padStart(14)} | ${mb(worker.peakRss())}`);
    }
    console.log(`all ${TOTAL} submitted in ${((performance.now() - started) / 1000).toFixed(0)} s`);

    // Queries to migrations picked at random: most were evicted from the cache long ago.
    const latencies: number[] = [];
    const picks = Array.from({ length: QUERIES }, (_, i) => world.environmentIds[Math.floor(((i * 7919) % TOTAL))]);
    for (const environmentId of picks) {
      const t = performance.now();
      const status = await client.workflow.getHandle(migrationWorkflowId(environmentId)).query(statusQuery);
      latencies.push(performance.now() - t);
      if (status.phase !== 'PendingApproval') throw new Error(`${environmentId}: ${status.phase}`);
    }
    console.log(`status query to any of them, one at a time (${QUERIES}): p50 ${percentile(latencies, 50).toFixed(0)} ms, p95 ${percentile(latencies, 95).toFixed(0)} ms, max ${Math.max(...latencies).toFixed(0)} ms; worker RSS ${mb(worker.rss())}`);

    // Approve many at once: each approval is an Update answered once the service is told.
    const toApprove = world.environmentIds.slice(0, APPROVE);
    const t1 = performance.now();
    const approvalLatencies: number[] = [];
    let rpcTimeouts = 0;
    await pool(toApprove, APPROVE, async (environmentId) => {
      const t = performance.now();
      // The approve Update as t2t sends it; one whose RPC times out while the worker is busy is sent
      // again with the same update id (the server runs it once), as a patient client would.
      const handle = client.workflow.getHandle(migrationWorkflowId(environmentId));
      const requestId = randomUUID();
      for (;;) {
        try {
          const entry = await handle.executeUpdate(approveUpdate, { args: [{ actor: world.targetAdmin, requestId }], updateId: requestId });
          if (entry.outcome !== 'accepted') throw new Error(`${environmentId}: ${entry.reason}`);
          break;
        } catch (err) {
          if (!(err instanceof WorkflowUpdateRPCTimeoutOrCancelledError)) throw err;
          rpcTimeouts += 1;
        }
      }
      approvalLatencies.push(performance.now() - t);
    });
    const drainS = (performance.now() - t1) / 1000;
    console.log(
      `${APPROVE} approvals sent at once: all answered in ${drainS.toFixed(1)} s, ${(APPROVE / drainS).toFixed(1)} approvals/s; ` +
        `each answered in p50 ${(percentile(approvalLatencies, 50) / 1000).toFixed(1)} s, p95 ${(percentile(approvalLatencies, 95) / 1000).toFixed(1)} s; worker RSS ${mb(worker.rss())}, peak ${mb(worker.peakRss())}; Update RPCs timed out and sent again: ${rpcTimeouts}`,
    );
  } finally {
    await worker.stop();
    await p.stop();
    await azurite.dispose();
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBenchmark(main);
