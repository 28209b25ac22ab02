// The reads of status-reader.ts through the Temporal client: the path of every
// command but a plain `t2t status`, and of `t2t status` where the lean reader does
// not apply (TLS, an API key) or fails.
import type { Client, WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import type { RunDescription, TemporalReads } from './status-reader';

/** Only the close event of a run's history. */
const HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT = 2;

function descriptionOf(d: WorkflowExecutionDescription): RunDescription {
  return { workflowId: d.workflowId, runId: d.runId, statusName: d.status.name, closeTime: d.closeTime };
}

export function clientReads(client: Client): TemporalReads {
  return {
    async list(query) {
      const runs = [];
      for await (const e of client.workflow.list({ query })) {
        runs.push({
          workflowId: e.workflowId,
          runId: e.runId,
          statusName: e.status.name,
          startTime: e.startTime,
          closeTime: e.closeTime,
          keyword: (name: string) => e.typedSearchAttributes.get({ name, type: 'KEYWORD' } as never) as string | undefined,
          memo: e.memo,
        });
      }
      return runs;
    },
    query: (run, queryType) => client.workflow.getHandle(run.workflowId, run.runId).query(queryType),
    describe: async (run) => descriptionOf(await client.workflow.getHandle(run.workflowId, run.runId).describe()),
    async closeEvent(run) {
      const history = await client.workflowService.getWorkflowExecutionHistory({
        namespace: client.options.namespace,
        execution: { workflowId: run.workflowId, ...(run.runId ? { runId: run.runId } : {}) },
        historyEventFilterType: HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
      });
      const event = history.history?.events?.[0];
      if (!event) return undefined;
      const seconds = event.eventTime?.seconds;
      return {
        at: seconds != null ? new Date(Number(seconds) * 1000 + Math.floor((event.eventTime?.nanos ?? 0) / 1e6)) : undefined,
        terminatedBy: event.workflowExecutionTerminatedEventAttributes?.identity || undefined,
        terminatedReason: event.workflowExecutionTerminatedEventAttributes?.reason || undefined,
        failureMessage: event.workflowExecutionFailedEventAttributes?.failure?.message || undefined,
        continuedAsNewRunId: event.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId || undefined,
      };
    },
  };
}

/** The reads of one handle's run: a status read through a handle asks that handle, as it always did. */
export function handleReads(client: Client, handle: WorkflowHandle): TemporalReads {
  return {
    ...clientReads(client),
    query: (_run, queryType) => handle.query(queryType),
    describe: async () => descriptionOf(await handle.describe()),
  };
}
