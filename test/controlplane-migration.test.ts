// A whole migration on each control-plane backend: the workflow, its
// activities and the CLI's client acting through the real database.
import assert from 'node:assert/strict';
import { makeTestWorld } from './helpers/world';
import { CONTROL_PLANE_BACKENDS, startBackend } from './helpers/backends';
import { devServer } from './helpers/temporal';
import { startTestAzurite } from './helpers/azurite';
import { startProduct, uploadWithSas } from './helpers/product';

for (const backend of CONTROL_PLANE_BACKENDS) {
  describe(`a migration on the ${backend.name} control plane @integration`, function () {
    this.timeout(180_000);

    it('runs from submit to Succeeded: users re-mapped once, environment re-linked', async function () {
      await startBackend(backend);
      const databaseUrl = await backend.url();
      const env = await devServer();
      const azurite = await startTestAzurite();
      const m = makeTestWorld({ users: 5 });
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
        const remaps = await p.controlPlane.listRemaps(submitted.migrationId);
        assert.equal(remaps.length, 5);
        assert.ok(remaps.every((r) => r.appliedCount === 1));
        const environment = (await p.controlPlane.getEnvironment(m.environmentId))!;
        assert.deepEqual([environment.tenantId, environment.previousTenantId, environment.sourceAccess], [m.target, m.source, false]);
      } finally {
        await p.stop();
        await azurite.dispose();
      }
    });
  });
}
