// How a migration ends: a cancel (by `t2t cancel`, or through Temporal before migrate
// starts), a failure that closes the run, and the cleanup every ending shares.
import { CancellationScope, TemporalFailure, allHandlersFinished, condition, isCancellation, log } from '@temporalio/workflow';
import { type MigrationInput, MigrationStatus, SearchAttributes, isFinalPhase } from '../../contracts';
import { phaseRefusal } from '../phase-rules';
import { parseAction, requestIdOf } from '../inbox';
import { showDetails } from '../visibility';
import { failureMessage, withoutAddresses } from '../failures';
import { STORAGE, activity, tellService } from './service';
import { reportEnd } from './batch-slot';
import type { Migration } from './state';

export const TEMPORAL_CANCEL = 'requested through Temporal (Web UI or temporal workflow cancel)';

/**
 * Runs the migration's steps, then closes it whatever the ending: a cancellation through
 * Temporal is the same ending as `t2t cancel`, and the run then closes as cancelled in Temporal too.
 */
export async function runToAnEnd(m: Migration, steps: () => Promise<void>): Promise<MigrationStatus> {
  try {
    await steps();
  } catch (err) {
    if (!isCancellation(err) || isFinalPhase(m.state.phase)) {
      // A failure that closes the run (not one that only retries the workflow task) is an ending too.
      if (err instanceof TemporalFailure) {
        const [phase, reason] = isFinalPhase(m.state.phase) ? [m.state.phase, m.state.reason] : ['Failed' as const, `the migration's workflow failed: ${failureMessage(err)}`];
        await CancellationScope.nonCancellable(() => reportEnd(m, phase, reason));
      }
      throw err;
    }
    // Cleanup runs whatever else is cancelled; then the run closes as cancelled in Temporal too.
    await CancellationScope.nonCancellable(() => cancelledThroughTemporal(m));
    throw err;
  }
  return CancellationScope.nonCancellable(() => closeMigration(m));
}

/**
 * A start that carries a migration's state without continuing from its run (`temporal workflow
 * start` with `resume`, say with an approval nobody gave), or names a batch that did not start it:
 * why it is refused, and the audit entry's note.
 */
export function forgedStartRefusal(forged: NonNullable<Migration['forged']>, input: MigrationInput): [reason: string, note: string] {
  return forged === 'batch link'
    ? [`submit refused: the start names batch ${input.batch!.workflowId}, which did not start it; nothing was done`, 'a start naming a batch that is not its parent']
    : ['submit refused: the start carried the state of a migration in progress, which only a run continued from that migration may carry; nothing was done', 'a start with carried state, not continued from the migration'];
}

/**
 * A start the migration does not take (forged, or unsigned while sign-in is on): refused and
 * audited, and nothing else is done: no service, batch or storage is told of a migration that never was.
 */
export async function refuseStart(m: Migration, reason: string, note: string): Promise<MigrationStatus> {
  m.record('submit', m.input.submittedBy, 'refused', reason, undefined, note);
  m.state.reason = reason;
  m.setPhase('Failed');
  await condition(allHandlersFinished);
  await m.writeWholeTrail();
  return m.state;
}

/** `t2t cancel`: the service deletes the request, then the migration ends Cancelled. */
export async function cancel(m: Migration, payload: Record<string, unknown>, actor: string): Promise<'done' | { refused: string }> {
  const told = await tellService(m, 'cancelOnService', 'Delete the request on the migration service', { actor });
  if (told !== 'done') return told;
  m.state.reason = payload.reason ? `cancelled: ${String(payload.reason)}` : 'cancelled by the source admin';
  m.setPhase('Cancelled');
  return 'done';
}

/** After a cancellation requested through Temporal, before migrate: the same ending as `t2t cancel`. */
async function cancelledThroughTemporal(m: Migration): Promise<void> {
  m.record('cancel', 'Temporal', 'accepted', undefined, undefined, TEMPORAL_CANCEL);
  if (m.state.serviceMigrationId) {
    const told = await tellService(m, 'cancelOnService', 'Delete the request on the migration service', { actor: 'Temporal' });
    if (told !== 'done') log.warn('the service did not take the cancellation', { migrationId: m.input.migrationId, reason: withoutAddresses(told.refused) });
  }
  m.state.status = undefined;
  m.state.reason = 'cancelled through Temporal (Web UI or temporal workflow cancel)';
  m.state.prepareDeadline = undefined;
  m.setPhase('Cancelled', [{ key: SearchAttributes.prepareDeadline, value: null }]);
  await closeMigration(m);
}

/** Every ending: queued actions answered, the batch and the audit trail told, storage access ended, the request closed. */
async function closeMigration(m: Migration): Promise<MigrationStatus> {
  // Actions still queued are answered, so that no client waits for an acknowledgement that never comes.
  for (const message of m.inbox.drain()) {
    const parsed = parseAction(message.action, message.payload);
    const reason = phaseRefusal(message.action, m.state.phase, m.state.prepareDeadline);
    m.inbox.answer(message, m.record(message.action, parsed.actor, 'refused', reason, message.replyTo ?? requestIdOf(message.payload)));
  }
  // Before the cleanup: the batch can give the slot to the next migration meanwhile.
  await reportEnd(m, m.state.phase, m.state.reason);
  await m.writeTrail();
  // Storage access ends and the request is closed with the service, whatever the ending.
  await activity('endMigration', 'Revoke the storage access and close the request', STORAGE)({
    migration: m.serviceMigration(),
    phase: m.state.phase,
    ...(m.state.storage ? { storage: m.state.storage } : {}),
  });
  showDetails(m.state);
  await condition(allHandlersFinished);
  // Refusals recorded while the last handlers finished, and whatever an unavailable control plane could not take yet.
  await m.writeWholeTrail();
  return m.state;
}
