// The events a migration notifies (docs/operations.md), as the workflow hands
// them to its audit-trail local activity, and their CloudEvents 1.0 form.
// Pure and deterministic (no Node built-ins): the workflow imports it.
//
// What leaves the product in a message is written here and nowhere else: ids,
// names, phases, deadlines and reasons. No email address (the acting admin's
// is in the audit trail, `t2t status`), no mapping row, no SAS token.

import type { MigrationStatus } from '../contracts';

/** Event kinds a subscription can name. `stalled` is sent by stall detection. */
export const NOTIFICATION_KINDS = ['phase-changed', 'reminder', 'escalation', 'action-refused', 'stalled'] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

export function isNotificationKind(text: string): text is NotificationKind {
  return (NOTIFICATION_KINDS as readonly string[]).includes(text);
}

/** The deadlines people are reminded of. */
export type DeadlineKind = 'approval' | 'lockbox' | 'prepareWindow';

/** The migration an event is about: ids and names only. */
export interface MigrationRef {
  migrationId: string;
  targetMigrationId: string;
  environmentId: string;
  environmentName?: string;
  sourceTenantId?: string;
  targetTenantId: string;
}

/** The ids and names a notification carries of a migration, from its status (or a reference kept with an event). */
export function migrationRefOf(state: MigrationStatus | MigrationRef): MigrationRef {
  return {
    migrationId: state.migrationId,
    targetMigrationId: state.targetMigrationId,
    environmentId: state.environmentId,
    ...(state.environmentName ? { environmentName: state.environmentName } : {}),
    ...(state.sourceTenantId ? { sourceTenantId: state.sourceTenantId } : {}),
    targetTenantId: state.targetTenantId,
  };
}

export interface NotificationEvent {
  /** stable: the same event written again (a retried activity, a replay) has the same id, and is delivered once */
  id: string;
  kind: NotificationKind;
  /** when it happened (workflow time) */
  time: string;
  /** whose subscriptions receive it */
  tenants: string[];
  /** escalations: the tenant whose escalation contact is told as well */
  escalateTo?: string;
  migration: MigrationRef;
  /** the kind's own fields, already free of addresses and SAS tokens */
  data: Record<string, unknown>;
}

/** CloudEvents 1.0, structured mode: what a webhook receives, byte for byte the same on every attempt. */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: Record<string, unknown>;
}

/** A receiver refused the notification for good (a 4xx other than 408 and 429; SMTP 5xx): retrying cannot help. */
export const NOTIFICATION_REFUSED = 'NotificationRefused';
/** The product cannot send this notification (no mail server configured). */
export const NOTIFICATION_NOT_CONFIGURED = 'NotificationNotConfigured';

export const CLOUDEVENT_TYPE_PREFIX = 't2t.migration.';
export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';

export function toCloudEvent(event: NotificationEvent): CloudEvent {
  const m = event.migration;
  return {
    specversion: '1.0',
    id: event.id,
    source: `/t2t/migrations/${encodeURIComponent(m.migrationId)}`,
    type: `${CLOUDEVENT_TYPE_PREFIX}${event.kind}`,
    subject: m.environmentId,
    time: event.time,
    datacontenttype: 'application/json',
    data: { ...migrationRefOf(m), ...event.data },
  };
}

/**
 * Text that may leave the product: URLs lose their query (a SAS token is a credential), and
 * email addresses become `<user>` (people's addresses stay in the audit trail).
 */
export function sanitizeText(text: string): string {
  return text
    .replace(/\b(https?:\/\/[^\s?#'"<>]+)[?#][^\s'"<>]*/gi, '$1')
    .replace(/\b(sig|sv|se|sp|si|sr|st|spr|skoid|sktid)=[^&\s'"]+/gi, '$1=<removed>')
    .replace(/[^\s'"<>@,;()]+@[^\s'"<>@,;()]+\.[^\s'"<>@,;()]+/g, '<user>');
}

/** What the people who must act are to do, and in which tenant, for each deadline. */
export const DEADLINES: Record<DeadlineKind, { tenant: 'source' | 'target'; who: string; what: string; command: (m: MigrationRef) => string }> = {
  approval: {
    tenant: 'target',
    who: "the target tenant's admin",
    what: 'approve or deny the migration request',
    command: (m) => `t2t approve --migration-id ${m.targetMigrationId} (or t2t deny --migration-id ${m.targetMigrationId} --reason …)`,
  },
  lockbox: {
    tenant: 'source',
    who: "a lockbox approver of the source tenant",
    what: 'approve the Customer Lockbox request',
    command: (m) => `t2t lockbox approve --migration-id ${m.migrationId}`,
  },
  prepareWindow: {
    tenant: 'source',
    who: "the source tenant's admin",
    what: 'migrate before the seven-day window closes (afterwards prepare must run again)',
    command: (m) => `t2t migrate --migration-id ${m.migrationId} --target-tenant ${m.targetTenantId}`,
  },
};

/** The tenants an event goes to: both for what happens to the migration, the one that must act for reminders and escalations. */
export function audienceOf(kind: NotificationKind, migration: MigrationRef, deadline?: DeadlineKind): string[] {
  const source = migration.sourceTenantId;
  const target = migration.targetTenantId;
  if ((kind === 'reminder' || kind === 'escalation') && deadline) {
    const tenant = DEADLINES[deadline].tenant === 'source' ? source : target;
    return tenant ? [tenant] : [];
  }
  return [...new Set([source, target].filter((t): t is string => Boolean(t)))];
}

/** What a refusal event is made of: the refused action's audit entry. */
export interface RefusalEntry {
  /** unique per migration (the audit trail's entry id) */
  entryId: string;
  at: string;
  action: string;
  reason?: string;
  count: number;
  note?: string;
  requestId?: string;
}

/** The event of a refused action; its id is the audit entry's, so that writing it again changes nothing. */
export function refusalEvent(migration: MigrationRef, phase: string, entry: RefusalEntry): NotificationEvent {
  return {
    id: `${migration.migrationId}:${entry.entryId}`,
    kind: 'action-refused',
    time: entry.at,
    tenants: audienceOf('action-refused', migration),
    migration,
    data: {
      phase,
      action: entry.action,
      reason: sanitizeText(entry.reason ?? 'refused'),
      count: entry.count,
      ...(entry.note ? { note: sanitizeText(entry.note) } : {}),
      ...(entry.requestId ? { requestId: sanitizeText(entry.requestId) } : {}),
    },
  };
}

/** An email's subject and text for an event: the same facts as the CloudEvent, for people. */
export function emailFor(event: CloudEvent): { subject: string; text: string } {
  const d = event.data as Record<string, string | number | undefined>;
  const environment = `${d.environmentName ?? d.environmentId} (${d.environmentId})`;
  const kind = event.type.slice(CLOUDEVENT_TYPE_PREFIX.length);
  const lines: string[] = [];
  let subject: string;
  switch (kind) {
    case 'phase-changed':
      subject = `[t2t] ${environment}: ${d.phase}`;
      lines.push(`The migration of ${environment} from ${d.sourceTenantId ?? '?'} to ${d.targetTenantId} is now ${d.phase}${d.previousPhase ? ` (was ${d.previousPhase})` : ''}.`);
      if (d.status) lines.push(`Status: ${d.status}`);
      if (d.reason) lines.push(`Reason: ${d.reason}`);
      if (d.deadline) lines.push(`Deadline: ${d.deadline}`);
      break;
    case 'action-refused':
      subject = `[t2t] ${environment}: ${d.action} refused`;
      lines.push(`An action on the migration of ${environment} was refused${Number(d.count) > 1 ? ` ${d.count} times` : ''}: ${d.reason}`);
      lines.push('Who tried is in the audit trail (t2t status).');
      break;
    case 'reminder':
      subject = `[t2t] Reminder: ${d.what}, ${environment}, before ${d.deadline}`;
      lines.push(`Reminder for ${d.who}: ${d.what} for the migration of ${environment} before ${d.deadline} (${d.before} from now).`);
      if (d.command) lines.push(`Command: ${d.command}`);
      break;
    case 'escalation':
      subject = `[t2t] Escalation: ${environment}, nobody has acted; deadline ${d.deadline}`;
      lines.push(`Nobody has acted on the migration of ${environment} since the last reminder: ${d.who} must ${d.what} before ${d.deadline}.`);
      if (d.command) lines.push(`Command: ${d.command}`);
      break;
    default:
      subject = `[t2t] ${environment}: ${kind}`;
      if (d.reason) lines.push(String(d.reason));
  }
  lines.push('', `Source migration id: ${d.migrationId}`, `Target migration id: ${d.targetMigrationId}`, `Event id: ${event.id} (${event.time})`);
  return { subject, text: `${lines.join('\n')}\n` };
}
