// How `t2t` speaks: short human lines, or one JSON document with --json.
import type { MigrationStatus } from '../contracts';
import type { MigrationPeople } from '../migration/migration-people';
import { stripQuery } from '../migration/container-uri';
import { formatDuration } from '../duration';
import { describeClosure, type ReportedStatus } from './run-closure';

export interface Printer {
  json: boolean;
  line(text?: string): void;
  document(value: unknown): void;
  /** Lines of a list that may be long: at most a screenful, then `more(hidden)` says how many were left out and where they are. */
  list(lines: readonly string[], more: (hidden: number) => string): void;
}

/** Lines of a list printed when stdout is not a terminal (a pipe, a log, a test). */
export const LIST_LINES = 20;

/** How many lines of a list fit: a terminal's height less room for the lines around the list and the prompt, else LIST_LINES. */
export function listLimit(out: { isTTY?: boolean; rows?: number } = process.stdout): number {
  if (!out.isTTY || !out.rows) return LIST_LINES;
  return Math.max(out.rows - 4, 5);
}

export function createPrinter(json: boolean, write?: (s: string) => void, limit = write ? LIST_LINES : listLimit()): Printer {
  const out = write ?? ((s: string) => process.stdout.write(s));
  const line = (text = '') => {
    if (!json) out(`${text}\n`);
  };
  return {
    json,
    line,
    document(value) {
      if (json) out(`${JSON.stringify(value, null, 2)}\n`);
    },
    list(lines, more) {
      // One hidden line takes as much room as the line saying so: show it instead.
      const shown = lines.length <= limit + 1 ? lines.length : limit;
      for (const text of lines.slice(0, shown)) line(text);
      if (shown < lines.length) line(more(lines.length - shown));
    },
  };
}

/** How many names of each list of people a status shows unless asked for all (`t2t status --full`). */
export const PEOPLE_SHOWN = 20;

/** The people lists of a migration cut to `limit` names each; `more` counts the names left out of each list cut. */
export type ShownPeople = MigrationPeople & { more?: Partial<Record<keyof MigrationPeople, number>> };

export function shownPeople(people: MigrationPeople, limit = PEOPLE_SHOWN): ShownPeople {
  const more: Partial<Record<keyof MigrationPeople, number>> = {};
  const cut = <T>(key: keyof MigrationPeople, list: T[]): T[] => {
    if (list.length <= limit) return list;
    more[key] = list.length - limit;
    return list.slice(0, limit);
  };
  const shown: ShownPeople = {
    mailboxesConfigured: cut('mailboxesConfigured', people.mailboxesConfigured),
    mailboxesToReconfigure: cut('mailboxesToReconfigure', people.mailboxesToReconfigure),
    onmicrosoftAddressesRewritten: cut('onmicrosoftAddressesRewritten', people.onmicrosoftAddressesRewritten),
    unmappedUsers: cut('unmappedUsers', people.unmappedUsers),
  };
  return Object.keys(more).length > 0 ? { ...shown, more } : shown;
}

/** The machine-readable shape every migration command prints with --json (SPEC §7). */
export function statusDocument(status: ReportedStatus, extra: Record<string, unknown> = {}, people?: ShownPeople): Record<string, unknown> {
  return {
    migrationId: status.migrationId,
    targetMigrationId: status.targetMigrationId,
    environmentId: status.environmentId,
    environmentName: status.environmentName,
    sourceTenantId: status.sourceTenantId,
    targetTenantId: status.targetTenantId,
    phase: status.phase,
    status: status.status ?? null,
    reason: status.reason ?? null,
    approvalDeadline: status.approvalDeadline ?? null,
    lockboxDeadline: status.lockboxDeadline ?? null,
    prepareDeadline: status.prepareDeadline ?? null,
    scheduledMigrateAt: status.scheduledMigrateAt ?? null,
    scheduledBy: status.scheduledBy ?? null,
    stalled: status.stalled ?? null,
    closed: status.closed ?? null,
    sasUrl: status.storage?.sasUrl ?? null,
    errorReportUrl: status.validation?.errorReportUrl ?? null,
    validation: status.validation ?? null,
    warnings: status.warnings,
    summary: status.summary ?? null,
    people: people ?? null,
    backend: status.backend ?? 'simulated',
    serviceMigrationId: status.serviceMigrationId ?? null,
    unknown: status.unknown ?? [],
    // Move-backs (docs/runbook.md): present only on the migrations they concern.
    ...(status.reversesMigrationId ? { reversesMigrationId: status.reversesMigrationId } : {}),
    ...(status.reversedBy ? { reversedBy: status.reversedBy } : {}),
    ...extra,
  };
}

/** The lines a person reads about one migration. */
export function describeStatus(status: ReportedStatus, view: 'source' | 'target' = 'source', people?: ShownPeople): string[] {
  const lines: string[] = [];
  const id = view === 'source' ? status.migrationId : status.targetMigrationId;
  lines.push(`Migration ${id} · ${status.environmentName ?? status.environmentId} (${status.environmentId})`);
  lines.push(`  Tenants:   ${status.sourceTenantId ?? '?'} → ${status.targetTenantId}`);
  lines.push(`  Phase:     ${status.phase}`);
  if (status.reversesMigrationId) lines.push(`  Move-back of migration ${status.reversesMigrationId}`);
  if (status.reversedBy) lines.push(`  Reversed by move-back ${status.reversedBy.migrationId}${status.reversedBy.phase ? ` (${status.reversedBy.phase})` : ''}`);
  if (status.status) lines.push(`  Status:    ${status.status}`);
  if (status.closed) lines.push(`  Closed:    ${describeClosure(status.closed)}${status.closed.whilePhase ? ` (while ${status.closed.whilePhase})` : ''}`);
  if (status.reason) lines.push(`  Reason:    ${status.reason}`);
  if (status.phase === 'PendingApproval' && status.approvalDeadline) lines.push(`  Approve before: ${status.approvalDeadline}`);
  if (status.phase === 'PendingLockbox' && status.lockboxDeadline) lines.push(`  Lockbox approval before: ${status.lockboxDeadline}`);
  if (status.prepareDeadline && (status.phase === 'Prepared' || status.phase === 'PreparationExpired')) {
    lines.push(`  ${status.phase === 'Prepared' ? 'Migrate before' : 'Preparation expired at'}: ${status.prepareDeadline}`);
  }
  if (status.scheduledMigrateAt && status.phase === 'Prepared') {
    lines.push(`  Cutover booked for: ${status.scheduledMigrateAt}${status.scheduledBy ? ` (by ${status.scheduledBy})` : ''}; migrate starts then by itself`);
  }
  if (status.stalled) {
    lines.push(`  Stalled:   in ${status.stalled.phase} since ${status.stalled.since}, longer than the usual ${formatDuration(status.stalled.thresholdMs)} (${status.stalled.basis})`);
  }
  if (status.storage && view === 'source') lines.push(`  Container: ${stripQuery(status.storage.sasUrl)}`);
  if (status.validation) {
    lines.push(`  Validation round ${status.validation.round}: ${status.validation.rows} rows, ${status.validation.errors} errors`);
  }
  const unknownCounts = status.unknown?.some((u) => u.startsWith('user and mailbox counts'));
  if (status.summary && !unknownCounts) {
    const s = status.summary;
    lines.push(`  Users re-mapped: ${s.usersRemapped}; not in the mapping (not migrated): ${s.unmappedUsers}`);
    lines.push(`  Mailboxes configured: ${s.mailboxesConfigured}; to reconfigure: ${s.mailboxesToReconfigure}; onmicrosoft.com addresses rewritten: ${s.onmicrosoftAddressesRewritten}`);
    if (people) {
      const more = (key: keyof MigrationPeople) => (people.more?.[key] ? ` and ${people.more[key]} more (t2t status --full lists them all)` : '');
      if (people.mailboxesToReconfigure.length > 0) lines.push(`  Mailboxes to reconfigure: ${people.mailboxesToReconfigure.join(', ')}${more('mailboxesToReconfigure')}`);
      for (const r of people.onmicrosoftAddressesRewritten) lines.push(`  Address rewritten (reconfigure): ${r.from} → ${r.to}`);
      if (people.more?.onmicrosoftAddressesRewritten) lines.push(`  and ${people.more.onmicrosoftAddressesRewritten} more addresses rewritten (t2t status --full lists them all)`);
      if (people.unmappedUsers.length > 0) lines.push(`  Not migrated: ${people.unmappedUsers.join(', ')}${more('unmappedUsers')}`);
    }
  }
  if (status.summary) {
    const s = status.summary;
    if (s.checklist.length > 0) {
      lines.push('  Post-migration checklist:');
      for (const item of s.checklist) {
        lines.push(`   - ${item.title}`);
        for (const d of item.details) lines.push(`       ${d}`);
      }
    }
  }
  if (status.unknown && status.unknown.length > 0) {
    lines.push(`  Not known on the ${status.backend ?? 'migration'} service:`);
    for (const u of status.unknown) lines.push(`   ? ${u}`);
  }
  return lines;
}

export function describeWarnings(status: MigrationStatus): string[] {
  if (status.warnings.length === 0) return [];
  return ['  Before you migrate:', ...status.warnings.map((w) => `   ! ${w.component}: ${w.message} — ${w.action}`)];
}
