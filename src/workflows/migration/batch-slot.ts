// The batch's migrate slots, only for a migration a batch started (`input.batch`): it asks
// its batch for a slot before it migrates, gives it back when it no longer needs it, and
// reports its ending (which frees the slot or its place in the queue).
import { getExternalWorkflowHandle, isCancellation, log } from '@temporalio/workflow';
import { Phase, migrationEndedSignal, requestMigrateSlotSignal, returnMigrateSlotSignal } from '../../contracts';
import { showDetails } from '../visibility';
import { loggedFailure } from '../failures';
import { closeSlotRequest, openSlotRequest, takeGrant } from './slot-request';
import type { Migration } from './state';

/** Asks the batch for a slot, once however many times migrate is accepted. */
export async function requestSlot(m: Migration): Promise<void> {
  if (m.state.migrateSlot) return;
  // Opened before asking: the grant may arrive before the request's own acknowledgement.
  const request = openSlotRequest(m.state, m.input.environmentId);
  showDetails(m.state);
  if (!(await tellBatch(m, requestMigrateSlotSignal, request))) {
    // No batch left to share slots with: nothing to wait for.
    m.state.migrateSlot = 'granted';
  }
}

/** The batch's grant (a signal); synchronous, so that a cancellation cannot fail the run from a handler. */
export function slotGranted(m: Migration, payload: unknown): void {
  if (takeGrant(m.state, m.input.environmentId, payload)) showDetails(m.state);
}

/** Gives back the slot or withdraws the request, if there is one. */
export async function giveBackSlot(m: Migration): Promise<void> {
  const request = closeSlotRequest(m.state, m.input.environmentId);
  if (!request) return;
  showDetails(m.state);
  await tellBatch(m, returnMigrateSlotSignal, request);
}

/** Tells the batch how the migration ended, once; that frees its slot or its place in the queue. */
export async function reportEnd(m: Migration, phase: Phase, reason: string | undefined): Promise<void> {
  if (!m.input.batch || m.endReported) return;
  m.endReported = true;
  closeSlotRequest(m.state, m.input.environmentId);
  await tellBatch(m, migrationEndedSignal, { environmentId: m.input.environmentId, phase, ...(reason ? { reason } : {}) });
}

/**
 * Signals the batch by workflow id alone, so that it reaches the batch's current run after a
 * continue-as-new. False when no run of the batch is open (it was terminated or has ended).
 */
async function tellBatch(m: Migration, signal: typeof migrationEndedSignal, payload: object): Promise<boolean> {
  try {
    await getExternalWorkflowHandle(m.input.batch!.workflowId).signal(signal, payload);
    return true;
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('the batch could not be told', { migrationId: m.input.migrationId, signal: signal.name, error: loggedFailure(err) });
    return false;
  }
}
