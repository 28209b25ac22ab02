// The audit trail's writer: entries flushed by the workflow in batches (a local
// activity: one marker in history however many entries). Append-only and
// idempotent by entry id, so a retried flush writes nothing twice.
import type { AuditLog, AuditRecord } from '../controlplane/audit-log';

export function createAuditActivities(auditLog: AuditLog) {
  return {
    async recordAudit(entries: AuditRecord[]): Promise<void> {
      await auditLog.append(entries);
    },
  };
}
