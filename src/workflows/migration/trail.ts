// The migration's audit trail and notifications on their way to the control plane:
// entries and events collect in the workflow and are written together by one local
// activity (one marker in history) whenever the migration waits, before migrate and at the end.
import { log, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { AuditEntry, MigrationStatus } from '../../contracts';
import type { MigrationActivities } from '../../activities';
import type { AuditRecord } from '../../controlplane/audit-log';
import { failureMessage } from '../failures';
import type { MigrationNotifications } from '../notifications';
import { retry } from './service';

// A write that cannot be made in two minutes is kept for the next one: the migration never waits on it for long.
const { recordTrail } = proxyLocalActivities<MigrationActivities>({ startToCloseTimeout: '30s', scheduleToCloseTimeout: '2m', retry, summary: 'Write the audit trail and the notifications' });

export class AuditTrail {
  /** audit entries not yet written to the control plane; identical refusals in a row are counted in one */
  private readonly toWrite: AuditRecord[] = [];
  private entries = 0;

  constructor(
    private readonly migrationId: string,
    readonly notify: MigrationNotifications,
  ) {}

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
    } catch (err) {
      // Kept for the next write rather than lost; the migration does not stop for its audit trail or its notifications.
      this.toWrite.unshift(...entries);
      notify.restore(collected);
      log.warn('the audit trail and notifications could not be written; they are written at the next wait', { migrationId: this.migrationId, error: failureMessage(err) });
    }
  }
}
