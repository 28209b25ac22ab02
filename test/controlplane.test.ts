// The control plane, the same tests on both backends: the embedded SQLite file
// and PostgreSQL (a real server started for the run).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createControlPlane } from '../src/controlplane/database';
import type { ControlPlane } from '../src/controlplane/control-plane';
import { parseWorld, readWorldFile } from '../src/controlplane/world';
import { checkEligibility } from '../src/migration/eligibility';
import { flowActivationOrder, FlowCycleError } from '../src/migration/checklist';
import { makeTestWorld } from './helpers/world';
import { testPostgres } from './helpers/postgres';
import { projectRoot } from '../src/temporal-binaries';
import { devServer } from './helpers/temporal';
import { startTestAzurite } from './helpers/azurite';
import { startProduct, uploadWithSas } from './helpers/product';

const BACKENDS: { name: string; url: () => Promise<string> }[] = [
  { name: 'SQLite file', url: async () => path.join(mkdtempSync(path.join(os.tmpdir(), 't2t-cp-')), 'control-plane.sqlite') },
  { name: 'PostgreSQL', url: async () => (await testPostgres()).createDatabase(`t2t_${randomBytes(4).toString('hex')}`) },
];

for (const backend of BACKENDS) {
  describe(`control plane on ${backend.name} @integration`, function () {
    this.timeout(120_000);
    let url: string;
    let cp: ControlPlane;
    const w = makeTestWorld({ users: 3 });

    before(async () => {
      url = await backend.url();
      cp = await createControlPlane(url);
      await cp.migrateSchema();
      await cp.migrateSchema(); // idempotent
      await cp.loadWorld(parseWorld(w.world));
    });
    after(async () => cp?.close());

    it('holds the world: tenants, users case-insensitively, environments with their inventory', async () => {
      assert.equal((await cp.listTenants()).length, 3);
      const admin = await cp.getTenantUser(w.source, 'ADMIN@Contoso.com');
      assert.deepEqual(admin?.roles, ['PowerPlatformAdmin']);
      const environment = await cp.getEnvironment(w.environmentId);
      assert.equal(environment?.type, 'Production');
      assert.equal(environment?.components.flows.length, 2);
      assert.equal(environment?.sourceAccess, true);
      assert.equal(await cp.countEnvironmentUsers(w.environmentId), 5);
    });

    it('finds many directory users in one call', async () => {
      const found = await cp.findTenantUsers(w.target, [w.targetUpn(0), w.targetUpn(1).toUpperCase(), 'nobody@fabrikam.com']);
      assert.deepEqual([...found.keys()].sort(), [w.targetUpn(0), w.targetUpn(1)].sort());
      const many = await cp.findTenantUsers(w.target, Array.from({ length: 1200 }, (_, i) => `x${i}@fabrikam.com`).concat(w.targetUpn(2)));
      assert.equal(many.size, 1);
    });

    it('re-maps a user once, however often it is asked', async () => {
      const first = await cp.remapEnvironmentUser(w.environmentId, 'm-1', w.sourceUpn(1), w.targetUpn(1));
      const again = await cp.remapEnvironmentUser(w.environmentId, 'm-1', w.sourceUpn(1).toUpperCase(), w.targetUpn(1));
      const stranger = await cp.remapEnvironmentUser(w.environmentId, 'm-1', 'stranger@contoso.com', 'x@fabrikam.com');
      assert.deepEqual([first.applied, again.applied, stranger.applied], [true, false, false]);
      assert.equal(stranger.notInEnvironment, true);
      assert.deepEqual(await cp.listRemaps('m-1'), [{ sourceUpn: w.sourceUpn(1), targetUpn: w.targetUpn(1), appliedCount: 1 }]);
      const user = await cp.getEnvironmentUser(w.environmentId, w.targetUpn(1));
      assert.equal(user?.previousUpn, w.sourceUpn(1));
    });

    it('re-links an environment keeping url, OrgId and name, idempotently', async () => {
      const before = (await cp.getEnvironment(w.environmentId))!;
      await cp.relinkEnvironment(w.environmentId, w.target, 'm-1');
      await cp.relinkEnvironment(w.environmentId, w.target, 'm-1');
      const after = (await cp.getEnvironment(w.environmentId))!;
      assert.equal(after.tenantId, w.target);
      assert.equal(after.previousTenantId, w.source);
      assert.deepEqual([after.url, after.orgId, after.name], [before.url, before.orgId, before.name]);
      await cp.setAdminMode(w.environmentId, false);
      await cp.setSourceAccess(w.environmentId, false);
      const changed = (await cp.getEnvironment(w.environmentId))!;
      assert.deepEqual([changed.adminMode, changed.sourceAccess], [false, false]);
    });

    it('loading a world replaces everything', async () => {
      const other = makeTestWorld({ users: 1 });
      await cp.loadWorld(parseWorld(other.world));
      assert.equal(await cp.getEnvironment(w.environmentId), undefined);
      assert.deepEqual(await cp.listRemaps('m-1'), []);
      assert.ok(await cp.getEnvironment(other.environmentId));
      await cp.loadWorld(parseWorld(w.world));
    });

    it('two connections write one database and see each other', async () => {
      const second = await createControlPlane(url);
      try {
        // On PostgreSQL at the same time; SQLite's driver is synchronous, so in one
        // process its connections take turns (several processes: the two-worker test).
        const writes = Array.from({ length: 3 }, (_, i) => () =>
          (i % 2 === 0 ? cp : second).remapEnvironmentUser(w.environmentId, 'm-2', w.sourceUpn(i), w.targetUpn(i)),
        );
        if (backend.name === 'PostgreSQL') await Promise.all(writes.map((write) => write()));
        else for (const write of writes) await write();
        assert.equal((await second.listRemaps('m-2')).length, 3);
      } finally {
        await second.close();
      }
    });

    it('a whole migration runs on it', async () => {
      const env = await devServer();
      const azurite = await startTestAzurite();
      const m = makeTestWorld({ users: 5 });
      const databaseUrl = await backend.url();
      const p = await startProduct({ env, azurite, world: m.world, databaseUrl });
      try {
        const submitted = await p.client.submit({ environmentId: m.environmentId, targetTenantId: m.target, actor: m.sourceAdmin });
        await p.client.act(submitted.targetMigrationId, 'approve', { actor: m.targetAdmin });
        const storage = await p.client.act(submitted.migrationId, 'requestStorage', { actor: m.sourceAdmin });
        await uploadWithSas(storage.status.storage!.sasUrl, m.mappingCsv);
        await p.client.act(submitted.migrationId, 'prepare', { actor: m.sourceAdmin, targetTenantId: m.target, mappingContainer: storage.status.storage!.sasUrl });
        await p.client.act(submitted.migrationId, 'migrate', { actor: m.sourceAdmin, targetTenantId: m.target });
        const final = await p.client.waitForStatus(await p.client.find(submitted.migrationId), (s) => s.phase === 'Succeeded' || s.phase === 'Failed', 120_000);
        assert.equal(final.phase, 'Succeeded', final.reason);
        assert.equal((await p.controlPlane.listRemaps(submitted.migrationId)).length, 5);
        assert.equal((await p.controlPlane.getEnvironment(m.environmentId))!.tenantId, m.target);
      } finally {
        await p.stop();
        await azurite.dispose();
      }
    });
  });
}

describe('world file and rules', () => {
  it('the demo world loads and has eligible and ineligible environments', async () => {
    const world = await readWorldFile(path.join(projectRoot(), 'examples', 'demo-world.json'));
    assert.ok(world.environments.some((e) => e.id === 'env-sales'));
    assert.ok(world.environments.length >= 6);
  });

  it('names each blocking rule', () => {
    const tenant = (id: string, cloud: 'Public' | 'GCC' = 'Public', geo = 'US') => ({ id, name: id, cloud, geo, defaultDomain: `${id}.onmicrosoft.com`, domains: [], lockboxEnabled: false });
    const base = {
      id: 'e', name: 'E', type: 'Production' as const, url: 'https://e', orgId: 'o', tenantId: 's', adminMode: true, geo: 'US', managed: false,
      linkedToFinanceOperations: false, sourceAccess: true, previousTenantId: null,
      components: { flows: [], canvasApps: [], bots: [], websites: [], marketing: false, unsupported: [], customConnectors: [], connections: [], gateways: [], settings: [] },
    };
    const codes = (environment: typeof base | (typeof base & { type: 'Default' }), source = tenant('s'), target = tenant('t')) =>
      checkEligibility({ environment: environment as never, sourceTenant: source, targetTenant: target }).blocking.map((b) => b.code);
    assert.deepEqual(codes(base), []);
    assert.deepEqual(codes({ ...base, type: 'Default' } as never), ['UnsupportedEnvironmentType']);
    assert.deepEqual(codes(base, tenant('s', 'GCC')), ['CrossCloud']);
    assert.deepEqual(codes({ ...base, linkedToFinanceOperations: true }), ['FinanceOperationsLinked']);
    assert.deepEqual(codes(base, tenant('s'), tenant('s')), ['SameTenant']);
    assert.deepEqual(codes({ ...base, managed: true }), ['ManagedEnvironment']);
    assert.deepEqual(codes(base, tenant('s'), tenant('t', 'Public', 'EU')), ['CrossGeo']);
  });

  it('orders flows child first, and names a cycle', () => {
    const flow = (id: string, childFlows: string[]) => ({ id, name: id.toUpperCase(), inSolution: true, state: 'On' as const, childFlows, connectionReferences: [] });
    const order = flowActivationOrder([flow('a', ['b', 'c']), flow('b', ['d']), flow('c', ['d']), flow('d', [])]).map((f) => f.id);
    assert.deepEqual(order, ['d', 'b', 'c', 'a']);
    assert.throws(() => flowActivationOrder([flow('a', ['b']), flow('b', ['a'])]), (err: Error) => err instanceof FlowCycleError && err.message === 'flow calls form a cycle: A → B → A');
  });
});
