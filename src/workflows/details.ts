// The markdown the Web UI shows as a migration's current details. No email
// addresses here: the Web UI is seen by people who must not learn identities.
import type { MigrationStatus, RehearsalReport } from '../contracts';
import { withoutAddresses } from './addresses';

export function renderDetails(s: MigrationStatus): string {
  const lines = [
    `**Phase:** ${s.phase}`,
    `**Environment:** ${s.environmentName ?? s.environmentId} (\`${s.environmentId}\`)`,
    `**Tenants:** ${s.sourceTenantId ?? '?'} → ${s.targetTenantId}`,
    `**Source migration id:** \`${s.migrationId}\` · **Target migration id:** \`${s.targetMigrationId}\``,
  ];
  if (s.reversesMigrationId) lines.push(`**Move-back of migration:** \`${s.reversesMigrationId}\``);
  if (s.status) lines.push(`**Status:** ${redactUrl(s.status)}`);
  if (s.phase === 'PendingApproval' && s.approvalDeadline) lines.push(`**Approval deadline:** ${s.approvalDeadline}`);
  if (s.phase === 'PendingLockbox' && s.lockboxDeadline) lines.push(`**Lockbox deadline:** ${s.lockboxDeadline}`);
  if (s.prepareDeadline && (s.phase === 'Prepared' || s.phase === 'PreparationExpired')) {
    lines.push(`**Migrate before:** ${s.prepareDeadline}`);
  }
  if (s.scheduledMigrateAt && s.phase === 'Prepared') lines.push(`**Cutover booked for:** ${s.scheduledMigrateAt} (migrate starts then by itself)`);
  if (s.migrateSlot === 'requested' && s.phase === 'Prepared') lines.push('**Migrate:** accepted; waiting for a migrate slot of its batch');
  if (s.stalled) lines.push(`**Stalled:** in ${s.stalled.phase} since ${s.stalled.since}, longer than the usual ${formatMs(s.stalled.thresholdMs)} (${s.stalled.basis})`);
  if (s.validation) lines.push(`**Validation round ${s.validation.round}:** ${s.validation.rows} rows, ${s.validation.errors} errors`);
  if (s.summary) {
    lines.push(
      `**Users re-mapped:** ${s.summary.usersRemapped} · **not in the mapping:** ${s.summary.unmappedUsers} · ` +
        `**mailboxes to reconfigure:** ${s.summary.mailboxesToReconfigure}`,
    );
  }
  if (s.reason) lines.push(`**Reason:** ${withoutAddresses(s.reason)}`);
  if (s.warnings.length > 0) lines.push(`**Preparation warnings:** ${s.warnings.length} (see \`t2t status\`)`);
  return lines.join('\n\n');
}

/** A rehearsal's current details: where it stands, what it found, how long the cutover takes. */
export function renderRehearsalDetails(r: RehearsalReport, currentStep?: string): string {
  const lines = [
    `**Rehearsal:** ${r.outcome}${r.outcome === 'Running' && currentStep ? ` · ${currentStep}` : ''}`,
    `**Environment:** ${r.environmentName ?? r.environmentId} (\`${r.environmentId}\`)`,
    `**Tenants:** ${r.sourceTenantId ?? '?'} → ${r.targetTenantId}`,
  ];
  if (r.copyEnvironmentId) lines.push(`**Copy:** \`${r.copyEnvironmentId}\`${r.copyRemoved ? ' (removed)' : ''}`);
  if (r.validation) lines.push(`**Validation:** ${r.validation.rows} rows, ${r.validation.errors} errors`);
  if (r.summary) {
    lines.push(
      `**Users re-mapped:** ${r.summary.usersRemapped} · **left behind:** ${r.summary.unmappedUsers} · ` +
        `**mailboxes to reconfigure:** ${r.summary.mailboxesToReconfigure}`,
    );
  }
  if (r.cutoverMs !== undefined) lines.push(`**Cutover takes:** ${formatMs(r.cutoverMs)} (eligibility, validation again, migrate)`);
  for (const finding of r.findings) lines.push(`**Finding:** ${withoutAddresses(finding)}`);
  if (r.reason) lines.push(`**Reason:** ${withoutAddresses(r.reason)}`);
  return lines.join('\n\n');
}

/** A duration as a person books it: ms below a second, then seconds, minutes, hours. */
export function formatMs(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

/** SAS tokens are credentials: the Web UI gets the blob address without its token. */
function redactUrl(text: string): string {
  return text.replace(/(https?:\/\/[^\s?]+)\?[^\s]*/g, '$1?<sas>');
}
