// A batch's migration and its migrate slot, the migration's side (the batch's side is
// ../batch.ts). Each request carries a token fresh for it, as the mutex sample's grants
// carry a fresh id: signals between two workflows can cross, and a grant that was meant
// for a request the migration withdrew since (the window lapsed, prepare again, migrate
// undone) must not let it migrate in a slot the batch no longer counts as its.
//
// Nothing here sends a signal: the grant's handler stays synchronous (an async one that
// is cancelled fails the run at once, racing the cleanup), and what the batch is told
// is told by the migration's main loop, which withdrew the request in the first place.
import { log, uuid4 } from '@temporalio/workflow';
import { MigrateSlotSchema, MigrateSlotSignal, MigrationStatus } from '../../contracts';

export type SlotState = Pick<MigrationStatus, 'migrateSlot' | 'migrateSlotRequest'>;

/** Opens a request under a new token: the signal that asks the batch for a slot. */
export function openSlotRequest(state: SlotState, environmentId: string): MigrateSlotSignal {
  const request = uuid4();
  state.migrateSlot = 'requested';
  state.migrateSlotRequest = request;
  return { environmentId, request };
}

/** Withdraws the request or gives the slot back: the signal that tells the batch, or undefined when there was none. */
export function closeSlotRequest(state: SlotState, environmentId: string): MigrateSlotSignal | undefined {
  const request = state.migrateSlot ? state.migrateSlotRequest : undefined;
  state.migrateSlot = undefined;
  delete state.migrateSlotRequest;
  return request ? { environmentId, request } : undefined;
}

/**
 * A grant from the batch: the slot is the migration's when it answers the request still open.
 * Anything else changes nothing: a repeat, a grant for a withdrawn request (whose return the
 * main loop has sent already), or one that arrives after the end (whose report frees the slot).
 */
export function takeGrant(state: SlotState, environmentId: string, payload: unknown): boolean {
  const parsed = MigrateSlotSchema.safeParse(payload);
  if (!parsed.success || parsed.data.environmentId !== environmentId) {
    log.warn('a grantMigrateSlot signal was ignored: it names another environment or no request', { environmentId });
    return false;
  }
  if (state.migrateSlot !== 'requested' || parsed.data.request !== state.migrateSlotRequest) {
    if (state.migrateSlot !== 'granted') log.info('a grantMigrateSlot signal was ignored: it answers a request withdrawn since', { environmentId, request: parsed.data.request });
    return false;
  }
  state.migrateSlot = 'granted';
  return true;
}
