// Notifications (docs/operations.md). `recordTrail` is the migration's audit
// writer, a local activity: one marker in the migration's history however many
// entries and events it writes. It appends the audit entries, writes the events
// to the outbox with the deliveries their subscriptions call for, and starts
// one `notificationDelivery` workflow per event, whose id is the event's: a
// repeat (a retried or re-run local activity) starts nothing twice. That
// workflow runs `deliverNotification` per subscription, retried by Temporal
// within T2T_NOTIFY_BUDGET, and `notificationFailed` when the budget runs out.
import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { AuditLog, AuditRecord } from '../controlplane/audit-log';
import { NOTIFICATION_NOT_CONFIGURED, NOTIFICATION_REFUSED, type NotificationEvent } from '../notifications/events';
import { PermanentDeliveryError, postWebhook, sendEmail } from '../notifications/delivery';
import { meterMetrics, type NotificationMetrics } from '../notifications/metrics';
import { isContactDelivery, notificationDatabase, type NotificationDatabase } from '../notifications/store';
import { publishEvents } from '../notifications/publish';
import type { ControlPlane } from '../controlplane/control-plane';
import type { NoticeSettings } from '../notifications/reminders';

export type NotificationSettings = Pick<Config, 'reminderLeadsMs' | 'escalateAfterMs' | 'escalationContacts' | 'smtpUrl' | 'notifyFrom' | 'notifyBudgetMs'>;

export interface NotificationDependencies {
  database: NotificationDatabase;
  settings: NotificationSettings;
  /** a tenant's own escalation contact (the world file's, on the simulated back end) */
  tenantContact?: (tenantId: string) => Promise<string | undefined>;
  /** default: the worker runtime's metric meter, served on its Prometheus endpoint */
  metrics?: () => NotificationMetrics;
  /** default: the worker's client, from the activity's context */
  client?: () => Client;
}

export interface TrailInput {
  entries: AuditRecord[];
  events: NotificationEvent[];
}

/** What the migration learns from its first write: the reminder settings it keeps from then on (none: no notifications here). */
export type TrailResult = NoticeSettings | undefined;

export function createNotificationActivities(auditLog: AuditLog, notifications?: NotificationDependencies) {
  const configured = (): NotificationDependencies => {
    if (!notifications) throw ApplicationFailure.nonRetryable('notifications are not set up on this worker', NOTIFICATION_NOT_CONFIGURED);
    return notifications;
  };
  const metrics = () => {
    const deps = configured();
    return deps.metrics ? deps.metrics() : meterMetrics(Context.current().metricMeter);
  };
  const client = () => {
    const deps = configured();
    return deps.client ? deps.client() : Context.current().client;
  };

  return {
    /**
     * Spends a signed start's proof for the run that started with it (a local activity): undefined when
     * the run has it, else the run that spent it first. A rehearsal's signed input started again is refused.
     */
    async spendSignedStart(input: { actionId: string; run: string }): Promise<string | undefined> {
      return auditLog.spendSignedStart(input.actionId, input.run);
    },

    /** The migration's write of its audit entries and notification events (a local activity). */
    async recordTrail(input: TrailInput): Promise<TrailResult> {
      if (input.entries.length > 0) await auditLog.append(input.entries);
      if (!notifications) return undefined;
      if (input.events.length > 0) {
        await publishEvents(
          { ...notifications, client: client(), taskQueue: Context.current().info.taskQueue, metrics: metrics() },
          input.events,
        );
      }
      return { reminderLeadsMs: [...notifications.settings.reminderLeadsMs], escalateAfterMs: notifications.settings.escalateAfterMs };
    },

    /**
     * One attempt at one delivery. A delivery made already is not made again (a retry after a
     * crash between sending and recording is the one case a receiver can see twice: the event id
     * and the email's Message-ID stay the same, for it to drop the copy).
     */
    async deliverNotification(input: { eventId: string; subscriptionId: string }): Promise<'delivered' | 'already' | 'cancelled' | 'failed'> {
      const deps = configured();
      return deps.database.use(async (store) => {
        const delivery = await store.getDelivery(input.eventId, input.subscriptionId);
        if (!delivery) return 'cancelled';
        if (delivery.status === 'delivered') return 'already';
        if (delivery.status !== 'pending') return delivery.status;
        const body = await store.eventBody(input.eventId);
        if (!body) throw ApplicationFailure.nonRetryable(`no event ${input.eventId} in the outbox`, NOTIFICATION_REFUSED);
        let secret: string | null = null;
        if (!isContactDelivery(input.subscriptionId)) {
          const subscription = await store.getSubscription(input.subscriptionId);
          if (!subscription) {
            await store.settle(input.eventId, input.subscriptionId, 'cancelled', 'the subscription was removed');
            return 'cancelled';
          }
          secret = subscription.secret;
        }
        await store.attempting(input.eventId, input.subscriptionId);
        try {
          if (delivery.channel === 'webhook') await postWebhook(delivery.target, secret, body);
          else await sendEmail({ smtpUrl: deps.settings.smtpUrl, from: deps.settings.notifyFrom }, delivery.target, JSON.parse(body), input);
        } catch (err) {
          const message = (err as Error).message;
          await store.noteError(input.eventId, input.subscriptionId, message);
          if (err instanceof PermanentDeliveryError) throw ApplicationFailure.nonRetryable(message, err.type);
          throw ApplicationFailure.retryable(message, 'NotificationNotDelivered');
        }
        if (await store.settle(input.eventId, input.subscriptionId, 'delivered')) metrics().delivered(delivery.channel, kindOf(body));
        return 'delivered';
      });
    },

    /** A delivery given up (its budget ran out, or the receiver refused it): recorded and counted once. */
    async notificationFailed(input: { eventId: string; subscriptionId: string; error: string }): Promise<void> {
      await configured().database.use(async (store) => {
        const delivery = await store.getDelivery(input.eventId, input.subscriptionId);
        if (!delivery) return;
        const error = delivery.lastError && !input.error.includes(delivery.lastError) ? `${input.error}; last attempt: ${delivery.lastError}` : input.error;
        if (await store.settle(input.eventId, input.subscriptionId, 'failed', error)) {
          metrics().failed(delivery.channel, kindOf((await store.eventBody(input.eventId)) ?? '{}'));
          log.warn('a notification was not delivered', { eventId: input.eventId, subscriptionId: input.subscriptionId, error });
        }
      });
    },
  };
}

function kindOf(body: string): string {
  const type = (JSON.parse(body) as { type?: string }).type ?? '';
  return type.slice(type.lastIndexOf('.') + 1) || 'unknown';
}

export type NotificationActivities = ReturnType<typeof createNotificationActivities>;

/** What a worker needs for notifications: its configuration, the database of its control plane, and the tenants' own escalation contacts. */
export function workerNotifications(config: Config, controlPlane?: Pick<ControlPlane, 'getTenant'>): NotificationDependencies {
  return {
    database: notificationDatabase(config.databaseUrl),
    settings: config,
    ...(controlPlane ? { tenantContact: async (tenantId: string) => (await controlPlane.getTenant(tenantId))?.escalationContact } : {}),
  };
}
