// What an activity's failure says, as workflows read it: an ActivityFailure
// wraps the activity's own ApplicationFailure, whose type and message count.
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { withoutAddresses } from './addresses';

export { withoutAddresses };

function innermost(err: unknown): unknown {
  let current: unknown = err;
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  return current;
}

/** The ApplicationFailure's type (e.g. MigrateCompensated), if the failure carries one. */
export function failureType(err: unknown): string | undefined {
  const current = innermost(err);
  return current instanceof ApplicationFailure ? (current.type ?? undefined) : undefined;
}

/** The message of the failure the activity raised, not of its wrapper. */
export function failureMessage(err: unknown): string {
  const current = innermost(err);
  return current instanceof Error ? current.message : String(current);
}

/** A failure's message as a log may carry it: without addresses (a refusal or a service's answer may name a user). */
export function loggedFailure(err: unknown): string {
  return withoutAddresses(failureMessage(err));
}
