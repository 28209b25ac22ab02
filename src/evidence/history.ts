// A migration's Temporal history, every run of it, and what the evidence pack
// reads out of it: each validation round (its input, its result with the mapping
// file's SHA-256, or why it could not run) and each phase change.
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { History } from '@temporalio/common/lib/proto-utils';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import type { ValidationInfo } from '../contracts';
import type { ServicePrepareResult } from '../service/migration-service';
import { decodeHistoryPayloads } from '../codec/history';

type HistoryEvent = NonNullable<History['events']>[number];
type Payloads = { payloads?: unknown[] | null } | null | undefined;

/** One run of the workflow: the first one, then each that a continue-as-new started. */
export interface RunHistory {
  runId: string;
  history: History;
  /** how the run closed, from its last event; 'Running' while it is open */
  closedAs: 'Running' | 'Completed' | 'Failed' | 'Canceled' | 'Terminated' | 'TimedOut' | 'ContinuedAsNew';
  startedAt?: string;
  closedAt?: string;
  /** the payload keys the run's encrypted payloads were written with (none: it holds plain payloads only) */
  payloadKeyIds: string[];
}

/** A chain longer than this is not followed further (a continue-as-new happens every 10,000 events by default). */
const MAX_RUNS = 10_000;

/**
 * Every run of the migration's workflow, oldest first: from the run that `runId` names back to
 * the first of its chain (its start event names it), then forward through each continue-as-new.
 */
export async function fetchEveryRun(client: Client, workflowId: string, runId: string): Promise<RunHistory[]> {
  const first = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId, runId },
    maximumPageSize: 1,
  });
  const started = first.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
  let next: string | undefined = started?.firstExecutionRunId || runId;
  const runs: RunHistory[] = [];
  while (next && runs.length < MAX_RUNS) {
    const history: History = await client.workflow.getHandle(workflowId, next).fetchHistory();
    // Decoded with the client's own codec: the pack holds what was recorded, readable.
    const payloadKeyIds = await decodeHistoryPayloads(history, client.options.loadedDataConverter.payloadCodecs);
    const run = { ...describeRun(next, history), payloadKeyIds };
    runs.push(run);
    const last: HistoryEvent | undefined = history.events?.[history.events.length - 1];
    next = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return runs;
}

function describeRun(runId: string, history: History): Omit<RunHistory, 'payloadKeyIds'> {
  const events = history.events ?? [];
  const last = events[events.length - 1];
  const closedAs: RunHistory['closedAs'] = !last
    ? 'Running'
    : last.workflowExecutionCompletedEventAttributes
      ? 'Completed'
      : last.workflowExecutionFailedEventAttributes
        ? 'Failed'
        : last.workflowExecutionCanceledEventAttributes
          ? 'Canceled'
          : last.workflowExecutionTerminatedEventAttributes
            ? 'Terminated'
            : last.workflowExecutionTimedOutEventAttributes
              ? 'TimedOut'
              : last.workflowExecutionContinuedAsNewEventAttributes
                ? 'ContinuedAsNew'
                : 'Running';
  return {
    runId,
    history,
    closedAs,
    startedAt: timeOf(events[0]),
    ...(closedAs !== 'Running' ? { closedAt: timeOf(last) } : {}),
  };
}

export interface ValidationRecord {
  /** 1-based run of the chain the round ran in */
  run: number;
  /** a prepare round, or the check of the file once more before migrating */
  kind: 'prepare' | 'check before migrate';
  round?: number;
  scheduledAt?: string;
  closedAt?: string;
  result?: ValidationInfo;
  /** why the round could not run (every attempt failed) */
  failure?: string;
  /** Microsoft's service's own prepare, after the product's validation passed */
  servicePrepare?: ServicePrepareResult | { failure: string };
}

export interface PhaseRecord {
  run: number;
  at?: string;
  phase: string;
}

export interface HistoryRecords {
  validations: ValidationRecord[];
  /** each T2TPhase the workflow set, with the time of the event */
  phases: PhaseRecord[];
  events: number;
}

/** Reads the validation rounds and the phase changes out of every run's history. */
export function readHistories(runs: RunHistory[]): HistoryRecords {
  const validations: ValidationRecord[] = [];
  const phases: PhaseRecord[] = [];
  let events = 0;
  let phase: string | undefined;
  runs.forEach((run, index) => {
    const scheduled = new Map<string, { name: string; record?: ValidationRecord; prepare?: ValidationRecord }>();
    let lastPrepare: ValidationRecord | undefined;
    for (const event of run.history.events ?? []) {
      events += 1;
      // The client starts the first run in its first phase; a continued run starts where the last one stood.
      const startedPhase = index === 0 ? searchAttributePhase(event.workflowExecutionStartedEventAttributes?.searchAttributes) : undefined;
      if (startedPhase !== undefined) {
        phase = startedPhase;
        phases.push({ run: index + 1, at: timeOf(event), phase });
      }
      const upserted = searchAttributePhase(event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes);
      if (upserted !== undefined) {
        phase = upserted;
        phases.push({ run: index + 1, at: timeOf(event), phase });
      }
      const activity = event.activityTaskScheduledEventAttributes;
      if (activity) {
        const name = activity.activityType?.name ?? '';
        const id = String(event.eventId);
        if (name === 'validateMapping') {
          const input = decodeFirst(activity.input) as { round?: number } | undefined;
          const record: ValidationRecord = {
            run: index + 1,
            kind: phase === 'Migrating' ? 'check before migrate' : 'prepare',
            ...(typeof input?.round === 'number' ? { round: input.round } : {}),
            scheduledAt: timeOf(event),
          };
          validations.push(record);
          if (record.kind === 'prepare') lastPrepare = record;
          scheduled.set(id, { name, record });
        } else if (name === 'prepareOnService') {
          scheduled.set(id, { name, prepare: lastPrepare });
        }
        continue;
      }
      const completed = event.activityTaskCompletedEventAttributes;
      const failed = event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes ?? event.activityTaskCanceledEventAttributes;
      const scheduledId = String((completed ?? failed)?.scheduledEventId ?? '');
      const open = scheduled.get(scheduledId);
      if (!open) continue;
      const failure = failureMessage(event);
      if (open.record) {
        open.record.closedAt = timeOf(event);
        if (completed) open.record.result = decodeFirst(completed.result) as ValidationInfo;
        else open.record.failure = failure;
      } else if (open.prepare) {
        open.prepare.servicePrepare = completed ? (decodeFirst(completed.result) as ServicePrepareResult) : { failure };
      }
    }
  });
  return { validations, phases, events };
}

function searchAttributePhase(attributes: { indexedFields?: Record<string, unknown> | null } | null | undefined): string | undefined {
  const payload = attributes?.indexedFields?.T2TPhase;
  if (!payload) return undefined;
  const value = decode(payload);
  return Array.isArray(value) ? String(value[0]) : typeof value === 'string' ? value : undefined;
}

function decodeFirst(payloads: Payloads): unknown {
  const first = payloads?.payloads?.[0];
  return first ? decode(first) : undefined;
}

function decode(payload: unknown): unknown {
  try {
    return defaultPayloadConverter.fromPayload(payload as Parameters<typeof defaultPayloadConverter.fromPayload>[0]);
  } catch {
    return undefined;
  }
}

function failureMessage(event: HistoryEvent): string {
  const failed = event.activityTaskFailedEventAttributes?.failure;
  // An encrypting worker moves the message into encodedAttributes, decoded with the rest of the history by now.
  const encoded = failed?.encodedAttributes ? (decode(failed.encodedAttributes) as { message?: unknown } | undefined) : undefined;
  if (typeof encoded?.message === 'string') return encoded.message;
  if (failed) return failed.message ?? 'failed';
  if (event.activityTaskTimedOutEventAttributes) return 'timed out';
  if (event.activityTaskCanceledEventAttributes) return 'cancelled';
  return 'failed';
}

export function timeOf(event: HistoryEvent | undefined): string | undefined {
  const ms = optionalTsToMs(event?.eventTime as Parameters<typeof optionalTsToMs>[0]);
  return ms === undefined ? undefined : new Date(ms).toISOString();
}
