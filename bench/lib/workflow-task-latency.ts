// How long each workflow task of a workflow waited and ran, read from its
// history: from the first WorkflowTaskScheduled after the previous task ended
// to the WorkflowTaskCompleted that finally handled it. A task that timed out
// (the default workflow task timeout is 10 s) and was scheduled again counts
// once, from its first schedule: that is how long the signal behind it waited.
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

const EventType = temporal.api.enums.v1.EventType;

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : 0;

export interface WorkflowTaskLatencies {
  /** ms from first schedule to completion, one per completed task scheduled inside the window */
  latencies: number[];
  /** tasks that timed out or failed and were scheduled again, inside the window */
  retried: number;
}

/** The workflow tasks of these workflows that were first scheduled at or after `fromMs` and before `toMs` (epoch ms). */
export async function workflowTaskLatencies(handles: WorkflowHandle[], fromMs: number, toMs: number): Promise<WorkflowTaskLatencies> {
  const latencies: number[] = [];
  let retried = 0;
  for (const handle of handles) {
    const history = await handle.fetchHistory();
    let pendingSince: number | undefined;
    for (const event of history.events ?? []) {
      const at = ms(event.eventTime);
      const inWindow = () => pendingSince !== undefined && pendingSince >= fromMs && pendingSince < toMs;
      switch (event.eventType) {
        case EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
          pendingSince ??= at;
          break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
        case EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
          if (inWindow()) retried += 1;
          break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
          if (inWindow()) latencies.push(at - pendingSince!);
          pendingSince = undefined;
          break;
      }
    }
  }
  return { latencies, retried };
}
