// npm run bench:codec [-- --sizes 100] [--rounds 2]
// The payload codec's cost: N migrations end to end (submit, approve, storage,
// upload, prepare, migrate) on a local dev server with one worker process,
// with payloads in clear and with the codec (AES-256-GCM, zlib above 1 KiB) on
// the worker and on this driving client, alternating in the same run, and the
// orchestration time of each side by side. Target: the codec within 5%.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { ALL_SEARCH_ATTRIBUTES, migrationWorkflowId } from '../src/contracts';
import { testingExecutable } from '../src/temporal-binaries';
import { startTestAzurite, type RunningAzurite } from '../test/helpers/azurite';
import { startProduct, uploadWithSas } from '../test/helpers/product';
import { makeTestWorld } from '../test/helpers/world';
import { processCpu, cpuPer } from './process-cpu';
import { startMigrationWorkerProcess } from './worker-process';
import { runBenchmark } from './lib/run';
import { benchClient, benchDataConverter, benchWorkerEnv } from './lib/codec';

const arg = (name: string, fallback: string) => (process.argv.indexOf(name) > 0 ? process.argv[process.argv.indexOf(name) + 1] : fallback);
const SIZES = arg('--sizes', '100').split(',').map(Number);
const ROUNDS = Number(arg('--rounds', '2'));
const IN_FLIGHT = 50;
const WARM_UP = 20;

Runtime.install({ logger: new DefaultLogger('ERROR') });

async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))];

interface Side {
  ms: number;
  latencies: number[];
  cpu: string;
}

/** One side of a round: a fresh product and worker process, warmed up, then n migrations timed. */
async function side(env: TestWorkflowEnvironment, azurite: RunningAzurite, dir: string, n: number, withCodec: boolean): Promise<Side> {
  const world = makeTestWorld({ users: 3, unmappedUsers: 0, environments: n + WARM_UP });
  // The codec side exactly as the other benchmarks and production run: payloads and failures encrypted.
  const dataConverter = withCodec ? benchDataConverter : undefined;
  const p = await startProduct({ env, azurite, world: world.world, databaseUrl: path.join(dir, `cp-${randomBytes(3).toString('hex')}.sqlite`), dataConverter });
  await p.stopWorker();
  const client = withCodec ? benchClient(env) : env.client;
  const worker = startMigrationWorkerProcess(p, { temporalAddress: env.address, storageConnectionString: azurite.connectionString, dataDir: dir }, {
    ...(withCodec ? benchWorkerEnv : { T2T_PAYLOAD_ENCRYPTION: 'off' }),
  });
  const run = async (environmentIds: string[]) => {
    const latencies: number[] = [];
    await pool(environmentIds, IN_FLIGHT, async (environmentId) => {
      const started = performance.now();
      await p.client.submit({ environmentId, targetTenantId: world.target, actor: world.sourceAdmin });
      const handle = client.workflow.getHandle(migrationWorkflowId(environmentId));
      await p.client.actOn(handle, 'approve', { actor: world.targetAdmin });
      const storage = await p.client.actOn(handle, 'requestStorage', { actor: world.sourceAdmin });
      await uploadWithSas(storage.status.storage!.sasUrl, world.mappingCsv);
      await p.client.actOn(handle, 'prepare', { actor: world.sourceAdmin, targetTenantId: world.target, mappingContainer: storage.status.storage!.sasUrl });
      await p.client.actOn(handle, 'migrate', { actor: world.sourceAdmin, targetTenantId: world.target });
      const final = await p.client.waitForStatus(handle, (s) => s.phase === 'Succeeded' || s.phase === 'Failed', 600_000);
      if (final.phase !== 'Succeeded') throw new Error(`${environmentId}: ${final.phase} ${final.reason}`);
      latencies.push(performance.now() - started);
    });
    return latencies;
  };
  try {
    await run(world.environmentIds.slice(n));
    const cpuBefore = processCpu();
    const started = performance.now();
    const latencies = await run(world.environmentIds.slice(0, n));
    return { ms: performance.now() - started, latencies, cpu: cpuPer(cpuBefore, processCpu(), n) };
  } finally {
    await worker.stop();
    await p.stop();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-bench-codec-'));
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: testingExecutable('temporal'), ip: '127.0.0.1', searchAttributes: ALL_SEARCH_ATTRIBUTES, extraArgs: ['--log-level', 'error'] },
  });
  const azurite = await startTestAzurite();
  console.log(`one worker process, ${IN_FLIGHT} migrations in flight at most, 3 mapped users each; ${ROUNDS} rounds of clear then codec; Node ${process.version}, ${os.cpus().length} cores`);
  console.log('     N | round | payloads  | time ms | migrations/s | p50 ms | p95 ms');
  const cpuLines: string[] = [];
  try {
    for (const n of SIZES) {
      const totals = { clear: 0, codec: 0 };
      for (let round = 1; round <= ROUNDS; round += 1) {
        for (const withCodec of [false, true]) {
          const result = await side(env, azurite, dir, n, withCodec);
          totals[withCodec ? 'codec' : 'clear'] += result.ms;
          console.log(
            `${String(n).padStart(6)} | ${String(round).padStart(5)} | ${(withCodec ? 'encrypted' : 'clear').padEnd(9)} | ${result.ms.toFixed(0).padStart(7)} | ` +
              `${(n / (result.ms / 1000)).toFixed(2).padStart(12)} | ${percentile(result.latencies, 50).toFixed(0).padStart(6)} | ${percentile(result.latencies, 95).toFixed(0).padStart(6)}`,
          );
          cpuLines.push(`N=${n} round ${round} ${withCodec ? 'encrypted' : 'clear'} CPU per migration: ${result.cpu}`);
        }
      }
      const cost = (totals.codec / totals.clear - 1) * 100;
      console.log(
        `N=${n}: orchestration time over ${ROUNDS} round(s): codec ${totals.codec.toFixed(0)} ms, no codec ${totals.clear.toFixed(0)} ms, ` +
          `ratio ${(totals.codec / totals.clear).toFixed(3)} (${cost >= 0 ? '+' : ''}${cost.toFixed(1)}%), same run (target: within 5%)`,
      );
    }
    console.log(cpuLines.join('\n'));
  } finally {
    await azurite.dispose();
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBenchmark(main);
