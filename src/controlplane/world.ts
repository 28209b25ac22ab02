// The world file (SPEC §6): the inventory the control plane is loaded from.
// A bad file gets one line naming the field, and changes nothing.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

export class WorldFileError extends Error {
  override name = 'WorldFileError';
}

const id = z.string().trim().min(1).max(200);
const upn = z.string().trim().regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be a UPN such as admin@contoso.com');
const named = z.object({ id, name: z.string().min(1) });

const TenantUserSchema = z.object({
  upn,
  enabled: z.boolean().default(true),
  licenses: z.array(z.string()).default([]),
  mailbox: z.boolean().default(false),
  roles: z.array(z.string()).default([]),
});

const TenantSchema = z.object({
  id,
  name: z.string().min(1),
  cloud: z.enum(['Public', 'GCC', 'GCCHigh', 'DoD']),
  geo: z.string().min(1).optional(),
  defaultDomain: z.string().regex(/^[a-z0-9-]+(\.[a-z0-9-]+)*\.onmicrosoft\.com$/i, 'must be the tenant\'s *.onmicrosoft.com domain'),
  domains: z.array(z.string().min(1)).default([]),
  lockboxEnabled: z.boolean().default(false),
  users: z.array(TenantUserSchema).default([]),
});

const FlowSchema = z.object({
  id,
  name: z.string().min(1),
  inSolution: z.boolean().default(true),
  state: z.enum(['On', 'Off']).default('On'),
  trigger: z.string().optional(),
  childFlows: z.array(id).default([]),
  connectionReferences: z.array(z.string()).default([]),
});

const ComponentsSchema = z
  .object({
    flows: z.array(FlowSchema).default([]),
    canvasApps: z.array(named.extend({ solutionAware: z.boolean().default(false) })).default([]),
    bots: z.array(named).default([]),
    websites: z.array(named.extend({ portalType: z.string().min(1), language: z.string().min(1) })).default([]),
    marketing: z.boolean().default(false),
    unsupported: z.array(z.string()).default([]),
    customConnectors: z.array(named).default([]),
    connections: z.array(named).default([]),
    gateways: z.array(named).default([]),
    settings: z.array(z.string()).default([]),
  })
  .default({
    flows: [], canvasApps: [], bots: [], websites: [], marketing: false, unsupported: [],
    customConnectors: [], connections: [], gateways: [], settings: [],
  });

const EnvironmentSchema = z.object({
  id,
  name: z.string().min(1),
  type: z.enum(['Production', 'Sandbox', 'Default', 'Developer', 'Trial', 'Teams']),
  url: z.string().url(),
  orgId: id,
  tenantId: id,
  adminMode: z.boolean().default(false),
  geo: z.string().min(1).optional(),
  managed: z.boolean().default(false),
  linkedToFinanceOperations: z.boolean().default(false),
  users: z.array(z.object({ upn, roles: z.array(z.string()).default([]) })).default([]),
  components: ComponentsSchema,
});

export const WorldSchema = z
  .object({
    tenants: z.array(TenantSchema),
    environments: z.array(EnvironmentSchema).default([]),
  })
  .superRefine((world, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const tenantIds = new Set<string>();
    world.tenants.forEach((tenant, t) => {
      if (tenantIds.has(tenant.id)) issue(['tenants', t, 'id'], `duplicate tenant id "${tenant.id}"`);
      tenantIds.add(tenant.id);
      const upns = new Set<string>();
      tenant.users.forEach((user, u) => {
        const key = user.upn.toLowerCase();
        if (upns.has(key)) issue(['tenants', t, 'users', u, 'upn'], `duplicate user "${user.upn}" in tenant "${tenant.id}"`);
        upns.add(key);
      });
    });
    const environmentIds = new Set<string>();
    world.environments.forEach((environment, e) => {
      if (environmentIds.has(environment.id)) issue(['environments', e, 'id'], `duplicate environment id "${environment.id}"`);
      environmentIds.add(environment.id);
      const tenant = world.tenants.find((t) => t.id === environment.tenantId);
      if (!tenant) {
        issue(['environments', e, 'tenantId'], `no tenant has the id "${environment.tenantId}"`);
        return;
      }
      const tenantUpns = new Set(tenant.users.map((u) => u.upn.toLowerCase()));
      const seen = new Set<string>();
      environment.users.forEach((user, u) => {
        const key = user.upn.toLowerCase();
        if (!tenantUpns.has(key)) issue(['environments', e, 'users', u, 'upn'], `"${user.upn}" is not a user of tenant "${tenant.id}"`);
        if (seen.has(key)) issue(['environments', e, 'users', u, 'upn'], `duplicate environment user "${user.upn}"`);
        seen.add(key);
      });
      const flowIds = new Set(environment.components.flows.map((f) => f.id));
      environment.components.flows.forEach((flow, f) => {
        flow.childFlows.forEach((child, c) => {
          if (!flowIds.has(child)) issue(['environments', e, 'components', 'flows', f, 'childFlows', c], `no flow has the id "${child}"`);
        });
      });
    });
  });

export type World = z.output<typeof WorldSchema>;
export type WorldTenant = World['tenants'][number];
export type WorldEnvironment = World['environments'][number];

function fieldPath(path: PropertyKey[]): string {
  return path.reduce<string>((text, part) => (typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${String(part)}` : String(part)), '');
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = fieldPath(issue.path) || 'the file';
  if (issue.code === 'invalid_value' && 'values' in issue) {
    return `${where}: must be one of ${(issue.values as unknown[]).join(', ')}`;
  }
  if (issue.code === 'invalid_type') {
    return `${where}: ${issue.message.replace(/^Invalid input: /, '')}`;
  }
  return `${where}: ${issue.message}`;
}

export function parseWorld(json: unknown): World {
  const parsed = WorldSchema.safeParse(json);
  if (!parsed.success) throw new WorldFileError(`world file: ${describeIssue(parsed.error.issues[0])}`);
  return parsed.data;
}

export async function readWorldFile(file: string): Promise<World> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new WorldFileError(`world file: cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new WorldFileError(`world file: not valid JSON (${(err as Error).message})`);
  }
  return parseWorld(json);
}
