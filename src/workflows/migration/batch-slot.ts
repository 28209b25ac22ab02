// The batch's migrate slots, only for a migration a batch started (`input.batch`): it asks
// its batch for a slot before it migrates, gives it back when it no longer needs it, and
// reports its ending (which frees the slot or its place in the queue).
import { getExternalWorkflowHandle, isCancellation, log } from '@temporalio/workflow';
import { MigrateSlotSchema, Phase, isFinalPhase, migrationEndedSignal, requestMigrateSlotSignal, returnMigrateSlotSignal } from '../../contracts';
import { showDetails } from '../visibility';
import { failureMessage } from '../failures';
import type { Migration } from './state';

/** Asks the batch for a slot, once however many times migrate is accepted. */
export async function requestSlot(m: Migration): Promise<void> {
  if (m.state.migrateSlot) return;
  // Set before asking: the grant may arrive before the request's own acknowledgement.
  m.state.migrateSlot = 'requested';
  showDetails(m.state);
  if (!(await tellBatch(m, requestMigrateSlotSignal, { environmentId: m.input.environmentId }))) {
    // No batch left to share slots with: nothing to wait for.
    m.state.migrateSlot = 'granted';
  }
}

/** The batch's grant (a signal). */
export async function slotGranted(m: Migration, payload: unknown): Promise<void> {
  const parsed = MigrateSlotSchema.safeParse(payload);
  if (!parsed.success || parsed.data.environmentId !== m.input.environmentId) {
    log.warn('a grantMigrateSlot signal was ignored: it names another environment', { migrationId: m.input.migrationId });
    return;
  }
  if (m.state.migrateSlot === 'requested') {
    m.state.migrateSlot = 'granted';
    showDetails(m.state);
    return;
  }
  // A repeated grant changes nothing; after the end, the ending reported frees the slot.
  if (m.state.migrateSlot === 'granted' || isFinalPhase(m.state.phase)) return;
  // Not wanted any more (the window lapsed, prepare again, migrate undone): given back at once.
  await tellBatch(m, returnMigrateSlotSignal, { environmentId: m.input.environmentId });
}

/** Gives back the slot or withdraws the request, if there is one. */
export async function giveBackSlot(m: Migration): Promise<void> {
  if (!m.state.migrateSlot) return;
  m.state.migrateSlot = undefined;
  showDetails(m.state);
  await tellBatch(m, returnMigrateSlotSignal, { environmentId: m.input.environmentId });
}

/** Tells the batch how the migration ended, once; that frees its slot or its place in the queue. */
export async function reportEnd(m: Migration, phase: Phase, reason: string | undefined): Promise<void> {
  if (!m.input.batch || m.endReported) return;
  m.endReported = true;
  m.state.migrateSlot = undefined;
  await tellBatch(m, migrationEndedSignal, { environmentId: m.input.environmentId, phase, ...(reason ? { reason } : {}) });
}

/**
 * Signals the batch by workflow id alone, so that it reaches the batch's current run after a
 * continue-as-new. False when no run of the batch is open (it was terminated or has ended).
 */
async function tellBatch(m: Migration, signal: typeof migrationEndedSignal, payload: Record<string, unknown>): Promise<boolean> {
  try {
    await getExternalWorkflowHandle(m.input.batch!.workflowId).signal(signal, payload);
    return true;
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('the batch could not be told', { migrationId: m.input.migrationId, signal: signal.name, error: failureMessage(err) });
    return false;
  }
}
