// The world file (SPEC §6): the inventory the control plane is loaded from.
// A bad file gets one line naming the field, and changes nothing.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { Cloud, EnvironmentType } from './control-plane';
import { EMAIL_ADDRESS } from '../notifications/settings';

export class WorldFileError extends Error {
  override name = 'WorldFileError';
  /** every problem found, one line each; the message names the first */
  readonly problems: string[];

  constructor(problems: string[]) {
    const [first, ...rest] = problems;
    super(`world file: ${first}${rest.length > 0 ? ` (and ${rest.length} more ${rest.length === 1 ? 'problem' : 'problems'})` : ''}`);
    this.problems = problems;
  }
}

export const CLOUDS = ['Public', 'GCC', 'GCCHigh', 'DoD'] as const satisfies readonly Cloud[];
export const ENVIRONMENT_TYPES = ['Production', 'Sandbox', 'Default', 'Developer', 'Trial', 'Teams'] as const satisfies readonly EnvironmentType[];

const id = z.string().trim().min(1).max(200);
const text = z.string().trim().min(1);
const upn = z.string().trim().regex(/^[^\s@,;"<>]+@[^\s@,;"<>]+\.[^\s@,;"<>]+$/, 'must be a UPN such as admin@contoso.com');
const domain = z.string().trim().regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i, 'must be a domain name such as contoso.com');
const named = z.object({ id, name: text });

const TenantUserSchema = z.object({
  upn,
  enabled: z.boolean().default(true),
  licenses: z.array(text).default([]),
  mailbox: z.boolean().default(false),
  roles: z.array(text).default([]),
});

const TenantSchema = z.object({
  id,
  name: text,
  cloud: z.enum(CLOUDS),
  geo: text.optional(),
  defaultDomain: z.string().trim().regex(/^[a-z0-9-]+(\.[a-z0-9-]+)*\.onmicrosoft\.com$/i, "must be the tenant's *.onmicrosoft.com domain"),
  domains: z.array(domain).default([]),
  lockboxEnabled: z.boolean().default(false),
  /** told when a deadline passes its last reminder without action (docs/operations.md); optional */
  escalationContact: z.string().trim().regex(EMAIL_ADDRESS, 'must be an email address such as ops@contoso.com').optional(),
  users: z.array(TenantUserSchema).default([]),
});

const FlowSchema = z.object({
  id,
  name: text,
  inSolution: z.boolean().default(true),
  state: z.enum(['On', 'Off']).default('On'),
  trigger: text.optional(),
  childFlows: z.array(id).default([]),
  connectionReferences: z.array(text).default([]),
});

const ComponentsSchema = z.object({
  flows: z.array(FlowSchema).default([]),
  canvasApps: z.array(named.extend({ solutionAware: z.boolean().default(false) })).default([]),
  bots: z.array(named).default([]),
  websites: z.array(named.extend({ portalType: text, language: text })).default([]),
  marketing: z.boolean().default(false),
  unsupported: z.array(text).default([]),
  customConnectors: z.array(named).default([]),
  connections: z.array(named).default([]),
  gateways: z.array(named).default([]),
  settings: z.array(text).default([]),
});

const EnvironmentSchema = z.object({
  id,
  name: text,
  type: z.enum(ENVIRONMENT_TYPES),
  url: z.url({ protocol: /^https?$/, error: 'must be the environment URL, such as https://contoso.crm.dynamics.com' }),
  orgId: id,
  tenantId: id,
  adminMode: z.boolean().default(false),
  geo: text.optional(),
  managed: z.boolean().default(false),
  linkedToFinanceOperations: z.boolean().default(false),
  users: z.array(z.object({ upn, roles: z.array(text).default([]) })).default([]),
  components: ComponentsSchema.prefault({}),
});

type RawWorld = {
  tenants: z.output<typeof TenantSchema>[];
  environments: z.output<typeof EnvironmentSchema>[];
};

type Path = (string | number)[];

/** What a world must satisfy beyond each field's own shape: ids that are unique and references that resolve. */
function checkReferences(world: RawWorld, problem: (path: Path, message: string) => void): void {
  const unique = (path: Path, seen: Set<string>, key: string, message: string) => {
    if (seen.has(key)) problem(path, message);
    seen.add(key);
  };
  const tenantIds = new Set<string>();
  const defaultDomains = new Set<string>();
  world.tenants.forEach((tenant, t) => {
    unique(['tenants', t, 'id'], tenantIds, tenant.id, `duplicate tenant id "${tenant.id}"`);
    unique(['tenants', t, 'defaultDomain'], defaultDomains, tenant.defaultDomain.toLowerCase(), `"${tenant.defaultDomain}" is already the default domain of another tenant`);
    const upns = new Set<string>();
    tenant.users.forEach((user, u) => unique(['tenants', t, 'users', u, 'upn'], upns, user.upn.toLowerCase(), `duplicate user "${user.upn}" in tenant "${tenant.id}"`));
  });

  const tenants = new Map<string, RawWorld['tenants'][number]>();
  for (const tenant of world.tenants) if (!tenants.has(tenant.id)) tenants.set(tenant.id, tenant);
  const environmentIds = new Set<string>();
  const urls = new Set<string>();
  const orgIds = new Set<string>();
  world.environments.forEach((environment, e) => {
    const at = (...rest: Path): Path => ['environments', e, ...rest];
    unique(at('id'), environmentIds, environment.id, `duplicate environment id "${environment.id}"`);
    unique(at('url'), urls, environment.url.toLowerCase(), `"${environment.url}" is already the URL of another environment`);
    unique(at('orgId'), orgIds, environment.orgId.toLowerCase(), `"${environment.orgId}" is already the OrgId of another environment`);

    const tenant = tenants.get(environment.tenantId);
    if (!tenant) {
      problem(at('tenantId'), `no tenant has the id "${environment.tenantId}"`);
    } else {
      const tenantUpns = new Set(tenant.users.map((u) => u.upn.toLowerCase()));
      const seen = new Set<string>();
      environment.users.forEach((user, u) => {
        if (!tenantUpns.has(user.upn.toLowerCase())) problem(at('users', u, 'upn'), `"${user.upn}" is not a user of tenant "${tenant.id}"`);
        unique(at('users', u, 'upn'), seen, user.upn.toLowerCase(), `duplicate environment user "${user.upn}"`);
      });
    }

    const flows = environment.components.flows;
    const flowIds = new Set<string>();
    flows.forEach((flow, f) => unique(at('components', 'flows', f, 'id'), flowIds, flow.id, `duplicate flow id "${flow.id}"`));
    flows.forEach((flow, f) => {
      flow.childFlows.forEach((child, c) => {
        if (!flowIds.has(child)) problem(at('components', 'flows', f, 'childFlows', c), `no flow of this environment has the id "${child}"`);
      });
    });
  });
}

export const WorldSchema = z
  .object({
    tenants: z.array(TenantSchema),
    environments: z.array(EnvironmentSchema).default([]),
  })
  .superRefine((world, ctx) => checkReferences(world, (path, message) => ctx.addIssue({ code: 'custom', path, message })))
  // An environment's geo defaults to its tenant's (SPEC §6).
  .transform((world) => ({
    tenants: world.tenants,
    environments: world.environments.map((environment) => ({
      ...environment,
      geo: environment.geo ?? world.tenants.find((t) => t.id === environment.tenantId)?.geo,
    })),
  }));

export type World = z.output<typeof WorldSchema>;
export type WorldTenant = World['tenants'][number];
export type WorldTenantUser = WorldTenant['users'][number];
export type WorldEnvironment = World['environments'][number];

function fieldPath(path: PropertyKey[]): string {
  return path.reduce<string>((where, part) => (typeof part === 'number' ? `${where}[${part}]` : where ? `${where}.${String(part)}` : String(part)), '');
}

function shown(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  const json = JSON.stringify(value);
  return json.length > 60 ? `${json.slice(0, 57)}…` : json;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  boolean: 'true or false',
  number: 'a number',
  array: 'a list',
  object: 'an object',
};

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = fieldPath(issue.path);
  const hasInput = 'input' in issue && issue.input !== undefined;
  const got = hasInput ? ` (got ${shown(issue.input)})` : '';
  let what: string;
  switch (issue.code) {
    case 'invalid_value':
      what = `must be one of ${issue.values.map(String).join(', ')}${got}`;
      break;
    case 'invalid_type':
      if (!where) what = `must be a JSON object with "tenants" and "environments"${got}`;
      else what = hasInput ? `must be ${EXPECTED[issue.expected] ?? issue.expected}${got}` : 'is required';
      break;
    case 'too_small':
      what = issue.origin === 'string' ? 'must not be empty' : `${issue.message}${got}`;
      break;
    case 'too_big':
      what = issue.origin === 'string' ? `must be at most ${String(issue.maximum)} characters` : issue.message;
      break;
    case 'invalid_format':
      what = `${issue.message}${got}`;
      break;
    default:
      what = issue.message;
  }
  return where ? `${where}: ${what}` : what;
}

/** Checks a parsed JSON document; throws WorldFileError naming the first bad field. */
export function parseWorld(json: unknown): World {
  const parsed = WorldSchema.safeParse(json, { reportInput: true });
  if (!parsed.success) throw new WorldFileError(parsed.error.issues.map(describeIssue));
  return parsed.data;
}

/** "… in JSON at position 42" (V8) → "… at line 3, column 5", which a person can find. */
function jsonErrorWithLine(message: string, source: string): string {
  const match = /^(.*?)(?: in JSON)? at position (\d+)(?: \(line \d+ column \d+\))?$/s.exec(message);
  if (match) {
    const position = Number(match[2]);
    const before = source.slice(0, position);
    const line = before.split('\n').length;
    const column = position - before.lastIndexOf('\n');
    return `${match[1]} at line ${line}, column ${column}`;
  }
  if (/Unexpected end of JSON input/.test(message)) return `the file ends too early, at line ${source.split('\n').length}`;
  return message.split('\n')[0];
}

export async function readWorldFile(file: string): Promise<World> {
  let source: string;
  try {
    source = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new WorldFileError([`cannot read ${file}: ${why}`]);
  }
  source = source.replace(/^\uFEFF/, '');
  let json: unknown;
  try {
    json = JSON.parse(source);
  } catch (err) {
    throw new WorldFileError([`not valid JSON (${jsonErrorWithLine((err as Error).message, source)})`]);
  }
  return parseWorld(json);
}
