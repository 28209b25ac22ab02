// A heavy re-mapping shares its worker with every other migration: the other
// migrations' queries are answered while it runs, not after it.
import assert from 'node:assert/strict';
import { devServer } from './helpers/temporal';
import { startTestAzurite, RunningAzurite } from './helpers/azurite';
import { makeTestWorld } from './helpers/world';
import { startProduct, uploadWithSas } from './helpers/product';
import { migrationWorkflowId, statusQuery } from '../src/contracts';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createControlPlane, openDatabase } from '../src/controlplane/database';
import { parseWorld } from '../src/controlplane/world';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the SQLite control plane gives the event loop turns', function () {
  this.timeout(120_000);

  it('a long loop of queries lets a timer set before it fire while the loop still runs', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-turns-'));
    const controlPlane = await createControlPlane(path.join(dir, 'cp.sqlite'));
    try {
      await controlPlane.migrateSchema();
      const w = makeTestWorld({ users: 3 });
      await controlPlane.loadWorld(parseWorld(w.world));
      let fired = false;
      setTimeout(() => (fired = true), 0);
      // Each query is synchronous underneath; only the plugin's turns let the timer run.
      const limit = 200_000;
      let queries = 0;
      while (!fired && queries < limit) {
        await controlPlane.getTenant(w.source);
        queries += 1;
      }
      assert.ok(fired, `${limit} queries ran back to back and the timer never fired`);
    } finally {
      await controlPlane.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a heavy re-mapping does not starve the worker @integration', function () {
  this.timeout(600_000);
  let azurite: RunningAzurite;

  before(async () => {
    azurite = await startTestAzurite();
  });
  after(async () => {
    await azurite?.dispose();
  });

  it('while one migration re-maps 30,000 users one a batch, another migration on the same worker answers its status query', async () => {
    const env = await devServer();
    const users = 30_000;
    const w = makeTestWorld({ users, unmappedUsers: 0 });
    // A second environment with only its admin, waiting for approval beside the large one.
    const world = w.world as { environments: { id: string; users: unknown[]; url: string; orgId: string }[] };
    const waitingId = `${w.environmentId}-waiting`;
    world.environments.push({ ...world.environments[0], id: waitingId, url: `https://waiting${w.suffix}.crm.dynamics.com`, orgId: `org-${w.suffix}-waiting`, users: world.environments[0].users.slice(0, 1) });
    // One user a batch: a transaction per user, the re-mapping at its longest.
    const p = await startProduct({ env, azurite, world: w.world, remapBatchSize: 1 });
    const database = await openDatabase(p.config.databaseUrl);
    try {
      const large = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      await p.client.actOn(large, 'approve', { actor: w.targetAdmin });
      const storage = await p.client.actOn(large, 'requestStorage', { actor: w.sourceAdmin });
      await uploadWithSas(storage.status.storage!.sasUrl, w.mappingCsv);
      await p.client.actOn(large, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: storage.status.storage!.sasUrl });
      const prepared = await p.client.waitForStatus(large, (s) => s.phase !== 'Validating' && s.phase !== 'Approved', 300_000);
      assert.equal(prepared.phase, 'Prepared', prepared.reason);
      const waiting = await p.client.submit({ environmentId: waitingId, targetTenantId: w.target, actor: w.sourceAdmin });
      assert.equal(waiting.phase, 'PendingApproval');
      const waitingHandle = env.client.workflow.getHandle(migrationWorkflowId(waitingId));

      const remapped = async () => {
        const row = await database.db.selectFrom('user_remaps').select((eb) => eb.fn.countAll<number>().as('n'))
          .where('migration_id', '=', submitted.migrationId).executeTakeFirstOrThrow();
        return Number(row.n);
      };
      await p.client.actOn(large, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      while ((await remapped()) === 0) await sleep(20);

      // Asked once the re-mapping has begun: answered while it still runs.
      const answered = await waitingHandle.query(statusQuery);
      const remappedWhenAnswered = await remapped();
      assert.equal(answered.phase, 'PendingApproval');
      assert.ok(remappedWhenAnswered < users, `the query was answered only after all ${users} users were re-mapped`);

      const final = await p.client.waitForStatus(large, (s) => s.phase !== 'Migrating', 600_000);
      assert.equal(final.phase, 'Succeeded', final.reason);
      assert.equal(final.summary?.usersRemapped, users);
      const remaps = await p.controlPlane.listRemaps(submitted.migrationId);
      assert.equal(remaps.length, users);
      assert.ok(remaps.every((r) => r.appliedCount === 1), 'a user was re-mapped more than once');
    } finally {
      await database.release();
      await p.stop();
    }
  });
});
