// The audit trail in the control-plane database, on both databases: append-only,
// idempotent by entry id, and a retried write with a larger count keeps it.
import assert from 'node:assert/strict';
import { CONTROL_PLANE_BACKENDS, startBackend } from './helpers/backends';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openAuditLog, type AuditRecord, type SqlAuditLog } from '../src/controlplane/audit-log';
import { openDatabase } from '../src/controlplane/database';
import { ActionSigner, newGatewayKey } from '../src/identity/action-signer';

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

    it("keeps a signed action's proof whole, as the gateway signed it", async () => {
      const claims = { issuer: 'https://login.example', tenantId: 't-fabrikam', objectId: 'oid-1', user: 'admin@fabrikam.com', tokenIdHash: 'a'.repeat(64) };
      const proof = new ActionSigner([newGatewayKey('gw-1')]).sign({ action: 'approve', migrationId: 'm-5', payload: { actor: 'admin@fabrikam.com', requestId: 'req-9' }, claims });
      await log.append([entry('r4-1', { migrationId: 'm-5', outcome: 'accepted', actor: 'admin@fabrikam.com', reason: undefined, proof }), entry('r4-2', { migrationId: 'm-5' })]);
      const [signed, unsigned] = await log.list('m-5');
      assert.deepEqual(signed.proof, proof);
      assert.equal(unsigned.proof, undefined);
    });
  });
}

describe('an audit trail table made before signed actions', () => {
  it('gets the proof column when the log is opened, and keeps its entries', async () => {
    const url = path.join(mkdtempSync(path.join(os.tmpdir(), 't2t-audit-')), 'cp.sqlite');
    const { db, release } = await openDatabase(url);
    await db.schema
      .createTable('audit_entries')
      .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('migration_id', 'text', (c) => c.notNull())
      .addColumn('entry_id', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('request_id', 'text')
      .addColumn('note', 'text')
      .addColumn('count', 'integer', (c) => c.notNull())
      .addUniqueConstraint('audit_entries_once', ['migration_id', 'entry_id'])
      .execute();
    await db.insertInto('audit_entries' as never).values({ migration_id: 'm-old', entry_id: 'e-1', at: '2026-11-01T00:00:00.000Z', action: 'submit', actor: 'admin@contoso.com', outcome: 'accepted', count: 1 } as never).execute();
    await release();
    const log = await openAuditLog(url);
    try {
      const [old] = await log.list('m-old');
      assert.equal(old.actor, 'admin@contoso.com');
      assert.equal(old.proof, undefined);
      const claims = { issuer: 'https://login.example', tenantId: 't-contoso', objectId: 'oid-2', user: 'admin@contoso.com', tokenIdHash: 'b'.repeat(64) };
      const proof = new ActionSigner([newGatewayKey('gw-2')]).sign({ action: 'cancel', migrationId: 'm-old', payload: { actor: 'admin@contoso.com', requestId: 'r' }, claims });
      await log.append([{ entryId: 'e-2', migrationId: 'm-old', at: '2026-11-02T00:00:00.000Z', action: 'cancel', actor: 'admin@contoso.com', outcome: 'accepted', proof, count: 1 }]);
      assert.deepEqual((await log.list('m-old'))[1].proof, proof);
    } finally {
      await log.close();
    }
    // Opened again (another worker starting): nothing to add, nothing lost.
    const again = await openAuditLog(url);
    assert.equal((await again.list('m-old')).length, 2);
    await again.close();
  });
});
