// Delivers one notification event to each of its subscriptions (docs/operations.md).
// Started by the migration's audit-trail local activity with the event's id as
// its workflow id, so an event is delivered by one workflow however often the
// write is repeated; its history is its own, not the migration's. Each delivery
// is retried by Temporal within the budget (schedule-to-close); one that runs
// out is recorded as failed and counted, and never touches the migration.
import { proxyActivities } from '@temporalio/workflow';
import type { NotificationActivities } from '../activities/notification-activities';
import { NOTIFICATION_NOT_CONFIGURED, NOTIFICATION_REFUSED } from '../notifications/events';
import { failureMessage as messageOf } from './failures';

export interface NotificationDeliveryInput {
  eventId: string;
  kind: string;
  deliveries: { subscriptionId: string; channel: 'webhook' | 'email' }[];
  /** how long each delivery may be retried (T2T_NOTIFY_BUDGET) */
  budgetMs: number;
}

export interface NotificationDeliveryResult {
  delivered: number;
  failed: number;
  /** the subscription was removed meanwhile */
  cancelled: number;
}

export async function notificationDelivery(input: NotificationDeliveryInput): Promise<NotificationDeliveryResult> {
  const budget = Math.max(1_000, input.budgetMs);
  const result: NotificationDeliveryResult = { delivered: 0, failed: 0, cancelled: 0 };
  await Promise.all(
    input.deliveries.map(async (delivery) => {
      const { deliverNotification } = proxyActivities<NotificationActivities>({
        startToCloseTimeout: Math.min(budget, 60_000),
        scheduleToCloseTimeout: budget,
        retry: {
          initialInterval: '1s',
          backoffCoefficient: 2,
          maximumInterval: Math.max(1_000, Math.min(60_000, Math.floor(budget / 4))),
          nonRetryableErrorTypes: [NOTIFICATION_REFUSED, NOTIFICATION_NOT_CONFIGURED],
        },
        summary: `Deliver the ${input.kind} event by ${delivery.channel}`,
      });
      const { notificationFailed } = proxyActivities<NotificationActivities>({
        startToCloseTimeout: '30s',
        retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 20 },
        summary: `Record the ${input.kind} event as not delivered by ${delivery.channel}`,
      });
      try {
        const outcome = await deliverNotification({ eventId: input.eventId, subscriptionId: delivery.subscriptionId });
        if (outcome === 'delivered' || outcome === 'already') result.delivered += 1;
        else if (outcome === 'failed') result.failed += 1;
        else result.cancelled += 1;
      } catch (err) {
        await notificationFailed({ eventId: input.eventId, subscriptionId: delivery.subscriptionId, error: messageOf(err) });
        result.failed += 1;
      }
    }),
  );
  return result;
}
