// The audit trail in the control-plane database, on both databases: append-only,
// idempotent by entry id, and a retried write with a larger count keeps it.
import assert from 'node:assert/strict';
import { CONTROL_PLANE_BACKENDS, startBackend } from './helpers/backends';
import { openAuditLog, type AuditRecord, type SqlAuditLog } from '../src/controlplane/audit-log';

for (const backend of CONTROL_PLANE_BACKENDS) {
  describe(`audit trail on ${backend.name}`, function () {
    let log: SqlAuditLog;
    before(async function () {
      await startBackend(backend);
      log = await openAuditLog(await backend.url());
    });
    after(async () => {
      await log?.close();
    });

    const entry = (entryId: string, extra: Partial<AuditRecord> = {}): AuditRecord => ({
      entryId,
      migrationId: 'm-1',
      at: '2026-12-01T10:00:00.000Z',
      action: 'approve',
      actor: 'stranger@northwind.com',
      outcome: 'refused',
      reason: 'approve refused: the caller is not a user of the target tenant',
      count: 1,
      ...extra,
    });

    it('appends entries in order, once each, and lists them per migration', async () => {
      await log.append([entry('r1-1'), entry('r1-2', { outcome: 'accepted', actor: 'admin@fabrikam.com', reason: undefined, requestId: 'req-7' })]);
      await log.append([entry('r1-1')]);
      await log.append([entry('r1-1', { migrationId: 'm-2' })]);
      const listed = await log.list('m-1');
      assert.deepEqual(listed.map((e) => [e.entryId, e.outcome, e.count]), [['r1-1', 'refused', 1], ['r1-2', 'accepted', 1]]);
      assert.equal(listed[1].requestId, 'req-7');
      assert.equal(listed[1].reason, undefined);
      assert.equal((await log.list('m-2')).length, 1);
    });

    it('a retried write that counted more identical refusals keeps the larger count, and never a smaller one', async () => {
      await log.append([entry('r2-1', { migrationId: 'm-3', count: 205 })]);
      await log.append([entry('r2-1', { migrationId: 'm-3', count: 6000 })]);
      await log.append([entry('r2-1', { migrationId: 'm-3', count: 10 })]);
      assert.deepEqual((await log.list('m-3')).map((e) => e.count), [6000]);
    });

    it('writes a large batch in chunks', async () => {
      await log.append(Array.from({ length: 450 }, (_, i) => entry(`r3-${i}`, { migrationId: 'm-4' })));
      assert.equal((await log.list('m-4')).length, 450);
    });
  });
}
