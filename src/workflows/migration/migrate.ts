// Step 5, migrate: eligibility and the mapping file checked once more, then the service's
// one resumable migrate. Once started it runs to its end; a step that fails for good is
// undone by the service (compensated), and the migration goes back to prepare.
import { ApplicationFailure, CancellationScope, log } from '@temporalio/workflow';
import { ErrorType, SearchAttributes, STATUS } from '../../contracts';
import { failureMessage, failureType, loggedFailure } from '../failures';
import { giveBackSlot } from './batch-slot';
import { TEMPORAL_CANCEL } from './ending';
import { LONG_RUNNING, SERVICE_OPERATION, activity } from './service';
import type { Migration } from './state';

/** 'ended' (succeeded or failed for good), or 'compensated': every effect undone, back to prepare. */
export async function migrate(m: Migration): Promise<'ended' | 'compensated'> {
  // Once migrate has started it runs to its end: a cancellation meanwhile is refused.
  const outcome = await CancellationScope.nonCancellable(() => migrateOnce(m));
  if (outcome === 'ended') {
    if (CancellationScope.current().consideredCancelled) {
      m.record('cancel', 'Temporal', 'refused', 'cancel refused: migrate had started; it ran to its end', undefined, TEMPORAL_CANCEL);
    }
    return outcome;
  }
  // Undone after a failed step: back to prepare (a cancellation requested meanwhile now takes effect),
  // and to people: the slot is for migrating.
  await giveBackSlot(m);
  return outcome;
}

async function migrateOnce(m: Migration): Promise<'ended' | 'compensated'> {
  const { state } = m;
  const storage = state.storage!;
  state.status = STATUS.migrateRunning;
  state.reason = undefined;
  m.setPhase('Migrating');
  // Migrate may take hours: the accepted migrate and the new phase are told now, not at the end.
  await m.writeTrail();
  try {
    const check = await checkAgainBeforeMigrate(m);
    const outcome = await activity('migrateEnvironment', 'Migrate: re-link, re-map users, mailboxes, source access, checklist', SERVICE_OPERATION)({
      migration: m.serviceMigration(m.migrateActionId),
      storage,
      mappingEtag: check.mappingEtag,
      ...(state.guestAdmin ? { guestAdmin: state.guestAdmin } : {}),
    });
    state.summary = {
      usersRemapped: outcome.usersRemapped,
      unmappedUsers: outcome.unmappedTotal,
      mailboxesConfigured: outcome.mailboxesConfigured,
      mailboxesToReconfigure: outcome.mailboxesToReconfigure,
      onmicrosoftAddressesRewritten: outcome.onmicrosoftAddressesRewritten,
      checklist: outcome.checklist,
      flowActivationOrder: outcome.flowActivationOrder,
    };
    if (outcome.unknown.length > 0) state.unknown = [...(state.unknown ?? []), ...outcome.unknown];
    state.status = STATUS.migrateSucceeded;
    m.setPhase('Succeeded');
    return 'ended';
  } catch (err) {
    state.status = STATUS.migrateFailed;
    state.reason = `migration failed: ${failureMessage(err)}`;
    log.warn('migration failed', { migrationId: m.input.migrationId, error: loggedFailure(err) });
    if (failureType(err) === ErrorType.MigrateCompensated) {
      // Every effect was undone: the environment is as it was before migrate, ready for a new prepare.
      state.prepareDeadline = undefined;
      m.setPhase('Approved', [{ key: SearchAttributes.prepareDeadline, value: null }]);
      return 'compensated';
    }
    m.setPhase('Failed');
    return 'ended';
  }
}

/** Eligibility and the mapping file once more before any effect: either may have changed since prepare. */
async function checkAgainBeforeMigrate(m: Migration) {
  const assessment = await activity('assessMigration', 'Check eligibility again before migrating')({ environmentId: m.input.environmentId, targetTenantId: m.input.targetTenantId });
  if (assessment.blocking.length > 0) {
    throw ApplicationFailure.nonRetryable(`not eligible any more: ${assessment.blocking.map((b) => b.message).join('; ')}`, 'NotEligible');
  }
  const check = await activity('validateMapping', 'Validate usermapping.csv again before migrating', LONG_RUNNING)(m.validationRequest(m.validationRound + 1));
  if (check.errors > 0) {
    m.state.validation = check;
    throw ApplicationFailure.nonRetryable(
      `the mapping file no longer passes validation (${check.errors} errors, report: ${check.errorReportUrl}); nothing was changed`,
      'MappingInvalidAtMigrate',
    );
  }
  return check;
}
