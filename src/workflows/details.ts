// The markdown the Web UI shows as a migration's current details. No email
// addresses here: the Web UI is seen by people who must not learn identities.
import type { MigrationStatus } from '../contracts';

export function renderDetails(s: MigrationStatus): string {
  const lines = [
    `**Phase:** ${s.phase}`,
    `**Environment:** ${s.environmentName ?? s.environmentId} (\`${s.environmentId}\`)`,
    `**Tenants:** ${s.sourceTenantId ?? '?'} → ${s.targetTenantId}`,
    `**Source migration id:** \`${s.migrationId}\` · **Target migration id:** \`${s.targetMigrationId}\``,
  ];
  if (s.status) lines.push(`**Status:** ${redactUrl(s.status)}`);
  if (s.phase === 'PendingApproval' && s.approvalDeadline) lines.push(`**Approval deadline:** ${s.approvalDeadline}`);
  if (s.phase === 'PendingLockbox' && s.lockboxDeadline) lines.push(`**Lockbox deadline:** ${s.lockboxDeadline}`);
  if (s.prepareDeadline && (s.phase === 'Prepared' || s.phase === 'PreparationExpired')) {
    lines.push(`**Migrate before:** ${s.prepareDeadline}`);
  }
  if (s.migrateSlot === 'requested' && s.phase === 'Prepared') lines.push('**Migrate:** accepted; waiting for a migrate slot of its batch');
  if (s.validation) lines.push(`**Validation round ${s.validation.round}:** ${s.validation.rows} rows, ${s.validation.errors} errors`);
  if (s.summary) {
    lines.push(
      `**Users re-mapped:** ${s.summary.usersRemapped} · **not in the mapping:** ${s.summary.unmappedUsers} · ` +
        `**mailboxes to reconfigure:** ${s.summary.mailboxesToReconfigure}`,
    );
  }
  if (s.reason) lines.push(`**Reason:** ${redactEmails(s.reason)}`);
  if (s.warnings.length > 0) lines.push(`**Preparation warnings:** ${s.warnings.length} (see \`t2t status\`)`);
  return lines.join('\n\n');
}

/** SAS tokens are credentials: the Web UI gets the blob address without its token. */
function redactUrl(text: string): string {
  return text.replace(/(https?:\/\/[^\s?]+)\?[^\s]*/g, '$1?<sas>');
}

function redactEmails(text: string): string {
  return text.replace(/[^\s'"@]+@[^\s'"@]+\.[^\s'"@]+/g, '<user>');
}
