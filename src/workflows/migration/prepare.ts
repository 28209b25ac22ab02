// Step 4, the prepare rounds: resource storage, then validation of the mapping file (and
// the service's own prepare), which opens the seven-day window to migrate. Rounds repeat
// until a migrate is accepted, now or at the booked cutover, or the migration ends.
import { isCancellation } from '@temporalio/workflow';
import { SearchAttributes, STATUS, isFinalPhase } from '../../contracts';
import { containerNameFromUri } from '../../migration/container-uri';
import { showDetails } from '../visibility';
import { failureMessage } from '../failures';
import { handleActions } from './actions';
import { giveBackSlot, requestSlot } from './batch-slot';
import { migrateRequested } from './cutover';
import { cancel } from './ending';
import { SERVICE_OPERATION, STORAGE, VALIDATION, activity, watchRequest, withinBudget } from './service';
import type { Migration } from './state';

/** Storage requests and prepare rounds until a migrate is accepted (true) or the migration ends (false). */
export async function prepareUntilMigrate(m: Migration): Promise<boolean> {
  const { state } = m;
  const windowDeadline = () => (state.phase === 'Prepared' && state.prepareDeadline ? Date.parse(state.prepareDeadline) : undefined);
  for (;;) {
    const outcome = await handleActions(m, {
      handlers: {
        requestStorage: async (_payload, actor) => requestStorage(m, actor),
        prepare: async (payload) => prepare(m, payload),
        migrate: async (payload, actor) => {
          const outcome = await migrateRequested(m, payload, actor);
          if (outcome === 'done') m.migrateActionId = m.acting;
          return outcome;
        },
        cancel: async (payload, actor) => cancel(m, payload, actor),
      },
      deadline: windowDeadline,
      timerSummary: 'seven-day window to migrate',
      watch: () => watchRequest(m, false),
      ready: () => (m.input.batch !== undefined && state.migrateSlot === 'granted') || (m.cutoverDue() && !state.migrateSlot),
      readyAt: { at: () => (state.migrateSlot ? undefined : m.cutoverAt()), summary: 'the booked cutover' },
    });
    if (outcome === 'timeout') {
      const booked = state.scheduledMigrateAt;
      state.status = undefined;
      state.reason = booked
        ? `the preparation expired at ${state.prepareDeadline} before the cutover booked for ${booked} could run${state.migrateSlot ? " (it waited for its batch's migrate slot)" : ''}; run prepare again, then book the cutover again`
        : `the preparation expired at ${state.prepareDeadline}; run prepare again`;
      m.bookCutover(undefined);
      m.setPhase('PreparationExpired');
      await giveBackSlot(m);
      continue;
    }
    if (outcome === 'ready' && m.cutoverDue() && !state.migrateSlot) {
      const by = state.scheduledBy ?? 'unknown';
      m.record('migrate', by, 'accepted', undefined, undefined, `the cutover booked for ${state.scheduledMigrateAt} started`);
      if (m.input.batch) {
        // The booking stays shown until the batch grants a slot: a window that closes first says so.
        await requestSlot(m);
        continue;
      }
    }
    // Migrating now, or the phase left the window the booking was made in (a failed prepare): it is done with.
    if (state.scheduledMigrateAt) m.bookCutover(undefined);
    return !isFinalPhase(state.phase);
  }
}

/** `t2t storage`: the migration's container and its SAS. */
async function requestStorage(m: Migration, actor: string): Promise<'continue' | { refused: string }> {
  try {
    m.state.storage = await activity('createMigrationStorage', 'Generate resource storage (container and SAS)', withinBudget(m, STORAGE))({
      migrationId: m.input.migrationId,
      environmentId: m.input.environmentId,
      actor,
      migration: m.serviceMigration(m.acting),
    });
    showDetails(m.state);
    return 'continue';
  } catch (err) {
    if (isCancellation(err)) throw err;
    return { refused: `storage refused: ${failureMessage(err)}` };
  }
}

/** `t2t prepare`: one round of validation (and the service's prepare); success opens the window. */
async function prepare(m: Migration, payload: Record<string, unknown>): Promise<'continue' | { refused: string }> {
  const { state } = m;
  if (payload.targetTenantId !== m.input.targetTenantId) {
    return { refused: `prepare refused: target tenant '${String(payload.targetTenantId)}' is not this migration's target tenant` };
  }
  if (!state.storage) return { refused: 'prepare refused: generate the resource storage first (t2t storage)' };
  const container = containerNameFromUri(String(payload.mappingContainer));
  if (container !== state.storage.containerName) {
    return { refused: "prepare refused: the mapping container is not this migration's container" };
  }
  // A new round asks for a new decision to migrate: a migrate accepted before it is withdrawn.
  await giveBackSlot(m);
  const previous = state.phase;
  m.validationRound += 1;
  state.status = STATUS.validateRunning;
  state.reason = undefined;
  m.setPhase('Validating');
  let result;
  try {
    result = await activity('validateMapping', `Validate usermapping.csv (round ${m.validationRound})`, VALIDATION)(m.validationRequest(m.validationRound));
  } catch (err) {
    // Cancelled through Temporal: the migration ends Cancelled, not back to its phase before the round.
    if (isCancellation(err)) throw err;
    state.status = undefined;
    state.reason = `validation could not run: ${failureMessage(err)}`;
    m.setPhase(previous === 'Prepared' ? 'ValidationFailed' : previous);
    return 'continue';
  }
  state.validation = result;
  if (result.errors > 0 && result.errorReportUrl) {
    state.status = STATUS.validationFailed(result.errorReportUrl);
    state.prepareDeadline = undefined;
    m.setPhase('ValidationFailed', [{ key: SearchAttributes.prepareDeadline, value: null }]);
    return 'continue';
  }
  if (m.servicePrepares) {
    let onService;
    try {
      onService = await activity('prepareOnService', 'Prepare on the migration service', SERVICE_OPERATION)({
        migration: m.serviceMigration(m.acting),
        storage: state.storage,
        ...(typeof payload.guestAdmin === 'string' ? { guestAdmin: payload.guestAdmin } : {}),
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      onService = { succeeded: false, message: `the service's prepare could not run: ${failureMessage(err)}`, errorReportUrl: undefined };
    }
    if (!onService.succeeded) {
      state.status = onService.errorReportUrl ? STATUS.validationFailed(onService.errorReportUrl) : undefined;
      state.reason = onService.message ?? "the migration service's prepare failed";
      state.prepareDeadline = undefined;
      m.setPhase('ValidationFailed', [{ key: SearchAttributes.prepareDeadline, value: null }]);
      return 'continue';
    }
  }
  state.status = STATUS.validateSucceeded;
  const deadline = new Date(Date.now() + m.input.prepareWindowMs);
  state.prepareDeadline = deadline.toISOString();
  m.setPhase('Prepared', [{ key: SearchAttributes.prepareDeadline, value: deadline }]);
  return 'continue';
}
