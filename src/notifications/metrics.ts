// The notification counters, on the Temporal runtime's metric meter: the
// worker's Prometheus endpoint (T2T_METRICS_ADDRESS) serves them beside the
// SDK's own metrics. Each is counted once per reminder, escalation or delivery,
// however often an activity is retried.
import type { MetricMeter } from '@temporalio/common';
import type { Channel } from './store';

export interface NotificationMetrics {
  reminderSent(deadline: string): void;
  escalationSent(deadline: string): void;
  delivered(channel: Channel, kind: string): void;
  failed(channel: Channel, kind: string): void;
}

/** Metric names as the Prometheus endpoint shows them (counters, without a `_total` suffix). */
export const METRIC_NAMES = {
  remindersSent: 't2t_reminders_sent',
  escalationsSent: 't2t_escalations_sent',
  notificationsDelivered: 't2t_notifications_delivered',
  notificationsFailed: 't2t_notifications_failed',
} as const;

export function meterMetrics(meter: MetricMeter): NotificationMetrics {
  const counter = (name: string, description: string) => meter.createCounter(name, undefined, description);
  return {
    reminderSent: (deadline) => counter(METRIC_NAMES.remindersSent, 'reminders sent before a deadline, once each').add(1, { deadline }),
    escalationSent: (deadline) => counter(METRIC_NAMES.escalationsSent, 'escalations sent to a tenant, once each').add(1, { deadline }),
    delivered: (channel, kind) => counter(METRIC_NAMES.notificationsDelivered, 'notifications delivered (webhook or email)').add(1, { channel, kind }),
    failed: (channel, kind) => counter(METRIC_NAMES.notificationsFailed, 'notifications given up after their retry budget, or refused by the receiver').add(1, { channel, kind }),
  };
}
