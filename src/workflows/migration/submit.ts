// Step 1, submit: eligibility of the environment, the submitter's role, and the
// request registered with the migration service. False when the migration ends here.
import { showAssessment } from '../visibility';
import { failureMessage } from '../failures';
import { checkRole } from './actions';
import { activity } from './service';
import type { Migration } from './state';

export async function submit(m: Migration): Promise<boolean> {
  const { input, state } = m;
  const assessment = await activity('assessMigration', 'Check eligibility of the environment')({
    environmentId: input.environmentId,
    targetTenantId: input.targetTenantId,
  });
  m.sourceTenantId = assessment.sourceTenantId;
  state.sourceTenantId = assessment.sourceTenantId;
  state.environmentName = assessment.environmentName;
  state.lockboxRequired = assessment.lockboxRequired;
  state.warnings = assessment.warnings;
  showAssessment(assessment.sourceTenantId, {
    environmentName: assessment.environmentName,
    sourceTenant: assessment.sourceTenantName,
    targetTenant: assessment.targetTenantName,
  });

  const refused = (reason: string | undefined) => {
    m.record('submit', input.submittedBy, 'refused', reason, undefined, undefined, m.submitProof);
    state.reason = reason;
    m.setPhase('Failed');
    return false;
  };
  const authorization = await checkRole(m, 'submit', input.submittedBy, 'Check the role of the submitter');
  if (!authorization.allowed) return refused(authorization.reason);
  if (assessment.blocking.length > 0) return refused(`not eligible: ${assessment.blocking.map((b) => b.message).join('; ')}`);
  // A move-back's link is checked against what the back end recorded, never taken on trust from the input.
  if (input.reversesMigrationId) {
    const broken = await activity('checkMoveBackLink', 'Check the migration this move-back reverses')({
      reversesMigrationId: input.reversesMigrationId,
      environmentId: input.environmentId,
      sourceTenantId: m.sourceTenantId,
      targetTenantId: input.targetTenantId,
    });
    if (broken) {
      state.reversesMigrationId = undefined;
      return refused(`submit refused: not a move-back of migration ${input.reversesMigrationId}: ${broken}`);
    }
  }
  state.backend = assessment.backend;
  if (assessment.unknown.length > 0) state.unknown = assessment.unknown;
  try {
    const submission = await activity('submitMigration', 'Register the request with the migration service')({
      migration: m.serviceMigration(m.submitProof?.actionId),
      submittedBy: input.submittedBy,
    });
    state.serviceMigrationId = submission.serviceMigrationId;
    m.externalActions = submission.externalActions;
    m.servicePrepares = submission.servicePrepares;
  } catch (err) {
    return refused(`submit refused by the migration service: ${failureMessage(err)}`);
  }
  m.record('submit', input.submittedBy, 'accepted', undefined, undefined, undefined, m.submitProof);
  return true;
}
