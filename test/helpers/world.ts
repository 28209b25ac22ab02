// A small world for one test: its own tenants and environment ids (a random
// suffix), so that tests sharing one Temporal server never meet each other's
// open migrations.
import { randomBytes } from 'node:crypto';

export interface TestWorldOptions {
  /** mapped users besides the admin (u0…uN-1) */
  users?: number;
  /** environment users who are not in the mapping */
  unmappedUsers?: number;
  lockbox?: boolean;
  adminMode?: boolean;
  /** environments in the source tenant, all with the same users (default 1) */
  environments?: number;
}

export interface TestWorld {
  suffix: string;
  source: string;
  target: string;
  other: string;
  environmentId: string;
  environmentIds: string[];
  sourceAdmin: string;
  targetAdmin: string;
  otherAdmin: string;
  lockboxApprover: string;
  sourceUser: string;
  world: unknown;
  /** a valid usermapping.csv for the environment */
  mappingCsv: string;
  sourceUpn(i: number): string;
  targetUpn(i: number): string;
}

export function makeTestWorld(options: TestWorldOptions = {}): TestWorld {
  const suffix = randomBytes(4).toString('hex');
  const users = options.users ?? 3;
  const unmapped = options.unmappedUsers ?? 1;
  const source = `t-contoso-${suffix}`;
  const target = `t-fabrikam-${suffix}`;
  const other = `t-northwind-${suffix}`;
  const environmentId = `env-sales-${suffix}`;
  const environmentIds = Array.from({ length: options.environments ?? 1 }, (_, k) => (k === 0 ? environmentId : `${environmentId}-${k + 1}`));
  const sourceUpn = (i: number) => (i === 0 ? `u0@contoso${suffix}.onmicrosoft.com` : `u${i}@contoso.com`);
  const targetUpn = (i: number) => `u${i}@fabrikam.com`;
  const sourceAdmin = 'admin@contoso.com';
  const targetAdmin = 'admin@fabrikam.com';
  const otherAdmin = 'admin@northwind.com';
  const lockboxApprover = 'lockbox@contoso.com';
  const sourceUser = 'plain@contoso.com';

  const sourceUsers = [
    { upn: sourceAdmin, enabled: true, licenses: ['E5'], mailbox: true, roles: ['PowerPlatformAdmin'] },
    { upn: lockboxApprover, enabled: true, licenses: ['E5'], mailbox: true, roles: ['LockboxApprover'] },
    { upn: sourceUser, enabled: true, licenses: ['E3'], mailbox: true, roles: [] },
  ];
  const targetUsers = [{ upn: targetAdmin, enabled: true, licenses: ['E5'], mailbox: true, roles: ['PowerPlatformAdmin'] }];
  const environmentUsers = [{ upn: sourceAdmin, roles: ['System Administrator', 'Basic User'] }];
  const rows = ['Source,Destination'];
  for (let i = 0; i < users; i += 1) {
    sourceUsers.push({ upn: sourceUpn(i), enabled: true, licenses: ['E3'], mailbox: true, roles: [] });
    // every third target user has no mailbox: it must be listed for reconfiguration
    targetUsers.push({ upn: targetUpn(i), enabled: true, licenses: ['E3'], mailbox: i % 3 !== 2, roles: [] });
    environmentUsers.push({ upn: sourceUpn(i), roles: ['Basic User'] });
    rows.push(`${sourceUpn(i)},${targetUpn(i)}`);
  }
  for (let i = 0; i < unmapped; i += 1) {
    const upn = `left${i}@contoso.com`;
    sourceUsers.push({ upn, enabled: true, licenses: ['E3'], mailbox: true, roles: [] });
    environmentUsers.push({ upn, roles: ['Basic User'] });
  }

  const world = {
    tenants: [
      {
        id: source, name: 'Contoso', cloud: 'Public', geo: 'US',
        defaultDomain: `contoso${suffix}.onmicrosoft.com`, domains: ['contoso.com'],
        lockboxEnabled: options.lockbox ?? false, users: sourceUsers,
      },
      {
        id: target, name: 'Fabrikam', cloud: 'Public', geo: 'US',
        defaultDomain: `fabrikam${suffix}.onmicrosoft.com`, domains: ['fabrikam.com'],
        lockboxEnabled: false, users: targetUsers,
      },
      {
        id: other, name: 'Northwind', cloud: 'Public', geo: 'US',
        defaultDomain: `northwind${suffix}.onmicrosoft.com`, domains: ['northwind.com'],
        lockboxEnabled: false,
        users: [{ upn: otherAdmin, enabled: true, licenses: ['E5'], mailbox: true, roles: ['PowerPlatformAdmin'] }],
      },
    ],
    environments: environmentIds.map((id, k) => (
      {
        id, name: k === 0 ? 'Contoso Sales' : `Contoso Sales ${k + 1}`, type: 'Production',
        url: `https://contososales${suffix}${k || ''}.crm.dynamics.com`, orgId: `org-${suffix}-${k}`,
        tenantId: source, adminMode: options.adminMode ?? true, geo: 'US', managed: false,
        linkedToFinanceOperations: false,
        users: environmentUsers,
        components: {
          flows: [
            { id: 'f1', name: 'Parent', inSolution: true, state: 'On', trigger: 'http', childFlows: ['f2'], connectionReferences: ['shared_office365'] },
            { id: 'f2', name: 'Child', inSolution: true, state: 'On', trigger: 'manual', childFlows: [], connectionReferences: [] },
          ],
          canvasApps: [{ id: 'a1', name: 'Expenses', solutionAware: true }],
          bots: [],
          websites: [{ id: 'w1', name: 'Portal', portalType: 'Customer self-service', language: 'en-US' }],
          marketing: false,
          unsupported: [],
        },
      })),
  };
  return {
    suffix, source, target, other, environmentId, environmentIds, sourceAdmin, targetAdmin, otherAdmin, lockboxApprover, sourceUser,
    world, mappingCsv: `${rows.join('\n')}\n`, sourceUpn, targetUpn,
  };
}
