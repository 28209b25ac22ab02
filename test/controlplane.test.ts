// The control plane, the same tests on both backends: the embedded SQLite file
// and PostgreSQL (a throw-away server started for the run, or T2T_TEST_POSTGRES_URL).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { KyselyPlugin } from 'kysely';
import { createControlPlane, openDatabase } from '../src/controlplane/database';
import { SqlControlPlane } from '../src/controlplane/sql-control-plane';
import type { ControlPlane } from '../src/controlplane/control-plane';
import { ControlPlaneNotFoundError } from '../src/controlplane/errors';
import { describeEnvironment } from '../src/controlplane/describe';
import { parseWorld, WorldFileError, type World } from '../src/controlplane/world';
import { testPostgres } from './helpers/postgres';

/** A small world: Contoso (source) with env-sales, Fabrikam (target), Northwind (EU). */
export function sampleWorld(options: { extraTargetUsers?: number } = {}): World {
  const contosoUsers = ['admin@contoso.com', 'Ana.Lopez@Contoso.com', 'ben@contoso.com', 'cho@contoso.com', 'svc@contoso.onmicrosoft.com'];
  const fabrikamUsers = ['admin@fabrikam.com', 'ana.lopez@fabrikam.com', 'ben@fabrikam.com', 'cho@fabrikam.com', 'svc@fabrikam.onmicrosoft.com'];
  for (let i = 0; i < (options.extraTargetUsers ?? 0); i += 1) fabrikamUsers.push(`user${String(i).padStart(5, '0')}@fabrikam.com`);
  return parseWorld({
    tenants: [
      {
        id: 't-contoso', name: 'Contoso', cloud: 'Public', geo: 'US', defaultDomain: 'contoso.onmicrosoft.com', domains: ['contoso.com'],
        users: contosoUsers.map((upn, i) => ({ upn, licenses: ['E3'], mailbox: true, roles: i === 0 ? ['PowerPlatformAdmin'] : [] })),
      },
      {
        id: 't-fabrikam', name: 'Fabrikam', cloud: 'Public', geo: 'US', defaultDomain: 'fabrikam.onmicrosoft.com', domains: ['fabrikam.com'],
        users: fabrikamUsers.map((upn, i) => ({ upn, licenses: i === 2 ? [] : ['E3'], mailbox: i !== 3, enabled: upn !== 'cho@fabrikam.com', roles: i === 0 ? ['PowerPlatformAdmin'] : [] })),
      },
      { id: 't-northwind', name: 'Northwind', cloud: 'Public', geo: 'EU', defaultDomain: 'northwind.onmicrosoft.com', lockboxEnabled: true, users: [] },
    ],
    environments: [
      {
        id: 'env-sales', name: 'Contoso Sales', type: 'Production', url: 'https://contososales.crm.dynamics.com', orgId: 'org-sales',
        tenantId: 't-contoso', adminMode: true,
        users: [
          { upn: 'admin@contoso.com', roles: ['System Administrator', 'Basic User'] },
          { upn: 'ana.lopez@contoso.com', roles: ['Basic User'] },
          { upn: 'ben@contoso.com', roles: ['Basic User', 'Salesperson'] },
          { upn: 'cho@contoso.com', roles: ['Basic User'] },
          { upn: 'svc@contoso.onmicrosoft.com', roles: ['Basic User'] },
        ],
        components: {
          flows: [
            { id: 'f-parent', name: 'Parent', trigger: 'http', childFlows: ['f-child'], connectionReferences: ['shared_office365'] },
            { id: 'f-child', name: 'Child' },
          ],
          websites: [{ id: 'w1', name: 'Portal', portalType: 'Customer self-service', language: 'en-US' }],
          gateways: [{ id: 'g1', name: 'On-premises gateway' }],
        },
      },
      { id: 'env-dev', name: 'Dev', type: 'Developer', url: 'https://contosodev.crm.dynamics.com', orgId: 'org-dev', tenantId: 't-contoso', geo: 'us' },
    ],
  });
}

/** Counts the statements a control plane sends, to see that look-ups are batched. */
async function countingControlPlane(url: string): Promise<{ controlPlane: ControlPlane; statements: () => number }> {
  let statements = 0;
  const counter: KyselyPlugin = {
    transformQuery: (args) => {
      statements += 1;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  const { db, dialect, release } = await openDatabase(url);
  return { controlPlane: new SqlControlPlane(db.withPlugin(counter), dialect, release), statements: () => statements };
}

const BACKENDS: { name: string; url: () => Promise<string> }[] = [
  { name: 'SQLite', url: async () => path.join(mkdtempSync(path.join(os.tmpdir(), 't2t-cp-')), 'nested', 'control-plane.sqlite') },
  { name: 'PostgreSQL', url: async () => (await testPostgres()).createDatabase(`t2t_${randomBytes(4).toString('hex')}`) },
];

for (const backend of BACKENDS) {
  describe(`control plane on ${backend.name}`, function () {
    this.timeout(120_000);
    let url: string;
    let cp: ControlPlane;

    before(async function () {
      url = await backend.url();
      cp = await createControlPlane(url);
      await cp.migrateSchema();
    });
    beforeEach(async () => cp.loadWorld(sampleWorld()));
    after(async () => cp?.close());

    it('creates its schema idempotently, also from two connections at once', async () => {
      const second = await createControlPlane(url);
      try {
        await Promise.all([cp.migrateSchema(), second.migrateSchema(), cp.migrateSchema()]);
        assert.equal((await second.listTenants()).length, 3);
      } finally {
        await second.close();
      }
    });

    it('holds the world: tenants, users, environments with their inventory and defaults', async () => {
      assert.deepEqual((await cp.listTenants()).map((t) => t.id), ['t-contoso', 't-fabrikam', 't-northwind']);
      assert.deepEqual(await cp.getTenant('t-northwind'), {
        id: 't-northwind', name: 'Northwind', cloud: 'Public', geo: 'EU', defaultDomain: 'northwind.onmicrosoft.com', domains: [], lockboxEnabled: true,
      });
      assert.deepEqual(await cp.getTenantUser('t-fabrikam', 'ben@fabrikam.com'), {
        tenantId: 't-fabrikam', upn: 'ben@fabrikam.com', enabled: true, licenses: [], mailbox: true, roles: [],
      });
      const sales = (await cp.getEnvironment('env-sales'))!;
      assert.deepEqual(
        { ...sales, components: undefined },
        {
          id: 'env-sales', name: 'Contoso Sales', type: 'Production', url: 'https://contososales.crm.dynamics.com', orgId: 'org-sales',
          tenantId: 't-contoso', adminMode: true, geo: 'US', managed: false, linkedToFinanceOperations: false,
          sourceAccess: true, previousTenantId: null, components: undefined,
        },
        "geo defaults to the tenant's",
      );
      assert.deepEqual(sales.components, sampleWorld().environments[0].components);
      assert.equal(sales.components.flows[1].inSolution, true);
      assert.equal((await cp.getEnvironment('env-dev'))!.geo, 'us');
      assert.deepEqual((await cp.listEnvironments('t-contoso')).map((e) => e.id), ['env-dev', 'env-sales']);
      assert.deepEqual(await cp.listEnvironments('t-fabrikam'), []);
      assert.equal((await cp.listEnvironments()).length, 2);
      assert.equal(await cp.getEnvironment('env-nope'), undefined);
      assert.equal(await cp.countEnvironmentUsers('env-sales'), 5);
      assert.equal(await cp.countEnvironmentUsers('env-dev'), 0);
    });

    it('loading a world replaces everything, remaps included', async () => {
      await cp.remapEnvironmentUser('env-sales', 'm-1', 'ben@contoso.com', 'ben@fabrikam.com');
      const smaller = sampleWorld();
      smaller.environments.pop();
      smaller.tenants[0].users.pop();
      smaller.environments[0].users.pop();
      await cp.loadWorld(smaller);
      assert.equal(await cp.getEnvironment('env-dev'), undefined);
      assert.equal(await cp.getTenantUser('t-contoso', 'svc@contoso.onmicrosoft.com'), undefined);
      assert.deepEqual(await cp.listRemaps('m-1'), []);
      assert.equal((await cp.getEnvironmentUser('env-sales', 'ben@contoso.com'))?.previousUpn, null);
    });

    it('a bad world never half-loads: what was there stays', async () => {
      const bad = sampleWorld();
      (bad.environments[1] as { tenantId: string }).tenantId = 't-nope';
      await assert.rejects(cp.loadWorld(bad), (err: Error) => err instanceof WorldFileError && err.message === 'world file: environments[1].tenantId: no tenant has the id "t-nope"');
      const duplicate = sampleWorld();
      duplicate.tenants[1].users.push({ ...duplicate.tenants[1].users[1] });
      await assert.rejects(cp.loadWorld(duplicate), WorldFileError);
      assert.equal((await cp.listEnvironments()).length, 2);
      assert.equal(await cp.countEnvironmentUsers('env-sales'), 5);
    });

    it('looks users up case-insensitively, keeping their UPN as written', async () => {
      assert.equal((await cp.getTenantUser('t-contoso', 'ANA.LOPEZ@contoso.COM'))?.upn, 'Ana.Lopez@Contoso.com');
      assert.equal(await cp.getTenantUser('t-fabrikam', 'ana.lopez@contoso.com'), undefined, 'only in the tenant asked');
      assert.equal((await cp.getEnvironmentUser('env-sales', ' Ben@Contoso.com '))?.upn, 'ben@contoso.com');
      const found = await cp.findTenantUsers('t-contoso', ['ana.lopez@contoso.com', 'ADMIN@CONTOSO.COM', 'admin@contoso.com', 'nobody@contoso.com']);
      assert.deepEqual([...found.keys()].sort(), ['admin@contoso.com', 'ana.lopez@contoso.com']);
      assert.equal(found.get('ana.lopez@contoso.com')?.upn, 'Ana.Lopez@Contoso.com');
      assert.deepEqual((await cp.findTenantUsers('t-contoso', [])).size, 0);
    });

    it('pages through environment users in UPN order, case-insensitively', async () => {
      const first = await cp.listEnvironmentUsers('env-sales', { limit: 2 });
      assert.deepEqual(first.map((u) => u.upn), ['admin@contoso.com', 'ana.lopez@contoso.com']);
      const next = await cp.listEnvironmentUsers('env-sales', { afterUpn: 'ANA.LOPEZ@contoso.com', limit: 2 });
      assert.deepEqual(next.map((u) => u.upn), ['ben@contoso.com', 'cho@contoso.com']);
      const rest = await cp.listEnvironmentUsers('env-sales', { afterUpn: 'cho@contoso.com' });
      assert.deepEqual(rest.map((u) => u.upn), ['svc@contoso.onmicrosoft.com']);
      assert.deepEqual(await cp.listEnvironmentUsers('env-sales', { afterUpn: 'svc@contoso.onmicrosoft.com' }), []);
      assert.deepEqual(first[0], { environmentId: 'env-sales', upn: 'admin@contoso.com', roles: ['System Administrator', 'Basic User'], previousUpn: null });
    });

    it('finds thousands of directory users with one statement per 500', async () => {
      await cp.loadWorld(sampleWorld({ extraTargetUsers: 1200 }));
      const { controlPlane, statements } = await countingControlPlane(url);
      try {
        const asked = Array.from({ length: 1200 }, (_, i) => `USER${String(i).padStart(5, '0')}@fabrikam.com`);
        asked.push(...Array.from({ length: 300 }, (_, i) => `ghost${i}@fabrikam.com`));
        const found = await controlPlane.findTenantUsers('t-fabrikam', asked);
        assert.equal(found.size, 1200);
        assert.ok(found.has('user00042@fabrikam.com'));
        assert.equal(statements(), 3, '1,500 distinct UPNs: three statements');
        await controlPlane.findTenantUsers('t-fabrikam', ['a@fabrikam.com', 'b@fabrikam.com']);
        assert.equal(statements(), 4, 'a few UPNs: one statement');
      } finally {
        await controlPlane.close();
      }
    });

    it('re-maps a user once, however often it is asked', async () => {
      const first = await cp.remapEnvironmentUser('env-sales', 'm-1', 'Ben@Contoso.com', 'ben@fabrikam.com');
      const again = await cp.remapEnvironmentUser('env-sales', 'm-1', 'ben@contoso.com', 'ben@fabrikam.com');
      assert.deepEqual([first, again], [{ applied: true }, { applied: false }]);
      assert.deepEqual(await cp.getEnvironmentUser('env-sales', 'BEN@fabrikam.com'), {
        environmentId: 'env-sales', upn: 'ben@fabrikam.com', roles: ['Basic User', 'Salesperson'], previousUpn: 'ben@contoso.com',
      });
      assert.equal(await cp.getEnvironmentUser('env-sales', 'ben@contoso.com'), undefined);
      assert.deepEqual(await cp.listRemaps('m-1'), [{ sourceUpn: 'ben@contoso.com', targetUpn: 'ben@fabrikam.com', appliedCount: 1 }]);
      assert.equal(await cp.countEnvironmentUsers('env-sales'), 5);
    });

    it('a user who is not in the environment is reported and leaves no trace', async () => {
      assert.deepEqual(await cp.remapEnvironmentUser('env-sales', 'm-1', 'stranger@contoso.com', 'x@fabrikam.com'), { applied: false, notInEnvironment: true });
      assert.deepEqual(await cp.remapEnvironmentUser('env-nope', 'm-1', 'ben@contoso.com', 'ben@fabrikam.com'), { applied: false, notInEnvironment: true });
      assert.deepEqual(await cp.listRemaps('m-1'), []);
      // and a later file that does name a real user still works
      assert.deepEqual(await cp.remapEnvironmentUser('env-sales', 'm-1', 'cho@contoso.com', 'cho@fabrikam.com'), { applied: true });
    });

    it('merges into a target identity that is already a user, keeping both roles', async () => {
      await cp.remapEnvironmentUser('env-sales', 'm-1', 'ben@contoso.com', 'ben@fabrikam.com');
      assert.deepEqual(await cp.remapEnvironmentUser('env-sales', 'm-2', 'ana.lopez@contoso.com', 'ben@fabrikam.com'), { applied: true });
      const merged = await cp.getEnvironmentUser('env-sales', 'ben@fabrikam.com');
      assert.deepEqual(merged?.roles, ['Basic User', 'Salesperson']);
      assert.equal(merged?.previousUpn, 'ana.lopez@contoso.com', 'as the environment knew it');
      assert.equal(await cp.countEnvironmentUsers('env-sales'), 4);
    });

    it('re-maps many users in one call, one result each, in the order given', async () => {
      const results = await cp.remapEnvironmentUsers('env-sales', 'm-1', [
        { sourceUpn: 'svc@contoso.onmicrosoft.com', targetUpn: 'svc@fabrikam.onmicrosoft.com' },
        { sourceUpn: 'nobody@contoso.com', targetUpn: 'nobody@fabrikam.com' },
        { sourceUpn: 'ana.lopez@contoso.com', targetUpn: 'ana.lopez@fabrikam.com' },
        { sourceUpn: 'ANA.LOPEZ@contoso.com', targetUpn: 'ana.lopez@fabrikam.com' },
      ]);
      assert.deepEqual(results, [{ applied: true }, { applied: false, notInEnvironment: true }, { applied: true }, { applied: false }]);
      assert.deepEqual(await cp.remapEnvironmentUsers('env-sales', 'm-1', []), []);
      assert.deepEqual((await cp.listRemaps('m-1')).map((r) => [r.sourceUpn, r.appliedCount]), [
        ['ana.lopez@contoso.com', 1],
        ['svc@contoso.onmicrosoft.com', 1],
      ]);
      // What the re-mapping reports as done: counted without reading the rows, and only this migration's.
      assert.equal(await cp.countRemaps('m-1'), 2);
      assert.equal(await cp.countRemaps('m-other'), 0);
    });

    it('applies a re-mapping exactly once when several connections race for it', async () => {
      const others = await Promise.all([createControlPlane(url), createControlPlane(url)]);
      try {
        const everyone = [cp, ...others];
        const attempts = Array.from({ length: 12 }, (_, i) => everyone[i % 3]);
        const results = await Promise.all(attempts.map((c) => c.remapEnvironmentUser('env-sales', 'm-race', 'cho@contoso.com', 'cho@fabrikam.com')));
        assert.equal(results.filter((r) => r.applied).length, 1);
        const batches = await Promise.all(everyone.map((c) => c.remapEnvironmentUsers('env-sales', 'm-race', [
          { sourceUpn: 'ben@contoso.com', targetUpn: 'ben@fabrikam.com' },
          { sourceUpn: 'admin@contoso.com', targetUpn: 'admin@fabrikam.com' },
        ])));
        assert.equal(batches.flat().filter((r) => r.applied).length, 2);
        assert.deepEqual((await others[0].listRemaps('m-race')).map((r) => r.appliedCount), [1, 1, 1]);
        assert.equal(await others[1].countRemaps('m-race'), 3);
      } finally {
        await Promise.all(others.map((c) => c.close()));
      }
    });

    it('re-links an environment keeping URL, OrgId and name, idempotently', async () => {
      const before = (await cp.getEnvironment('env-sales'))!;
      await cp.relinkEnvironment('env-sales', 't-fabrikam', 'm-1');
      await cp.relinkEnvironment('env-sales', 't-fabrikam', 'm-1');
      const after = (await cp.getEnvironment('env-sales'))!;
      assert.deepEqual({ ...after, tenantId: before.tenantId, previousTenantId: null }, before, 'nothing else changes');
      assert.deepEqual([after.tenantId, after.previousTenantId], ['t-fabrikam', 't-contoso']);
      assert.deepEqual((await cp.listEnvironments('t-fabrikam')).map((e) => e.id), ['env-sales']);
      await assert.rejects(cp.relinkEnvironment('env-nope', 't-fabrikam', 'm-1'), (err: Error) => err instanceof ControlPlaneNotFoundError && err.message === "environment 'env-nope' does not exist");
      await assert.rejects(cp.relinkEnvironment('env-dev', 't-nope', 'm-1'), (err: Error) => err instanceof ControlPlaneNotFoundError && err.what === 'tenant');
      assert.equal((await cp.getEnvironment('env-dev'))!.tenantId, 't-contoso');
    });

    it('undoes a migration in batches: users re-mapped back, merged ones split out again, re-linked back; then the same migration re-maps them once', async () => {
      // an earlier migration's re-mapping, which the undo must leave as it is
      await cp.remapEnvironmentUser('env-sales', 'm-0', 'cho@contoso.com', 'cho@fabrikam.com');
      const environmentBefore = (await cp.getEnvironment('env-sales'))!;
      const usersBefore = await cp.listEnvironmentUsers('env-sales');
      const pairs = [
        { sourceUpn: 'Ana.Lopez@contoso.com', targetUpn: 'ana.lopez@fabrikam.com' },
        { sourceUpn: 'ben@contoso.com', targetUpn: 'cho@fabrikam.com' },
        { sourceUpn: 'svc@contoso.onmicrosoft.com', targetUpn: 'svc@fabrikam.onmicrosoft.com' },
        { sourceUpn: 'admin@contoso.com', targetUpn: 'admin@fabrikam.com' },
      ];
      await cp.relinkEnvironment('env-sales', 't-fabrikam', 'm-1');
      assert.deepEqual((await cp.remapEnvironmentUsers('env-sales', 'm-1', pairs)).map((r) => r.applied), [true, true, true, true]);
      assert.deepEqual((await cp.getEnvironmentUser('env-sales', 'cho@fabrikam.com'))!.roles, ['Basic User', 'Salesperson'], 'ben merged into cho');

      assert.equal(await cp.undoRemaps('env-sales', 'm-other'), 0, "another migration's undo finds nothing");
      const undone = [await cp.undoRemaps('env-sales', 'm-1', { limit: 3 }), await cp.undoRemaps('env-sales', 'm-1', { limit: 3 }), await cp.undoRemaps('env-sales', 'm-1', { limit: 3 })];
      assert.deepEqual(undone, [3, 1, 0]);
      assert.deepEqual(await cp.listEnvironmentUsers('env-sales'), usersBefore, 'every user as before, roles and previous identities included');
      assert.deepEqual(await cp.listRemaps('m-1'), []);
      assert.deepEqual((await cp.listRemaps('m-0')).map((r) => r.targetUpn), ['cho@fabrikam.com']);

      assert.equal(await cp.relinkBack('env-sales', 't-fabrikam'), true);
      assert.equal(await cp.relinkBack('env-sales', 't-fabrikam'), false, 'a retry changes nothing');
      assert.deepEqual(await cp.getEnvironment('env-sales'), environmentBefore);
      assert.equal(await cp.relinkBack('env-dev', 't-contoso'), false, 'never re-linked: nothing to put back');
      assert.equal((await cp.getEnvironment('env-dev'))!.tenantId, 't-contoso');
      await assert.rejects(cp.relinkBack('env-nope', 't-fabrikam'), ControlPlaneNotFoundError);

      // migrate again with the same migration id: the claims are free, each user re-mapped once
      assert.deepEqual((await cp.remapEnvironmentUsers('env-sales', 'm-1', pairs)).map((r) => r.applied), [true, true, true, true]);
      assert.deepEqual((await cp.listRemaps('m-1')).map((r) => r.appliedCount), [1, 1, 1, 1]);
      assert.equal(await cp.countEnvironmentUsers('env-sales'), 4);
    });

    it("keeps the simulated service's requests: registered once, decided, listed by either tenant", async () => {
      const request = { id: 'r-1', environmentId: 'env-sales', sourceTenantId: 't-contoso', targetTenantId: 't-fabrikam', createdOn: '2026-12-01T10:00:00.000Z', createdBy: 'admin@contoso.com' };
      await cp.recordRequest(request);
      await cp.recordRequest({ ...request, createdBy: 'someone-else@contoso.com' });
      assert.deepEqual(await cp.getRequest('r-1'), { ...request, approvalStatus: 'Pending', actedBy: null }, 'a repeated submit changes nothing');
      await cp.recordRequest({ ...request, id: 'r-2', targetTenantId: 't-northwind', createdOn: '2026-12-01T11:00:00.000Z' });
      await cp.setRequestStatus('r-1', 'Approved', 'admin@fabrikam.com');
      assert.deepEqual((await cp.listRequests({ sourceTenantId: 't-contoso' })).map((r) => [r.id, r.approvalStatus, r.actedBy]), [
        ['r-1', 'Approved', 'admin@fabrikam.com'],
        ['r-2', 'Pending', null],
      ]);
      assert.deepEqual((await cp.listRequests({ targetTenantId: 't-northwind' })).map((r) => r.id), ['r-2']);
      await assert.rejects(cp.setRequestStatus('r-nope', 'Deleted', null), (err: Error) => err instanceof ControlPlaneNotFoundError && err.what === 'migration request');
    });

    it('turns administration mode and source access on and off', async () => {
      await cp.setAdminMode('env-sales', false);
      assert.equal((await cp.getEnvironment('env-sales'))!.adminMode, false);
      await cp.setAdminMode('env-sales', true);
      await cp.setAdminMode('env-sales', true);
      assert.equal((await cp.getEnvironment('env-sales'))!.adminMode, true);
      await cp.setSourceAccess('env-sales', false);
      assert.equal((await cp.getEnvironment('env-sales'))!.sourceAccess, false);
      await assert.rejects(cp.setAdminMode('env-nope', true), ControlPlaneNotFoundError);
      await assert.rejects(cp.setSourceAccess('env-nope', false), ControlPlaneNotFoundError);
    });

    it('two connections write one database and see each other', async () => {
      const second = await createControlPlane(url);
      try {
        const writes = [
          () => cp.remapEnvironmentUser('env-sales', 'm-2', 'ana.lopez@contoso.com', 'ana.lopez@fabrikam.com'),
          () => second.remapEnvironmentUser('env-sales', 'm-2', 'ben@contoso.com', 'ben@fabrikam.com'),
          () => second.setAdminMode('env-sales', false),
          () => cp.relinkEnvironment('env-sales', 't-fabrikam', 'm-2'),
        ];
        // In one process, SQLite control planes on one file share a connection
        // and take turns; controlplane-processes.test.ts writes from several at once.
        await Promise.all(writes.map((write) => write()));
        assert.equal((await second.listRemaps('m-2')).length, 2);
        const seen = (await cp.getEnvironment('env-sales'))!;
        assert.deepEqual([seen.adminMode, seen.tenantId], [false, 't-fabrikam']);
      } finally {
        await second.close();
      }
    });

    it("describes an environment for `world show`: tenant, users and the identities they were mapped from", async () => {
      await cp.remapEnvironmentUser('env-sales', 'm-1', 'ben@contoso.com', 'ben@fabrikam.com');
      await cp.relinkEnvironment('env-sales', 't-fabrikam', 'm-1');
      const described = (await describeEnvironment(cp, 'env-sales', { userLimit: 3 }))!;
      assert.equal(described.tenant?.name, 'Fabrikam');
      assert.equal(described.previousTenant?.name, 'Contoso');
      assert.deepEqual([described.userCount, described.mappedUserCount], [5, 1]);
      assert.deepEqual(described.users.map((u) => [u.upn, u.previousUpn, u.directory?.licensed]), [
        ['admin@contoso.com', null, undefined],
        ['ana.lopez@contoso.com', null, undefined],
        ['ben@fabrikam.com', 'ben@contoso.com', false],
      ]);
      assert.equal(await describeEnvironment(cp, 'env-nope'), undefined);
    });
  });
}
