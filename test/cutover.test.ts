// Scheduled cutover (`t2t migrate --at`) on the time-skipping server: the
// workflow holds a durable timer for the booked time, inside the seven-day window.
import assert from 'node:assert/strict';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowHandle } from '@temporalio/client';
import { MigrationStatus, SearchAttributes, migrationWorkflowId, statusQuery } from '../src/contracts';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, Product, uploadWithSas } from './helpers/product';
import { parseCutoverTime } from '../src/client/commands/migration-commands';
import { UserError } from '../src/client/migrations';
import { renderDetails } from '../src/workflows/details';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const SECOND_ADMIN = 'second@contoso.com';

describe('scheduled cutover (time-skipping server) @integration', function () {
  this.timeout(180_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;

  useRealServers((servers) => ({ env, azurite } = servers), 'own time-skipping');

  /** A world with a second source admin, who may migrate but not move another admin's booking. */
  function world(): TestWorld {
    const w = makeTestWorld();
    const tenants = (w.world as { tenants: { id: string; users: unknown[] }[] }).tenants;
    tenants.find((t) => t.id === w.source)!.users.push({ upn: SECOND_ADMIN, enabled: true, licenses: ['E5'], mailbox: true, roles: ['PowerPlatformAdmin'] });
    const environments = (w.world as { environments: { users: unknown[] }[] }).environments;
    environments[0].users.push({ upn: SECOND_ADMIN, roles: ['System Administrator'] });
    return w;
  }

  async function prepared(p: Product, w: TestWorld): Promise<{ handle: WorkflowHandle; status: MigrationStatus }> {
    await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
    const handle = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
    await p.client.actOn(handle, 'approve', { actor: w.targetAdmin });
    const storage = await p.client.actOn(handle, 'requestStorage', { actor: w.sourceAdmin });
    await uploadWithSas(storage.status.storage!.sasUrl, w.mappingCsv);
    const done = await p.client.actOn(handle, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: storage.status.storage!.sasUrl });
    assert.equal(done.status.phase, 'Prepared', done.entry.reason ?? done.status.reason);
    return { handle, status: done.status };
  }

  const book = (p: Product, handle: WorkflowHandle, w: TestWorld, at: Date | string, actor = w.sourceAdmin) =>
    p.client.actOn(handle, 'migrate', { actor, targetTenantId: w.target, at: typeof at === 'string' ? at : at.toISOString() });

  async function scheduledAttribute(handle: WorkflowHandle): Promise<Date | undefined> {
    return (await handle.describe()).typedSearchAttributes.get(SearchAttributes.scheduledMigrateAt);
  }

  it('a cutover booked for day 3 runs by itself at that time; status, query, Web UI details and T2TScheduledMigrateAt show it until then', async () => {
    const w = world();
    const p = await startProduct({ env, azurite, world: w.world, durations: { prepareWindowMs: 7 * DAY } });
    try {
      const { handle, status } = await prepared(p, w);
      const at = new Date(Date.parse(status.statusLog!.at(-1)!.at) + 3 * DAY);
      const booked = await book(p, handle, w, at);
      assert.equal(booked.entry.outcome, 'accepted');
      assert.equal(booked.status.phase, 'Prepared', 'booking does not migrate');
      assert.equal(booked.status.scheduledMigrateAt, at.toISOString());
      assert.equal(booked.status.scheduledBy, w.sourceAdmin);
      assert.equal((await handle.query(statusQuery)).scheduledMigrateAt, at.toISOString());
      assert.match(renderDetails(booked.status), new RegExp(`Cutover booked for:\\*\\* ${at.toISOString()}`));
      assert.equal((await scheduledAttribute(handle))?.toISOString(), at.toISOString());

      const final = (await handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Succeeded', final.reason);
      const started = final.audit.find((e) => e.action === 'migrate' && e.note?.startsWith('the cutover booked for'));
      assert.ok(started, 'the booked start is in the audit trail');
      assert.equal(started.actor, w.sourceAdmin);
      assert.ok(Date.parse(started.at) >= at.getTime(), `migrate started at ${started.at}, not before ${at.toISOString()}`);
      assert.ok(Date.parse(started.at) < at.getTime() + HOUR, 'and at the booked time, not later');
      assert.equal(final.scheduledMigrateAt, undefined);
      assert.equal(await scheduledAttribute(handle), undefined, 'the booking leaves the Web UI once it ran');
    } finally {
      await p.stop();
    }
  });

  it('moved, cleared and replaced by --now by the admin who booked it; another admin, a past time or one after the window is refused with one line', async () => {
    const w = world();
    const p = await startProduct({ env, azurite, world: w.world, durations: { prepareWindowMs: 7 * DAY } });
    try {
      const { handle, status } = await prepared(p, w);
      const preparedAt = Date.parse(status.statusLog!.at(-1)!.at);
      await book(p, handle, w, new Date(preparedAt + 3 * DAY));
      const moved = await book(p, handle, w, new Date(preparedAt + 4 * DAY));
      assert.equal(moved.status.scheduledMigrateAt, new Date(preparedAt + 4 * DAY).toISOString());

      const stranger = await book(p, handle, w, new Date(preparedAt + 2 * DAY), SECOND_ADMIN);
      assert.equal(stranger.entry.outcome, 'refused');
      assert.match(String(stranger.entry.reason), /^migrate refused: the cutover at .* was booked by admin@contoso\.com; only they can move, clear or start it$/);
      const strangerNow = await p.client.actOn(handle, 'migrate', { actor: SECOND_ADMIN, targetTenantId: w.target });
      assert.equal(strangerNow.entry.outcome, 'refused', 'nor start it now');

      const past = await book(p, handle, w, new Date(preparedAt - HOUR));
      assert.match(String(past.entry.reason), /^migrate refused: .* is in the past$/);
      const late = await book(p, handle, w, new Date(preparedAt + 8 * DAY));
      assert.match(String(late.entry.reason), /^migrate refused: .* is after the seven-day window closes at /);
      const garbage = await book(p, handle, w, 'next tuesday');
      assert.match(String(garbage.entry.reason), /is not an ISO 8601 time/);
      assert.equal((await handle.query(statusQuery)).scheduledMigrateAt, new Date(preparedAt + 4 * DAY).toISOString(), 'refusals change nothing');

      const cleared = await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target, unschedule: true });
      assert.equal(cleared.entry.outcome, 'accepted');
      assert.equal(cleared.status.scheduledMigrateAt, undefined);
      assert.equal(await scheduledAttribute(handle), undefined);
      const nothing = await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target, unschedule: true });
      assert.equal(nothing.entry.reason, 'migrate refused: no cutover is booked');

      await book(p, handle, w, new Date(preparedAt + 5 * DAY));
      const now = await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      assert.equal(now.entry.outcome, 'accepted');
      const final = (await handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Succeeded');
      assert.ok(Date.parse(final.statusLog!.at(-1)!.at) < preparedAt + DAY, '--now did not wait for the booking');
    } finally {
      await p.stop();
    }
  });

});

describe('scheduled cutover when no worker runs at the booked time (dev server) @integration', function () {
  this.timeout(180_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;

  useRealServers((servers) => ({ env, azurite } = servers));

  it('a window that closes before the booked cutover could run is reported, not skipped', async () => {
    // A 20-second window, a cutover booked 8 seconds in, and no worker until the window has closed.
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world, durations: { prepareWindowMs: 20_000 } });
    try {
      await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const handle = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
      await p.client.actOn(handle, 'approve', { actor: w.targetAdmin });
      const storage = await p.client.actOn(handle, 'requestStorage', { actor: w.sourceAdmin });
      await uploadWithSas(storage.status.storage!.sasUrl, w.mappingCsv);
      const prepared = await p.client.actOn(handle, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: storage.status.storage!.sasUrl });
      assert.equal(prepared.status.phase, 'Prepared');
      const at = new Date(Date.now() + 8_000);
      const booked = await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target, at: at.toISOString() });
      assert.equal(booked.status.scheduledMigrateAt, at.toISOString());
      await p.stopWorker();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(prepared.status.prepareDeadline!) - Date.now()) + 1_000));
      await p.startWorker();
      const expired = await p.client.waitForStatus(handle, (s) => s.phase === 'PreparationExpired', 60_000);
      assert.match(String(expired.reason), new RegExp(`before the cutover booked for ${at.toISOString()} could run; run prepare again, then book the cutover again`));
      assert.equal(expired.scheduledMigrateAt, undefined);
      assert.equal((await handle.describe()).typedSearchAttributes.get(SearchAttributes.scheduledMigrateAt), undefined);
      assert.equal((await p.controlPlane.getEnvironment(w.environmentId))!.tenantId, w.source, 'nothing was migrated');
      await p.client.actOn(handle, 'cancel', { actor: w.sourceAdmin });
    } finally {
      await p.stop();
    }
  });
});

describe('t2t migrate --at', () => {
  it('takes an ISO 8601 time with its zone, and refuses anything else with one line', () => {
    assert.equal(parseCutoverTime('2026-12-05T23:00:00+01:00'), '2026-12-05T22:00:00.000Z');
    assert.equal(parseCutoverTime('2026-12-05T22:00Z'), '2026-12-05T22:00:00.000Z');
    for (const bad of ['2026-12-05 22:00', '2026-12-05T22:00:00', 'tomorrow', '2026-13-45T22:00:00Z']) {
      assert.throws(() => parseCutoverTime(bad), (err: Error) => err instanceof UserError && /is not an ISO 8601 time with its zone/.test(err.message), bad);
    }
  });
});
