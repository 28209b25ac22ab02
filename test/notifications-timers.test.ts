// Reminders and escalation on the time-skipping server: days pass in seconds,
// the messages go to a real HTTP receiver and a real SMTP server on loopback.
// Each reminder and escalation arrives once, at its time, also across a
// continue-as-new. (A worker restart is tested on the dev server, in
// test/notifications.test.ts: this server never times out the sticky queue of
// a stopped worker, so a restarted worker would never get the workflow back.)
import assert from 'node:assert/strict';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import { MigrationStatus, migrationWorkflowId, statusQuery } from '../src/contracts';
import { openDatabase } from '../src/controlplane/database';
import { NotificationStore } from '../src/notifications/store';
import type { CloudEvent } from '../src/notifications/events';
import { ownTimeSkippingServer } from './helpers/temporal';
import { startTestAzurite, RunningAzurite } from './helpers/azurite';
import { makeTestWorld, TestWorld, type TestWorldOptions } from './helpers/world';
import { startProduct, uploadWithSas, type Product, type ProductOptions } from './helpers/product';
import { startSmtpReceiver, startWebhookReceiver, waitFor, type SmtpReceiver, type WebhookReceiver } from './notifications-receivers';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SECRET = 'reminder-hook-secret-0123456789abcdef';

interface Setup {
  w: TestWorld;
  p: Product;
  hook: WebhookReceiver;
  smtp: SmtpReceiver;
  store: NotificationStore;
  handle: WorkflowHandle;
  status: MigrationStatus;
  contact: string;
  done(): Promise<void>;
}

/** The reminders and escalations a receiver accepted, by type, as "<deadline kind> <before|escalation>". */
function noticesAt(hook: WebhookReceiver): { key: string; event: CloudEvent }[] {
  return hook
    .accepted()
    .filter((e) => e.type === 't2t.migration.reminder' || e.type === 't2t.migration.escalation')
    .map((event) => ({ key: `${String(event.data.deadlineKind)} ${event.type.endsWith('escalation') ? 'escalation' : String(event.data.before)}`, event }));
}

describe('reminders and escalation (time-skipping server) @integration', function () {
  this.timeout(240_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;

  before(async () => {
    azurite = await startTestAzurite();
  });
  // Each test skips days: one whose deliveries are still retrying would hold the next to real time.
  beforeEach(async () => {
    env = await ownTimeSkippingServer();
  });
  afterEach(async () => {
    await env?.teardown();
  });
  after(async () => {
    await azurite?.dispose();
  });

  /** A migration submitted with the default reminders (24h, 1h, escalation 30 min after the last), its reminders going to a webhook of the tenant that must act. */
  async function setUp(options: { world?: TestWorldOptions; mustAct: 'source' | 'target'; durations?: ProductOptions['durations'] }): Promise<Setup> {
    const w = makeTestWorld(options.world);
    const contact = `escalation-${w.suffix}@example.org`;
    const tenant = options.mustAct === 'source' ? w.source : w.target;
    (w.world as { tenants: { id: string; escalationContact?: string }[] }).tenants.find((t) => t.id === tenant)!.escalationContact = contact;
    const [hook, smtp] = await Promise.all([startWebhookReceiver(), startSmtpReceiver()]);
    const p = await startProduct({ env, azurite, world: w.world, durations: { ...options.durations, smtpUrl: smtp.url } as ProductOptions['durations'] });
    assert.deepEqual(p.config.reminderLeadsMs, [DAY, HOUR], 'the default reminders');
    assert.equal(p.config.escalateAfterMs, 30 * 60_000);
    const { db, release } = await openDatabase(p.config.databaseUrl);
    const store = new NotificationStore(db);
    for (const kind of ['reminder', 'escalation'] as const) await store.addSubscription({ tenantId: tenant, kind, channel: 'webhook', target: hook.url, secret: SECRET });
    // The other tenant subscribes too: reminders are for those who must act, not for it.
    const other = options.mustAct === 'source' ? w.target : w.source;
    await store.addSubscription({ tenantId: other, kind: 'reminder', channel: 'email', target: `other-${w.suffix}@example.org` });
    const status = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
    const handle = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
    return {
      w, p, hook, smtp, store, handle, status, contact,
      async done() {
        await release();
        await p.stop();
        await Promise.all([hook.close(), smtp.close()]);
      },
    };
  }

  /** Each notice once, at its time (workflow time), to the receiver; the escalation contact mailed once. */
  async function assertNotices(s: Setup, deadlineKind: string, deadline: string, expected: { key: string; at: number }[]): Promise<void> {
    await waitFor(`${expected.length} notices at the webhook`, () => noticesAt(s.hook).length >= expected.length);
    const escalates = expected.some((e) => e.key.endsWith('escalation'));
    if (escalates) await waitFor('the escalation email', () => s.smtp.messages.some((m) => m.to.includes(s.contact)));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const got = noticesAt(s.hook);
    assert.deepEqual(got.map((n) => n.key).sort(), expected.map((e) => e.key).sort(), 'each reminder and the escalation, once');
    assert.equal(new Set(got.map((n) => n.event.id)).size, got.length);
    assert.equal(s.hook.requests.length, got.length, 'nothing delivered twice');
    for (const { key, event } of got) {
      assert.equal(event.data.deadline, deadline);
      assert.equal(event.data.deadlineKind, deadlineKind);
      const at = expected.find((e) => e.key === key)!.at;
      const drift = Math.abs(Date.parse(event.time) - at);
      assert.ok(drift < 60_000, `${key} at ${event.time}, due ${new Date(at).toISOString()}`);
    }
    const mails = s.smtp.messages.filter((m) => m.to.includes(s.contact));
    assert.equal(mails.length, escalates ? 1 : 0, 'the escalation contact is told once');
    assert.equal(s.smtp.messages.filter((m) => !m.to.includes(s.contact)).length, 0, "the other tenant's reminder subscription gets nothing");
  }

  it('nobody approves: reminders 24 h and 1 h before the approval deadline, the escalation 30 min after the last, each once', async () => {
    const s = await setUp({ mustAct: 'target' });
    try {
      const final = (await s.handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Expired');
      const deadline = Date.parse(s.status.approvalDeadline!);
      await assertNotices(s, 'approval', s.status.approvalDeadline!, [
        { key: 'approval 1d', at: deadline - DAY },
        { key: 'approval 1h', at: deadline - HOUR },
        { key: 'approval escalation', at: deadline - 30 * 60_000 },
      ]);
      const reminder = noticesAt(s.hook).find((n) => n.key === 'approval 1h')!.event;
      assert.equal(reminder.data.command, `t2t approve --migration-id ${s.status.targetMigrationId} (or t2t deny --migration-id ${s.status.targetMigrationId} --reason …)`);
      assert.equal(reminder.data.phase, 'PendingApproval');
      const mail = s.smtp.messages.find((m) => m.to.includes(s.contact))!;
      assert.match(mail.headers.subject, /^\[t2t\] Escalation: /);
      assert.ok(!mail.text.includes('@'), 'no address in the text');
    } finally {
      await s.done();
    }
  });

  it('across a continue-as-new between the reminders, each is still sent once', async () => {
    const s = await setUp({ mustAct: 'target', durations: { continueAfterEvents: 50 } });
    try {
      const deadline = Date.parse(s.status.approvalDeadline!);
      // Day 6 and a bit: the 24-hour reminder has gone out.
      await env.sleep(6 * DAY + 2 * HOUR);
      await waitFor('the 24-hour reminder', () => noticesAt(s.hook).some((n) => n.key === 'approval 1d'));
      // Refused approvals lengthen the history until the migration continues as new.
      const runBefore = (await s.handle.describe()).runId;
      for (let i = 0; i < 20 && (await s.handle.describe()).runId === runBefore; i += 1) {
        await s.p.client.actOn(s.handle, 'approve', { actor: s.w.otherAdmin });
      }
      assert.notEqual((await s.handle.describe()).runId, runBefore, 'the migration continued as new between the reminders');
      assert.equal((await s.handle.query(statusQuery)).phase, 'PendingApproval');
      const final = (await s.handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Expired');
      await assertNotices(s, 'approval', s.status.approvalDeadline!, [
        { key: 'approval 1d', at: deadline - DAY },
        { key: 'approval 1h', at: deadline - HOUR },
        { key: 'approval escalation', at: deadline - 30 * 60_000 },
      ]);
      const written = (await s.store.listEvents(s.status.migrationId)).filter((e) => e.kind === 'reminder' || e.kind === 'escalation');
      assert.equal(written.length, 3, 'the outbox holds each notice once');
    } finally {
      await s.done();
    }
  });

  it('the seven-day window: the source admin is reminded before it closes; an approval in time stops the approval reminders', async () => {
    const s = await setUp({ mustAct: 'source' });
    try {
      // Approved on day 2: no approval reminder was due, none is sent.
      await env.sleep(2 * DAY);
      await s.p.client.actOn(s.handle, 'approve', { actor: s.w.targetAdmin });
      const storage = await s.p.client.actOn(s.handle, 'requestStorage', { actor: s.w.sourceAdmin });
      await uploadWithSas(storage.status.storage!.sasUrl, s.w.mappingCsv);
      const prepared = await s.p.client.actOn(s.handle, 'prepare', { actor: s.w.sourceAdmin, targetTenantId: s.w.target, mappingContainer: storage.status.storage!.sasUrl });
      assert.equal(prepared.status.phase, 'Prepared', prepared.entry.reason);
      const closes = Date.parse(prepared.status.prepareDeadline!);
      await env.sleep(8 * DAY);
      assert.equal((await s.handle.query(statusQuery)).phase, 'PreparationExpired');
      await assertNotices(s, 'prepareWindow', prepared.status.prepareDeadline!, [
        { key: 'prepareWindow 1d', at: closes - DAY },
        { key: 'prepareWindow 1h', at: closes - HOUR },
        { key: 'prepareWindow escalation', at: closes - 30 * 60_000 },
      ]);
      const reminder = noticesAt(s.hook).find((n) => n.key === 'prepareWindow 1h')!.event;
      assert.equal(reminder.data.command, `t2t migrate --migration-id ${s.status.migrationId} --target-tenant ${s.w.target}`);
      await s.p.client.actOn(s.handle, 'cancel', { actor: s.w.sourceAdmin });
    } finally {
      await s.done();
    }
  });

  it('a cutover booked inside the window: nobody must act, so no window reminder and no escalation', async () => {
    const s = await setUp({ mustAct: 'source' });
    try {
      await s.p.client.actOn(s.handle, 'approve', { actor: s.w.targetAdmin });
      const storage = await s.p.client.actOn(s.handle, 'requestStorage', { actor: s.w.sourceAdmin });
      await uploadWithSas(storage.status.storage!.sasUrl, s.w.mappingCsv);
      const prepared = await s.p.client.actOn(s.handle, 'prepare', { actor: s.w.sourceAdmin, targetTenantId: s.w.target, mappingContainer: storage.status.storage!.sasUrl });
      const closes = Date.parse(prepared.status.prepareDeadline!);
      // Booked two hours before the window closes: after the 24-hour point, before the 1-hour one.
      const booked = await s.p.client.actOn(s.handle, 'migrate', { actor: s.w.sourceAdmin, targetTenantId: s.w.target, at: new Date(closes - 2 * HOUR).toISOString() });
      assert.equal(booked.entry.outcome, 'accepted', booked.entry.reason);
      const final = (await s.handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Succeeded', final.reason);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.deepEqual(noticesAt(s.hook).map((n) => n.key), []);
      assert.equal(s.smtp.messages.length, 0);
    } finally {
      await s.done();
    }
  });

  it('the lockbox request (12 h): the 24-hour reminder is already past and skipped; the 1-hour reminder and the escalation go to the source tenant', async () => {
    const s = await setUp({ mustAct: 'source', world: { lockbox: true }, durations: { lockboxTimeoutMs: 12 * HOUR } });
    try {
      const approved = await s.p.client.actOn(s.handle, 'approve', { actor: s.w.targetAdmin });
      assert.equal(approved.status.phase, 'PendingLockbox');
      const final = (await s.handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Expired');
      const deadline = Date.parse(final.lockboxDeadline!);
      await assertNotices(s, 'lockbox', final.lockboxDeadline!, [
        { key: 'lockbox 1h', at: deadline - HOUR },
        { key: 'lockbox escalation', at: deadline - 30 * 60_000 },
      ]);
    } finally {
      await s.done();
    }
  });
});
