// notify add · notify list · notify remove — a tenant's notification subscriptions
// (docs/operations.md): which event kinds go to which webhook or mailbox.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { CommandRuntime } from '../cli';
import type { CommandContext } from '../context';
import { UserError } from '../user-error';
import { NOTIFICATION_KINDS, isNotificationKind, type NotificationKind } from '../../notifications/events';
import type { NotificationStore, Channel, Subscription } from '../../notifications/store';

/** What the notify commands use, loaded when one of them runs (not with `t2t --help`). */
async function libraries() {
  const [{ describeUrl }, { isEmailAddress }] = await Promise.all([import('../../notifications/delivery'), import('../../notifications/settings')]);
  return { describeUrl, isEmailAddress };
}
type Libraries = Awaited<ReturnType<typeof libraries>>;

/** Shortest secret accepted: HMAC keys shorter than this are guessable. */
const MIN_SECRET_LENGTH = 16;

interface AddOptions {
  tenant: string;
  kind: string;
  webhook?: string;
  email?: string;
  secret?: string;
  secretFile?: string;
}

export function registerNotifyCommands(program: Command, runtime: CommandRuntime): void {
  const notify = program.command('notify').description("a tenant's notifications: phase changes, reminders, escalations and refused actions, to webhooks or email");

  notify
    .command('add')
    .description('send event kinds of a tenant to a webhook (CloudEvents, signed) or an email address')
    .requiredOption('--tenant <id>', 'the tenant whose migrations are notified')
    .requiredOption('--kind <kinds>', `comma-separated: ${NOTIFICATION_KINDS.join(', ')}, or all`)
    .option('--webhook <url>', 'an http(s) URL that receives a POST per event')
    .option('--secret <text>', `the webhook's HMAC-SHA256 key (at least ${MIN_SECRET_LENGTH} characters)`)
    .option('--secret-file <path>', 'the webhook key read from a file, instead of --secret')
    .option('--email <address>', 'an email address that receives a message per event')
    .action(async (opts: AddOptions) => {
      const lib = await libraries();
      const kinds = parseKinds(opts.kind);
      const target = parseTarget(opts, lib);
      await withStore(runtime.context(), async (store, tenantExists) => {
        if (!(await tenantExists(opts.tenant))) throw new UserError(`no tenant has the id '${opts.tenant}'`);
        const added: { subscription: Subscription; created: boolean }[] = [];
        for (const kind of kinds) added.push(await store.addSubscription({ tenantId: opts.tenant, kind, ...target }));
        const printer = runtime.printer();
        printer.document({ subscriptions: added.map(({ subscription, created }) => ({ ...shown(subscription, lib), created })) });
        for (const { subscription, created } of added) printer.line(`${created ? 'Subscribed' : 'Already subscribed'}: ${describe(subscription, lib)}`);
        if (target.channel === 'email' && !runtime.context().config.smtpUrl) {
          printer.line('Note: no mail server is configured here (T2T_SMTP_URL); the worker needs one to send email.');
        }
      });
    });

  notify
    .command('list')
    .description("the subscriptions (a tenant's, or all), with how their deliveries went; secrets are never shown")
    .option('--tenant <id>', 'one tenant')
    .action(async (opts: { tenant?: string }) => {
      const lib = await libraries();
      await withStore(runtime.context(), async (store) => {
        const subscriptions = await store.listSubscriptions(opts.tenant !== undefined ? { tenantId: opts.tenant } : {});
        const counts = await store.deliveryCounts(subscriptions.map((s) => s.id));
        const printer = runtime.printer();
        printer.document({
          subscriptions: subscriptions.map((s) => ({ ...shown(s, lib), deliveries: counts.get(s.id) ?? { delivered: 0, failed: 0, pending: 0 } })),
        });
        if (subscriptions.length === 0) printer.line(opts.tenant !== undefined ? `No subscriptions for tenant '${opts.tenant}'.` : 'No subscriptions.');
        for (const s of subscriptions) {
          const c = counts.get(s.id);
          const deliveries = c ? ` · delivered ${c.delivered}, failed ${c.failed}${c.pending ? `, pending ${c.pending}` : ''}${c.lastError ? ` (last failure: ${c.lastError})` : ''}` : '';
          printer.line(`${describe(s, lib)}${deliveries}`);
        }
      });
    });

  notify
    .command('remove')
    .description('remove subscriptions by id; deliveries not made yet are cancelled')
    .requiredOption('--id <id...>', 'the subscription ids (t2t notify list)')
    .action(async (opts: { id: string[] }) => {
      const lib = await libraries();
      await withStore(runtime.context(), async (store) => {
        const found = await Promise.all(opts.id.map(async (id) => ({ id, subscription: await store.getSubscription(id) })));
        const missing = found.filter((f) => !f.subscription);
        if (missing.length > 0) throw new UserError(`no subscription has the id '${missing[0].id}' (t2t notify list shows them)`);
        for (const { id } of found) await store.removeSubscription(id);
        const printer = runtime.printer();
        printer.document({ removed: found.map((f) => f.id) });
        for (const { subscription } of found) printer.line(`Removed: ${describe(subscription!, lib)}`);
      });
    });
}

function parseKinds(text: string): NotificationKind[] {
  const names = text.split(',').map((k) => k.trim()).filter((k) => k !== '');
  if (names.length === 0) throw new UserError(`--kind: name at least one of ${NOTIFICATION_KINDS.join(', ')} (or all)`);
  if (names.length === 1 && names[0] === 'all') return [...NOTIFICATION_KINDS];
  for (const name of names) {
    if (!isNotificationKind(name)) throw new UserError(`--kind: unknown event kind '${name}' (one of ${NOTIFICATION_KINDS.join(', ')}, or all)`);
  }
  return [...new Set(names as NotificationKind[])];
}

function parseTarget(opts: AddOptions, { isEmailAddress }: Libraries): { channel: Channel; target: string; secret?: string } {
  if ((opts.webhook === undefined) === (opts.email === undefined)) throw new UserError('give either --webhook <url> or --email <address>');
  if (opts.email !== undefined) {
    if (opts.secret !== undefined || opts.secretFile !== undefined) throw new UserError('--secret is for webhooks; an email subscription has none');
    const address = opts.email.trim();
    if (!isEmailAddress(address)) throw new UserError(`--email: '${opts.email}' is not an email address`);
    return { channel: 'email', target: address };
  }
  const url = opts.webhook!.trim();
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`--webhook: '${url}' is not a URL (use https://host/path)`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new UserError(`--webhook: the URL must start with https:// (or http://), not ${parsed.protocol}//`);
  if (parsed.username || parsed.password) throw new UserError('--webhook: put no user name or password in the URL; the HMAC secret authenticates the sender');
  if (parsed.hash) throw new UserError('--webhook: the URL must not have a #fragment');
  const secret = secretOf(opts);
  return { channel: 'webhook', target: parsed.toString(), secret };
}

function secretOf(opts: AddOptions): string {
  if (opts.secret !== undefined && opts.secretFile !== undefined) throw new UserError('give --secret or --secret-file, not both');
  let secret: string;
  if (opts.secretFile !== undefined) {
    try {
      secret = readFileSync(opts.secretFile, 'utf8').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UserError(`--secret-file: cannot read ${opts.secretFile}${code === 'ENOENT' ? ': no such file' : ''}`);
    }
  } else if (opts.secret !== undefined) {
    secret = opts.secret;
  } else {
    throw new UserError('a webhook needs a secret to sign its messages: give --secret <text> or --secret-file <path>');
  }
  if (secret.length < MIN_SECRET_LENGTH) throw new UserError(`the webhook secret must be at least ${MIN_SECRET_LENGTH} characters long`);
  return secret;
}

/** A subscription as printed: no secret, and a URL without its query (it may carry a token). */
function shown(s: Subscription, { describeUrl }: Libraries): Record<string, unknown> {
  return {
    id: s.id,
    tenantId: s.tenantId,
    kind: s.kind,
    channel: s.channel,
    target: s.channel === 'webhook' ? describeUrl(s.target) : s.target,
    signed: s.channel === 'webhook',
    createdAt: s.createdAt,
  };
}

function describe(s: Subscription, { describeUrl }: Libraries): string {
  const target = s.channel === 'webhook' ? `webhook ${describeUrl(s.target)} (signed)` : `email ${s.target}`;
  return `${s.id} · tenant ${s.tenantId} · ${s.kind} → ${target}`;
}

/**
 * The notification tables of the control-plane database, whichever the back end (they are the
 * product's own), and a check that a tenant exists: in the simulated world, or among the Microsoft
 * back end's configured tenants.
 */
async function withStore(context: CommandContext, work: (store: NotificationStore, tenantExists: (id: string) => Promise<boolean>) => Promise<void>): Promise<void> {
  const [{ createControlPlane, openDatabase }, { NotificationStore }] = await Promise.all([import('../../controlplane/database'), import('../../notifications/store')]);
  const { config } = context;
  const controlPlane = await createControlPlane(config.databaseUrl);
  try {
    await controlPlane.migrateSchema();
    const { db, release } = await openDatabase(config.databaseUrl);
    try {
      const tenantExists = async (id: string) =>
        config.backend === 'microsoft' ? (config.microsoft?.tenants ?? []).some((t) => t.tenantId === id) : (await controlPlane.getTenant(id)) !== undefined;
      await work(new NotificationStore(db), tenantExists);
    } finally {
      await release();
    }
  } finally {
    await controlPlane.close();
  }
}
