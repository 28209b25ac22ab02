// Crashes, restarts and faults lose nothing: a worker killed with SIGKILL in
// the middle of re-mapping, a Temporal server restarted while a migration waits,
// storage unavailable during prepare.
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { devServer } from './helpers/temporal';
import { startTestAzurite, RunningAzurite } from './helpers/azurite';
import { makeTestWorld } from './helpers/world';
import { startProduct, uploadWithSas } from './helpers/product';
import { projectRoot, testingExecutable } from '../src/temporal-binaries';
import { ALL_SEARCH_ATTRIBUTES, MigrationStatus, migrationWorkflowId } from '../src/contracts';
import { freePort } from './helpers/ports';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('reliability @integration', function () {
  this.timeout(300_000);
  let azurite: RunningAzurite;

  before(async () => {
    azurite = await startTestAzurite();
  });
  after(async () => {
    await azurite?.dispose();
  });

  it('a worker killed with SIGKILL at several points during re-mapping: every mapped user re-mapped exactly once, nothing else changed', async () => {
    const env = await devServer();
    const users = 3000;
    const w = makeTestWorld({ users, unmappedUsers: 5 });
    // This process submits and drives; the migration's worker is a separate process we kill.
    const p = await startProduct({ env, azurite, world: w.world });
    await p.stopWorker();
    let worker: ChildProcess | undefined;
    const startWorker = () => {
      worker = spawn(process.execPath, [path.join(projectRoot(), 'dist', 'src', 'worker.js')], {
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
          T2T_DATABASE_URL: p.config.databaseUrl,
          AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
          T2T_REMAP_BATCH_SIZE: '50',
        },
        stdio: 'ignore',
      });
    };
    const kill = async () => {
      const exited = new Promise((r) => worker!.once('exit', r));
      worker!.kill('SIGKILL');
      await exited;
    };
    try {
      startWorker();
      const tenantsBefore = JSON.stringify(await p.controlPlane.listTenants());
      const targetUsersBefore = JSON.stringify([...(await p.controlPlane.findTenantUsers(w.target, Array.from({ length: users }, (_, i) => w.targetUpn(i)))).entries()]);
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const handle = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
      await p.client.actOn(handle, 'approve', { actor: w.targetAdmin });
      const storage = await p.client.actOn(handle, 'requestStorage', { actor: w.sourceAdmin });
      await uploadWithSas(storage.status.storage!.sasUrl, w.mappingCsv);
      const prepared = await p.client.actOn(handle, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: storage.status.storage!.sasUrl });
      assert.equal(prepared.status.phase, 'Prepared');
      await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });

      const kills: number[] = [];
      for (const threshold of [400, 1500]) {
        const deadline = Date.now() + 120_000;
        let done = 0;
        while ((done = (await p.controlPlane.listRemaps(submitted.migrationId)).length) < threshold) {
          assert.ok(Date.now() < deadline, `re-mapping reached ${done}, not ${threshold}`);
          await sleep(10);
        }
        await kill();
        kills.push((await p.controlPlane.listRemaps(submitted.migrationId)).length);
        startWorker();
      }
      assert.ok(kills.every((n) => n < users), `the kills landed during re-mapping (${kills.join(', ')} of ${users})`);

      const final = await p.client.waitForStatus(handle, (s) => s.phase === 'Succeeded' || s.phase === 'Failed', 240_000);
      assert.equal(final.phase, 'Succeeded', final.reason);
      const remaps = await p.controlPlane.listRemaps(submitted.migrationId);
      assert.equal(remaps.length, users);
      assert.ok(remaps.every((r) => r.appliedCount === 1));
      assert.equal(new Set(remaps.map((r) => r.sourceUpn.toLowerCase())).size, users, 'no user twice');
      assert.equal(final.summary!.usersRemapped, users);
      const environmentUsers = await p.controlPlane.countEnvironmentUsers(w.environmentId);
      assert.equal(environmentUsers, users + 5 + 1, 'nobody lost or added');
      assert.equal(JSON.stringify(await p.controlPlane.listTenants()), tenantsBefore, 'tenants unchanged');
      assert.equal(
        JSON.stringify([...(await p.controlPlane.findTenantUsers(w.target, Array.from({ length: users }, (_, i) => w.targetUpn(i)))).entries()]),
        targetUsersBefore,
        'the target directory unchanged',
      );
    } finally {
      if (worker && worker.exitCode === null) await kill();
      await p.stop();
    }
  });

  it('a Temporal server restart while waiting for approval and during the window: the signal is accepted and the timer fires on time', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-restart-'));
    const port = await freePort();
    const start = () =>
      TestWorkflowEnvironment.createLocal({
        server: {
          executable: testingExecutable('temporal'),
          ip: '127.0.0.1',
          port,
          dbFilename: path.join(dir, 'temporal.sqlite'),
          searchAttributes: ALL_SEARCH_ATTRIBUTES,
          extraArgs: ['--log-level', 'error'],
        },
      });
    const w = makeTestWorld();
    const databaseUrl = path.join(dir, 'control-plane.sqlite');
    let env = await start();
    let p = await startProduct({ env, azurite, world: w.world, databaseUrl, durations: { prepareWindowMs: 25_000 } });
    const restart = async () => {
      await p.stopWorker();
      await env.teardown();
      env = await start();
      const taskQueue = p.config.taskQueue;
      await p.stop();
      p = await startProduct({ env, azurite, world: w.world, databaseUrl, durations: { prepareWindowMs: 25_000 }, keepWorld: true, taskQueue });
    };
    try {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      await restart();
      const handle = () => env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
      const approved = await p.client.actOn(handle(), 'approve', { actor: w.targetAdmin });
      assert.equal(approved.entry.outcome, 'accepted');
      assert.equal(approved.status.migrationId, submitted.migrationId);

      const storage = await p.client.actOn(handle(), 'requestStorage', { actor: w.sourceAdmin });
      await uploadWithSas(storage.status.storage!.sasUrl, w.mappingCsv);
      const prepared = await p.client.actOn(handle(), 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: storage.status.storage!.sasUrl });
      const deadline = Date.parse(prepared.status.prepareDeadline!);
      await restart();
      const expired = await p.client.waitForStatus(handle(), (s: MigrationStatus) => s.phase === 'PreparationExpired', 90_000);
      assert.equal(expired.phase, 'PreparationExpired');
      const late = Date.now() - deadline;
      assert.ok(late >= 0 && late < 15_000, `the window closed on time (${late} ms after its deadline)`);
      await p.client.actOn(handle(), 'cancel', { actor: w.sourceAdmin });
    } finally {
      await p.stop();
      await env.teardown();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('storage unavailable during prepare: the activity retries and the migration goes on when storage returns', async () => {
    const env = await devServer();
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world });
    try {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
      const storage = await p.client.act(submitted.migrationId, 'requestStorage', { actor: w.sourceAdmin });
      const sasUrl = storage.status.storage!.sasUrl;
      await uploadWithSas(sasUrl, `Source,Destination\n${w.sourceUpn(1)},${w.sourceUpn(1)}\n${w.sourceUpn(2)},${w.targetUpn(2)}\n`);

      await azurite.stop();
      const handle = await p.client.find(submitted.migrationId);
      const prepare = p.client.actOn(handle, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: sasUrl });
      // validation is running and failing against the missing storage
      await p.client.waitForStatus(handle, (s) => s.phase === 'Validating', 30_000);
      await sleep(4000);
      // Still validating: the storage client's own retries, then Temporal's, keep it going.
      const description = await handle.describe();
      const pending = description.raw.pendingActivities?.[0];
      assert.equal(pending?.activityType?.name, 'validateMapping');
      assert.equal((await p.client.waitForStatus(handle, () => true)).phase, 'Validating');
      await azurite.restart();
      const outcome = await prepare;
      assert.equal(outcome.status.phase, 'ValidationFailed');
      assert.equal(outcome.status.validation!.errors, 1);
      const report = await (await fetch(outcome.status.validation!.errorReportUrl!)).text();
      assert.deepEqual(report.trim().split('\r\n'), [
        'Line,Source,Destination,Error',
        `2,${w.sourceUpn(1)},${w.sourceUpn(1)},Target on line '2' is same as source email ID`,
      ]);
    } finally {
      await p.stop();
    }
  });
});
