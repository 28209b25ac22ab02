// `t2t migrate` while the window is open: migrate now, or book, move or clear the cutover.
// A batch's migration migrates only once its batch grants it a slot.
import { requestSlot } from './batch-slot';
import type { Migration } from './state';

/** Now (done), or the cutover booked, moved or cleared (continue), or refused. */
export async function migrateRequested(m: Migration, payload: Record<string, unknown>, actor: string): Promise<'continue' | 'done' | { refused: string }> {
  const { state, input } = m;
  if (payload.targetTenantId !== input.targetTenantId) {
    return { refused: `migrate refused: target tenant '${String(payload.targetTenantId)}' is not this migration's target tenant` };
  }
  const booked = state.scheduledMigrateAt;
  const bookedBy = state.scheduledBy;
  if (booked && bookedBy && bookedBy.toLowerCase() !== actor.toLowerCase()) {
    return { refused: `migrate refused: the cutover at ${booked} was booked by ${bookedBy}; only they can move, clear or start it` };
  }
  if (input.batch && state.migrateSlot) {
    return { refused: "migrate refused: its migrate was accepted already and waits for the batch's migrate slot" };
  }
  if (payload.unschedule !== true) state.guestAdmin = typeof payload.guestAdmin === 'string' ? payload.guestAdmin : undefined;
  if (payload.unschedule === true) {
    if (!booked) return { refused: 'migrate refused: no cutover is booked' };
    m.bookCutover(undefined);
    return 'continue';
  }
  if (typeof payload.at === 'string') {
    const at = Date.parse(payload.at);
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(payload.at) || Number.isNaN(at)) {
      return { refused: `migrate refused: '${payload.at}' is not an ISO 8601 time (e.g. 2026-12-05T22:00:00Z)` };
    }
    const iso = new Date(at).toISOString();
    if (at <= Date.now()) return { refused: `migrate refused: ${iso} is in the past` };
    const windowEnd = state.prepareDeadline ? Date.parse(state.prepareDeadline) : undefined;
    if (windowEnd !== undefined && at >= windowEnd) {
      return { refused: `migrate refused: ${iso} is after the seven-day window closes at ${state.prepareDeadline}` };
    }
    m.bookCutover(iso, actor);
    return 'continue';
  }
  // Now: a booking the same admin made is replaced by migrating at once.
  if (booked) m.bookCutover(undefined);
  if (!input.batch) return 'done';
  // Accepted; it migrates once its batch grants it a slot, and takes actions meanwhile.
  await requestSlot(m);
  return 'continue';
}
