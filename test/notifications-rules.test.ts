// The rules of notifications without servers: settings, when reminders fall,
// what a message may carry, the webhook signature, the world file's contact,
// and `t2t notify` against a real control-plane database file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { parseWorld, WorldFileError } from '../src/controlplane/world';
import { nextNotice, noticesFor, markDone, type NoticeState } from '../src/notifications/reminders';
import { emailFor, sanitizeText, toCloudEvent, type NotificationEvent } from '../src/notifications/events';
import { verifyWebhookSignature, webhookSignature } from '../src/notifications/delivery';
import { runCli } from '../src/client/cli';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('notification rules', () => {
  describe('settings', () => {
    it('reminders default to 24h and 1h before, the escalation 30 min after the last', () => {
      const config = loadConfig({});
      assert.deepEqual(config.reminderLeadsMs, [DAY, HOUR]);
      assert.equal(config.escalateAfterMs, 30 * 60_000);
      assert.equal(config.notifyBudgetMs, 10 * 60_000);
      assert.equal(config.smtpUrl, undefined);
    });

    it('takes other reminders, longest first, or none', () => {
      assert.deepEqual(loadConfig({ T2T_REMINDERS: '1h, 3d,12h' }).reminderLeadsMs, [3 * DAY, 12 * HOUR, HOUR]);
      assert.deepEqual(loadConfig({ T2T_REMINDERS: 'none' }).reminderLeadsMs, []);
    });

    it('refuses bad values with one line naming the variable', () => {
      const refused = (env: NodeJS.ProcessEnv, message: RegExp) => assert.throws(() => loadConfig(env), (err: Error) => err.name === 'ConfigError' && message.test(err.message) && !err.message.includes('\n'));
      refused({ T2T_REMINDERS: '24h,soon' }, /^configuration: T2T_REMINDERS: "soon" is not a duration/);
      refused({ T2T_REMINDERS: '1h,60m' }, /^configuration: T2T_REMINDERS: .* names the same time twice/);
      refused({ T2T_REMINDERS: '24h,,1h' }, /^configuration: T2T_REMINDERS: /);
      refused({ T2T_ESCALATE_AFTER: '1h' }, /^configuration: T2T_ESCALATE_AFTER: 1h must be shorter than the last reminder \(1h before the deadline\)/);
      refused({ T2T_ESCALATION_CONTACT: 'ops' }, /^configuration: T2T_ESCALATION_CONTACT: "ops" is not an email address/);
      refused({ T2T_ESCALATION_CONTACT: 'a@x.com,b@x.com' }, /more than one address for every tenant/);
      refused({ T2T_SMTP_URL: 'mail.contoso.com' }, /^configuration: T2T_SMTP_URL: must be a URL/);
      refused({ T2T_SMTP_URL: 'https://mail.contoso.com' }, /^configuration: T2T_SMTP_URL: must start with smtp:\/\/ or smtps:\/\//);
      refused({ T2T_NOTIFY_BUDGET: '0s' }, /^configuration: T2T_NOTIFY_BUDGET: /);
    });

    it('escalation contacts: one for every tenant and one per tenant', () => {
      assert.deepEqual(loadConfig({ T2T_ESCALATION_CONTACT: 'ops@contoso.com, t-fabrikam=ops@fabrikam.com' }).escalationContacts, {
        fallback: 'ops@contoso.com',
        byTenant: { 't-fabrikam': 'ops@fabrikam.com' },
      });
    });

    it("a tenant's escalation contact in the world file is optional and must be an address", () => {
      const tenant = { id: 't-a', name: 'A', cloud: 'Public', defaultDomain: 'a.onmicrosoft.com' };
      assert.equal(parseWorld({ tenants: [tenant] }).tenants[0].escalationContact, undefined);
      assert.equal(parseWorld({ tenants: [{ ...tenant, escalationContact: 'ops@a.com' }] }).tenants[0].escalationContact, 'ops@a.com');
      assert.throws(() => parseWorld({ tenants: [{ ...tenant, escalationContact: 'ops' }] }), (err: Error) => err instanceof WorldFileError && /tenants\[0\]\.escalationContact: must be an email address/.test(err.message));
    });
  });

  describe('when reminders fall', () => {
    const settings = { reminderLeadsMs: [DAY, HOUR], escalateAfterMs: 30 * 60_000 };
    const deadline = Date.parse('2026-03-08T12:00:00.000Z');

    it('24 h and 1 h before the deadline, the escalation 30 min after the last', () => {
      const due = noticesFor('approval', deadline, settings).map((n) => [n.type, new Date(n.at).toISOString()]);
      assert.deepEqual(due, [
        ['reminder', '2026-03-07T12:00:00.000Z'],
        ['reminder', '2026-03-08T11:00:00.000Z'],
        ['escalation', '2026-03-08T11:30:00.000Z'],
      ]);
    });

    it('one after the other, each once', () => {
      const state: NoticeState = { settings, done: [] };
      const seen: string[] = [];
      for (let now = deadline - 7 * DAY; ; ) {
        const notice = nextNotice(state, 'approval', deadline, now);
        if (!notice) break;
        seen.push(notice.key);
        now = notice.at;
        markDone(state, notice);
      }
      assert.equal(seen.length, 3);
      assert.equal(new Set(seen).size, 3);
    });

    it('points already past when the wait begins are skipped, not sent late', () => {
      const state: NoticeState = { settings, done: [] };
      // A 12-hour lockbox request: its 24-hour point was past before it began.
      const next = nextNotice(state, 'lockbox', deadline, deadline - 12 * HOUR);
      assert.equal(next?.leadMs, HOUR);
    });

    it('after a long outage, only the latest of the notices due is sent', () => {
      const state: NoticeState = { settings, done: [] };
      assert.equal(nextNotice(state, 'approval', deadline, deadline - 7 * DAY)?.leadMs, DAY);
      // No worker ran from day 5 until 40 minutes before the deadline.
      const late = nextNotice(state, 'approval', deadline, deadline - 40 * 60_000);
      assert.equal(late?.leadMs, HOUR);
      markDone(state, late!);
      assert.equal(nextNotice(state, 'approval', deadline, deadline - 40 * 60_000)?.type, 'escalation');
    });

    it('a new deadline of the same kind (prepare again) has reminders of its own; the old ones are forgotten', () => {
      const state: NoticeState = { settings, done: [] };
      const first = nextNotice(state, 'prepareWindow', deadline, deadline - 7 * DAY)!;
      markDone(state, first);
      const later = deadline + 2 * DAY;
      assert.equal(nextNotice(state, 'prepareWindow', later, deadline - 5 * DAY)?.at, later - DAY);
      assert.ok(state.done.every((key) => !key.includes(new Date(deadline).toISOString())));
    });

    it('no reminders: no escalation either; none before the settings are known', () => {
      assert.equal(nextNotice({ settings: { reminderLeadsMs: [], escalateAfterMs: 0 }, done: [] }, 'approval', deadline, 0), undefined);
      assert.equal(nextNotice({ done: [] }, 'approval', deadline, 0), undefined);
    });
  });

  describe('what a message carries', () => {
    it('no SAS token, no address', () => {
      const text = 'Validation Failed, Errors are updated on the blob here: https://acct.blob.core.windows.net/c/round-1-errors.csv?sv=2024-05-04&sr=b&sig=AbC%2Bd&se=2026 by admin@contoso.com; sig=xyz';
      const clean = sanitizeText(text);
      assert.equal(clean, 'Validation Failed, Errors are updated on the blob here: https://acct.blob.core.windows.net/c/round-1-errors.csv by <user>; sig=<removed>');
    });

    const event: NotificationEvent = {
      id: 'm-1:reminder:approval:2026-03-08T12:00:00.000Z:1h',
      kind: 'reminder',
      time: '2026-03-08T11:00:00.000Z',
      tenants: ['t-fabrikam'],
      migration: { migrationId: 'm-1', targetMigrationId: 'tm-1', environmentId: 'env-sales', environmentName: 'Sales', sourceTenantId: 't-contoso', targetTenantId: 't-fabrikam' },
      data: { phase: 'PendingApproval', deadlineKind: 'approval', deadline: '2026-03-08T12:00:00.000Z', before: '1h', who: "the target tenant's admin", what: 'approve or deny the migration request', command: 't2t approve --migration-id tm-1' },
    };

    it('a CloudEvent 1.0 in structured mode', () => {
      assert.deepEqual(toCloudEvent(event), {
        specversion: '1.0',
        id: event.id,
        source: '/t2t/migrations/m-1',
        type: 't2t.migration.reminder',
        subject: 'env-sales',
        time: event.time,
        datacontenttype: 'application/json',
        data: { migrationId: 'm-1', targetMigrationId: 'tm-1', environmentId: 'env-sales', environmentName: 'Sales', sourceTenantId: 't-contoso', targetTenantId: 't-fabrikam', ...event.data },
      });
    });

    it('an email with the same facts for people', () => {
      const mail = emailFor(toCloudEvent(event));
      assert.equal(mail.subject, '[t2t] Reminder: approve or deny the migration request, Sales (env-sales), before 2026-03-08T12:00:00.000Z');
      assert.match(mail.text, /^Reminder for the target tenant's admin: approve or deny the migration request for the migration of Sales \(env-sales\) before 2026-03-08T12:00:00.000Z \(1h from now\)\./);
      assert.match(mail.text, /Command: t2t approve --migration-id tm-1/);
    });

    it('the webhook signature: HMAC-SHA256 over the timestamp and the body', () => {
      const body = JSON.stringify(toCloudEvent(event));
      const now = Date.parse('2026-03-08T11:00:05Z');
      const timestamp = String(Math.floor(now / 1000));
      const signature = webhookSignature('a-secret-of-sixteen', timestamp, body);
      assert.match(signature, /^v1=[0-9a-f]{64}$/);
      assert.ok(verifyWebhookSignature('a-secret-of-sixteen', { signature, timestamp }, body, { now }));
      assert.ok(!verifyWebhookSignature('another-secret-xx', { signature, timestamp }, body, { now }), 'another secret');
      assert.ok(!verifyWebhookSignature('a-secret-of-sixteen', { signature, timestamp }, body.replace('tm-1', 'tm-2'), { now }), 'a changed body');
      assert.ok(!verifyWebhookSignature('a-secret-of-sixteen', { signature, timestamp }, body, { now: now + 600_000 }), 'a replay ten minutes later');
    });
  });

  describe('t2t notify', () => {
    let dir: string;
    let env: NodeJS.ProcessEnv;

    before(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 't2t-notify-'));
      env = { T2T_DATA_DIR: dir };
      writeFileSync(path.join(dir, 'world.json'), JSON.stringify({ tenants: [{ id: 't-contoso', name: 'Contoso', cloud: 'Public', defaultDomain: 'contoso.onmicrosoft.com' }] }));
      assert.equal((await t2t(['world', 'load', path.join(dir, 'world.json')])).code, 0);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    async function t2t(args: string[]): Promise<{ code: number; out: string; err: string }> {
      let out = '';
      let err = '';
      const code = await runCli(args, { env, out: (s) => (out += s), err: (s) => (err += s) });
      return { code, out, err };
    }

    const listed = async () => JSON.parse((await t2t(['notify', 'list', '--json'])).out) as { subscriptions: Record<string, unknown>[] };

    it('bad input: one line, exit 1, nothing written', async () => {
      const secret = ['--secret', 'a-long-enough-secret'];
      const cases: [string[], RegExp][] = [
        [['--tenant', 't-contoso', '--kind', 'reminder', '--webhook', 'not a url', ...secret], /^t2t: --webhook: 'not a url' is not a URL/],
        [['--tenant', 't-contoso', '--kind', 'reminder', '--webhook', 'ftp://hooks.contoso.com/x', ...secret], /must start with https:\/\//],
        [['--tenant', 't-contoso', '--kind', 'reminders', '--email', 'ops@contoso.com'], /^t2t: --kind: unknown event kind 'reminders'/],
        [['--tenant', 't-nowhere', '--kind', 'reminder', '--email', 'ops@contoso.com'], /^t2t: no tenant has the id 't-nowhere'/],
        [['--tenant', 't-contoso', '--kind', 'reminder', '--email', 'ops'], /^t2t: --email: 'ops' is not an email address/],
        [['--tenant', 't-contoso', '--kind', 'reminder', '--webhook', 'https://hooks.contoso.com/x'], /needs a secret/],
        [['--tenant', 't-contoso', '--kind', 'reminder', '--webhook', 'https://hooks.contoso.com/x', '--secret', 'short'], /at least 16 characters/],
        [['--tenant', 't-contoso', '--kind', 'reminder', '--webhook', 'https://hooks.contoso.com/x', '--email', 'ops@contoso.com', ...secret], /either --webhook <url> or --email <address>/],
      ];
      for (const [args, message] of cases) {
        const run = await t2t(['notify', 'add', ...args]);
        assert.equal(run.code, 1, args.join(' '));
        assert.match(run.err, message);
        assert.equal(run.err.trim().split('\n').length, 1, 'one line');
      }
      assert.deepEqual((await listed()).subscriptions, []);
    });

    it('add, list and remove; the secret is never printed back', async () => {
      const secret = 'do-not-print-this-secret-123';
      const added = await t2t(['notify', 'add', '--tenant', 't-contoso', '--kind', 'phase-changed,reminder', '--webhook', 'https://hooks.contoso.com/t2t?token=abc', '--secret', secret, '--json']);
      assert.equal(added.code, 0, added.err);
      const subscriptions = (JSON.parse(added.out) as { subscriptions: { id: string; kind: string; target: string; signed: boolean; created: boolean }[] }).subscriptions;
      assert.deepEqual(subscriptions.map((s) => [s.kind, s.target, s.signed, s.created]), [
        ['phase-changed', 'https://hooks.contoso.com/t2t?…', true, true],
        ['reminder', 'https://hooks.contoso.com/t2t?…', true, true],
      ]);
      const again = await t2t(['notify', 'add', '--tenant', 't-contoso', '--kind', 'reminder', '--webhook', 'https://hooks.contoso.com/t2t?token=abc', '--secret', secret]);
      assert.match(again.out, /^Already subscribed: sub-/);
      const email = await t2t(['notify', 'add', '--tenant', 't-contoso', '--kind', 'escalation', '--email', 'ops@contoso.com']);
      assert.match(email.out, /^Subscribed: sub-\w+ · tenant t-contoso · escalation → email ops@contoso\.com/);

      const human = await t2t(['notify', 'list', '--tenant', 't-contoso']);
      assert.equal(human.out.trim().split('\n').length, 3);
      const json = await t2t(['notify', 'list', '--json']);
      for (const text of [added.out, again.out, human.out, json.out]) {
        assert.ok(!text.includes(secret), 'no secret');
        assert.ok(!text.includes('token=abc'), 'no token from the URL');
      }
      assert.deepEqual((JSON.parse(json.out) as { subscriptions: { deliveries: unknown }[] }).subscriptions[0].deliveries, { delivered: 0, failed: 0, pending: 0 });

      const removed = await t2t(['notify', 'remove', '--id', subscriptions[0].id]);
      assert.equal(removed.code, 0, removed.err);
      assert.equal((await listed()).subscriptions.length, 2);
      const unknown = await t2t(['notify', 'remove', '--id', subscriptions[1].id, 'sub-nope']);
      assert.equal(unknown.code, 1);
      assert.match(unknown.err, /^t2t: no subscription has the id 'sub-nope'/);
      assert.equal((await listed()).subscriptions.length, 2, 'nothing removed when one id is unknown');
    });
  });
});
