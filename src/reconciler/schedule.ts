// The reconciler's Schedule: a Temporal Schedule, so that the server keeps the
// timing, the Web UI and `temporal schedule` show it, and an operator can pause or
// trigger it without the product. Every worker makes sure it exists at start.
import { Client, ScheduleAlreadyRunning, ScheduleDescription, ScheduleOptions, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Config } from '../config';

export const RECONCILER_SCHEDULE_ID = 't2t-reconciler';
/** reconcileMigrations (src/workflows/reconciler.ts) by name: workflow code is not imported outside its sandbox. */
export const RECONCILER_WORKFLOW_TYPE = 'reconcileMigrations';

/** T2T_TASK_QUEUE's default (SPEC §7): the deployment that gets the plain schedule id. */
const DEFAULT_TASK_QUEUE = 'tenant-migrations';

/**
 * One Schedule per task queue: deployments that share a namespace but not a task queue
 * (each with its own control plane) each need their requests reconciled by their own
 * workers. The default task queue keeps the plain id an operator looks for.
 */
export function reconcilerScheduleId(taskQueue: string): string {
  return workerScheduleId(RECONCILER_SCHEDULE_ID, taskQueue);
}

/** A worker Schedule's id on a task queue: the plain id on the default queue, the queue appended on others. */
export function workerScheduleId(plainId: string, taskQueue: string): string {
  return taskQueue === DEFAULT_TASK_QUEUE ? plainId : `${plainId}-${taskQueue}`;
}

// A run stuck without a worker would, with overlap SKIP, hold back every later one.
const RUN_TIMEOUT = '10m';

function intervalOf(config: Pick<Config, 'reconcileIntervalMs'>): number {
  // Schedules count in whole seconds.
  return Math.max(1, Math.round(config.reconcileIntervalMs / 1000)) * 1000;
}

export function reconcilerScheduleOptions(config: Pick<Config, 'taskQueue' | 'reconcileIntervalMs'>): ScheduleOptions {
  const scheduleId = reconcilerScheduleId(config.taskQueue);
  const every = intervalOf(config);
  const what =
    'Finds tenant-to-tenant migration requests that are still open although their workflow was terminated, ' +
    'timed out or failed (no code of the migration ran at its end), revokes their storage SAS and marks them ' +
    '`Terminated` or `Failed` in the control plane.';
  return {
    scheduleId,
    spec: { intervals: [{ every }] },
    action: {
      type: 'startWorkflow',
      workflowType: RECONCILER_WORKFLOW_TYPE,
      taskQueue: config.taskQueue,
      // The server adds the time of each action to this id.
      workflowId: scheduleId,
      args: [],
      workflowExecutionTimeout: RUN_TIMEOUT,
      staticSummary: 'Reconcile migration requests whose workflow closed without finishing',
      staticDetails: `${what}\n\nStarted by the Schedule \`${scheduleId}\` (created by the t2t worker of task queue \`${config.taskQueue}\`).`,
    },
    policies: {
      overlap: ScheduleOverlapPolicy.SKIP,
      // Missed runs need no catching up: the next run looks at everything again.
      catchupWindow: '1m',
    },
    memo: { product: 't2t', purpose: what, taskQueue: config.taskQueue },
    state: { note: `Created by the t2t worker: every ${every / 1000}s. ${what}` },
  };
}

function isCurrent(description: ScheduleDescription, wanted: ScheduleOptions): boolean {
  const intervals = description.spec.intervals ?? [];
  const wantedEvery = (wanted.spec.intervals ?? [])[0]?.every;
  return (
    intervals.length === 1 &&
    intervals[0].every === wantedEvery &&
    (intervals[0].offset ?? 0) === 0 &&
    (description.spec.calendars ?? []).length === 0 &&
    description.policies.overlap === ScheduleOverlapPolicy.SKIP &&
    description.action.type === 'startWorkflow' &&
    description.action.workflowType === wanted.action.workflowType &&
    description.action.taskQueue === wanted.action.taskQueue
  );
}

/**
 * Creates the reconciler's Schedule, or brings its interval (and action) up to date.
 * Safe when several workers start at once: whoever creates it second finds it there.
 * An operator's pause and note survive: only spec, action and policies are rewritten.
 * Workers configured with different intervals each write theirs at start: the last one wins.
 */
export async function ensureReconcilerSchedule(client: Client, config: Pick<Config, 'taskQueue' | 'reconcileIntervalMs'>): Promise<void> {
  await ensureSchedule(client, reconcilerScheduleOptions(config));
}

/** Creates a Schedule of the worker's, or brings its spec, action and policies up to date (the stall check's too). */
export async function ensureSchedule(client: Client, wanted: ScheduleOptions): Promise<void> {
  try {
    await client.schedule.create(wanted);
    return;
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(wanted.scheduleId);
  if (isCurrent(await handle.describe(), wanted)) return;
  await handle.update((previous) => ({
    spec: wanted.spec,
    action: wanted.action,
    policies: wanted.policies,
    state: { paused: previous.state.paused, ...(previous.state.note !== undefined ? { note: previous.state.note } : {}) },
  }));
}
