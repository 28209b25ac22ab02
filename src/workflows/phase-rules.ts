// Which admin action each phase accepts, and the reason given when it does not.
// Pure and deterministic: used by the workflow and by the CLI for early refusals.
import { isFinalPhase, type Action, type Phase } from '../contracts';

const ACCEPTS: Record<Phase, readonly Action[]> = {
  Submitted: [],
  PendingApproval: ['approve', 'deny', 'cancel'],
  PendingLockbox: ['approveLockbox', 'cancel'],
  Approved: ['requestStorage', 'prepare', 'cancel'],
  Validating: [],
  ValidationFailed: ['requestStorage', 'prepare', 'cancel'],
  Prepared: ['requestStorage', 'prepare', 'migrate', 'cancel'],
  PreparationExpired: ['requestStorage', 'prepare', 'cancel'],
  Migrating: [],
  Succeeded: [],
  Failed: [],
  Denied: [],
  Expired: [],
  Cancelled: [],
  Terminated: [],
};

export function phaseAccepts(phase: Phase, action: Action): boolean {
  return ACCEPTS[phase].includes(action);
}

/** Why `action` is refused in `phase`, in words an admin can act on. */
export function phaseRefusal(action: Action, phase: Phase, prepareDeadline?: string): string {
  const verb = action === 'approveLockbox' ? 'lockbox approval' : action === 'requestStorage' ? 'storage' : action;
  if (action === 'migrate') {
    if (phase === 'PreparationExpired') {
      return `migrate refused: the preparation expired${prepareDeadline ? ` at ${prepareDeadline}` : ''}; run prepare again`;
    }
    if (phase === 'Approved' || phase === 'ValidationFailed') {
      return `migrate refused: the migration is ${phase}; run prepare successfully first`;
    }
  }
  if (phase === 'Validating') return `${verb} refused: validation is running; try again when it has finished`;
  if (phase === 'Migrating') return `${verb} refused: the migration is running and can no longer be changed`;
  if (isFinalPhase(phase)) {
    return `${verb} refused: the migration has ended (${phase})`;
  }
  if (phase === 'PendingApproval') return `${verb} refused: the migration is waiting for the target tenant admin's approval`;
  if (phase === 'PendingLockbox') return `${verb} refused: the migration is waiting for the lockbox approval`;
  return `${verb} refused: not possible while the migration is ${phase}`;
}
