// The migration's audit trail and notifications on their way to the control plane:
// entries and events collect in the workflow and are written together by one local
// activity (one marker in history) whenever the migration waits, before migrate and at the end.
// A control-plane database that is down never holds the migration: a write is bounded, what it
// could not write is kept and written later, and the ending waits until all of it is written.
import { log, proxyLocalActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { AuditEntry, MigrationStatus } from '../../contracts';
import type { MigrationActivities } from '../../activities';
import type { AuditRecord } from '../../controlplane/audit-log';
import { loggedFailure } from '../failures';
import type { MigrationNotifications } from '../notifications';
import { retry } from './service';

// Bounded by its attempts (local activities retried past schedule-to-close on this SDK: check-budget.ts):
// three attempts of ten seconds at most, about half a minute in all, then kept for a later write.
const { recordTrail } = proxyLocalActivities<MigrationActivities>({
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '40s',
  retry: { ...retry, maximumAttempts: 3 },
  summary: 'Write the audit trail and the notifications',
});

/** A trail that could not be written is tried again after a minute, then less often, at most every half hour. */
const RETRY_FIRST_MS = 60_000;
const RETRY_MAX_MS = 30 * 60_000;

export class AuditTrail {
  /** audit entries not yet written to the control plane; identical refusals in a row are counted in one */
  private readonly toWrite: AuditRecord[] = [];
  private entries = 0;
  /** writes failed in a row */
  private failures = 0;

  constructor(
    private readonly migrationId: string,
    readonly notify: MigrationNotifications,
  ) {}

  /** When a trail that could not be written is tried again, if nothing else wakes the migration first. */
  get retryAt(): number | undefined {
    return this.failures === 0 ? undefined : this.failedAt + Math.min(RETRY_FIRST_MS * 2 ** (this.failures - 1), RETRY_MAX_MS);
  }

  private failedAt = 0;

  /** Whether anything waits to be written. */
  get hasPending(): boolean {
    return this.toWrite.length > 0 || this.notify.hasPending;
  }

  add(entry: AuditEntry): void {
    const last = this.toWrite[this.toWrite.length - 1];
    const same = last && entry.outcome === 'refused' && last.outcome === 'refused' && last.action === entry.action && last.actor === entry.actor && last.reason === entry.reason && last.note === entry.note;
    if (same) {
      last.count += 1;
      return;
    }
    this.entries += 1;
    this.toWrite.push({
      ...entry,
      entryId: `${workflowInfo().runId}-${this.entries}`,
      migrationId: this.migrationId,
      count: 1,
    });
  }

  /** The audit entries and notification events since the last write, in one local activity (one marker in history). */
  async write(state: MigrationStatus): Promise<void> {
    const notify = this.notify;
    if (this.toWrite.length === 0 && !notify.hasPending) return;
    const entries = this.toWrite.splice(0, this.toWrite.length);
    const { events, collected } = notify.take(entries, state);
    try {
      notify.settle(await recordTrail({ entries, events }));
      this.failures = 0;
    } catch (err) {
      // Kept for the next write rather than lost; the migration does not stop for its audit trail or its notifications.
      this.toWrite.unshift(...entries);
      notify.restore(collected);
      this.failures += 1;
      this.failedAt = Date.now();
      log.warn('the audit trail and notifications could not be written; they are written at the next wait', { migrationId: this.migrationId, error: loggedFailure(err) });
    }
  }

  /** At the end: written, however long the control plane takes to come back (the migration has nothing else to do). */
  async writeAll(state: MigrationStatus): Promise<void> {
    await this.write(state);
    while (this.hasPending) {
      await sleep(Math.max(1, (this.retryAt ?? Date.now()) - Date.now()), { summary: 'next try at writing the audit trail' });
      await this.write(state);
    }
  }
}
