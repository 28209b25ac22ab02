// The migration's story on the real dev server, real Azurite and a real
// control-plane database file: from submit to the post-migration checklist,
// with every refusal an admin can meet on the way.
import assert from 'node:assert/strict';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SearchAttributes, STATUS, MigrationStatus, migrationWorkflowId } from '../src/contracts';
import { devServer } from './helpers/temporal';
import { startTestAzurite, RunningAzurite } from './helpers/azurite';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, Product, uploadWithSas, readWithSas } from './helpers/product';
import { UserError } from '../src/client/migrations';
import { recordHistory } from './helpers/histories';
import { CONTROL_PLANE_BACKENDS, startBackend } from './helpers/backends';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { migrationPeople } from '../src/migration/migration-people';

// The whole story on each control-plane database.
for (const backend of CONTROL_PLANE_BACKENDS)
describe(`migration lifecycle (dev server, ${backend.name} control plane) @integration`, function () {
  this.timeout(180_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;

  before(async function () {
    await startBackend(backend);
    [env, azurite] = await Promise.all([devServer(), startTestAzurite()]);
  });
  after(async () => {
    await azurite?.dispose();
  });

  async function product(world: TestWorld, extra: Partial<Parameters<typeof startProduct>[0]> = {}): Promise<Product> {
    // SQLite: the default, a database file in the product's data folder
    const databaseUrl = backend.name === 'PostgreSQL' ? await backend.url() : undefined;
    return startProduct({ env, azurite, world: world.world, databaseUrl, ...extra });
  }

  /** submit → approve → storage → upload → prepare; returns the status after prepare */
  async function toPrepared(p: Product, w: TestWorld, alreadySubmitted?: MigrationStatus) {
    const submitted = alreadySubmitted ?? (await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin }));
    const approved = await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
    assert.equal(approved.entry.outcome, 'accepted', approved.entry.reason);
    const storage = await p.client.act(submitted.migrationId, 'requestStorage', { actor: w.sourceAdmin });
    const sasUrl = storage.status.storage!.sasUrl;
    await uploadWithSas(sasUrl, w.mappingCsv);
    const prepared = await p.client.act(submitted.migrationId, 'prepare', {
      actor: w.sourceAdmin,
      targetTenantId: w.target,
      mappingContainer: sasUrl,
    });
    return { submitted, prepared: prepared.status, sasUrl };
  }

  it('happy path: submit to Succeeded, and the control plane afterwards', async () => {
    const w = makeTestWorld({ users: 4, unmappedUsers: 2 });
    const p = await product(w);
    try {
      const before = (await p.controlPlane.getEnvironment(w.environmentId))!;
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      assert.equal(submitted.phase, 'PendingApproval');
      assert.notEqual(submitted.migrationId, submitted.targetMigrationId);
      assert.ok(submitted.warnings.length > 0, 'the flows, apps and website give preparation warnings');

      // visible by its search attributes, with no email address in any of them
      const handle = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
      const description = await handle.describe();
      assert.equal(description.typedSearchAttributes.get(SearchAttributes.phase), 'PendingApproval');
      assert.equal(description.typedSearchAttributes.get(SearchAttributes.environmentId), w.environmentId);
      assert.equal(description.typedSearchAttributes.get(SearchAttributes.targetMigrationId), submitted.targetMigrationId);
      assert.doesNotMatch(JSON.stringify(description.raw.workflowExecutionInfo?.searchAttributes ?? {}), /@/);

      const { prepared, sasUrl } = await toPrepared(p, w, submitted);
      assert.equal(prepared.phase, 'Prepared');
      assert.equal(prepared.status, STATUS.validateSucceeded);
      assert.ok(prepared.prepareDeadline);

      const migrated = await p.client.act(submitted.migrationId, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      assert.equal(migrated.entry.outcome, 'accepted');
      const final = await p.client.waitForStatus(await p.client.find(submitted.migrationId), (s) => s.phase === 'Succeeded' || s.phase === 'Failed', 120_000);
      assert.equal(final.phase, 'Succeeded', final.reason);
      assert.equal(final.status, STATUS.migrateSucceeded);

      const after = (await p.controlPlane.getEnvironment(w.environmentId))!;
      assert.equal(after.tenantId, w.target);
      assert.equal(after.url, before.url);
      assert.equal(after.orgId, before.orgId);
      assert.equal(after.name, before.name);
      assert.equal(after.adminMode, before.adminMode, 'administration mode is left as it was');
      assert.equal(after.sourceAccess, false);
      for (let i = 0; i < 4; i += 1) {
        assert.ok(await p.controlPlane.getEnvironmentUser(w.environmentId, w.targetUpn(i)), `user ${i} re-mapped`);
        assert.equal(await p.controlPlane.getEnvironmentUser(w.environmentId, w.sourceUpn(i)), undefined);
      }
      const summary = final.summary!;
      assert.equal(summary.usersRemapped, 4);
      assert.equal(summary.unmappedUsers, 3);
      assert.equal(summary.mailboxesConfigured, 3);
      assert.equal(summary.mailboxesToReconfigure, 1);
      assert.equal(summary.onmicrosoftAddressesRewritten, 1);
      // the names behind the counts are in the control plane, not in the workflow's history
      const people = await migrationPeople(p.controlPlane, { migrationId: final.migrationId, environmentId: w.environmentId, sourceTenantId: w.source, targetTenantId: w.target });
      assert.deepEqual([...people.unmappedUsers].sort(), [w.sourceAdmin, 'left0@contoso.com', 'left1@contoso.com'].sort());
      assert.deepEqual(people.mailboxesToReconfigure, [w.targetUpn(2)]);
      assert.deepEqual(people.onmicrosoftAddressesRewritten, [{ from: w.sourceUpn(0), to: `u0@fabrikam${w.suffix}.onmicrosoft.com` }]);
      // payload bytes decoded to text, so that an address anywhere in the history would show
      const history = JSON.stringify(JSON.parse(historyToJSON(await handle.fetchHistory())), (key, value: unknown) =>
        key === 'data' && typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : value,
      );
      assert.ok(history.includes(w.sourceAdmin), 'the check can see addresses in payloads');
      for (let i = 1; i < 4; i += 1) {
        assert.ok(!history.includes(w.sourceUpn(i)) && !history.includes(w.targetUpn(i)), `mapping row ${i} is not in the history`);
      }
      assert.deepEqual(summary.flowActivationOrder.slice(0, 2), ['Child', 'Parent'].map((n) => summary.flowActivationOrder.find((x) => x.includes(n)) ?? n));
      assert.ok(summary.checklist.length > 0);

      // the SAS stops working once the migration has ended
      const list = await fetch(`${sasUrl}&restype=container&comp=list`);
      assert.equal(list.status, 403);
      await recordHistory(handle, 'happy-path');
    } finally {
      await p.stop();
    }
  });

  it('refuses the wrong people and the wrong order, recording each refusal and changing nothing', async () => {
    const w = makeTestWorld();
    const p = await product(w);
    try {
      await assert.rejects(
        p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceUser }),
        (err: Error) => err instanceof UserError && /submit refused: .*none of the roles/.test(err.message),
      );
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const id = submitted.targetMigrationId;

      const wrongTenant = await p.client.act(id, 'approve', { actor: w.otherAdmin });
      assert.equal(wrongTenant.entry.outcome, 'refused');
      assert.match(wrongTenant.entry.reason!, /not a user of the target tenant/);
      const nonAdmin = await p.client.act(id, 'approve', { actor: w.targetUpn(0) });
      assert.match(nonAdmin.entry.reason!, /none of the roles/);
      const sourceApproving = await p.client.act(id, 'approve', { actor: w.sourceAdmin });
      assert.match(sourceApproving.entry.reason!, /not a user of the target tenant/);
      const early = await p.client.act(id, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      assert.match(early.entry.reason!, /migrate refused: the migration is waiting for the target tenant admin's approval/);
      assert.equal(early.status.phase, 'PendingApproval');

      await p.client.act(id, 'approve', { actor: w.targetAdmin });
      const beforePrepare = await p.client.act(id, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      assert.equal(beforePrepare.entry.reason, 'migrate refused: the migration is Approved; run prepare successfully first');

      const badPayload = await p.client.act(id, 'prepare', { actor: w.sourceAdmin });
      assert.match(badPayload.entry.reason!, /prepare refused: invalid payload: targetTenantId/);

      const noStorage = await p.client.act(id, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: 'https://x.blob.core.windows.net/t2t-x' });
      assert.match(noStorage.entry.reason!, /generate the resource storage first/);

      const storage = await p.client.act(id, 'requestStorage', { actor: w.sourceAdmin });
      await uploadWithSas(storage.status.storage!.sasUrl, w.mappingCsv);
      const prepared = await p.client.act(id, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: storage.status.storage!.sasUrl });
      assert.equal(prepared.status.phase, 'Prepared');
      const targetMigrating = await p.client.act(id, 'migrate', { actor: w.targetAdmin, targetTenantId: w.target });
      assert.match(targetMigrating.entry.reason!, /migrate refused: the caller is not a user of the source tenant/);

      const status = await p.client.status(id);
      assert.equal(status.phase, 'Prepared');
      // The wrong phase and the bad payload were rejected by the Updates' validators, before any history was written.
      assert.equal(early.entry.note, 'rejected by the migration before it was queued');
      assert.equal(badPayload.entry.note, 'rejected by the migration before it was queued');
      assert.equal(status.audit.filter((e) => e.outcome === 'refused').length, 5);
      assert.equal((await p.controlPlane.getEnvironment(w.environmentId))!.tenantId, w.source, 'nothing moved');

      const cancelled = await p.client.act(id, 'cancel', { actor: w.sourceAdmin });
      assert.equal(cancelled.status.phase, 'Cancelled');
      await recordHistory(await p.client.find(id), 'cancelled');
    } finally {
      await p.stop();
    }
  });

  it('a second submit for the same environment is refused while one is open', async () => {
    const w = makeTestWorld();
    const p = await product(w);
    try {
      await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      await assert.rejects(
        p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin }),
        /already has an open migration/,
      );
      await assert.rejects(p.client.submit({ environmentId: 'env-nope', targetTenantId: w.target, actor: w.sourceAdmin }), /environment 'env-nope' does not exist/);
    } finally {
      await p.stop();
    }
  });

  it('target admin denies: the migration ends Denied with the reason kept', async () => {
    const w = makeTestWorld();
    const p = await product(w);
    try {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const denied = await p.client.act(submitted.targetMigrationId, 'deny', { actor: w.targetAdmin, reason: 'not this quarter' });
      assert.equal(denied.status.phase, 'Denied');
      assert.equal(denied.status.reason, 'not this quarter');
      await recordHistory(await p.client.find(submitted.migrationId), 'denied');
    } finally {
      await p.stop();
    }
  });

  it('lockbox: the approver of the source tenant approves, then the migration goes on', async () => {
    const w = makeTestWorld({ lockbox: true });
    const p = await product(w);
    try {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      assert.equal(submitted.lockboxRequired, true);
      const approved = await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
      assert.equal(approved.status.phase, 'PendingLockbox');
      const wrong = await p.client.act(submitted.migrationId, 'approveLockbox', { actor: w.sourceAdmin });
      assert.match(wrong.entry.reason!, /none of the roles LockboxApprover, GlobalAdmin/);
      const lockbox = await p.client.act(submitted.migrationId, 'approveLockbox', { actor: w.lockboxApprover });
      assert.equal(lockbox.status.phase, 'Approved');
    } finally {
      await p.stop();
    }
  });

  it('validation fails, the admin re-uploads with the same SAS, and the second round succeeds', async () => {
    const w = makeTestWorld();
    const p = await product(w);
    try {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
      const sasUrl = (await p.client.act(submitted.migrationId, 'requestStorage', { actor: w.sourceAdmin })).status.storage!.sasUrl;
      await uploadWithSas(sasUrl, `Source,Destination\n${w.sourceUpn(1)},${w.targetUpn(1)}\n${w.sourceUpn(2)},${w.sourceUpn(2)}\nnot-an-email,${w.targetUpn(3)}\n`);
      const failed = await p.client.act(submitted.migrationId, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: sasUrl });
      assert.equal(failed.status.phase, 'ValidationFailed');
      const reportUrl = failed.status.validation!.errorReportUrl!;
      assert.equal(failed.status.status, STATUS.validationFailed(reportUrl));
      const report = await readWithSas(reportUrl);
      assert.match(report, /Target on line '3' is same as source email ID/);
      assert.match(report, /Invalid Email Format 'not-an-email'/);
      // the report link is read-only
      const write = await fetch(reportUrl, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'x' });
      assert.equal(write.status, 403);

      await uploadWithSas(sasUrl, w.mappingCsv);
      const second = await p.client.act(submitted.migrationId, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: sasUrl.split('?')[0] });
      assert.equal(second.status.phase, 'Prepared');
      assert.equal(second.status.validation!.round, 2);
      assert.equal(second.status.status, STATUS.validateSucceeded);
      await p.client.act(submitted.migrationId, 'cancel', { actor: w.sourceAdmin });
      await recordHistory(await p.client.find(submitted.migrationId), 'validation-failed');
    } finally {
      await p.stop();
    }
  });

  it('storage needs administration mode', async () => {
    const w = makeTestWorld({ adminMode: false });
    const p = await product(w);
    try {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
      const storage = await p.client.act(submitted.migrationId, 'requestStorage', { actor: w.sourceAdmin });
      assert.equal(storage.entry.outcome, 'refused');
      assert.match(storage.entry.reason!, /is not in administration mode/);
      assert.equal(storage.status.storage, undefined);
    } finally {
      await p.stop();
    }
  });

  it('an activity failing transiently twice succeeds on retry', async () => {
    const w = makeTestWorld();
    let relinkCalls = 0;
    const p = await product(w, {
      wrapControlPlane: (cp) =>
        new Proxy(cp, {
          get(target, prop, receiver) {
            if (prop === 'relinkEnvironment') {
              return async (...args: Parameters<typeof cp.relinkEnvironment>) => {
                relinkCalls += 1;
                if (relinkCalls <= 2) throw new Error('control plane unavailable (injected)');
                return target.relinkEnvironment(...args);
              };
            }
            return Reflect.get(target, prop, receiver);
          },
        }),
    });
    try {
      const { submitted } = await toPrepared(p, w);
      await p.client.act(submitted.migrationId, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      const final = await p.client.waitForStatus(await p.client.find(submitted.migrationId), (s) => s.phase === 'Succeeded' || s.phase === 'Failed', 120_000);
      assert.equal(final.phase, 'Succeeded', final.reason);
      assert.equal(relinkCalls, 3);
      assert.equal((await p.controlPlane.getEnvironment(w.environmentId))!.tenantId, w.target);
    } finally {
      await p.stop();
    }
  });

  it('a worker restart during re-mapping resumes from the last heartbeat and re-maps nobody twice', async () => {
    const users = 400;
    const w = makeTestWorld({ users, unmappedUsers: 0 });
    let remapCalls = 0;
    let stopAfter: number | undefined;
    let stopped: Promise<void> | undefined;
    const p: Product = await product(w, {
      remapBatchSize: 25,
      wrapControlPlane: (cp) =>
        new Proxy(cp, {
          get(target, prop, receiver) {
            if (prop === 'remapEnvironmentUsers') {
              return async (...args: Parameters<typeof cp.remapEnvironmentUsers>) => {
                remapCalls += args[2].length;
                if (stopAfter !== undefined && !stopped && remapCalls >= stopAfter) stopped = p.stopWorker();
                // slow enough that the shutdown lands in the middle of the re-mapping
                await new Promise((r) => setTimeout(r, 50));
                return target.remapEnvironmentUsers(...args);
              };
            }
            return Reflect.get(target, prop, receiver);
          },
        }),
    });
    try {
      const { submitted } = await toPrepared(p, w);
      stopAfter = 130;
      await p.client.act(submitted.migrationId, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      const deadline = Date.now() + 60_000;
      while (!stopped && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(stopped, 'the worker was stopped during re-mapping');
      await stopped;
      const callsBeforeRestart = remapCalls;
      stopAfter = undefined;
      await p.startWorker();
      const final = await p.client.waitForStatus(env.client.workflow.getHandle(migrationWorkflowId(w.environmentId)), (s) => s.phase === 'Succeeded' || s.phase === 'Failed', 150_000);
      assert.equal(final.phase, 'Succeeded', final.reason);
      const remaps = await p.controlPlane.listRemaps(submitted.migrationId);
      assert.equal(remaps.length, users);
      assert.ok(remaps.every((r) => r.appliedCount === 1), 'every user re-mapped exactly once');
      // the second attempt started after the last heartbeat, not from the first line
      assert.ok(remapCalls - callsBeforeRestart < users, `resumed: ${remapCalls - callsBeforeRestart} calls after restart`);
      assert.equal(final.summary!.usersRemapped, users);
    } finally {
      await p.stop();
    }
  });
});
