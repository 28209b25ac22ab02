// Stall detection through the real servers: the stall check (its workflow and
// activity, as its Schedule starts them) finds a migration that has waited in its
// phase for longer than the limit, the migration sets T2TStalled and notifies,
// `t2t requests` and `t2t stats` show it, and the next phase clears the mark.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SearchAttributes, migrationWorkflowId, statusQuery, type MigrationStatus } from '../src/contracts';
import { createMigrationWorker, startStallCheck } from '../src/worker';
import { openDatabase } from '../src/controlplane/database';
import { STALL_CHECK_WORKFLOW_TYPE, stallCheckScheduleId } from '../src/operations/stall-schedule';
import type { StallCheckResult } from '../src/activities/stall-activities';
import { runCli } from '../src/client/cli';
import { workflowBundle } from './helpers/temporal';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld } from './helpers/world';
import { startProduct } from './helpers/product';

async function until<T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('stall detection (dev server) @integration', function () {
  this.timeout(180_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;

  useRealServers((servers) => ({ env, azurite } = servers));

  it('marks a migration past its phase limit as stalled (T2TStalled, status, notification, t2t requests, t2t stats) once, and the next phase clears it', async () => {
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world });
    // The stall check runs on its own task queue here, as the worker's Schedule would start it.
    const stallQueue = `t2t-stall-${randomBytes(4).toString('hex')}`;
    const config = { ...p.config, taskQueue: stallQueue, stall: { limitMs: 1_000, minSamples: 100, checkIntervalMs: 60_000 } };
    const bundle = await workflowBundle();
    // A worker runs until its one check is done (a Schedule action is one run of the check).
    const check = async () =>
      (
        await createMigrationWorker({
          config,
          connection: env.nativeConnection,
          controlPlane: p.controlPlane,
          auditLog: p.auditLog,
          storage: p.storage,
          workflowBundle: bundle,
          stallCheck: { client: env.client },
        })
      ).runUntil(
        env.client.workflow.execute<() => Promise<StallCheckResult>>(STALL_CHECK_WORKFLOW_TYPE, { taskQueue: stallQueue, workflowId: `${stallQueue}-${randomBytes(3).toString('hex')}` }),
      );
    const cli = async (...args: string[]) => {
      let out = '';
      const code = await runCli([...args], {
        out: (s) => (out += s),
        err: (s) => (out += s),
        env: {
          TEMPORAL_ADDRESS: env.address,
          T2T_TASK_QUEUE: p.config.taskQueue,
          T2T_DATABASE_URL: p.config.databaseUrl,
          AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
          T2T_STALL_AFTER: '1s',
          T2T_STALL_MIN_SAMPLES: '100',
        },
      });
      return { code, out };
    };
    try {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const handle = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
      assert.equal(submitted.phase, 'PendingApproval');

      // Not stalled yet: the check tells nobody.
      assert.deepEqual(await check(), { stalled: 0, told: 0 });
      await new Promise((r) => setTimeout(r, 1_500));
      const first = await check();
      assert.equal(first.stalled, 1);
      assert.equal(first.told, 1);

      const marked = await until('the stall mark', () => handle.query(statusQuery), (s: MigrationStatus) => s.stalled !== undefined);
      assert.equal(marked.stalled!.phase, 'PendingApproval');
      assert.equal(marked.stalled!.basis, 'limit');
      assert.equal(marked.stalled!.thresholdMs, 1_000);
      await until('T2TStalled', async () => (await handle.describe()).typedSearchAttributes.get(SearchAttributes.stalled), (v) => v === true);
      const listed = await until(
        'the Web UI list of stalled migrations',
        async () => {
          const ids: string[] = [];
          for await (const e of env.client.workflow.list({ query: `T2TStalled = true AND T2TEnvironmentId = '${w.environmentId}'` })) ids.push(e.workflowId);
          return ids;
        },
        (ids) => ids.length === 1,
      );
      assert.deepEqual(listed, [handle.workflowId]);

      // The notification: one `stalled` event in the outbox, with no address in it.
      const events = await until(
        'the stalled event',
        async () => {
          const { db, release } = await openDatabase(p.config.databaseUrl);
          try {
            return await db.selectFrom('notification_events').selectAll().where('migration_id', '=', submitted.migrationId).where('kind', '=', 'stalled').execute();
          } finally {
            await release();
          }
        },
        (rows) => rows.length > 0,
      );
      assert.equal(events.length, 1);
      assert.doesNotMatch(events[0].body, /@/);

      // Told once: a second check finds it marked.
      assert.deepEqual(await check(), { stalled: 1, told: 0 });

      const requests = await cli('--as', w.sourceAdmin, 'requests');
      assert.equal(requests.code, 0, requests.out);
      assert.match(requests.out, new RegExp(`${submitted.migrationId}\\s+PendingApproval .*STALLED: \\d+s in PendingApproval \\(usually under 1s\\)`));
      const stats = await cli('--json', 'stats');
      assert.equal(stats.code, 0, stats.out);
      const document = JSON.parse(stats.out) as { phases: { phase: string; current: number; stallBasis: string }[]; stalled: { migrationId: string }[] };
      assert.ok(document.phases.some((s) => s.phase === 'PendingApproval' && s.current >= 1 && s.stallBasis === 'limit'));
      assert.ok(document.stalled.some((s) => s.migrationId === submitted.migrationId));
      const table = await cli('stats');
      assert.match(table.out, /^phase\s+count\s+p50\s+p90\s+max\s+now\s+stalled after$/m);

      // The next phase starts unmarked; a stale notice for the old phase changes nothing.
      await p.client.actOn(handle, 'approve', { actor: w.targetAdmin });
      const approved = await handle.query(statusQuery);
      assert.equal(approved.phase, 'Approved');
      assert.equal(approved.stalled, undefined);
      await until('T2TStalled cleared', async () => (await handle.describe()).typedSearchAttributes.get(SearchAttributes.stalled), (v) => v === undefined);
      await handle.signal('markStalled', { phase: 'PendingApproval', since: marked.stalled!.since, elapsedMs: 5_000, thresholdMs: 1_000, basis: 'limit' });
      await handle.signal('markStalled', 'not a notice');
      assert.equal((await handle.query(statusQuery)).stalled, undefined);
      await p.client.actOn(handle, 'cancel', { actor: w.sourceAdmin });
    } finally {
      await p.stop();
    }
  });

  it("the worker's Schedule starts the stall check every T2T_STALL_CHECK_INTERVAL", async () => {
    const taskQueue = `t2t-stall-${randomBytes(4).toString('hex')}`;
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world, taskQueue });
    try {
      const config = { ...p.config, stall: { ...p.config.stall, checkIntervalMs: 90_000 } };
      await startStallCheck(env.client, config);
      const schedule = env.client.schedule.getHandle(stallCheckScheduleId(taskQueue));
      const description = await schedule.describe();
      assert.equal(description.spec.intervals?.[0].every, 90_000);
      assert.equal(description.action.type, 'startWorkflow');
      if (description.action.type === 'startWorkflow') {
        assert.equal(description.action.workflowType, STALL_CHECK_WORKFLOW_TYPE);
        assert.equal(description.action.taskQueue, taskQueue);
      }
      // A second worker starting changes nothing; a new interval is written.
      await startStallCheck(env.client, config);
      await startStallCheck(env.client, { ...config, stall: { ...config.stall, checkIntervalMs: 120_000 } });
      assert.equal((await schedule.describe()).spec.intervals?.[0].every, 120_000);
      await schedule.delete();
    } finally {
      await p.stop();
    }
  });
});
