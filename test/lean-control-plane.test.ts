// `t2t requests` reads the acting admin's tenants and the phase changes straight
// from the SQLite control plane (src/client/lean/lean-control-plane.ts): the same
// answers as the control plane's own queries on a real file, and none (the usual
// path answers) where it does not apply.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { createControlPlane } from '../src/controlplane/database';
import type { ControlPlane } from '../src/controlplane/control-plane';
import { LeanControlPlane } from '../src/client/lean/lean-control-plane';
import { readPhaseChanges } from '../src/operations/phase-history';
import { makeTestWorld } from './helpers/world';
import { parseWorld } from '../src/controlplane/world';

describe("t2t requests' lean read of the control plane", () => {
  let dir: string;
  let databaseUrl: string;
  let controlPlane: ControlPlane;
  const w = makeTestWorld();
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-lean-cp-'));
    databaseUrl = path.join(dir, 'control-plane.sqlite');
    controlPlane = await createControlPlane(databaseUrl);
    await controlPlane.migrateSchema();
    await controlPlane.loadWorld(parseWorld(w.world));
  });
  after(async () => {
    await controlPlane.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** SimulatedMigrationService.tenantsOf, through the control plane's own queries. */
  const tenantsOf = async (actor: string) => {
    const tenants: string[] = [];
    for (const tenant of await controlPlane.listTenants()) if (await controlPlane.getTenantUser(tenant.id, actor)) tenants.push(tenant.id);
    return tenants;
  };

  it("the admin's tenants, as the control plane answers them (UPNs in any case)", async () => {
    const lean = LeanControlPlane.open({ backend: 'simulated', databaseUrl })!;
    try {
      for (const actor of [w.sourceAdmin, w.targetAdmin, w.sourceAdmin.toUpperCase(), 'nobody@example.com']) {
        assert.deepEqual(lean.tenantsOf(actor), await tenantsOf(actor), actor);
      }
      assert.deepEqual(lean.tenantsOf(w.sourceAdmin), [w.source]);
    } finally {
      lean.close();
    }
  });

  it('the phase changes, as readPhaseChanges reads them', async () => {
    const raw = new SQLite(databaseUrl);
    const columns = (raw.prepare('PRAGMA table_info(notification_events)').all() as { name: string }[]).map((c) => c.name);
    assert.ok(columns.includes('body'), columns.join(' '));
    const insert = raw.prepare('INSERT INTO notification_events (event_id, kind, migration_id, created_at, body) VALUES (?, ?, ?, ?, ?)');
    const body = (phase: string) => JSON.stringify({ data: { phase } });
    insert.run('e2', 'phase-changed', 'm1', '2026-12-01T10:00:00.000Z', body('Approved'));
    insert.run('e1', 'phase-changed', 'm1', '2026-12-01T09:00:00.000Z', body('PendingApproval'));
    insert.run('e3', 'reminder', 'm1', '2026-12-01T09:30:00.000Z', body('Approved'));
    insert.run('e4', 'phase-changed', 'm2', '2026-12-01T09:00:00.000Z', body('NotAPhase'));
    raw.close();
    const lean = LeanControlPlane.open({ backend: 'simulated', databaseUrl })!;
    try {
      const expected = await readPhaseChanges(databaseUrl);
      assert.equal(expected.length, 2);
      assert.deepEqual(lean.phaseChanges(), expected);
    } finally {
      lean.close();
    }
  });

  it('leaves PostgreSQL, the Microsoft back end and a missing file to the usual path', () => {
    assert.equal(LeanControlPlane.open({ backend: 'simulated', databaseUrl: 'postgres://localhost/t2t' }), undefined);
    assert.equal(LeanControlPlane.open({ backend: 'microsoft', databaseUrl }), undefined);
    assert.equal(LeanControlPlane.open({ backend: 'simulated', databaseUrl: path.join(dir, 'none.sqlite') }), undefined);
  });

  it('a file without the tables: no answer for the tenants (the usual path migrates it), no phase changes', () => {
    const empty = path.join(dir, 'empty.sqlite');
    new SQLite(empty).close();
    const lean = LeanControlPlane.open({ backend: 'simulated', databaseUrl: empty })!;
    try {
      assert.equal(lean.tenantsOf(w.sourceAdmin), undefined);
      assert.deepEqual(lean.phaseChanges(), []);
    } finally {
      lean.close();
    }
  });
});
