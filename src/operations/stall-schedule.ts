// The stall check's Schedule (docs/operations.md): like the reconciler's, a
// Temporal Schedule, so the server keeps the timing and an operator can pause
// or trigger it from the Web UI or `temporal schedule`. Every worker makes sure
// it exists at start; it runs on every back end.
import { ScheduleOptions, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Config } from '../config';
import { workerScheduleId } from '../reconciler/schedule';

export const STALL_CHECK_SCHEDULE_ID = 't2t-stall-check';
/** detectStalledMigrations (src/workflows/stall-check.ts) by name. */
export const STALL_CHECK_WORKFLOW_TYPE = 'detectStalledMigrations';

export function stallCheckScheduleId(taskQueue: string): string {
  return workerScheduleId(STALL_CHECK_SCHEDULE_ID, taskQueue);
}

export function stallCheckScheduleOptions(config: Pick<Config, 'taskQueue' | 'stall'>): ScheduleOptions {
  const scheduleId = stallCheckScheduleId(config.taskQueue);
  const every = Math.max(1, Math.round(config.stall.checkIntervalMs / 1000)) * 1000;
  const what =
    "Marks migrations whose current phase has run past that phase's p90 (or T2T_STALL_AFTER while there is too little history) " +
    'as stalled: the search attribute T2TStalled, a `stalled` notification, and the t2t_migrations_stalled gauge.';
  return {
    scheduleId,
    spec: { intervals: [{ every }] },
    action: {
      type: 'startWorkflow',
      workflowType: STALL_CHECK_WORKFLOW_TYPE,
      taskQueue: config.taskQueue,
      workflowId: scheduleId,
      args: [],
      workflowExecutionTimeout: '10m',
      staticSummary: 'Look for stalled migrations',
      staticDetails: `${what}\n\nStarted by the Schedule \`${scheduleId}\` (created by the t2t worker of task queue \`${config.taskQueue}\`).`,
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m' },
    memo: { product: 't2t', purpose: what, taskQueue: config.taskQueue },
    state: { note: `Created by the t2t worker: every ${every / 1000}s. ${what}` },
  };
}
