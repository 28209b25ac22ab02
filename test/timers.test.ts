// Durable timers on the time-skipping test server: days pass in seconds.
import assert from 'node:assert/strict';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowHandle } from '@temporalio/client';
import { MigrationStatus, migrationWorkflowId, statusQuery } from '../src/contracts';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, Product, uploadWithSas } from './helpers/product';
import { recordHistory } from './helpers/histories';

const DAY = 86_400_000;

describe('durable timers (time-skipping server) @integration', function () {
  this.timeout(180_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;

  useRealServers((servers) => ({ env, azurite } = servers), 'own time-skipping');

  async function submitted(p: Product, w: TestWorld): Promise<{ handle: WorkflowHandle; status: MigrationStatus }> {
    const status = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
    return { handle: env.client.workflow.getHandle(migrationWorkflowId(w.environmentId)), status };
  }

  async function prepare(p: Product, w: TestWorld, handle: WorkflowHandle): Promise<MigrationStatus> {
    const storage = await p.client.actOn(handle, 'requestStorage', { actor: w.sourceAdmin });
    await uploadWithSas(storage.status.storage!.sasUrl, w.mappingCsv);
    const prepared = await p.client.actOn(handle, 'prepare', {
      actor: w.sourceAdmin,
      targetTenantId: w.target,
      mappingContainer: storage.status.storage!.sasUrl,
    });
    assert.equal(prepared.status.phase, 'Prepared', prepared.entry.reason ?? prepared.status.reason);
    return prepared.status;
  }

  it('nobody approves: the request expires after the approval timeout', async () => {
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world, durations: { approvalTimeoutMs: 7 * DAY } });
    try {
      const { handle, status } = await submitted(p, w);
      assert.equal(status.approvalDeadline, new Date(Date.parse(status.submittedAt) + 7 * DAY).toISOString());
      const final = (await handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Expired');
      assert.match(final.reason!, /did not approve the request in time/);
      await recordHistory(handle, 'approval-expired');
    } finally {
      await p.stop();
    }
  });

  it('target admin approves on day 6: the approval is accepted', async () => {
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world, durations: { approvalTimeoutMs: 7 * DAY } });
    try {
      const { handle } = await submitted(p, w);
      await env.sleep(6 * DAY);
      const approved = await p.client.actOn(handle, 'approve', { actor: w.targetAdmin });
      assert.equal(approved.entry.outcome, 'accepted');
      assert.equal(approved.status.phase, 'Approved');
      await p.client.actOn(handle, 'cancel', { actor: w.sourceAdmin });
    } finally {
      await p.stop();
    }
  });

  it('the lockbox request expires when no approver answers within 12 hours', async () => {
    const w = makeTestWorld({ lockbox: true });
    const p = await startProduct({ env, azurite, world: w.world, durations: { lockboxTimeoutMs: 12 * 3_600_000 } });
    try {
      const { handle } = await submitted(p, w);
      const approved = await p.client.actOn(handle, 'approve', { actor: w.targetAdmin });
      assert.equal(approved.status.phase, 'PendingLockbox');
      const final = (await handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Expired');
      assert.equal(final.reason, 'the lockbox request was not approved in time');
    } finally {
      await p.stop();
    }
  });

  it('the seven-day window: migrate on day 6 works', async () => {
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world });
    try {
      const { handle } = await submitted(p, w);
      await p.client.actOn(handle, 'approve', { actor: w.targetAdmin });
      const prepared = await prepare(p, w, handle);
      const window = Date.parse(prepared.prepareDeadline!) - Date.parse(prepared.submittedAt);
      assert.ok(window >= 7 * DAY && window < 7 * DAY + 3_600_000, `the window ends seven days after prepare (${window} ms after submit)`);
      await env.sleep(6 * DAY);
      const migrate = await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      assert.equal(migrate.entry.outcome, 'accepted');
      const final = (await handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Succeeded', final.reason);
    } finally {
      await p.stop();
    }
  });

  it('continue-as-new in the middle of the window: the window still closes seven days after prepare', async () => {
    const w = makeTestWorld();
    // A short history limit makes the migration continue as new while it waits in the window.
    const p = await startProduct({ env, azurite, world: w.world, durations: { continueAfterEvents: 50 } });
    try {
      const { handle } = await submitted(p, w);
      await p.client.actOn(handle, 'approve', { actor: w.targetAdmin });
      const prepared = await prepare(p, w, handle);
      const firstRun = (await handle.describe()).runId;
      // Refused actions in the window lengthen the history until the migration continues as new.
      for (let i = 0; i < 12 && (await handle.describe()).runId === firstRun; i += 1) {
        await p.client.actOn(handle, 'migrate', { actor: w.targetAdmin, targetTenantId: w.target });
      }
      assert.notEqual((await handle.describe()).runId, firstRun, 'the migration continued as new');
      const carried = await handle.query(statusQuery);
      assert.equal(carried.phase, 'Prepared');
      assert.equal(carried.prepareDeadline, prepared.prepareDeadline, 'the same absolute deadline');
      await env.sleep(8 * DAY);
      const refused = await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      assert.equal(refused.entry.reason, `migrate refused: the preparation expired at ${prepared.prepareDeadline}; run prepare again`);
      await prepare(p, w, handle);
      await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      const final = (await handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Succeeded', final.reason);
      await recordHistory(handle, 'continued-as-new');
    } finally {
      await p.stop();
    }
  });

  it('continue-as-new while waiting for approval: the request still expires at its deadline', async () => {
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world, durations: { continueAfterEvents: 50 } });
    try {
      const { handle, status } = await submitted(p, w);
      const firstRun = (await handle.describe()).runId;
      for (let i = 0; i < 20 && (await handle.describe()).runId === firstRun; i += 1) {
        await p.client.actOn(handle, 'approve', { actor: w.otherAdmin });
      }
      assert.notEqual((await handle.describe()).runId, firstRun, 'the migration continued as new');
      await env.sleep(6 * DAY);
      assert.equal((await handle.query(statusQuery)).phase, 'PendingApproval');
      const final = (await handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Expired');
      assert.equal(final.approvalDeadline, status.approvalDeadline);
      const refusals = (await p.auditLog.list(status.migrationId)).filter((e) => e.action === 'approve' && e.outcome === 'refused');
      assert.ok(refusals.reduce((n, e) => n + e.count, 0) >= 1, 'the refusals are in the control plane');
    } finally {
      await p.stop();
    }
  });

  it('the seven-day window: on day 8 migrate is refused until a new prepare succeeds', async () => {
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world });
    try {
      const { handle } = await submitted(p, w);
      await p.client.actOn(handle, 'approve', { actor: w.targetAdmin });
      const prepared = await prepare(p, w, handle);
      await env.sleep(8 * DAY);
      const refused = await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      assert.equal(refused.entry.outcome, 'refused');
      assert.equal(refused.entry.reason, `migrate refused: the preparation expired at ${prepared.prepareDeadline}; run prepare again`);
      assert.equal(refused.status.phase, 'PreparationExpired');
      assert.equal((await p.controlPlane.getEnvironment(w.environmentId))!.tenantId, w.source);

      await prepare(p, w, handle);
      const migrate = await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      assert.equal(migrate.entry.outcome, 'accepted');
      const final = (await handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Succeeded', final.reason);
      assert.equal((await p.controlPlane.getEnvironment(w.environmentId))!.tenantId, w.target);
      await recordHistory(handle, 'window-expired');
    } finally {
      await p.stop();
    }
  });
});
