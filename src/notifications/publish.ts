// Publishing events: the outbox row of each (once, by its id), a delivery row per
// subscription that wants it (and a tenant's escalation contact), and one
// `notificationDelivery` workflow per event with deliveries left to make, whose
// workflow id is the event's, so that publishing again starts nothing twice.
// The migration's audit-trail local activity publishes through this; so can
// anything else that records an event (a refusal the client records, say).
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Config } from '../config';
import type { NotificationEvent } from './events';
import type { NotificationMetrics } from './metrics';
import { contactDeliveryId, type Channel, type NotificationDatabase } from './store';
import type { NotificationDeliveryInput } from '../workflows/notification-delivery';

/** notificationDelivery (src/workflows/notification-delivery.ts) by name: workflow code is not imported outside its sandbox. */
export const NOTIFICATION_DELIVERY_WORKFLOW_TYPE = 'notificationDelivery';
export const notificationDeliveryWorkflowId = (eventId: string): string => `t2t-notify-${eventId}`;

export interface Publisher {
  database: NotificationDatabase;
  client: Client;
  /** where the delivery workflows run: the workers' task queue */
  taskQueue: string;
  settings: Pick<Config, 'escalationContacts' | 'notifyBudgetMs'>;
  /** a tenant's own escalation contact (the world file's, on the simulated back end) */
  tenantContact?: (tenantId: string) => Promise<string | undefined>;
  metrics?: NotificationMetrics;
}

/** A tenant's escalation contact: the configuration's for the tenant, its own, the configuration's for every tenant. */
export async function escalationContactOf(publisher: Pick<Publisher, 'settings' | 'tenantContact'>, tenantId: string): Promise<string | undefined> {
  const contacts = publisher.settings.escalationContacts;
  return contacts.byTenant[tenantId] ?? (await publisher.tenantContact?.(tenantId)) ?? contacts.fallback;
}

export async function publishEvents(publisher: Publisher, events: NotificationEvent[]): Promise<void> {
  if (events.length === 0) return;
  const starts: NotificationDeliveryInput[] = [];
  await publisher.database.use(async (store) => {
    const fresh = await store.recordEvents(events);
    for (const event of events) {
      if (!fresh.has(event.id)) continue;
      const deadline = String(event.data.deadlineKind ?? 'unknown');
      if (event.kind === 'reminder') publisher.metrics?.reminderSent(deadline);
      if (event.kind === 'escalation') publisher.metrics?.escalationSent(deadline);
    }
    for (const event of events) {
      const targets: { subscriptionId: string; channel: Channel; target: string }[] = (await store.subscribers(event.tenants, event.kind)).map((s) => ({
        subscriptionId: s.id,
        channel: s.channel,
        target: s.target,
      }));
      if (event.kind === 'escalation' && event.escalateTo) {
        const contact = await escalationContactOf(publisher, event.escalateTo);
        const subscribed = contact !== undefined && targets.some((t) => t.channel === 'email' && t.target.toLowerCase() === contact.toLowerCase());
        if (contact && !subscribed) targets.push({ subscriptionId: contactDeliveryId(event.escalateTo), channel: 'email', target: contact });
      }
      const pending = await store.addDeliveries(event.id, targets);
      if (pending.length > 0) {
        starts.push({
          eventId: event.id,
          kind: event.kind,
          deliveries: pending.map((d) => ({ subscriptionId: d.subscriptionId, channel: d.channel })),
          budgetMs: publisher.settings.notifyBudgetMs,
        });
      }
    }
  });
  for (const input of starts) {
    try {
      await publisher.client.workflow.start(NOTIFICATION_DELIVERY_WORKFLOW_TYPE, {
        taskQueue: publisher.taskQueue,
        workflowId: notificationDeliveryWorkflowId(input.eventId),
        args: [input],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        staticSummary: `Deliver the ${input.kind} event ${input.eventId} (${input.deliveries.length} ${input.deliveries.length === 1 ? 'delivery' : 'deliveries'})`,
      });
    } catch (err) {
      // Started already (a repeat of this write): that workflow delivers it.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }
}
