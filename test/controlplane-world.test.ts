// The world file (SPEC §6): what it accepts, its defaults, and the one line a
// bad file gets.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseWorld, readWorldFile, WorldFileError } from '../src/controlplane/world';
import { checkEligibility } from '../src/migration/eligibility';
import { postMigrationChecklist } from '../src/migration/checklist';

const examples = path.join(__dirname, '..', '..', 'examples');

function minimalWorld() {
  return {
    tenants: [
      { id: 't-a', name: 'A', cloud: 'Public', geo: 'EU', defaultDomain: 'a.onmicrosoft.com', users: [{ upn: 'Admin@A.com' }] },
      { id: 't-b', name: 'B', cloud: 'GCC', defaultDomain: 'b.onmicrosoft.com' },
    ],
    environments: [
      { id: 'env-1', name: 'One', type: 'Sandbox', url: 'https://one.crm4.dynamics.com', orgId: 'org-1', tenantId: 't-a', users: [{ upn: 'admin@a.com' }] },
    ],
  } as Record<string, unknown> & { tenants: Record<string, unknown>[]; environments: Record<string, unknown>[] };
}

function problem(mutate: (world: ReturnType<typeof minimalWorld>) => void): string {
  const world = minimalWorld();
  mutate(world);
  try {
    parseWorld(world);
  } catch (err) {
    assert.ok(err instanceof WorldFileError, String(err));
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  }
  assert.fail('the world was accepted');
}

describe('world file', () => {
  it('fills in defaults; an environment takes its geo from its tenant', () => {
    const world = parseWorld(minimalWorld());
    assert.deepEqual(world.tenants[0].users[0], { upn: 'Admin@A.com', enabled: true, licenses: [], mailbox: false, roles: [] });
    assert.deepEqual([world.tenants[1].domains, world.tenants[1].lockboxEnabled, world.tenants[1].users, world.tenants[1].geo], [[], false, [], undefined]);
    const environment = world.environments[0];
    assert.deepEqual(
      [environment.geo, environment.adminMode, environment.managed, environment.linkedToFinanceOperations, environment.users[0].roles],
      ['EU', false, false, false, []],
    );
    assert.deepEqual(environment.components, {
      flows: [], canvasApps: [], bots: [], websites: [], marketing: false, unsupported: [],
      customConnectors: [], connections: [], gateways: [], settings: [],
    });
    const withFlow = minimalWorld();
    withFlow.environments[0].components = { flows: [{ id: 'f', name: 'F' }], canvasApps: [{ id: 'a', name: 'A' }] };
    const parsed = parseWorld(withFlow).environments[0].components;
    assert.deepEqual(parsed.flows[0], { id: 'f', name: 'F', inSolution: true, state: 'On', childFlows: [], connectionReferences: [] });
    assert.equal(parsed.canvasApps[0].solutionAware, false);
    assert.deepEqual(parseWorld({ tenants: [] }), { tenants: [], environments: [] });
  });

  it('keeps its own geo, and accepts fields it does not know', () => {
    const world = minimalWorld();
    Object.assign(world.environments[0], { geo: 'US', notes: 'kept out of the way' });
    assert.equal(parseWorld(world).environments[0].geo, 'US');
  });

  it('parsing what it produced gives the same world', () => {
    const once = parseWorld(JSON.parse(readFileSync(path.join(examples, 'demo-world.json'), 'utf8')));
    assert.deepEqual(parseWorld(once), once);
  });

  const cases: [string, (w: ReturnType<typeof minimalWorld>) => void, string][] = [
    ['an environment type', (w) => (w.environments[0].type = 'Prod'), 'environments[0].type: must be one of Production, Sandbox, Default, Developer, Trial, Teams (got "Prod")'],
    ['a cloud', (w) => (w.tenants[1].cloud = 'Gov'), 'tenants[1].cloud: must be one of Public, GCC, GCCHigh, DoD (got "Gov")'],
    ['a flow state', (w) => (w.environments[0].components = { flows: [{ id: 'f', name: 'F', state: 'on' }] }), 'environments[0].components.flows[0].state: must be one of On, Off (got "on")'],
    ['a missing field', (w) => delete w.environments[0].url, 'environments[0].url: is required'],
    ['a missing list', (w) => delete (w as { tenants?: unknown }).tenants, 'tenants: is required'],
    ['a wrong type', (w) => (w.tenants[0].lockboxEnabled = 'yes'), 'tenants[0].lockboxEnabled: must be true or false (got "yes")'],
    ['a number for a string', (w) => (w.environments[0].orgId = 42), 'environments[0].orgId: must be a string (got 42)'],
    ['an object for a list', (w) => (w.environments[0].users = {}), 'environments[0].users: must be a list (got an object)'],
    ['an empty name', (w) => (w.tenants[0].name = '  '), 'tenants[0].name: must not be empty'],
    ['a UPN', (w) => (w.tenants[0].users as object[]).unshift({ upn: 'admin' }), 'tenants[0].users[0].upn: must be a UPN such as admin@contoso.com (got "admin")'],
    ['a URL', (w) => (w.environments[0].url = 'one.crm.dynamics.com'), 'environments[0].url: must be the environment URL, such as https://contoso.crm.dynamics.com (got "one.crm.dynamics.com")'],
    ['a default domain', (w) => (w.tenants[0].defaultDomain = 'a.com'), 'tenants[0].defaultDomain: must be the tenant\'s *.onmicrosoft.com domain (got "a.com")'],
    ['a duplicate tenant id', (w) => (w.tenants[1].id = 't-a'), 'tenants[1].id: duplicate tenant id "t-a"'],
    ['a shared default domain', (w) => (w.tenants[1].defaultDomain = 'A.onmicrosoft.com'), 'tenants[1].defaultDomain: "A.onmicrosoft.com" is already the default domain of another tenant'],
    ['a duplicate user, whatever its case', (w) => (w.tenants[0].users as object[]).push({ upn: 'ADMIN@a.com' }), 'tenants[0].users[1].upn: duplicate user "ADMIN@a.com" in tenant "t-a"'],
    ['a duplicate environment id', (w) => w.environments.push({ ...w.environments[0], url: 'https://two.crm.dynamics.com', orgId: 'org-2' }), 'environments[1].id: duplicate environment id "env-1"'],
    ['a duplicate URL', (w) => w.environments.push({ ...w.environments[0], id: 'env-2', orgId: 'org-2' }), 'environments[1].url: "https://one.crm4.dynamics.com" is already the URL of another environment'],
    ['a duplicate OrgId', (w) => w.environments.push({ ...w.environments[0], id: 'env-2', url: 'https://two.crm.dynamics.com' }), 'environments[1].orgId: "org-1" is already the OrgId of another environment'],
    ['an unknown tenant', (w) => (w.environments[0].tenantId = 't-nope'), 'environments[0].tenantId: no tenant has the id "t-nope"'],
    ['an environment user not in its tenant', (w) => (w.environments[0].users = [{ upn: 'someone@a.com' }]), 'environments[0].users[0].upn: "someone@a.com" is not a user of tenant "t-a"'],
    ['a duplicate environment user', (w) => (w.environments[0].users = [{ upn: 'admin@a.com' }, { upn: 'Admin@A.com' }]), 'environments[0].users[1].upn: duplicate environment user "Admin@A.com"'],
    ['a child flow that does not exist', (w) => (w.environments[0].components = { flows: [{ id: 'f1', name: 'F', childFlows: ['f2'] }] }), 'environments[0].components.flows[0].childFlows[0]: no flow of this environment has the id "f2"'],
    ['a duplicate flow id', (w) => (w.environments[0].components = { flows: [{ id: 'f1', name: 'F' }, { id: 'f1', name: 'G' }] }), 'environments[0].components.flows[1].id: duplicate flow id "f1"'],
    ['a website without its language', (w) => (w.environments[0].components = { websites: [{ id: 'w', name: 'W', portalType: 'Blank' }] }), 'environments[0].components.websites[0].language: is required'],
  ];
  for (const [what, mutate, message] of cases) {
    it(`names the field: ${what}`, () => assert.equal(problem(mutate), `world file: ${message}`));
  }

  it('a document that is not an object', () => {
    assert.throws(() => parseWorld([]), { message: 'world file: must be a JSON object with "tenants" and "environments" (got a list)' });
    assert.throws(() => parseWorld(null), { message: 'world file: must be a JSON object with "tenants" and "environments" (got null)' });
  });

  it('names the first problem and counts the others', () => {
    const message = problem((w) => {
      w.environments[0].type = 'Prod';
      w.tenants[0].cloud = 'Nope';
    });
    assert.equal(message, 'world file: tenants[0].cloud: must be one of Public, GCC, GCCHigh, DoD (got "Nope") (and 1 more problem)');
    const world = minimalWorld();
    world.environments[0].type = 'Prod';
    world.tenants[0].cloud = 'Nope';
    assert.throws(() => parseWorld(world), (err: WorldFileError) => err.problems.length === 2 && err.problems[1].startsWith('environments[0].type:'));
  });

  describe('from a file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-world-'));
    const file = (name: string, text: string) => {
      const target = path.join(dir, name);
      writeFileSync(target, text);
      return target;
    };

    it('reads a good file, with or without a byte-order mark', async () => {
      const text = JSON.stringify(minimalWorld(), null, 2);
      assert.equal((await readWorldFile(file('good.json', text))).environments[0].geo, 'EU');
      assert.equal((await readWorldFile(file('bom.json', `\uFEFF${text}`))).tenants.length, 2);
    });

    it('bad JSON: says where', async () => {
      await assert.rejects(readWorldFile(file('bad.json', '{\n  "tenants": [\n    { "id": "t", }\n  ]\n}\n')), {
        name: 'WorldFileError',
        message: 'world file: not valid JSON (Expected double-quoted property name at line 3, column 18)',
      });
      await assert.rejects(readWorldFile(file('cut.json', '{\n  "tenants": [\n')), { message: 'world file: not valid JSON (the file ends too early, at line 3)' });
      await assert.rejects(readWorldFile(file('empty.json', '')), { message: 'world file: not valid JSON (the file ends too early, at line 1)' });
    });

    it('a bad field in a file: the same one line', async () => {
      const world = minimalWorld();
      world.environments[0].type = 'Prod';
      await assert.rejects(readWorldFile(file('prod.json', JSON.stringify(world))), {
        message: 'world file: environments[0].type: must be one of Production, Sandbox, Default, Developer, Trial, Teams (got "Prod")',
      });
    });

    it('a missing file, or a folder', async () => {
      const missing = path.join(dir, 'nope.json');
      await assert.rejects(readWorldFile(missing), { name: 'WorldFileError', message: `world file: cannot read ${missing}: no such file` });
      await assert.rejects(readWorldFile(dir), { message: `world file: cannot read ${dir}: it is a folder` });
    });
  });
});

describe('the example files', () => {
  it('the demo world: env-sales can move to Fabrikam; each ineligible environment is refused for its reason', async () => {
    const world = await readWorldFile(path.join(examples, 'demo-world.json'));
    const tenant = (id: string) => world.tenants.find((t) => t.id === id)!;
    const codes = (environmentId: string, targetTenantId: string) => {
      const environment = world.environments.find((e) => e.id === environmentId)!;
      const result = checkEligibility({
        environment: { ...environment, geo: environment.geo ?? null },
        sourceTenant: { ...tenant(environment.tenantId), geo: tenant(environment.tenantId).geo ?? null },
        targetTenant: { ...tenant(targetTenantId), geo: tenant(targetTenantId).geo ?? null },
      });
      return result.blocking.map((b) => b.code);
    };
    assert.deepEqual(codes('env-sales', 't-fabrikam'), []);
    assert.deepEqual(codes('env-hr-sandbox', 't-fabrikam'), []);
    assert.deepEqual(codes('env-litware-ops', 't-fabrikam'), []);
    assert.ok(tenant('t-litware').lockboxEnabled);
    assert.deepEqual(codes('env-contoso-default', 't-fabrikam'), ['UnsupportedEnvironmentType']);
    assert.deepEqual(codes('env-dev-megan', 't-fabrikam'), ['UnsupportedEnvironmentType']);
    assert.deepEqual(codes('env-finance', 't-fabrikam'), ['FinanceOperationsLinked']);
    assert.deepEqual(codes('env-managed', 't-fabrikam'), ['ManagedEnvironment']);
    assert.deepEqual(codes('env-sales', 't-tailspin-gcc'), ['CrossCloud']);
    assert.deepEqual(codes('env-sales', 't-northwind-eu'), ['CrossGeo']);
    assert.deepEqual(codes('env-sales', 't-contoso'), ['SameTenant']);

    const sales = world.environments.find((e) => e.id === 'env-sales')!;
    assert.deepEqual(sales.users.find((u) => u.upn === 'admin@contoso.com')?.roles, ['System Administrator', 'Basic User']);
    assert.equal(sales.adminMode, true);
    const checklist = postMigrationChecklist(sales);
    assert.ok(checklist.flowActivationOrder.length >= 3);
  });

  it('usermapping.csv maps env-sales users to Fabrikam users who are enabled and licensed', async () => {
    const world = await readWorldFile(path.join(examples, 'demo-world.json'));
    const lines = readFileSync(path.join(examples, 'usermapping.csv'), 'utf8').trim().split('\n');
    assert.equal(lines[0], 'Source,Destination');
    const sales = world.environments.find((e) => e.id === 'env-sales')!;
    const contoso = new Set(world.tenants.find((t) => t.id === 't-contoso')!.users.map((u) => u.upn.toLowerCase()));
    const fabrikam = new Map(world.tenants.find((t) => t.id === 't-fabrikam')!.users.map((u) => [u.upn.toLowerCase(), u]));
    for (const line of lines.slice(1)) {
      const [source, destination] = line.split(',');
      assert.ok(contoso.has(source.toLowerCase()) && sales.users.some((u) => u.upn.toLowerCase() === source.toLowerCase()), source);
      const user = fabrikam.get(destination.toLowerCase());
      assert.ok(user && user.enabled && user.licenses.length > 0, destination);
    }
  });
});
