// Worker Versioning on the real dev server: version 1 of the workflow code and a
// changed version 2 serve one task queue side by side. A migration pinned to
// version 1 finishes there while version 2 is current, a new migration starts on
// version 2, and a waiting one moves to version 2 when it continues as new.
import assert from 'node:assert/strict';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import { migrationWorkflowId } from '../src/contracts';
import { createMigrationWorker, deploymentVersionOf } from '../src/worker';
import { routeToVersion, runsPinnedElsewhere } from '../src/versioning/routing';
import { projectRoot, resolveTemporalBinary } from '../src/temporal-binaries';
import { devServer, timeSkippingServer } from './helpers/temporal';
import { startTestAzurite, RunningAzurite } from './helpers/azurite';
import { makeTestWorld } from './helpers/world';
import { startProduct, Product } from './helpers/product';
import { BUILD_MEMO } from './fixtures/workflows-v2';
import { defaultBuildId, deploymentVersion, packageVersion } from '../src/versioning/build-id';

const run = promisify(execFile);

describe('Worker Versioning: version 1 and a changed version 2 side by side (dev server) @integration', function () {
  this.timeout(240_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  let v2Bundle: WorkflowBundleWithSourceMap;

  before(async () => {
    [env, azurite, v2Bundle] = await Promise.all([
      devServer(),
      startTestAzurite(),
      bundleWorkflowCode({ workflowsPath: require.resolve('./fixtures/workflows-v2'), logger: quiet }),
    ]);
  });
  after(async () => azurite?.dispose());

  /** The build ids of the workers that completed each of a run's workflow tasks. */
  async function buildsThatRan(workflowId: string, runId: string): Promise<string[]> {
    const history = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
    return (history.events ?? []).flatMap((e) => (e.workflowTaskCompletedEventAttributes ? [e.workflowTaskCompletedEventAttributes.deploymentVersion?.buildId ?? '(none)'] : []));
  }

  async function describeRun(workflowId: string, runId?: string) {
    const d = await env.client.workflow.getHandle(workflowId, runId).describe();
    return { runId: d.runId, status: d.status.name, build: d.raw.workflowExecutionInfo?.versioningInfo?.deploymentVersion?.buildId, memo: d.memo?.[BUILD_MEMO] };
  }

  it('pins a migration to the version it started on, starts new ones on the current version, and moves one at continue-as-new', async () => {
    const deploymentName = `t2t-versioning-test-${randomBytes(4).toString('hex')}`;
    const w = makeTestWorld({ environments: 3 });
    const [envPinned, envNew, envMoved] = w.environmentIds;
    let p: Product | undefined;
    let v2: { worker: Worker; running: Promise<void> } | undefined;
    try {
      p = await startProduct({ env, azurite, world: w.world, versioning: { deploymentName, buildId: 'v1' } });
      const v1 = deploymentVersionOf(p.worker)!;
      assert.deepEqual(v1, { deploymentName, buildId: 'v1' });
      // A fresh deployment: the first worker's version becomes current, as `npm run worker` does it.
      assert.deepEqual(await routeToVersion(env.client, v1, { when: 'if-none' }), { outcome: 'made-current', current: v1 });

      const pinned = await p.client.submit({ environmentId: envPinned, targetTenantId: w.target, actor: w.sourceAdmin });
      const moved = await p.client.submit({ environmentId: envMoved, targetTenantId: w.target, actor: w.sourceAdmin });
      const movedFirstRun = await describeRun(migrationWorkflowId(envMoved));
      assert.equal(movedFirstRun.build, 'v1');

      // Version 2 joins the same task queue; a second worker does not take the routing over.
      const worker = await createMigrationWorker({
        config: { ...p.config, versioning: { deploymentName, buildId: 'v2', becomeCurrent: 'if-none' } },
        connection: env.nativeConnection,
        controlPlane: p.controlPlane,
        auditLog: p.auditLog,
        storage: p.storage,
        workflowBundle: v2Bundle,
      });
      v2 = { worker, running: worker.run() };
      const v2Version: WorkerDeploymentVersion = { deploymentName, buildId: 'v2' };
      assert.deepEqual(await routeToVersion(env.client, v2Version, { when: 'if-none' }), { outcome: 'another-is-current', current: v1 });

      // The operator's switch, with the command docs/deployment.md gives.
      await run(resolveTemporalBinary('temporal')!, [
        'worker', 'deployment', 'set-current-version',
        '--address', env.address, '--namespace', env.namespace ?? 'default',
        '--deployment-name', deploymentName, '--build-id', 'v2', '--yes',
      ]);

      // The two waiting migrations are pinned to version 1, which the embedded stack would warn of.
      await until(async () => ((await runsPinnedElsewhere(env.client, v2Version, p!.config.taskQueue)) === 2 ? true : undefined), 'visibility to count the two runs pinned to v1');
      assert.equal(await runsPinnedElsewhere(env.client, v1, p.config.taskQueue), 0);

      // A new migration starts on version 2.
      await p.client.submit({ environmentId: envNew, targetTenantId: w.target, actor: w.sourceAdmin });
      const started = await describeRun(migrationWorkflowId(envNew));
      assert.equal(started.build, 'v2');
      assert.equal(started.memo, 'v2');

      // The pinned one is denied and ends on version 1, though version 2 is current.
      const denied = await p.client.act(pinned.targetMigrationId, 'deny', { actor: w.targetAdmin, reason: 'not this quarter' });
      assert.equal(denied.entry.outcome, 'accepted', denied.entry.reason);
      const ended = await p.client.waitForStatus(await p.client.find(pinned.migrationId), (s) => s.phase === 'Denied', 60_000);
      assert.equal(ended.phase, 'Denied');
      const pinnedRun = await describeRun(migrationWorkflowId(envPinned));
      assert.equal(pinnedRun.status, 'COMPLETED');
      assert.equal(pinnedRun.memo, undefined, 'version 2 never ran the pinned migration');
      const pinnedBuilds = await buildsThatRan(migrationWorkflowId(envPinned), pinnedRun.runId);
      assert.ok(pinnedBuilds.length >= 3, `the denial was handled in a workflow task of its own: ${pinnedBuilds}`);
      assert.deepEqual(new Set(pinnedBuilds), new Set(['v1']));

      // The waiting one, woken by its approval, continues as new onto version 2 and keeps its state.
      const approved = await p.client.act(moved.targetMigrationId, 'approve', { actor: w.targetAdmin });
      assert.equal(approved.entry.outcome, 'accepted', approved.entry.reason);
      const next = await until(async () => {
        const d = await describeRun(migrationWorkflowId(envMoved));
        return d.runId !== movedFirstRun.runId && d.build !== undefined ? d : undefined;
      }, 'the approved migration to continue as new');
      assert.equal(next.build, 'v2');
      assert.equal(next.memo, 'v2');
      assert.deepEqual(new Set(await buildsThatRan(migrationWorkflowId(envMoved), movedFirstRun.runId)), new Set(['v1']));
      assert.equal((await p.client.status(moved.migrationId)).phase, 'Approved');
    } finally {
      if (v2) {
        v2.worker.shutdown();
        await v2.running;
      }
      await p?.stop();
    }
  });
});

describe('Worker Versioning off (T2T_WORKER_VERSIONING=off) on the dev server @integration', function () {
  this.timeout(180_000);

  it('an unversioned worker runs migrations, which then belong to no version', async () => {
    const [env, azurite] = await Promise.all([devServer(), startTestAzurite()]);
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world });
    try {
      assert.equal(p.config.versioning, undefined);
      assert.equal(deploymentVersionOf(p.worker), undefined);
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      assert.equal(submitted.phase, 'PendingApproval');
      const d = await env.client.workflow.getHandle(migrationWorkflowId(w.environmentId)).describe();
      assert.equal(d.raw.workflowExecutionInfo?.versioningInfo?.deploymentVersion ?? undefined, undefined);
    } finally {
      await p.stop();
      await azurite.dispose();
    }
  });
});

describe('Worker Versioning: worker processes (npm run worker) on the dev server @integration', function () {
  this.timeout(240_000);

  it('the first build on a deployment makes itself current; a later build serves beside it and leaves the switch to the operator', async () => {
    const [env, azurite] = await Promise.all([devServer(), startTestAzurite()]);
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-versioning-'));
    const deploymentName = `t2t-versioning-process-${randomBytes(4).toString('hex')}`;
    const processes: ChildProcess[] = [];
    const startWorker = (buildId: string) => {
      const child = spawn(process.execPath, [path.join(projectRoot(), 'dist', 'src', 'worker.js')], {
        env: {
          PATH: process.env.PATH,
          // Signed actions are another test's subject (signed-actions.test.ts): as the test run says (test/setup.ts).
          T2T_AUTH: process.env.T2T_AUTH,
          TEMPORAL_ADDRESS: env.address,
          T2T_TASK_QUEUE: `t2t-test-${randomBytes(4).toString('hex')}`,
          T2T_DATA_DIR: path.join(dir, buildId),
          AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
          T2T_DEPLOYMENT_NAME: deploymentName,
          T2T_BUILD_ID: buildId,
          // Payload encryption is another test's subject (codec.test.ts, payload-encryption.test.ts).
          T2T_PAYLOAD_ENCRYPTION: 'off',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      processes.push(child);
      let output = '';
      child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      return { output: () => output };
    };
    const current = async () =>
      (await env.client.workflowService.describeWorkerDeployment({ namespace: env.namespace ?? 'default', deploymentName })).workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId;
    try {
      const first = startWorker('p1');
      await until(async () => (/^worker: version .* is now current/m.test(first.output()) ? true : undefined), `the first worker to make its version current:\n${first.output()}`);
      assert.match(first.output(), new RegExp(`^worker: serving task queue '.+' on .+ as version ${deploymentName}\\.p1$`, 'm'));
      assert.equal(await current(), 'p1');

      const second = startWorker('p2');
      await until(async () => (/^worker: version .*p2 serves the migrations pinned to it/m.test(second.output()) ? true : undefined), `the second worker to report its version:\n${second.output()}`);
      assert.match(second.output(), new RegExp(`${deploymentName}\\.p1 is current \\(switch with \`temporal worker deployment set-current-version\`\\)`));
      assert.equal(await current(), 'p1', 'a later build does not take new migrations by itself');
    } finally {
      for (const child of processes) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await azurite.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Worker Versioning: the build id', () => {
  it('is the configured one, or the package version and the bundle hash: new workflow code, new id', () => {
    const version = packageVersion();
    assert.match(version, /^\d+\.\d+\.\d+/);
    const id = defaultBuildId({ code: 'workflow code, version 1' });
    assert.match(id, new RegExp(`^${version.replace(/\./g, '\\.')}-[0-9a-f]{12}$`));
    assert.equal(defaultBuildId({ code: 'workflow code, version 1' }), id, 'the same bundle, the same id on every replica');
    assert.notEqual(defaultBuildId({ code: 'workflow code, version 2' }), id);
    const versioning = { deploymentName: 't2t-worker', becomeCurrent: 'if-none' as const };
    assert.deepEqual(deploymentVersion(versioning, { code: 'x' }), { deploymentName: 't2t-worker', buildId: defaultBuildId({ code: 'x' }) });
    assert.deepEqual(deploymentVersion({ ...versioning, buildId: '0.2.0' }, { code: 'x' }), { deploymentName: 't2t-worker', buildId: '0.2.0' });
    assert.equal(deploymentVersion(undefined, { code: 'x' }), undefined);
  });
});

describe('Worker Versioning on the time-skipping test server, which has none @integration', function () {
  this.timeout(180_000);

  it('a versioned worker still runs migrations there; routing reports the server has no versioning', async () => {
    const [env, azurite] = await Promise.all([timeSkippingServer(), startTestAzurite()]);
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world, versioning: { deploymentName: `t2t-versioning-ts-${randomBytes(4).toString('hex')}`, buildId: 'v1' } });
    try {
      const version = deploymentVersionOf(p.worker)!;
      assert.equal(version.buildId, 'v1');
      assert.deepEqual(await routeToVersion(env.client, version, { when: 'if-none' }), { outcome: 'unsupported' });
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      assert.equal(submitted.phase, 'PendingApproval');
    } finally {
      await p.stop();
      await azurite.dispose();
    }
  });
});

/** Polls until `probe` gives a value; fails after a minute with what it waited for. */
async function until<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: (m: string) => console.warn(m), error: (m: string) => console.error(m) };
