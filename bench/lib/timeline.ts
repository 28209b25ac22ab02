// One workflow's history as a timeline: each event's offset from the start, and
// for activities how long each waited to be picked up and ran. Where a migration's
// latency goes, beside the trivial workflow's (bench:throughput --timeline).
import type { WorkflowHandle } from '@temporalio/client';
import { eventTypeName } from './history';

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? Number(t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6) : 0;

export async function timeline(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  const start = ms(events[0]?.eventTime);
  const names = new Map<number, string>();
  return events.map((event) => {
    let name = eventTypeName(event.eventType);
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) names.set(Number(event.eventId), scheduled.activityType?.name ?? '?');
    const activityOf = event.activityTaskStartedEventAttributes?.scheduledEventId ?? event.activityTaskCompletedEventAttributes?.scheduledEventId;
    if (scheduled) name += ` ${scheduled.activityType?.name}`;
    else if (activityOf) name += ` ${names.get(Number(activityOf))}`;
    const marker = event.markerRecordedEventAttributes;
    if (marker) {
      const details = marker.details?.data?.payloads?.[0]?.data;
      const type = details ? /"activityType":"([^"]+)"/.exec(Buffer.from(details).toString('utf8'))?.[1] : undefined;
      name += ` ${marker.markerName}${type ? ` ${type}` : ''}`;
    }
    const update = event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name;
    if (update) name += ` ${update}`;
    const upserted = event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
    if (upserted) name += ` ${Object.keys(upserted).sort().join(',')}`;
    return `${String(ms(event.eventTime) - start).padStart(7)} ms  ${name}`;
  });
}
