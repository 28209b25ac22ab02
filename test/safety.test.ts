// Safe under Temporal's own tools, tried as an operator would: Request
// Cancellation (the SDK's cancel and `temporal workflow cancel`), actions sent
// while migrate runs or after the end, and a check an admin waits for that keeps
// failing. Real dev server, real Azurite, a real control-plane file.
import assert from 'node:assert/strict';
import { openDatabase } from '../src/controlplane/database';
import { execFile } from 'node:child_process';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, uploadWithSas, Product, ProductOptions } from './helpers/product';
import { randomUUID } from 'node:crypto';
import { MIGRATION_WORKFLOW_TYPE, SearchAttributes, isFinalPhase, migrationWorkflowId, statusQuery, approveSignal, cancelSignal, requestStorageUpdate, prepareUpdate, prepareSignal, type MigrationInput } from '../src/contracts';
import { UserError } from '../src/client/migrations';
import { resolveTemporalBinary } from '../src/temporal-binaries';
import { recordHistory } from './helpers/histories';
import type { ControlPlane } from '../src/controlplane/control-plane';
import type { AuditLog, AuditRecord } from '../src/controlplane/audit-log';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The control plane with `before` run ahead of each directory look-up of a user (role checks ask it). */
const beforeEachUserLookUp =
  (before: () => Promise<void>) =>
  (cp: ControlPlane): ControlPlane =>
    new Proxy(cp, {
      get(target, prop, receiver) {
        if (prop !== 'getTenantUser') return Reflect.get(target, prop, receiver) as unknown;
        return async (...args: Parameters<ControlPlane['getTenantUser']>) => {
          await before();
          return target.getTenantUser(...args);
        };
      },
    });

describe('safe under Temporal\'s own tools @integration', function () {
  this.timeout(180_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;

  useRealServers((servers) => ({ env, azurite } = servers));

  async function approvedWithStorage(p: Product, w: TestWorld) {
    const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
    const handle = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
    await p.client.actOn(handle, 'approve', { actor: w.targetAdmin });
    const storage = await p.client.actOn(handle, 'requestStorage', { actor: w.sourceAdmin });
    const sasUrl = storage.status.storage!.sasUrl;
    await uploadWithSas(sasUrl, w.mappingCsv);
    return { submitted, handle, sasUrl };
  }

  async function expectCancelledEverywhere(p: Product, w: TestWorld, migrationId: string, sasUrl: string) {
    const handle = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
    await assert.rejects(handle.result(), (err: unknown) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure);
    const description = await handle.describe();
    assert.equal(description.status.name, 'CANCELLED');
    assert.equal(description.typedSearchAttributes.get(SearchAttributes.phase), 'Cancelled');
    const status = await handle.query(statusQuery);
    assert.equal(status.phase, 'Cancelled');
    assert.equal(status.prepareDeadline, undefined);
    assert.match(String(status.reason), /cancelled through Temporal/);
    assert.equal((await p.client.status(migrationId)).phase, 'Cancelled', 't2t status says Cancelled');
    await assert.rejects(uploadWithSas(sasUrl, w.mappingCsv), (err: { statusCode?: number }) => err.statusCode === 403, 'the SAS answers 403');
    assert.equal((await p.controlPlane.getRequest(migrationId))?.approvalStatus, 'Deleted', 'the request is closed');
    // The environment is free: a new migration can be submitted.
    const again = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
    assert.equal(again.phase, 'PendingApproval');
  }

  async function withProduct(options: Partial<ProductOptions>, story: (p: Product, w: TestWorld) => Promise<void>, world = makeTestWorld({ users: 4 })) {
    const p = await startProduct({ env, azurite, world: world.world, ...options });
    try {
      await story(p, world);
    } finally {
      await p.stop();
    }
  }

  it('Request Cancellation (the SDK) on a migration with its storage: storage revoked, request closed, Cancelled everywhere', () =>
    withProduct({}, async (p, w) => {
      const { submitted, handle, sasUrl } = await approvedWithStorage(p, w);
      await handle.cancel();
      await expectCancelledEverywhere(p, w, submitted.migrationId, sasUrl);
      await recordHistory(await p.client.find(submitted.migrationId), 'cancelled-through-temporal');
    }));

  it('temporal workflow cancel, after a successful prepare: the same ending, the window cleared', () =>
    withProduct({}, async (p, w) => {
      const { submitted, handle, sasUrl } = await approvedWithStorage(p, w);
      const prepared = await p.client.actOn(handle, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: sasUrl });
      assert.equal(prepared.status.phase, 'Prepared');
      const temporal = resolveTemporalBinary('temporal')!;
      const cancelled = await new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile(temporal, ['workflow', 'cancel', '--address', env.address, '--workflow-id', migrationWorkflowId(w.environmentId)], (error, _stdout, stderr) =>
          resolve({ code: error ? 1 : 0, stderr }),
        ),
      );
      assert.equal(cancelled.code, 0, cancelled.stderr);
      await expectCancelledEverywhere(p, w, submitted.migrationId, sasUrl);
      const description = await handle.describe();
      assert.equal(description.typedSearchAttributes.get(SearchAttributes.prepareDeadline), undefined, 'no deadline left in the Web UI');
    }));

  it('while migrate runs: a cancellation is refused and recorded, actions are answered at once, migrate runs to its end; afterwards actions say how it ended', () => {
    // Re-mapping slowed down so that the migration is surely in Migrating while we act.
    const slow = (cp: ControlPlane): ControlPlane =>
      new Proxy(cp, {
        get(target, prop, receiver) {
          if (prop === 'remapEnvironmentUsers') {
            return async (...args: Parameters<ControlPlane['remapEnvironmentUsers']>) => {
              await sleep(1_000);
              return target.remapEnvironmentUsers(...args);
            };
          }
          return Reflect.get(target, prop, receiver) as unknown;
        },
      });
    return withProduct({ wrapControlPlane: slow, remapBatchSize: 1 }, async (p, w) => {
      const { submitted, handle, sasUrl } = await approvedWithStorage(p, w);
      await p.client.actOn(handle, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: sasUrl });
      await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      assert.equal((await handle.query(statusQuery)).phase, 'Migrating');

      const started = Date.now();
      const approve = await p.client.actOn(handle, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: sasUrl });
      assert.equal(approve.entry.outcome, 'refused');
      assert.match(String(approve.entry.reason), /the migration is running and can no longer be changed/);
      const cancelByUpdate = await p.client.actOn(handle, 'cancel', { actor: w.sourceAdmin });
      assert.equal(cancelByUpdate.entry.outcome, 'refused');
      assert.ok(Date.now() - started < 3_000, 'answered at once, not after migrate');
      // Rejected by the validator: no event in history, nothing counted towards the run's Updates.
      for (const refused of [approve, cancelByUpdate]) assert.equal(refused.entry.note, 'rejected by the migration before it was queued');
      const updates = ((await handle.fetchHistory()).events ?? []).map((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta?.updateId).filter(Boolean);
      assert.ok(!updates.includes(approve.entry.requestId) && !updates.includes(cancelByUpdate.entry.requestId), 'no Update event for the refused actions');

      await handle.signal(cancelSignal, { actor: w.sourceAdmin, requestId: 'signal-while-migrating' });
      await handle.signal(approveSignal, { actor: w.targetAdmin, requestId: 'late-approve' });
      await handle.cancel();

      const final = await p.client.waitForStatus(handle, (s) => s.phase === 'Succeeded' || s.phase === 'Failed', 120_000);
      assert.equal(final.phase, 'Succeeded', final.reason);
      // The phase is Succeeded before the closing steps (storage revoked, request closed) finish.
      await handle.result();
      assert.equal((await handle.describe()).status.name, 'COMPLETED', 'migrate ran to its end');
      const refusedCancels = final.audit.filter((e) => e.action === 'cancel' && e.outcome === 'refused');
      assert.ok(refusedCancels.some((e) => e.requestId === 'signal-while-migrating'), 'the signalled cancel has its answer');
      assert.ok(refusedCancels.some((e) => e.actor === 'Temporal' && /migrate had started/.test(String(e.reason))), "Temporal's cancellation is refused and recorded");
      assert.ok(final.audit.some((e) => e.requestId === 'late-approve' && e.outcome === 'refused'));
      const trail = await p.auditLog.list(submitted.migrationId);
      for (const refused of [approve, cancelByUpdate]) {
        assert.ok(trail.some((e) => e.requestId === refused.entry.requestId && e.outcome === 'refused'), `the ${refused.entry.action} refused while migrating is in the audit trail`);
      }
      assert.equal((await p.controlPlane.getRequest(submitted.migrationId))?.approvalStatus, 'Succeeded');
      await recordHistory(handle, 'cancel-refused-while-migrating');

      await assert.rejects(
        p.client.act(submitted.migrationId, 'cancel', { actor: w.sourceAdmin }),
        (err: Error) => err instanceof UserError && err.message === 'cancel refused: the migration has ended (Succeeded)',
      );
    });
  });

  it("an action the Update's validator rejects (no history at all) is still in the audit trail, written by the client", () =>
    withProduct({}, async (p, w) => {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const handle = await p.client.find(submitted.migrationId);
      const early = await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      assert.equal(early.entry.outcome, 'refused');
      const malformed = await p.client.actOn(handle, 'deny', { actor: w.targetAdmin, reason: 42 });
      assert.equal(malformed.entry.outcome, 'refused');
      assert.match(String(malformed.entry.reason), /invalid payload/);
      const trail = await p.auditLog.list(submitted.migrationId);
      for (const refused of [early, malformed]) {
        const recorded = trail.find((e) => e.requestId === refused.entry.requestId);
        assert.ok(recorded, `${refused.entry.action}: recorded`);
        assert.equal(recorded.outcome, 'refused');
        assert.equal(recorded.reason, refused.entry.reason);
        assert.equal(recorded.note, 'rejected by the migration before it was queued');
      }
      const events = await handle.fetchHistory();
      const accepted = (events.events ?? []).map((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name).filter(Boolean);
      assert.deepEqual(accepted, ['submitted'], 'the rejected Updates left no history (the only one is submit\'s own)');
      // and notified as the worker notifies the refusals it records (action-refused, once each)
      const { db, release } = await openDatabase(p.config.databaseUrl);
      try {
        const notified = await db.selectFrom('notification_events').select(['event_id', 'body']).where('migration_id', '=', submitted.migrationId).where('kind', '=', 'action-refused').execute();
        for (const refused of [early, malformed]) {
          const event = notified.find((e) => e.event_id === `${submitted.migrationId}:rejected-${refused.entry.requestId}`);
          assert.ok(event, `${refused.entry.action}: notified`);
          assert.doesNotMatch(event.body, /@/, 'no address in the notification');
        }
      } finally {
        await release();
      }
      await p.client.actOn(handle, 'cancel', { actor: w.sourceAdmin });
    }));

  /** Starts the migration workflow as `temporal workflow start` would, with what the client would have put in its input and `claims` on top. */
  function startAroundTheClient(p: Product, w: TestWorld, claims: Pick<MigrationInput, 'migrationId' | 'targetMigrationId'> & Partial<MigrationInput>) {
    const input: MigrationInput = {
      environmentId: w.environmentId,
      targetTenantId: w.target,
      submittedBy: w.sourceAdmin,
      approvalTimeoutMs: p.config.approvalTimeoutMs,
      lockboxTimeoutMs: p.config.lockboxTimeoutMs,
      prepareWindowMs: p.config.prepareWindowMs,
      ...claims,
    };
    return env.client.workflow.start(MIGRATION_WORKFLOW_TYPE, { taskQueue: p.config.taskQueue, workflowId: migrationWorkflowId(w.environmentId), args: [input] });
  }

  it('a start that forges carried state (an approval nobody gave) is refused and audited, and nothing is done', () =>
    withProduct({}, async (p, w) => {
      // As an operator would try it: `temporal workflow start --type tenantMigration` with `resume.state.phase = "Approved"`.
      const [migrationId, targetMigrationId] = [randomUUID(), randomUUID()];
      const state = { migrationId, targetMigrationId, environmentId: w.environmentId, targetTenantId: w.target, sourceTenantId: w.source, phase: 'Approved' as const, submittedAt: new Date().toISOString(), lockboxRequired: false, warnings: [], audit: [] };
      const handle = await startAroundTheClient(p, w, { migrationId, targetMigrationId, resume: { state, sourceTenantId: w.source, validationRound: 0, externalActions: false, servicePrepares: false, nextWatchAt: 0 } });
      const ended = await p.client.waitForStatus(handle, (s) => isFinalPhase(s.phase), 30_000);
      assert.equal(ended.phase, 'Failed');
      assert.match(String(ended.reason), /^submit refused: the start carried the state of a migration in progress/);
      await assert.rejects(handle.executeUpdate(requestStorageUpdate, { args: [{ actor: w.sourceAdmin }] }), 'no storage for the source admin');
      assert.equal(ended.storage, undefined);
      assert.equal((await p.controlPlane.getEnvironment(w.environmentId))?.tenantId, w.source, 'the environment stays in its tenant');
      assert.equal(await p.controlPlane.getRequest(migrationId), undefined, 'no request was registered with the service, none closed');
      const trail = await p.auditLog.list(migrationId);
      assert.deepEqual(trail.map((e) => [e.action, e.actor, e.outcome]), [['submit', w.sourceAdmin, 'refused']], 'the refusal is in the audit trail');
      // The environment is free for a real submit, which waits for the target admin's approval.
      const real = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      assert.equal(real.phase, 'PendingApproval');
      await p.client.actOn(await p.client.find(real.migrationId), 'cancel', { actor: w.sourceAdmin });
    }));

  it('a start that names a batch which did not start it is refused and audited, and nothing is done', () =>
    withProduct({}, async (p, w) => {
      // As an operator would try it: `temporal workflow start --type tenantMigration` with `batch.workflowId` set,
      // to take a batch's migrate slot or to be counted in it. Temporal records who started a run: no parent here.
      const [migrationId, targetMigrationId] = [randomUUID(), randomUUID()];
      const handle = await startAroundTheClient(p, w, { migrationId, targetMigrationId, batch: { workflowId: 't2t-batch-not-its-parent' } });
      const ended = await p.client.waitForStatus(handle, (s) => isFinalPhase(s.phase), 30_000);
      assert.equal(ended.phase, 'Failed');
      assert.equal(ended.reason, 'submit refused: the start names batch t2t-batch-not-its-parent, which did not start it; nothing was done');
      assert.equal(await p.controlPlane.getRequest(migrationId), undefined, 'no request was registered with the service');
      const trail = await p.auditLog.list(migrationId);
      assert.deepEqual(trail.map((e) => [e.action, e.actor, e.outcome]), [['submit', w.sourceAdmin, 'refused']], 'the refusal is in the audit trail');
    }));

  it("a move-back link in the input is checked against what was recorded: one naming a migration that never moved the environment is refused", () =>
    withProduct({}, async (p, w) => {
      const forged = randomUUID();
      const status = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin, reversesMigrationId: forged });
      assert.equal(status.phase, 'Failed');
      assert.equal(status.reason, `submit refused: not a move-back of migration ${forged}: no migration ${forged} was recorded`);
      assert.equal(status.reversesMigrationId, undefined, 'the status does not claim the link');
      const trail = await p.auditLog.list(status.migrationId);
      assert.deepEqual(trail.map((e) => [e.action, e.outcome]), [['submit', 'refused']]);
    }));

  it('the migration service down while an approval waits: the approval is answered within the check budget, and the deadline still fires', function () {
    let serviceDown = false;
    const down = (cp: ControlPlane): ControlPlane =>
      new Proxy(cp, {
        get(target, prop, receiver) {
          if (prop !== 'setRequestStatus') return Reflect.get(target, prop, receiver) as unknown;
          return async (...args: Parameters<ControlPlane['setRequestStatus']>) => {
            if (serviceDown) throw new Error('the migration service is unavailable');
            return target.setRequestStatus(...args);
          };
        },
      });
    return withProduct({ wrapControlPlane: down, durations: { checkBudgetMs: 4_000, approvalTimeoutMs: 40_000 } }, async (p, w) => {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      serviceDown = true;
      const approval = await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
      assert.equal(approval.entry.outcome, 'refused');
      assert.match(String(approval.entry.reason), /^the migration service refused it: /);
      assert.equal(approval.status.phase, 'PendingApproval');
      const expired = await p.client.waitForStatus(await p.client.find(submitted.migrationId), (s) => s.phase !== 'PendingApproval', 120_000);
      assert.equal(expired.phase, 'Expired', 'the approval deadline fired');
      serviceDown = false;
      await (await p.client.find(submitted.migrationId)).result();
    });
  });

  it('the control-plane database down for a while: actions are still answered, and the trail is written once it is back, nothing lost', function () {
    this.timeout(300_000);
    let databaseDown = false;
    const unavailable = (log: AuditLog): AuditLog => ({
      append: async (entries) => {
        if (databaseDown) throw new Error('connect ECONNREFUSED: the control-plane database is down');
        return log.append(entries);
      },
      list: (migrationId, options) => log.list(migrationId, options),
      spendSignedStart: (actionId, run) => log.spendSignedStart(actionId, run),
      close: () => log.close(),
    });
    return withProduct({ wrapAuditLog: unavailable }, async (p, w) => {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      databaseDown = true;
      const approved = await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
      assert.equal(approved.entry.outcome, 'accepted');
      // Taken after a write of the trail that failed: the migration did not wait for the database.
      const storage = await p.client.act(submitted.migrationId, 'requestStorage', { actor: w.sourceAdmin });
      assert.equal(storage.entry.outcome, 'accepted');
      assert.ok(storage.status.storage?.sasUrl);
      const written = (trail: AuditRecord[]) =>
        [approved, storage].every((action) => trail.some((e) => e.requestId === action.entry.requestId && e.outcome === 'accepted'));
      assert.ok(!written(await p.auditLog.list(submitted.migrationId)), 'nothing could be written meanwhile');
      databaseDown = false;
      // Written at the next try, with nothing else waking the migration.
      let trail = await p.auditLog.list(submitted.migrationId);
      while (!written(trail)) {
        await sleep(500);
        trail = await p.auditLog.list(submitted.migrationId);
      }
      assert.deepEqual(
        trail.map((e) => [e.action, e.outcome]),
        [['submit', 'accepted'], ['approve', 'accepted'], ['requestStorage', 'accepted']],
        'every entry once, in order',
      );
      await p.client.act(submitted.migrationId, 'cancel', { actor: w.sourceAdmin });
    });
  });

  it('the same action id sent before and after a continue-as-new is applied once, also as a signal', () =>
    withProduct({ durations: { continueAfterEvents: 20 } }, async (p, w) => {
      const { submitted, handle, sasUrl } = await approvedWithStorage(p, w);
      const runBefore = (await handle.describe()).runId;
      const payload = { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: sasUrl, requestId: 'prepare-once' };
      const first = await handle.executeUpdate(prepareUpdate, { args: [payload], updateId: 'prepare-once' });
      assert.equal(first.outcome, 'accepted');
      const prepared = await handle.query(statusQuery);
      assert.equal(prepared.phase, 'Prepared');
      // Its history is past 20 events: the waiting migration continues as new.
      while ((await handle.describe()).runId === runBefore) await sleep(200);

      // A client sending the same Update again, now to the next run (Temporal's own de-duplication ends with the run).
      const again = await handle.executeUpdate(prepareUpdate, { args: [payload], updateId: 'prepare-once' });
      assert.deepEqual(again, first, 'answered as the first time');
      // The same as a signal, followed by another action: handled in order, so once that one is answered the repeat has been.
      await handle.signal(prepareSignal, payload);
      await handle.signal(approveSignal, { actor: w.targetAdmin, requestId: 'after-the-repeat' });
      const status = await p.client.waitForStatus(handle, (s) => s.audit.some((e) => e.requestId === 'after-the-repeat'));
      assert.equal(status.prepareDeadline, prepared.prepareDeadline, 'the seven-day window did not restart');
      assert.equal(status.validation?.round, prepared.validation?.round, 'no second validation round');
      assert.equal(status.audit.filter((e) => e.requestId === 'prepare-once').length, 1, 'one entry for the action');
      await p.client.act(submitted.migrationId, 'cancel', { actor: w.sourceAdmin });
      const trail = await p.auditLog.list(submitted.migrationId);
      assert.equal(trail.filter((e) => e.requestId === 'prepare-once').length, 1, 'one entry in the audit trail');
    }));

  it('a Temporal cancel during prepare: recorded as cancelled, not as an accepted prepare, and the cleanup waits until validation has stopped', () => {
    let slow = false;
    const slowDirectory = (cp: ControlPlane): ControlPlane =>
      new Proxy(cp, {
        get(target, prop, receiver) {
          if (prop !== 'findTenantUsers') return Reflect.get(target, prop, receiver) as unknown;
          return async (...args: Parameters<ControlPlane['findTenantUsers']>) => {
            // A slow look-up inside the validation step, which heartbeats meanwhile (as it does between
            // batches), and so learns of a cancellation: then it stops.
            const context = Context.current();
            for (let waited = 0; slow && waited < 60_000; waited += 500) {
              context.heartbeat();
              await Promise.race([sleep(500), context.cancelled]);
            }
            return target.findTenantUsers(...args);
          };
        },
      });
    return withProduct({ wrapControlPlane: slowDirectory }, async (p, w) => {
      const { handle, sasUrl } = await approvedWithStorage(p, w);
      slow = true;
      const prepare = p.client.actOn(handle, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: sasUrl }).catch((err: unknown) => err);
      await p.client.waitForStatus(handle, (s) => s.phase === 'Validating');
      await handle.cancel();
      await assert.rejects(handle.result(), (err: unknown) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure);
      await prepare;
      const status = await handle.query(statusQuery);
      assert.equal(status.phase, 'Cancelled');
      assert.ok(!status.audit.some((e) => e.action === 'prepare' && e.outcome === 'accepted'), 'the prepare cut short is not recorded as accepted');
      assert.ok(status.audit.some((e) => e.action === 'cancel' && e.actor === 'Temporal' && e.outcome === 'accepted'), 'the cancellation is');
      // Storage revoked and the request closed only once validation had stopped reading the container.
      const events = (await handle.fetchHistory()).events ?? [];
      const id = (value: unknown) => Number(String(value));
      const validation = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'validateMapping');
      assert.ok(validation);
      const closedAt = events.find((e) => {
        const closed = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskCanceledEventAttributes ?? e.activityTaskTimedOutEventAttributes;
        return closed && id(closed.scheduledEventId) === id(validation.eventId);
      });
      const cleanup = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'endMigration');
      assert.ok(closedAt && cleanup, 'validation closed, and the cleanup ran');
      assert.ok(id(closedAt.eventId) < id(cleanup.eventId), 'the cleanup was scheduled after validation had stopped');
    });
  });

  it('terminate: t2t status says Terminated (not the phase the run stopped in), and an action says how it ended', () =>
    withProduct({}, async (p, w) => {
      const { submitted, handle } = await approvedWithStorage(p, w);
      await handle.terminate('an operator cleaning up');
      const status = await p.client.status(submitted.migrationId);
      assert.equal(status.phase, 'Terminated');
      assert.match(String(status.reason), /^the migration's workflow was terminated while Approved/);
      // how, when and by whom, from the run's close event
      assert.equal(status.closed?.how, 'terminated');
      assert.equal(status.closed?.reason, 'an operator cleaning up');
      assert.equal(status.closed?.whilePhase, 'Approved');
      assert.ok(!Number.isNaN(Date.parse(status.closed?.at ?? '')), status.closed?.at);
      await assert.rejects(
        p.client.act(submitted.migrationId, 'cancel', { actor: w.sourceAdmin }),
        (err: Error) => err instanceof UserError && err.message === 'cancel refused: the migration has ended (Terminated)',
      );
    }));

  it('6,000 refused approvals in a burst: the migration keeps running on a bounded history, and the right approval goes through', () =>
    withProduct({}, async (p, w) => {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const handle = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
      const firstRun = (await handle.describe()).runId;
      const burst = 6_000;
      let sent = 0;
      // A script retrying a refused action with the wrong account, 40 signals in flight at a time.
      await Promise.all(
        Array.from({ length: 40 }, async () => {
          while (sent < burst) {
            sent += 1;
            await handle.signal(approveSignal, { actor: w.otherAdmin });
          }
        }),
      );
      const approved = await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
      assert.equal(approved.entry.outcome, 'accepted');
      assert.equal(approved.status.phase, 'Approved');
      const description = await handle.describe();
      assert.equal(description.status.name, 'RUNNING');
      assert.ok(description.historyLength < 20_000, `current-run history: ${description.historyLength} events`);
      assert.notEqual(description.runId, firstRun, 'it continued as new on the way');
      assert.ok(approved.status.audit.length <= 100, 'the state keeps a bounded recent trail');
      const refused = (await p.auditLog.list(submitted.migrationId)).filter((e) => e.action === 'approve' && e.outcome === 'refused');
      // None is lost. A workflow task whose completion the server refuses under such a flood
      // ("task not found") has written its trail already, and its retry may group the same
      // refusals into other entries: the total can then exceed the burst (docs/behaviour.md).
      const total = refused.reduce((n, e) => n + e.count, 0);
      assert.ok(total >= burst, `every refusal is in the control plane (${total} of ${burst})`);
      assert.ok(total <= burst * 1.25, `over-counted by at most a few lost task completions (${total} for ${burst})`);
      assert.ok(refused.length < burst / 10, `identical refusals counted together (${refused.length} rows)`);
    }));

  it('a role check whose directory never answers is cut off within its budget and refuses the action with one line', () => {
    let directoryHangs = false;
    const hanging = beforeEachUserLookUp(async () => {
      if (directoryHangs) await sleep(15_000);
    });
    return withProduct({ wrapControlPlane: hanging, durations: { checkBudgetMs: 4_000 } }, async (p, w) => {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      directoryHangs = true;
      const started = Date.now();
      const refused = await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
      assert.equal(refused.entry.outcome, 'refused');
      assert.match(String(refused.entry.reason), /^approve refused: could not check your role; try again \(activity timed out\)$/i);
      // The budget is 4 s: refused before the hanging look-up (15 s) would have answered.
      assert.ok(Date.now() - started < 12_000, `refused after ${Date.now() - started} ms`);
      directoryHangs = false;
      const approved = await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
      assert.equal(approved.entry.outcome, 'accepted');
    });
  });

  it('a role check that keeps failing refuses the action with one line within its budget; the migration goes on taking actions', () => {
    let directoryDown = false;
    const flaky = beforeEachUserLookUp(async () => {
      if (directoryDown) throw new Error('connection reset by the directory');
    });
    return withProduct({ wrapControlPlane: flaky, durations: { checkBudgetMs: 4_000 } }, async (p, w) => {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      directoryDown = true;
      const refused = await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
      assert.equal(refused.entry.outcome, 'refused');
      assert.match(String(refused.entry.reason), /^approve refused: could not check your role; try again \(connection reset by the directory\)$/);
      assert.equal(refused.status.phase, 'PendingApproval');
      directoryDown = false;
      const approved = await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
      assert.equal(approved.entry.outcome, 'accepted');
      assert.equal(approved.status.phase, 'Approved');
    });
  });
});
