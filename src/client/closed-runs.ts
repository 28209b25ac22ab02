// Reads how a run closed from Temporal: the close event of its history, and the
// latest runs of a batch's migrations from visibility (see run-closure.ts).
import type { Client } from '@temporalio/client';
import type { Phase } from '../contracts';
import { phaseOfUnfinishedRun, SearchAttributes } from '../contracts';
import type { RunClosure } from './run-closure';

/** Only the close event of a run's history. */
const HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT = 2;

/** The closure of a run Temporal reports as closed by `runStatus`, or undefined for every other run. */
export async function runClosureOf(
  client: Client,
  run: { workflowId: string; runId?: string; runStatus: string; closeTime?: Date },
  whilePhase?: Phase,
): Promise<RunClosure | undefined> {
  if (!phaseOfUnfinishedRun(run.runStatus)) return undefined;
  const how: RunClosure['how'] = run.runStatus === 'TIMED_OUT' ? 'timed out' : run.runStatus === 'FAILED' ? 'failed' : 'terminated';
  const closure: RunClosure = { how, at: run.closeTime?.toISOString() ?? '', ...(whilePhase ? { whilePhase } : {}) };
  const history = await client.workflowService
    .getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId: run.workflowId, ...(run.runId ? { runId: run.runId } : {}) },
      historyEventFilterType: HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
    })
    .catch(() => undefined);
  const event = history?.history?.events?.[0];
  if (event?.eventTime?.seconds != null) {
    closure.at = new Date(Number(event.eventTime.seconds) * 1000 + Math.floor((event.eventTime.nanos ?? 0) / 1e6)).toISOString();
  }
  const terminated = event?.workflowExecutionTerminatedEventAttributes;
  if (terminated?.identity) closure.by = terminated.identity;
  if (terminated?.reason) closure.reason = terminated.reason;
  const failure = event?.workflowExecutionFailedEventAttributes?.failure?.message;
  if (failure) closure.reason = failure;
  return closure;
}

/**
 * Of these migrations (by source migration id), the ones whose latest run closed without our
 * code: a batch's child terminated while it held a slot or waited for people still shows as
 * running in the batch's own state until the batch hears of it.
 */
export async function closuresOf(client: Client, migrationIds: readonly string[]): Promise<Map<string, RunClosure>> {
  const closures = new Map<string, RunClosure>();
  const ids = migrationIds.filter((id) => /^[0-9a-fA-F-]{8,64}$/.test(id));
  if (ids.length === 0) return closures;
  const latest = new Map<string, { workflowId: string; runId: string; runStatus: string; closeTime?: Date; startTime: Date; phase?: Phase }>();
  const query = `${SearchAttributes.sourceMigrationId.name} IN (${ids.map((id) => `'${id}'`).join(', ')})`;
  for await (const execution of client.workflow.list({ query })) {
    const id = execution.typedSearchAttributes.get(SearchAttributes.sourceMigrationId);
    if (!id) continue;
    const seen = latest.get(id);
    // A migration that continued as new has several runs: the running one, else the latest.
    if (seen?.runStatus === 'RUNNING' || (seen && execution.status.name !== 'RUNNING' && seen.startTime >= execution.startTime)) continue;
    // T2TPhase keeps the phase the run stopped in: what it was doing when it closed.
    const phase = execution.typedSearchAttributes.get(SearchAttributes.phase) as Phase | undefined;
    latest.set(id, { workflowId: execution.workflowId, runId: execution.runId, runStatus: execution.status.name, closeTime: execution.closeTime, startTime: execution.startTime, phase });
  }
  await Promise.all(
    [...latest].map(async ([id, run]) => {
      const closure = await runClosureOf(client, run, run.phase);
      if (closure) closures.set(id, closure);
    }),
  );
  return closures;
}
