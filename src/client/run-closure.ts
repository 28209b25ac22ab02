// How a migration's run closed when none of our code ended it (terminate, a run
// timeout, a failed workflow task): its own state still shows the phase it
// stopped in, so the client reads the close event of the run's history instead
// (closed-runs.ts) and says so with these words.
import type { MigrationStatus, Phase } from '../contracts';

/** What `t2t status` and `t2t batch status` say of such a run, in text and in --json. */
export interface RunClosure {
  /** how it closed, in Temporal's own words */
  how: 'terminated' | 'timed out' | 'failed';
  /** when the server closed it (ISO time) */
  at: string;
  /** who closed it: the identity the terminating client gave (the Web UI, `temporal`, an SDK client) */
  by?: string;
  /** the reason the terminating client gave, or the failure's message */
  reason?: string;
  /** the phase the run was in when it closed */
  whilePhase?: Phase;
}

/** A migration's status with how its run closed, when it closed without our code (client side only). */
export type ReportedStatus = MigrationStatus & { closed?: RunClosure };

/** One line of prose about a closure: `terminated by alice@host at 2026-…: reason`. */
export function describeClosure(closure: RunClosure): string {
  return `${closure.how}${closure.by ? ` by ${closure.by}` : ''} at ${closure.at || 'an unknown time'}${closure.reason ? `: ${closure.reason}` : ''}`;
}
