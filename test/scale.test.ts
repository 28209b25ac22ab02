// Scale out: two worker processes on one Temporal server and one shared
// PostgreSQL control plane complete a batch; each environment is migrated once;
// the workers serve Prometheus metrics and stop gracefully on SIGTERM.
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { devServer } from './helpers/temporal';
import { startTestAzurite } from './helpers/azurite';
import { makeTestWorld } from './helpers/world';
import { startProduct, uploadWithSas } from './helpers/product';
import { testPostgres } from './helpers/postgres';
import { freePort } from './helpers/ports';
import { projectRoot } from '../src/temporal-binaries';
import { submitBatch } from '../src/client/migrations';
import { batchStatusQuery, batchWorkflowId, BatchStatus } from '../src/contracts';

describe('scale out: a batch on two workers and a shared database @integration', function () {
  this.timeout(300_000);

  it('completes a batch with each environment migrated once; one denial does not stop the others', async () => {
    const env = await devServer();
    const azurite = await startTestAzurite();
    const postgres = await testPostgres();
    const databaseUrl = await postgres.createDatabase(`t2t_${randomBytes(4).toString('hex')}`);
    const w = makeTestWorld({ users: 20, environments: 5 });
    // The test's own product instance only drives; the work is done by two worker processes.
    const p = await startProduct({ env, azurite, world: w.world, databaseUrl });
    await p.stopWorker();
    const metricsPorts = [await freePort(), await freePort()];
    const workers: ChildProcess[] = metricsPorts.map((port) =>
      spawn(process.execPath, [path.join(projectRoot(), 'dist', 'src', 'worker.js')], {
        env: {
          // Payload encryption is another test's subject (codec.test.ts, payload-encryption.test.ts).
          T2T_PAYLOAD_ENCRYPTION: 'off',
          PATH: process.env.PATH,
          // Signed actions are another test's subject (signed-actions.test.ts): as the test run says (test/setup.ts).
          T2T_AUTH: process.env.T2T_AUTH,
          // Unversioned, as the tests' in-process workers are (test/helpers/product.ts).
          T2T_WORKER_VERSIONING: 'off',
          TEMPORAL_ADDRESS: env.address,
          T2T_TASK_QUEUE: p.config.taskQueue,
          T2T_DATABASE_URL: databaseUrl,
          AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
          T2T_METRICS_ADDRESS: `127.0.0.1:${port}`,
          T2T_REMAP_BATCH_SIZE: '5',
        },
        stdio: 'ignore',
      }),
    );
    try {
      const submitted = await submitBatch(
        { client: env.client, controlPlane: p.controlPlane, config: p.config },
        { sourceTenantId: w.source, targetTenantId: w.target, actor: w.sourceAdmin, concurrency: 3 },
      );
      assert.equal(submitted.environments.length, 5);
      const batch = env.client.workflow.getHandle(batchWorkflowId(submitted.batchId));

      // Admins act on each migration as the batch starts it; at most three migrate at once.
      const handled = new Set<string>();
      const denied = submitted.environments[1].environmentId;
      const deadline = Date.now() + 240_000;
      let status: BatchStatus;
      while (!(status = await batch.query(batchStatusQuery)).done) {
        assert.ok(Date.now() < deadline, 'the batch finished in time');
        assert.ok(status.outcomes.filter((o) => o.migrateSlot === 'held').length <= 3, 'at most three migrating at once');
        for (const outcome of status.outcomes.filter((o) => o.state === 'running' && !handled.has(o.environmentId))) {
          const child = env.client.workflow.getHandle(`t2t-${outcome.environmentId}`);
          const started = await child.describe().then(() => true, () => false);
          if (!started) continue; // the batch is starting it: next round
          handled.add(outcome.environmentId);
          const migration = await p.client.waitForStatus(child, (s) => s.phase !== 'Submitted');
          if (outcome.environmentId === denied) {
            await p.client.act(outcome.targetMigrationId, 'deny', { actor: w.targetAdmin, reason: 'not this one' });
            continue;
          }
          await p.client.act(migration.targetMigrationId, 'approve', { actor: w.targetAdmin });
          const storage = await p.client.act(outcome.migrationId, 'requestStorage', { actor: w.sourceAdmin });
          await uploadWithSas(storage.status.storage!.sasUrl, w.mappingCsv);
          await p.client.act(outcome.migrationId, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: storage.status.storage!.sasUrl });
          await p.client.act(outcome.migrationId, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.deepEqual(status.summary, { Succeeded: 4, Denied: 1 });
      for (const outcome of status.outcomes) {
        const environment = (await p.controlPlane.getEnvironment(outcome.environmentId))!;
        if (outcome.environmentId === denied) {
          assert.equal(environment.tenantId, w.source);
          continue;
        }
        assert.equal(environment.tenantId, w.target);
        const remaps = await p.controlPlane.listRemaps(outcome.migrationId);
        assert.equal(remaps.length, 20);
        assert.ok(remaps.every((r) => r.appliedCount === 1), 'each user of each environment re-mapped once');
      }

      for (const port of metricsPorts) {
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        assert.match(metrics, /temporal_/, 'Prometheus metrics from the SDK runtime');
      }
      const exits = workers.map((worker) => new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code))));
      for (const worker of workers) worker.kill('SIGTERM');
      assert.deepEqual(await Promise.all(exits), [0, 0], 'both workers stop cleanly on SIGTERM');
    } finally {
      for (const worker of workers) if (worker.exitCode === null) worker.kill('SIGKILL');
      await p.stop();
      await azurite.dispose();
    }
  });
});
