// The migration's outside systems as the workflow calls them: the activity presets
// (retry, time-outs), and the migration service, told of actions and watched for
// actions taken outside the product.
import { ActivityCancellationType, isCancellation, log, proxyActivities } from '@temporalio/workflow';
import type { ActivityOptions, RetryPolicy } from '@temporalio/common';
import { NON_RETRYABLE_ERRORS } from '../../contracts';
import type { MigrationActivities } from '../../activities';
import { failureMessage, loggedFailure } from '../failures';
import type { Migration } from './state';

/** the back-off of every retried step, in ms; local role checks fit their budget to it (check-budget.ts) */
export const BACKOFF = { initialMs: 1000, coefficient: 2, maximumMs: 30_000 };
export const retry: RetryPolicy = {
  initialInterval: BACKOFF.initialMs,
  backoffCoefficient: BACKOFF.coefficient,
  maximumInterval: BACKOFF.maximumMs,
  nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS],
};

export const CONTROL_PLANE: ActivityOptions = { startToCloseTimeout: '1m', retry };
export const STORAGE: ActivityOptions = { startToCloseTimeout: '2m', retry };
// Long steps heartbeat their progress; a retry resumes from the last heartbeat.
export const LONG_RUNNING: ActivityOptions = { startToCloseTimeout: '2h', heartbeatTimeout: '20s', retry };
// A cancelled step is waited for until it has stopped (it learns of it at its next heartbeat): the
// ending's cleanup never revokes storage while validation or the service's prepare still reads it.
const STOPPED_BEFORE_CLEANUP = { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };
// Validation may take long on a big file, so its budget is in attempts (about a minute and a half of
// back-off in all), not in time; when it runs out the admin is told and may prepare again.
export const VALIDATION: ActivityOptions = { ...LONG_RUNNING, ...STOPPED_BEFORE_CLEANUP, retry: { ...retry, maximumAttempts: 8 } };
// The service's own prepare and migrate are polled long-running operations: hours, heartbeating
// while they wait, so that a lost worker is noticed within seconds and another resumes the step.
export const SERVICE_OPERATION: ActivityOptions = { startToCloseTimeout: '24h', heartbeatTimeout: '30s', ...STOPPED_BEFORE_CLEANUP, retry };

/** An activity with the one-line summary the Web UI shows for it (no personal data). */
export function activity<K extends keyof MigrationActivities>(name: K, summary: string, options: ActivityOptions = CONTROL_PLANE): MigrationActivities[K] {
  return proxyActivities<MigrationActivities>({ ...options, summary })[name];
}

/** Options for a check an admin waits for: retried within a budget of minutes, then refused. */
export function withinBudget(m: Migration, options: ActivityOptions): ActivityOptions {
  const budget = m.checkBudgetMs();
  const startToClose = Math.min(budget, 60_000);
  return { ...options, startToCloseTimeout: startToClose, scheduleToCloseTimeout: budget };
}

/**
 * Tells the service of an accepted action; a refusal by the service refuses the action, and so
 * does a service that does not answer within the check budget: the admin is answered, and the
 * migration goes back to its deadlines and its other actions.
 */
export async function tellService(
  m: Migration,
  name: 'approveOnService' | 'denyOnService' | 'approveLockboxOnService' | 'cancelOnService',
  summary: string,
  details: { actor: string; reason?: string },
): Promise<'done' | { refused: string }> {
  try {
    await activity(name, summary, withinBudget(m, CONTROL_PLANE))({ migration: m.serviceMigration(m.acting), actor: details.actor, reason: details.reason ?? '' });
    return 'done';
  } catch (err) {
    // A cancellation through Temporal is the migration's ending, not the service's refusal.
    if (isCancellation(err)) throw err;
    return { refused: `the migration service refused it: ${failureMessage(err)}` };
  }
}

/**
 * Reads the request on the service: an approval, denial or deletion made outside the
 * product (Microsoft's admin center, PowerShell) moves the migration on as if the action
 * had come through it. `approvalAwaited`: whether an approval or denial is news now. Held to the
 * check budget, so that a service that is down never holds the migration's wait.
 */
export async function watchRequest(m: Migration, approvalAwaited: boolean): Promise<'continue' | 'done'> {
  let request;
  try {
    request = await activity('readMigrationRequest', 'Check the request on the migration service', withinBudget(m, CONTROL_PLANE))({ migration: m.serviceMigration() });
  } catch (err) {
    if (isCancellation(err)) throw err;
    // A service that cannot be read now is read again at the next interval.
    log.warn('the request could not be read on the service', { migrationId: m.input.migrationId, error: loggedFailure(err) });
    return 'continue';
  }
  const actor = request.actedBy || 'someone outside the product';
  const note = 'done on the migration service outside the product';
  if (request.state === 'deleted') {
    m.record('cancel', actor, 'accepted', undefined, undefined, note);
    m.state.reason = 'the request was deleted on the migration service outside the product';
    m.setPhase('Cancelled');
    return 'done';
  }
  if (!approvalAwaited) return 'continue';
  if (request.state === 'approved') {
    m.record('approve', actor, 'accepted', undefined, undefined, note);
    return 'done';
  }
  if (request.state === 'denied') {
    m.record('deny', actor, 'accepted', undefined, undefined, note);
    m.state.reason = 'denied on the migration service outside the product';
    m.setPhase('Denied');
    return 'done';
  }
  return 'continue';
}
