// What happens after a migration's workflow is closed with none of its code running
// (terminate from the Web UI or the CLI, a timeout, an unexpected failure): the
// reconciler, started by a Temporal Schedule, finds the request it left open,
// revokes its storage and closes it. Real dev server, real Azurite, real database.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ScheduleNotFoundError } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import { MIGRATION_WORKFLOW_TYPE, MigrationInput, SearchAttributes, initialSearchAttributes, migrationWorkflowId } from '../src/contracts';
import type { MigrationRequestRecord } from '../src/controlplane/control-plane';
import { createMigrationWorker } from '../src/worker';
import { RECONCILER_ACTOR } from '../src/activities/reconciler-activities';
import { RECONCILER_SCHEDULE_ID, RECONCILER_WORKFLOW_TYPE, ensureReconcilerSchedule, reconcilerScheduleId } from '../src/reconciler/schedule';
import type { ReconcileInput, ReconcileResult, reconcileMigrations } from '../src/workflows/reconciler';
import { resolveTemporalBinary } from '../src/temporal-binaries';
import { workflowBundle } from './helpers/temporal';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, Product, uploadWithSas } from './helpers/product';

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
  });
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The SAS as an admin's own tool would use it: plain HTTP, no SDK. */
async function sasStatus(sasUrl: string): Promise<{ list: number; put: number }> {
  const [base, query] = sasUrl.split('?');
  const list = await fetch(`${sasUrl}&restype=container&comp=list`);
  const put = await fetch(`${base}/probe.txt?${query}`, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'probe' });
  return { list: list.status, put: put.status };
}

interface Reconciling {
  p: Product;
  /** workflow runs the reconciler's activities have described (looked up by id) */
  described: () => number;
  reconcile(input?: ReconcileInput): Promise<ReconcileResult>;
  request(id: string): Promise<MigrationRequestRecord | undefined>;
  stop(): Promise<void>;
}

describe('reconciler: requests of migrations closed without finishing them @integration', function () {
  this.timeout(180_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;

  useRealServers((servers) => ({ env, azurite } = servers));

  /** The product, its worker serving the reconciler's activities as the real worker does. */
  async function reconciling(w: TestWorld, taskQueue?: string): Promise<Reconciling> {
    const p = await startProduct({ env, azurite, world: w.world, ...(taskQueue ? { taskQueue } : {}) });
    await p.stopWorker();
    let described = 0;
    const workflows = new Proxy(env.client.workflow, {
      get(target, property) {
        if (property === 'getHandle') {
          return (...args: Parameters<typeof target.getHandle>) => {
            described += 1;
            return target.getHandle(...args);
          };
        }
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const client = new Proxy(env.client, { get: (target, property) => (property === 'workflow' ? workflows : Reflect.get(target, property)) });
    const worker: Worker = await createMigrationWorker({
      config: p.config,
      connection: env.nativeConnection,
      controlPlane: p.controlPlane,
      auditLog: p.auditLog,
      storage: p.storage,
      workflowBundle: await workflowBundle(),
      reconciler: { client },
    });
    const running = worker.run();
    return {
      p,
      described: () => described,
      reconcile: (input = {}) =>
        env.client.workflow.execute<typeof reconcileMigrations>(RECONCILER_WORKFLOW_TYPE, {
          taskQueue: p.config.taskQueue,
          workflowId: `reconcile-test-${randomBytes(4).toString('hex')}`,
          args: [input],
        }),
      request: (id) => p.controlPlane.getRequest(id),
      async stop() {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
        await p.stop();
      },
    };
  }

  /** A migration started the way the client starts one, with options the client does not offer. */
  async function startMigrationDirectly(r: Reconciling, w: TestWorld, environmentId: string, extra: { workflowExecutionTimeout?: Duration } = {}) {
    const migration: MigrationInput = {
      migrationId: randomUUID(),
      targetMigrationId: randomUUID(),
      environmentId,
      targetTenantId: w.target,
      submittedBy: w.sourceAdmin,
      approvalTimeoutMs: r.p.config.approvalTimeoutMs,
      lockboxTimeoutMs: r.p.config.lockboxTimeoutMs,
      prepareWindowMs: r.p.config.prepareWindowMs,
    };
    const handle = await env.client.workflow.start(MIGRATION_WORKFLOW_TYPE, {
      taskQueue: r.p.config.taskQueue,
      workflowId: migrationWorkflowId(environmentId),
      args: [migration],
      typedSearchAttributes: initialSearchAttributes(migration, w.source),
      ...extra,
    });
    return { migration, handle };
  }

  it('a terminated migration: its request is marked Terminated, its SAS answers 403, the environment can be submitted again; a running one is untouched; a second run changes nothing', async () => {
    const w = makeTestWorld({ environments: 2 });
    const r = await reconciling(w);
    try {
      const [envA, envB] = w.environmentIds;
      const a = await r.p.client.submit({ environmentId: envA, targetTenantId: w.target, actor: w.sourceAdmin });
      const handleA = env.client.workflow.getHandle(migrationWorkflowId(envA));
      assert.equal((await r.p.client.actOn(handleA, 'approve', { actor: w.targetAdmin })).entry.outcome, 'accepted');
      const storage = await r.p.client.actOn(handleA, 'requestStorage', { actor: w.sourceAdmin });
      const sasUrl = storage.status.storage!.sasUrl;
      await uploadWithSas(sasUrl, w.mappingCsv);
      const b = await r.p.client.submit({ environmentId: envB, targetTenantId: w.target, actor: w.sourceAdmin });

      // An operator ends it from the Web UI: no code of the migration runs.
      await handleA.terminate('ended by an operator');
      assert.equal((await handleA.describe()).status.name, 'TERMINATED');
      assert.equal((await r.request(a.migrationId))?.approvalStatus, 'Approved', 'nothing closed the request');
      assert.deepEqual(await sasStatus(sasUrl), { list: 200, put: 201 }, 'nothing revoked the SAS');

      const first = await r.reconcile();
      assert.deepEqual(first.closed, { Terminated: 1, Failed: 0 });
      assert.deepEqual(first.closedIds, [a.migrationId]);
      assert.equal(first.failures, 0);
      const closed = (await r.request(a.migrationId))!;
      assert.equal(closed.approvalStatus, 'Terminated');
      assert.equal(closed.actedBy, RECONCILER_ACTOR);
      assert.deepEqual(await sasStatus(sasUrl), { list: 403, put: 403 });
      assert.equal((await r.request(b.migrationId))?.approvalStatus, 'Pending', 'the running migration keeps its request');
      assert.equal((await env.client.workflow.getHandle(migrationWorkflowId(envB)).describe()).status.name, 'RUNNING');
      // A closed run cannot be changed: its phase stays where the terminate found it.
      assert.equal((await handleA.describe()).typedSearchAttributes.get(SearchAttributes.phase), 'Approved');

      const before = await r.p.controlPlane.listRequests({});
      const describedBefore = r.described();
      const second = await r.reconcile();
      assert.deepEqual(second.closed, { Terminated: 0, Failed: 0 });
      assert.equal(second.failures, 0);
      assert.deepEqual(await r.p.controlPlane.listRequests({}), before);
      assert.equal(r.described(), describedBefore, 'a request whose run visibility shows running costs no describe');

      const again = await r.p.client.submit({ environmentId: envA, targetTenantId: w.target, actor: w.sourceAdmin });
      assert.equal(again.phase, 'PendingApproval');
      assert.notEqual(again.migrationId, a.migrationId);
      const third = await r.reconcile();
      assert.deepEqual(third.closed, { Terminated: 0, Failed: 0 });
      assert.equal((await r.request(again.migrationId))?.approvalStatus, 'Pending');
      assert.equal((await r.request(a.migrationId))?.approvalStatus, 'Terminated');

      for (const id of [envA, envB]) await env.client.workflow.getHandle(migrationWorkflowId(id)).terminate('test done');
    } finally {
      await r.stop();
    }
  });

  it("a timed-out migration is found although a newer migration of the environment has taken its workflow id", async () => {
    const w = makeTestWorld();
    const r = await reconciling(w);
    try {
      const { migration, handle } = await startMigrationDirectly(r, w, w.environmentId, { workflowExecutionTimeout: '4s' });
      await eventually('the request to be registered', async () => (await r.request(migration.migrationId)) ?? undefined);
      await assert.rejects(handle.result());
      assert.equal((await handle.describe()).status.name, 'TIMED_OUT');

      const newer = await r.p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const latest = await env.client.workflow.getHandle(migrationWorkflowId(w.environmentId)).describe();
      assert.equal(latest.typedSearchAttributes.get(SearchAttributes.sourceMigrationId), newer.migrationId);

      const result = await r.reconcile();
      assert.deepEqual(result.closed, { Terminated: 1, Failed: 0 });
      assert.equal((await r.request(migration.migrationId))?.approvalStatus, 'Terminated');
      assert.equal((await r.request(newer.migrationId))?.approvalStatus, 'Pending');
      await env.client.workflow.getHandle(migrationWorkflowId(w.environmentId)).terminate('test done');
    } finally {
      await r.stop();
    }
  });

  it('a failed workflow marks its request Failed; a request with no workflow at all is Terminated once it is old enough', async () => {
    const w = makeTestWorld();
    const r = await reconciling(w);
    try {
      // An environment the control plane does not hold: the first activity fails for good, and so does the run.
      const gone = `${w.environmentId}-gone`;
      const { migration, handle } = await startMigrationDirectly(r, w, gone);
      await assert.rejects(handle.result());
      assert.equal((await handle.describe()).status.name, 'FAILED');
      // Its request, as the service registers it once a migration is submitted.
      const request = { environmentId: gone, sourceTenantId: w.source, targetTenantId: w.target, createdBy: w.sourceAdmin };
      await r.p.controlPlane.recordRequest({ ...request, id: migration.migrationId, createdOn: new Date().toISOString() });
      const orphan = randomUUID();
      await r.p.controlPlane.recordRequest({ ...request, id: orphan, environmentId: `${w.environmentId}-never`, createdOn: new Date(Date.now() - 3_600_000).toISOString() });
      const fresh = randomUUID();
      await r.p.controlPlane.recordRequest({ ...request, id: fresh, environmentId: `${w.environmentId}-soon`, createdOn: new Date().toISOString() });

      const result = await r.reconcile({ missingGraceMs: 60_000 });
      assert.deepEqual(result.closed, { Terminated: 1, Failed: 1 });
      assert.equal((await r.request(migration.migrationId))?.approvalStatus, 'Failed');
      assert.equal((await r.request(orphan))?.approvalStatus, 'Terminated');
      assert.equal((await r.request(fresh))?.approvalStatus, 'Pending', 'too recent to be judged without a workflow');

      const before = await r.p.controlPlane.listRequests({});
      const repeat = await r.reconcile({ missingGraceMs: 60_000 });
      assert.deepEqual(repeat.closed, { Terminated: 0, Failed: 0 });
      assert.deepEqual(await r.p.controlPlane.listRequests({}), before);
    } finally {
      await r.stop();
    }
  });

  it('pages through many open requests', async () => {
    const w = makeTestWorld();
    const r = await reconciling(w);
    try {
      const old = new Date(Date.now() - 3_600_000).toISOString();
      const ids = Array.from({ length: 25 }, () => randomUUID());
      for (const id of ids) {
        await r.p.controlPlane.recordRequest({ id, environmentId: `${w.environmentId}-${id.slice(0, 8)}`, sourceTenantId: w.source, targetTenantId: w.target, createdBy: w.sourceAdmin, createdOn: old });
      }
      const capped = await r.reconcile({ pageSize: 4, maxClosesPerRun: 10 });
      assert.equal(capped.closed.Terminated, 10);
      assert.equal(capped.partial, true);
      const rest = await r.reconcile({ pageSize: 4 });
      assert.equal(rest.closed.Terminated, 15);
      assert.equal(rest.scanned, 15);
      assert.equal(rest.partial, false);
      for (const id of ids) assert.equal((await r.request(id))?.approvalStatus, 'Terminated');
    } finally {
      await r.stop();
    }
  });

  it('the worker\'s Schedule runs it: visible to the SDK and to the temporal CLI, created once when two workers start together, its interval kept up to date', async () => {
    const w = makeTestWorld();
    // The default task queue: the plain schedule id an operator looks for.
    const r = await reconciling(w, 'tenant-migrations');
    const schedule = env.client.schedule.getHandle(RECONCILER_SCHEDULE_ID);
    try {
      assert.equal(reconcilerScheduleId('tenant-migrations'), RECONCILER_SCHEDULE_ID);
      assert.equal(reconcilerScheduleId('eu-migrations'), 't2t-reconciler-eu-migrations');

      await Promise.all([
        ensureReconcilerSchedule(env.client, { ...r.p.config, reconcileIntervalMs: 60_000 }),
        ensureReconcilerSchedule(env.client, { ...r.p.config, reconcileIntervalMs: 60_000 }),
      ]);
      let description = await schedule.describe();
      assert.deepEqual(description.spec.intervals?.map((i) => i.every), [60_000]);
      assert.equal(description.policies.overlap, 'SKIP');
      assert.equal(description.action.workflowType, RECONCILER_WORKFLOW_TYPE);
      assert.equal(description.action.taskQueue, 'tenant-migrations');
      assert.equal(description.memo?.product, 't2t');
      assert.match(description.state.note ?? '', /Terminated/);

      await schedule.pause('paused by an operator');
      await ensureReconcilerSchedule(env.client, { ...r.p.config, reconcileIntervalMs: 2_000 });
      description = await schedule.describe();
      assert.deepEqual(description.spec.intervals?.map((i) => i.every), [2_000]);
      assert.equal(description.state.paused, true, "an operator's pause survives a worker's start");
      await schedule.unpause();

      const submitted = await r.p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      await env.client.workflow.getHandle(migrationWorkflowId(w.environmentId)).terminate('ended by an operator');
      const closed = await eventually('the Schedule to close the request', async () => {
        const request = await r.request(submitted.migrationId);
        return request?.approvalStatus === 'Terminated' ? request : undefined;
      });
      assert.equal(closed.actedBy, RECONCILER_ACTOR);
      assert.ok((await schedule.describe()).info.recentActions.length > 0);

      const temporal = resolveTemporalBinary('temporal')!;
      const described = await run(temporal, ['schedule', 'describe', '--address', env.address, '--schedule-id', RECONCILER_SCHEDULE_ID, '--output', 'json']);
      assert.equal(described.code, 0, described.stderr);
      assert.match(described.stdout, /t2t-reconciler/);
      assert.match(described.stdout, new RegExp(RECONCILER_WORKFLOW_TYPE));
      // Listing goes through visibility: it may take a moment to show.
      await eventually('`temporal schedule list` to show it', async () => {
        const listed = await run(temporal, ['schedule', 'list', '--address', env.address]);
        assert.equal(listed.code, 0, listed.stderr);
        return listed.stdout.includes(RECONCILER_SCHEDULE_ID) ? true : undefined;
      });
    } finally {
      await schedule.delete().catch((err: unknown) => {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      });
      await r.stop();
    }
  });
});
