// Notifications on the real dev server, to a real HTTP receiver and a real SMTP
// server on loopback: every phase change and refused action of a migration
// reaches each subscriber once, signed, with nothing secret inside; a receiver
// that always fails is given up within its budget while the migration goes on;
// the worker's Prometheus endpoint counts reminders, escalations and failures.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { TestWorkflowEnvironment, MockActivityEnvironment } from '@temporalio/testing';
import { MigrationStatus, migrationWorkflowId } from '../src/contracts';
import type { Config } from '../src/config';
import { openDatabase } from '../src/controlplane/database';
import { NotificationStore } from '../src/notifications/store';
import { verifyWebhookSignature } from '../src/notifications/delivery';
import { createNotificationActivities, workerNotifications } from '../src/activities/notification-activities';
import type { CloudEvent, NotificationEvent } from '../src/notifications/events';
import { METRIC_NAMES } from '../src/notifications/metrics';
import { projectRoot } from '../src/temporal-binaries';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, uploadWithSas, type ProductOptions } from './helpers/product';
import { freePort } from './helpers/ports';
import { startSmtpReceiver, startWebhookReceiver, waitFor, type ReceivedRequest } from './notifications-receivers';

const SOURCE_SECRET = 'source-tenant-hook-secret-0123456789';
const TARGET_SECRET = 'target-tenant-hook-secret-9876543210';
const PHASE_CHANGED = 't2t.migration.phase-changed';

/** Settings beyond the migration durations, for the product the test starts (its config is spread from these). */
const settings = (s: Partial<Config>) => s as ProductOptions['durations'];

/** Everything in a world that must never leave the product in a message: every address, mapped or not. */
function secretsOf(w: TestWorld, sasUrl: string): string[] {
  const upns = [w.sourceAdmin, w.targetAdmin, w.otherAdmin, w.lockboxApprover, w.sourceUser];
  for (let i = 0; i < 3; i += 1) upns.push(w.sourceUpn(i), w.targetUpn(i));
  return [...upns, 'usermapping', 'Source,Destination', sasUrl.split('?')[1], 'sig=', 'sv=', '@'];
}

function signedBy(secret: string, request: ReceivedRequest): boolean {
  const header = (name: string) => request.headers[name] as string | undefined;
  return verifyWebhookSignature(secret, { signature: header('x-t2t-signature'), timestamp: header('x-t2t-timestamp') }, request.body);
}

describe('notifications on the dev server @integration', function () {
  this.timeout(300_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;

  useRealServers((servers) => ({ env, azurite } = servers));

  it('a whole migration: each phase change and refused action reaches each subscriber once, signed, with no mapping row or SAS secret; a receiver answering 500 is given up within its budget and the migration goes on', async () => {
    const w = makeTestWorld();
    const [good, failing, smtp] = await Promise.all([startWebhookReceiver(), startWebhookReceiver(500), startSmtpReceiver()]);
    const p = await startProduct({ env, azurite, world: w.world, durations: settings({ smtpUrl: smtp.url, notifyBudgetMs: 4_000 }) });
    const { db, release } = await openDatabase(p.config.databaseUrl);
    const store = new NotificationStore(db);
    try {
      const sourceHook = (await store.addSubscription({ tenantId: w.source, kind: 'phase-changed', channel: 'webhook', target: good.url, secret: SOURCE_SECRET })).subscription;
      await store.addSubscription({ tenantId: w.source, kind: 'action-refused', channel: 'webhook', target: good.url, secret: SOURCE_SECRET });
      await store.addSubscription({ tenantId: w.target, kind: 'phase-changed', channel: 'email', target: 'ops@fabrikam.example' });
      await store.addSubscription({ tenantId: w.target, kind: 'action-refused', channel: 'email', target: 'ops@fabrikam.example' });
      const failingHook = (await store.addSubscription({ tenantId: w.target, kind: 'phase-changed', channel: 'webhook', target: failing.url, secret: TARGET_SECRET })).subscription;

      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const handle = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
      const stranger = await p.client.actOn(handle, 'approve', { actor: w.otherAdmin });
      assert.equal(stranger.entry.outcome, 'refused');
      await p.client.actOn(handle, 'approve', { actor: w.targetAdmin });
      // A worker that stops and another that starts: nothing is sent twice.
      await p.stopWorker();
      await p.startWorker();
      const storage = await p.client.actOn(handle, 'requestStorage', { actor: w.sourceAdmin });
      const sasUrl = storage.status.storage!.sasUrl;
      await uploadWithSas(sasUrl, w.mappingCsv);
      const prepared = await p.client.actOn(handle, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: sasUrl });
      assert.equal(prepared.status.phase, 'Prepared', prepared.entry.reason);
      await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      const final = (await handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Succeeded', final.reason);

      const phases = ['Submitted', 'PendingApproval', 'Approved', 'Validating', 'Prepared', 'Migrating', 'Succeeded'];
      const phasesAt = (events: CloudEvent[]) => events.filter((e) => e.type === PHASE_CHANGED).map((e) => String(e.data.phase));
      await waitFor('every phase change and the refusal at the webhook', () => phasesAt(good.accepted()).length >= phases.length && good.accepted().length >= phases.length + 1);
      await waitFor('every phase change and the refusal by email', () => smtp.messages.length >= phases.length + 1);
      // Every delivery to the failing receiver settles as failed within its budget of 4 s.
      const failed = await waitFor('the failing receiver given up', async () => {
        const rows = (await store.listDeliveries({ migrationId: submitted.migrationId })).filter((d) => d.subscriptionId === failingHook.id);
        return rows.length === phases.length && rows.every((d) => d.status === 'failed') && rows;
      }, 90_000);
      // Late copies would show here: give any a moment to arrive.
      await new Promise((resolve) => setTimeout(resolve, 1_500));

      // The webhook: each event once, CloudEvents structured mode, signed with the subscription's secret.
      const events = good.accepted();
      assert.deepEqual(phasesAt(events).sort(), [...phases].sort(), 'each phase change once');
      const refusals = events.filter((e) => e.type === 't2t.migration.action-refused');
      assert.equal(refusals.length, 1, 'the refused approval, once');
      assert.equal(refusals[0].data.action, 'approve');
      assert.match(String(refusals[0].data.reason), /^approve refused: /);
      assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'no event arrives twice');
      assert.equal(good.requests.length, events.length, 'no retries to a receiver that answers 200');
      for (const request of good.requests) {
        assert.match(String(request.headers['content-type']), /^application\/cloudevents\+json/);
        assert.ok(signedBy(SOURCE_SECRET, request), 'the signature verifies with the secret');
        assert.ok(!signedBy(TARGET_SECRET, request), 'and with no other secret');
        const event = JSON.parse(request.body) as CloudEvent;
        assert.equal(event.specversion, '1.0');
        assert.equal(event.source, `/t2t/migrations/${submitted.migrationId}`);
        assert.equal(event.subject, w.environmentId);
        assert.equal(event.datacontenttype, 'application/json');
        assert.equal(event.data.migrationId, submitted.migrationId);
        assert.equal(event.data.targetMigrationId, submitted.targetMigrationId);
      }

      // Email: one message per event, each with its own stable Message-ID.
      assert.equal(smtp.messages.length, phases.length + 1);
      assert.ok(smtp.messages.every((m) => m.to.length === 1 && m.to[0] === 'ops@fabrikam.example'));
      assert.equal(new Set(smtp.messages.map((m) => m.headers['message-id'])).size, smtp.messages.length);
      assert.ok(smtp.messages.some((m) => /Succeeded/.test(m.headers.subject)));
      assert.ok(smtp.messages.some((m) => /approve refused/.test(m.headers.subject)));

      // Nothing secret in any message: no address, no mapping row, no SAS token.
      const texts = [...good.requests, ...failing.requests].map((r) => r.body).concat(smtp.messages.map((m) => `${m.headers.subject}\n${m.text}`));
      for (const secret of secretsOf(w, sasUrl)) {
        for (const text of texts) assert.ok(!text.toLowerCase().includes(secret.toLowerCase()), `a message contains "${secret}": ${text.slice(0, 300)}`);
      }

      // The failing receiver: retried, then given up; the migration did not wait for it.
      const attempts = new Map<string, number>();
      for (const r of failing.requests) attempts.set((JSON.parse(r.body) as CloudEvent).id, (attempts.get((JSON.parse(r.body) as CloudEvent).id) ?? 0) + 1);
      assert.equal(attempts.size, phases.length);
      for (const [id, n] of attempts) assert.ok(n >= 2 && n <= 8, `${id}: ${n} attempts within a 4 s budget`);
      for (const row of failed) assert.match(row.lastError ?? '', /answered 500/);
      const delivered = (await store.listDeliveries({ migrationId: submitted.migrationId })).filter((d) => d.subscriptionId === sourceHook.id);
      assert.ok(delivered.length === phases.length && delivered.every((d) => d.status === 'delivered' && d.attempts === 1));

      // A repeated write (a local activity re-run after a crash) and a repeated delivery attempt send nothing again.
      const activities = createNotificationActivities(p.auditLog, { ...workerNotifications(p.config, p.controlPlane), client: () => env.client, metrics: () => ({ reminderSent() {}, escalationSent() {}, delivered() {}, failed() {} }) });
      const first = events.find((e) => e.type === PHASE_CHANGED)!;
      const again: NotificationEvent = {
        id: first.id,
        kind: 'phase-changed',
        time: first.time,
        tenants: [w.source, w.target],
        migration: { migrationId: submitted.migrationId, targetMigrationId: submitted.targetMigrationId, environmentId: w.environmentId, sourceTenantId: w.source, targetTenantId: w.target },
        data: first.data,
      };
      const mock = new MockActivityEnvironment({ taskQueue: p.config.taskQueue });
      await mock.run(activities.recordTrail, { entries: [], events: [again] });
      assert.equal(await mock.run(activities.deliverNotification, { eventId: first.id, subscriptionId: sourceHook.id }), 'already');
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(good.requests.length, events.length, 'the receiver saw each event once');
      assert.equal(smtp.messages.length, phases.length + 1);
    } finally {
      await release();
      await p.stop();
      await Promise.all([good.close(), failing.close(), smtp.close()]);
    }
  });

  it('reminders and the escalation in seconds, each once across a continue-as-new and a worker restart between them', async () => {
    const w = makeTestWorld();
    const contact = 'escalation@fabrikam.example';
    (w.world as { tenants: { id: string; escalationContact?: string }[] }).tenants.find((t) => t.id === w.target)!.escalationContact = contact;
    const [hook, smtp] = await Promise.all([startWebhookReceiver(), startSmtpReceiver()]);
    // Deadline 30 s after submit; reminders 15 s and 8 s before it, the escalation 4 s after the last.
    const p = await startProduct({
      env, azurite, world: w.world,
      durations: settings({ approvalTimeoutMs: 30_000, reminderLeadsMs: [15_000, 8_000], escalateAfterMs: 4_000, continueAfterEvents: 50, smtpUrl: smtp.url }),
    });
    const { db, release } = await openDatabase(p.config.databaseUrl);
    const store = new NotificationStore(db);
    try {
      for (const kind of ['reminder', 'escalation'] as const) await store.addSubscription({ tenantId: w.target, kind, channel: 'webhook', target: hook.url, secret: TARGET_SECRET });
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const handle = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
      const firstRun = (await handle.describe()).runId;
      for (let i = 0; i < 20 && (await handle.describe()).runId === firstRun; i += 1) await p.client.actOn(handle, 'approve', { actor: w.otherAdmin });
      assert.notEqual((await handle.describe()).runId, firstRun, 'the migration continued as new');
      const reminders = () => hook.accepted().filter((e) => e.type === 't2t.migration.reminder');
      await waitFor('the first reminder', () => reminders().length >= 1, 40_000);
      // The worker goes away between the reminders and another comes back.
      await p.stopWorker();
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await p.startWorker();
      const final = (await handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Expired');
      await waitFor('the escalation email', () => smtp.messages.some((m) => m.to.includes(contact)), 40_000);
      await waitFor('the second reminder and the escalation', () => hook.accepted().length >= 3, 40_000);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const events = hook.accepted();
      assert.deepEqual(events.map((e) => (e.type.endsWith('escalation') ? 'escalation' : String(e.data.before))).sort(), ['15s', '8s', 'escalation']);
      assert.equal(new Set(events.map((e) => e.id)).size, 3);
      assert.equal(hook.requests.length, 3, 'each once');
      assert.ok(hook.requests.every((r) => signedBy(TARGET_SECRET, r)));
      assert.equal(smtp.messages.length, 1, 'the escalation contact is told once');
      const deadline = Date.parse(submitted.approvalDeadline!);
      for (const e of events) {
        const due = e.type.endsWith('escalation') ? deadline - 4_000 : deadline - Number(e.data.leadMs);
        assert.ok(Date.parse(e.time) >= due && Date.parse(e.time) < deadline, `${e.type} ${String(e.data.before ?? '')} at ${e.time}, due ${new Date(due).toISOString()}`);
      }
    } finally {
      await release();
      await p.stop();
      await Promise.all([hook.close(), smtp.close()]);
    }
  });

  it("the worker's Prometheus endpoint counts the reminders, the escalation and the notifications a receiver never took, while the migration runs to its end", async () => {
    const w = makeTestWorld();
    const contact = 'escalation@fabrikam.example';
    (w.world as { tenants: { id: string; escalationContact?: string }[] }).tenants.find((t) => t.id === w.target)!.escalationContact = contact;
    const [failing, smtp] = await Promise.all([startWebhookReceiver(500), startSmtpReceiver()]);
    const p = await startProduct({ env, azurite, world: w.world, durations: { approvalTimeoutMs: 24_000 } });
    await p.stopWorker();
    const { db, release } = await openDatabase(p.config.databaseUrl);
    const store = new NotificationStore(db);
    const metricsPort = await freePort();
    let worker: ChildProcess | undefined;
    try {
      for (const kind of ['phase-changed', 'reminder', 'escalation'] as const) {
        await store.addSubscription({ tenantId: w.target, kind, channel: 'webhook', target: failing.url, secret: TARGET_SECRET });
      }
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
          T2T_DATA_DIR: p.config.dataDir,
          AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
          T2T_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
          T2T_REMINDERS: '12s,6s',
          T2T_ESCALATE_AFTER: '3s',
          T2T_NOTIFY_BUDGET: '3s',
          T2T_SMTP_URL: smtp.url,
        },
        stdio: 'ignore',
      });
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const final = (await env.client.workflow.getHandle(migrationWorkflowId(w.environmentId)).result()) as MigrationStatus;
      assert.equal(final.phase, 'Expired', 'nobody approved: the request expired at its deadline, notifications or not');

      const mail = await waitFor('the escalation email to the contact', () => smtp.messages.find((m) => m.to.includes(contact)));
      assert.match(mail.headers.subject, /Escalation/);
      assert.match(mail.text, new RegExp(submitted.targetMigrationId));
      const sum = (text: string, name: string) =>
        text
          .split('\n')
          .filter((line) => new RegExp(`^${name}(_total)?(\\{|\\s)`).test(line))
          .reduce((n, line) => n + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
      const counted = await waitFor('the counters on /metrics', async () => {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        const c = {
          reminders: sum(text, METRIC_NAMES.remindersSent),
          escalations: sum(text, METRIC_NAMES.escalationsSent),
          failed: sum(text, METRIC_NAMES.notificationsFailed),
          delivered: sum(text, METRIC_NAMES.notificationsDelivered),
        };
        // Submitted, PendingApproval and Expired, two reminders and the escalation: six deliveries the receiver refused.
        return c.failed >= 6 && c.delivered >= 1 && c;
      }, 60_000);
      assert.deepEqual(counted, { reminders: 2, escalations: 1, failed: 6, delivered: 1 });
      const attempts = new Set(failing.requests.map((r) => (JSON.parse(r.body) as CloudEvent).id));
      assert.equal(attempts.size, 6);
      assert.ok(failing.requests.length > 6, 'retried before giving up');
      const exit = new Promise<number | null>((resolve) => worker!.once('exit', (code) => resolve(code)));
      worker.kill('SIGTERM');
      assert.equal(await exit, 0);
    } finally {
      if (worker && worker.exitCode === null) worker.kill('SIGKILL');
      await release();
      await p.stop();
      await Promise.all([failing.close(), smtp.close()]);
    }
  });
});
