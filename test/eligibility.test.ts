// SPEC §3: each blocking rule, each preparation warning, and a clean environment.
import assert from 'node:assert/strict';
import type { Cloud, EnvironmentComponents, EnvironmentRecord, TenantRecord } from '../src/controlplane/control-plane';
import { BlockingCode, checkEligibility, preparationWarnings } from '../src/migration/eligibility';

const NONE: EnvironmentComponents = {
  flows: [], canvasApps: [], bots: [], websites: [], marketing: false, unsupported: [],
  customConnectors: [], connections: [], gateways: [], settings: [],
};

function tenant(id: string, cloud: Cloud = 'Public', geo: string | null = 'US'): TenantRecord {
  return { id, name: id, cloud, geo, defaultDomain: `${id}.onmicrosoft.com`, domains: [], lockboxEnabled: false };
}

function environment(overrides: Partial<EnvironmentRecord> = {}): EnvironmentRecord {
  return {
    id: 'env', name: 'Env', type: 'Production', url: 'https://env.crm.dynamics.com', orgId: 'org', tenantId: 't-source',
    adminMode: true, geo: 'US', managed: false, linkedToFinanceOperations: false, sourceAccess: true, previousTenantId: null,
    components: NONE,
    ...overrides,
  };
}

function check(env: EnvironmentRecord, source = tenant('t-source'), target = tenant('t-target')) {
  return checkEligibility({ environment: env, sourceTenant: source, targetTenant: target });
}
const codes = (...args: Parameters<typeof check>) => check(...args).blocking.map((b) => b.code);

describe('eligibility: blocking rules', () => {
  it('a Production or Sandbox environment between two tenants of one cloud and geo is eligible, with no warnings', () => {
    assert.deepEqual(check(environment()), { blocking: [], warnings: [] });
    assert.deepEqual(codes(environment({ type: 'Sandbox' })), []);
  });

  for (const type of ['Default', 'Developer', 'Trial', 'Teams'] as const) {
    it(`a ${type} environment is not supported`, () => {
      const [finding] = check(environment({ type })).blocking;
      assert.equal(finding.code, BlockingCode.UnsupportedEnvironmentType);
      assert.equal(finding.message, `${type} environments cannot move to another tenant: only Production and Sandbox environments are supported`);
    });
  }

  it('tenants in different clouds, either way', () => {
    assert.deepEqual(codes(environment(), tenant('t-source', 'GCC')), ['CrossCloud']);
    assert.deepEqual(codes(environment(), tenant('t-source'), tenant('t-target', 'GCC')), ['CrossCloud']);
    assert.deepEqual(codes(environment(), tenant('t-source', 'GCCHigh'), tenant('t-target', 'DoD')), ['CrossCloud']);
    assert.deepEqual(codes(environment(), tenant('t-source', 'GCC'), tenant('t-target', 'GCC')), []);
    assert.match(check(environment(), tenant('t-source', 'GCC')).blocking[0].message, /GCC cloud and the target tenant in the Public cloud: .*Government Community Cloud and public cloud/);
  });

  it('an organisation linked to Finance and Operations', () => {
    const [finding] = check(environment({ linkedToFinanceOperations: true })).blocking;
    assert.equal(finding.code, 'FinanceOperationsLinked');
    assert.match(finding.message, /Finance and Operations/);
  });

  it('the same tenant as source and target', () => {
    const [finding] = check(environment(), tenant('t-source'), tenant('t-source')).blocking;
    assert.deepEqual(finding, { code: 'SameTenant', message: "the target tenant is the environment's own tenant (t-source): name a different tenant" });
  });

  it('a Managed Environment', () => {
    assert.deepEqual(codes(environment({ managed: true })), ['ManagedEnvironment']);
  });

  it("the environment's geo against the target tenant's, when both are known", () => {
    const [finding] = check(environment(), tenant('t-source'), tenant('t-target', 'Public', 'EU')).blocking;
    assert.equal(finding.code, 'CrossGeo');
    assert.equal(finding.message, 'the environment is in the US geography and the target tenant in EU: move the environment to EU first (a geo-to-geo migration)');
    assert.deepEqual(codes(environment({ geo: 'EU' }), tenant('t-source', 'Public', 'US'), tenant('t-target', 'Public', 'EU')), [], "the environment's own geo counts");
    assert.deepEqual(codes(environment({ geo: null }), tenant('t-source', 'Public', 'EU'), tenant('t-target')), ['CrossGeo'], "else its tenant's");
    assert.deepEqual(codes(environment({ geo: 'us' }), tenant('t-source'), tenant('t-target', 'Public', 'US')), [], 'case does not matter');
    assert.deepEqual(codes(environment({ geo: null }), tenant('t-source', 'Public', null), tenant('t-target', 'Public', 'EU')), [], 'unknown: not blocking');
    assert.deepEqual(codes(environment(), tenant('t-source'), tenant('t-target', 'Public', null)), []);
  });

  it('reports every rule that fails, in a stable order', () => {
    const env = environment({ type: 'Developer', managed: true, linkedToFinanceOperations: true, geo: 'EU' });
    assert.deepEqual(codes(env, tenant('t', 'GCC'), tenant('t', 'Public', 'US')), [
      'UnsupportedEnvironmentType', 'CrossCloud', 'FinanceOperationsLinked', 'SameTenant', 'ManagedEnvironment', 'CrossGeo',
    ]);
    assert.deepEqual(Object.keys(BlockingCode), Object.values(BlockingCode));
  });
});

describe('eligibility: preparation warnings', () => {
  const warningsFor = (components: Partial<EnvironmentComponents>) => preparationWarnings({ ...NONE, ...components });

  it('flows not in a solution: Add-AdminFlowsToSolution', () => {
    const [warning, ...rest] = warningsFor({
      flows: [
        { id: 'f1', name: 'In', inSolution: true, state: 'On', childFlows: [], connectionReferences: [] },
        { id: 'f2', name: 'Loose', inSolution: false, state: 'On', childFlows: [], connectionReferences: [] },
      ],
    });
    assert.deepEqual(rest, []);
    assert.equal(warning.component, 'Power Automate flows');
    assert.equal(warning.message, '1 flow is not in a Dataverse solution and will not move: Loose');
    assert.match(warning.action, /Add-AdminFlowsToSolution/);
  });

  it('solution-aware and other canvas apps', () => {
    const [solution, loose] = warningsFor({
      canvasApps: [{ id: 'a1', name: 'Expenses', solutionAware: true }, { id: 'a2', name: 'Visits', solutionAware: false }],
    });
    assert.equal(solution.component, 'Solution-aware canvas apps, custom pages and component libraries');
    assert.match(solution.message, /^Expenses: .*will not work after/);
    assert.match(solution.action, /export .* delete .* before migrating, and import .* afterwards/);
    assert.equal(loose.component, 'Canvas apps that are not solution-aware');
    assert.match(loose.message, /^Visits/);
    assert.match(loose.action, /Export package/);
  });

  it('Copilot Studio bots, Power Pages websites, Marketing', () => {
    const [bots, websites, marketing] = warningsFor({
      bots: [{ id: 'b', name: 'Helper' }],
      websites: [{ id: 'w', name: 'Portal', portalType: 'Customer self-service', language: 'en-US' }],
      marketing: true,
    });
    assert.deepEqual([bots.component, websites.component, marketing.component], ['Copilot Studio bots', 'Power Pages websites', 'Dynamics 365 Marketing']);
    assert.match(bots.action, /export the bots' solutions/);
    assert.equal(websites.message, 'Portal (Customer self-service, en-US): websites must be deleted before the migration');
    assert.match(websites.action, /delete it before migrating, and provision it again afterwards with the same portal type and language/);
    assert.match(marketing.action, /licences/);
  });

  it('custom connectors, connections and gateways: reconfigure after', () => {
    const warnings = warningsFor({
      customConnectors: [{ id: 'c', name: 'ERP' }], connections: [{ id: 'k', name: 'SQL' }], gateways: [{ id: 'g', name: 'Gateway 1' }, { id: 'h', name: 'Gateway 2' }],
    });
    assert.deepEqual(warnings.map((w) => [w.component, w.message]), [
      ['Custom connectors', 'ERP: not migrated'],
      ['Connections', 'SQL: not migrated'],
      ['Gateways', 'Gateway 1, Gateway 2: not migrated'],
    ]);
    assert.ok(warnings.every((w) => w.action === 'reconfigure them in the target tenant after the migration'));
  });

  it('each unsupported component, named', () => {
    const unsupported = ['Dynamics 365 Customer Voice', 'Omnichannel for Customer Service', 'component library', 'Customer Insights – Journeys', 'Customer Insights – Data'];
    const warnings = warningsFor({ unsupported });
    assert.deepEqual(warnings.map((w) => w.component), unsupported);
    assert.equal(warnings[1].message, 'Omnichannel for Customer Service is not supported by tenant-to-tenant migration');
    assert.ok(warnings.every((w, i) => w.action.includes(unsupported[i])));
  });

  it('each setting to reconfigure, with what to do', () => {
    const warnings = warningsFor({ settings: ['Dynamics 365 for Outlook', 'Server-side synchronization', 'SharePoint', 'Custom thing'] });
    assert.deepEqual(warnings.map((w) => w.component), ['Dynamics 365 for Outlook', 'Server-side synchronization', 'SharePoint', 'Custom thing']);
    assert.match(warnings[0].action, /App for Outlook/);
    assert.match(warnings[1].action, /server-side synchronization .*Exchange Online/);
    assert.match(warnings[2].action, /SharePoint site of the target tenant/);
    assert.equal(warnings[3].action, 'reconfigure Custom thing in the target tenant after the migration');
  });

  it('checkEligibility carries the warnings, also for an environment that is blocked', () => {
    const result = check(environment({ type: 'Trial', components: { ...NONE, marketing: true } }));
    assert.deepEqual(result.blocking.map((b) => b.code), ['UnsupportedEnvironmentType']);
    assert.deepEqual(result.warnings.map((w) => w.component), ['Dynamics 365 Marketing']);
  });

  it('is deterministic: the same input gives the same answer', () => {
    const env = environment({ components: { ...NONE, bots: [{ id: 'b', name: 'B' }], settings: ['SharePoint'] } });
    assert.deepEqual(check(env), check(structuredClone(env)));
  });
});
