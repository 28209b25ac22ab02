// History events per completed workflow, by event type: what the Temporal
// cluster stores and replays for each migration, beside the trivial workflow's.
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export interface HistoryCounts {
  workflows: number;
  perWorkflow: number;
  /** mean events per workflow by type, e.g. ACTIVITY_TASK_SCHEDULED */
  byType: Map<string, number>;
}

/** An event's type as the history shows it, without the EVENT_TYPE_ prefix: ACTIVITY_TASK_SCHEDULED */
export function eventTypeName(type: number | null | undefined): string {
  return (temporal.api.enums.v1.EventType[type ?? 0] ?? String(type)).replace(/^EVENT_TYPE_/, '');
}

export async function historyCounts(handles: WorkflowHandle[]): Promise<HistoryCounts> {
  const byType = new Map<string, number>();
  let total = 0;
  for (const handle of handles) {
    const history = await handle.fetchHistory();
    for (const event of history.events ?? []) {
      let name = eventTypeName(event.eventType);
      // Which marker (a patch, a local activity) and which search attributes: where the extra events come from.
      if (event.markerRecordedEventAttributes) name += ` ${event.markerRecordedEventAttributes.markerName}`;
      const upserted = event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
      if (upserted) name = `UPSERT ${Object.keys(upserted).sort().join(',')}`;
      byType.set(name, (byType.get(name) ?? 0) + 1);
      total += 1;
    }
  }
  const n = Math.max(1, handles.length);
  return { workflows: handles.length, perWorkflow: total / n, byType: new Map([...byType].map(([k, v]) => [k, v / n])) };
}
