// The Microsoft Graph part of the fake of Microsoft's services: users by UPN or
// id, $filter by mail or smtp: proxy address, $batch (20 at most), users/delta
// with page links and delta links over a change log, a user's directory roles,
// throttling on demand, and counters of what was asked. A tenant's users may be
// generated (count + userAt(i)) so that the benchmark's million users per
// tenant cost no memory; changes and additions are overrides on top.
//
// `createGraphRoutes(state).handle(...)` answers a request already
// authenticated by the server that mounts it (test/fakes/microsoft-services.ts
// does HTTPS and tokens); `serveGraphOverHttp` is a plain local server for the
// Graph client's own tests.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TokenSource } from '../../src/microsoft/http';
import type { GraphUser } from '../../src/microsoft/graph';

export interface GraphRequest {
  method: string;
  url: URL;
  body: unknown;
  tenantId: string;
  audience: string;
  /** lower-case names, as node's IncomingHttpHeaders */
  headers?: Record<string, string | string[] | undefined>;
  /** Graph's base URL as the client sees it (e.g. `https://127.0.0.1:port/graph`), for the next and delta links; the URL's origin when absent */
  baseUrl?: string;
}

export interface GraphReply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** A user as Graph answers it: the same shape the product's client reads. */
export type FakeGraphUser = GraphUser;

/** Users made on demand: user i is userAt(i), for i below count. */
export interface GeneratedUsers {
  count: number;
  userAt(i: number): FakeGraphUser;
  /** the index of the user with this lower-cased UPN, mail or proxy address (without smtp:); without it the fake indexes every user once */
  indexOf?(lowerAddress: string): number | undefined;
  /** the index of the user with this id; same fallback */
  indexOfId?(id: string): number | undefined;
}

export type GraphRequestKind =
  /** top-level requests, throttled ones included */
  | 'total'
  | 'batch'
  | 'batchSubRequests'
  | 'userGets'
  | 'mailFilters'
  | 'proxyFilters'
  /** pages of a full directory read (no delta token) */
  | 'deltaFullPages'
  /** pages of a round after a delta link */
  | 'deltaChangePages'
  | 'rolePages'
  /** users/$count */
  | 'counts'
  | 'throttled';

export const E3_SKU = '05e9a617-0261-4cee-bb44-138d3ef5d965';
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const MAX_BATCH = 20;
/** users' $top limit (the user-list page: 1 to 999) */
const MAX_PAGE = 999;
/**
 * How many users a users/delta page holds. user-delta documents no page size and no way to ask for
 * one ($top is not supported there, delta-query-overview); 100 is Graph's documented default page
 * size for users lists, taken here as a guess for delta pages too (a Microsoft Q&A answer says 200).
 */
export const DELTA_PAGE_GUESS = 100;

const ROLE_NAMES: Record<string, string> = {
  '11648597-926c-4cf3-9c36-bcebb0ba8dcc': 'Power Platform Administrator',
  '44367163-eba1-44c3-98af-f5787879f96a': 'Dynamics 365 Administrator',
  '62e90394-69f5-4237-9190-012177145e10': 'Global Administrator',
  '5c4f9dcd-47dc-4cf7-8c9a-9e4207cbfc91': 'Customer LockBox Access Approver',
};

let nextId = 1;
/** A user as tests write them: `fakeUser('ana@contoso.com', { enabled: false })`. */
export function fakeUser(
  upn: string,
  options: { id?: string; enabled?: boolean; licensed?: boolean; mail?: string | null; proxyAddresses?: string[] } = {},
): FakeGraphUser {
  const mail = options.mail === undefined ? upn : options.mail;
  return {
    id: options.id ?? `00000000-0000-4000-8000-${(nextId++).toString(16).padStart(12, '0')}`,
    userPrincipalName: upn,
    accountEnabled: options.enabled ?? true,
    assignedLicenses: options.licensed === false ? [] : [{ skuId: E3_SKU }],
    mail,
    proxyAddresses: options.proxyAddresses ?? (mail ? [`SMTP:${mail}`] : []),
  };
}

/** smtp: proxy addresses, lower-cased, without the prefix */
function smtpAddresses(user: FakeGraphUser): string[] {
  return user.proxyAddresses.filter((p) => /^smtp:/i.test(p)).map((p) => p.slice(5).toLowerCase());
}

class FakeTenant {
  generated: GeneratedUsers = { count: 0, userAt: () => undefined as never };
  /** by id: a changed generated user, or null for a removed one */
  readonly overrides = new Map<string, FakeGraphUser | null>();
  /** by id, in the order they were added: users beyond the generated ones */
  readonly added = new Map<string, FakeGraphUser>();
  /** role template ids by user id */
  readonly roles = new Map<string, string[]>();
  /** ids in the order they changed; a delta token is a position in it */
  readonly changes: string[] = [];
  /** delta and skip tokens of an earlier epoch are refused with 410, as Graph does once it no longer keeps their state */
  epoch = 0;
  private addressIndex?: Map<string, number>;
  private idIndex?: Map<string, number>;

  setUsers(users: FakeGraphUser[] | GeneratedUsers): void {
    this.generated = Array.isArray(users) ? { count: users.length, userAt: (i) => users[i] } : users;
    this.overrides.clear();
    this.added.clear();
    this.addressIndex = undefined;
    this.idIndex = undefined;
  }

  private generatedIndexOf(lowerAddress: string): number | undefined {
    if (this.generated.indexOf) return this.generated.indexOf(lowerAddress);
    if (!this.addressIndex) {
      this.addressIndex = new Map();
      for (let i = 0; i < this.generated.count; i += 1) {
        const user = this.generated.userAt(i);
        for (const address of [user.userPrincipalName, user.mail ?? '', ...smtpAddresses(user)]) if (address) this.addressIndex.set(address.toLowerCase(), i);
      }
    }
    return this.addressIndex.get(lowerAddress);
  }

  private generatedIndexOfId(id: string): number | undefined {
    if (this.generated.indexOfId) return this.generated.indexOfId(id);
    if (!this.idIndex) {
      this.idIndex = new Map();
      for (let i = 0; i < this.generated.count; i += 1) this.idIndex.set(this.generated.userAt(i).id.toLowerCase(), i);
    }
    return this.idIndex.get(id.toLowerCase());
  }

  /** The user as it is now, by id; undefined when there is none (or no more). */
  byId(id: string): FakeGraphUser | undefined {
    const key = id.toLowerCase();
    for (const [overridden, user] of this.overrides) if (overridden.toLowerCase() === key) return user ?? undefined;
    for (const [addedId, user] of this.added) if (addedId.toLowerCase() === key) return user;
    const index = this.generatedIndexOfId(id);
    return index === undefined ? undefined : this.generated.userAt(index);
  }

  /** The user as it is now whose UPN (or id), mail, or smtp: proxy address this is. */
  find(address: string, by: 'upn' | 'mail' | 'proxy'): FakeGraphUser | undefined {
    const lower = address.toLowerCase();
    const matches = (user: FakeGraphUser) =>
      by === 'upn'
        ? user.userPrincipalName.toLowerCase() === lower || user.id.toLowerCase() === lower
        : by === 'mail'
          ? (user.mail ?? '').toLowerCase() === lower
          : smtpAddresses(user).includes(lower);
    for (const user of [...this.overrides.values(), ...this.added.values()]) if (user && matches(user)) return user;
    const index = by === 'upn' && this.generatedIndexOfId(address) !== undefined ? this.generatedIndexOfId(address) : this.generatedIndexOf(lower);
    if (index === undefined) return undefined;
    const user = this.generated.userAt(index);
    const now = this.overrides.has(user.id) ? this.overrides.get(user.id) : user;
    return now && matches(now) ? now : undefined;
  }

  isGenerated(id: string): boolean {
    return this.generatedIndexOfId(id) !== undefined;
  }

  /** Every user as it is now, in a stable order: generated ones, then added ones. */
  userAtPosition(position: number, addedList: FakeGraphUser[]): FakeGraphUser | null | undefined {
    if (position < this.generated.count) {
      const user = this.generated.userAt(position);
      return this.overrides.has(user.id) ? this.overrides.get(user.id) : user;
    }
    return addedList[position - this.generated.count];
  }
}

interface DeltaCursor {
  /** full read: position among all users; change round: position among the changed ids */
  position: number;
  /** change round: changes after this position of the log... */
  since?: number;
  /** ...up to this one; for a full read, the log's length when it started */
  upTo: number;
  select: string | null;
  epoch: number;
}

const encode = (cursor: DeltaCursor) => Buffer.from(JSON.stringify(cursor)).toString('base64url');
function decode(token: string): DeltaCursor | undefined {
  try {
    const cursor = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as DeltaCursor;
    return Number.isInteger(cursor.position) && Number.isInteger(cursor.upTo) && Number.isInteger(cursor.epoch) ? cursor : undefined;
  } catch {
    return undefined;
  }
}

export class GraphFakeState {
  readonly requests: Record<GraphRequestKind, number> = GraphFakeState.zero();
  /** users/delta pages, whatever the client sends (DELTA_PAGE_GUESS by default); also roles pages */
  pageSize: number;
  /** the most a page holds whatever the client prefers (Graph: 999 for users) */
  maxPageSize: number;
  private readonly tenants = new Map<string, FakeTenant>();
  private batchThrottles: number[] = [];
  private requestThrottles: number[] = [];

  constructor(options: { pageSize?: number; maxPageSize?: number } = {}) {
    this.pageSize = options.pageSize ?? DELTA_PAGE_GUESS;
    this.maxPageSize = options.maxPageSize ?? MAX_PAGE;
  }

  private static zero(): Record<GraphRequestKind, number> {
    return { total: 0, batch: 0, batchSubRequests: 0, userGets: 0, mailFilters: 0, proxyFilters: 0, deltaFullPages: 0, deltaChangePages: 0, rolePages: 0, counts: 0, throttled: 0 };
  }

  resetCounters(): void {
    Object.assign(this.requests, GraphFakeState.zero());
  }

  tenant(tenantId: string): FakeTenant {
    const key = tenantId.toLowerCase();
    let tenant = this.tenants.get(key);
    if (!tenant) this.tenants.set(key, (tenant = new FakeTenant()));
    return tenant;
  }

  /** Replaces the tenant's users (its change log stays: delta links issued before still work). */
  setUsers(tenantId: string, users: FakeGraphUser[] | GeneratedUsers): void {
    this.tenant(tenantId).setUsers(users);
  }

  /** Adds the user, or replaces the one with the same id; the next delta round reports it. */
  changeUser(tenantId: string, user: FakeGraphUser): void {
    const tenant = this.tenant(tenantId);
    if (tenant.added.has(user.id)) tenant.added.set(user.id, user);
    else if (tenant.isGenerated(user.id)) tenant.overrides.set(user.id, user);
    else tenant.added.set(user.id, user);
    tenant.changes.push(user.id);
  }

  /** Deletes the user (by id or UPN); the next delta round reports it as removed. */
  removeUser(tenantId: string, idOrUpn: string): void {
    const tenant = this.tenant(tenantId);
    const user = tenant.find(idOrUpn, 'upn');
    if (!user) throw new Error(`no user ${idOrUpn} in tenant ${tenantId}`);
    if (tenant.added.has(user.id)) tenant.added.delete(user.id);
    else tenant.overrides.set(user.id, null);
    tenant.changes.push(user.id);
  }

  user(tenantId: string, idOrUpn: string): FakeGraphUser | undefined {
    return this.tenant(tenantId).find(idOrUpn, 'upn');
  }

  /** The user's directory roles, by role template id (known ones get their display name). */
  setRoles(tenantId: string, idOrUpn: string, roleTemplateIds: string[]): void {
    const tenant = this.tenant(tenantId);
    const user = tenant.find(idOrUpn, 'upn');
    if (!user) throw new Error(`no user ${idOrUpn} in tenant ${tenantId}`);
    tenant.roles.set(user.id, roleTemplateIds);
  }

  /** Delta links issued so far stop working (410), as when Graph has dropped their sync state. */
  expireDeltaLinks(tenantId: string): void {
    this.tenant(tenantId).epoch += 1;
  }

  /** The next `times` $batch requests answer 429 with Retry-After for every sub-request. */
  throttleBatch(times: number, retryAfterSeconds: number): void {
    for (let i = 0; i < times; i += 1) this.batchThrottles.push(retryAfterSeconds);
  }

  /** The next `times` requests of any kind answer 429 with Retry-After as a whole. */
  throttleRequests(times: number, retryAfterSeconds: number): void {
    for (let i = 0; i < times; i += 1) this.requestThrottles.push(retryAfterSeconds);
  }

  /** @internal the routes' side of the fault injection */
  takeThrottle(kind: 'batch' | 'request'): number | undefined {
    return (kind === 'batch' ? this.batchThrottles : this.requestThrottles).shift();
  }
}

const error = (status: number, code: string, message: string, headers?: Record<string, string>): GraphReply => ({ status, headers, body: { error: { code, message } } });

/** $select as field names, split once per request (a delta page projects up to 999 users) */
function fieldsOf(select: string | null): (keyof FakeGraphUser)[] | undefined {
  return select ? (select.split(',').map((f) => f.trim()) as (keyof FakeGraphUser)[]) : undefined;
}

function project(user: FakeGraphUser, fields: (keyof FakeGraphUser)[] | undefined): Record<string, unknown> {
  if (!fields) return { ...user };
  const out: Record<string, unknown> = { id: user.id };
  for (const name of fields) if (name in user) out[name] = user[name];
  return out;
}

function headerOf(headers: GraphRequest['headers'], name: string): string | undefined {
  const value = headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Graph's page size for users/delta and for roles: the client has no say (Prefer: odata.maxpagesize is not honoured there). */
function pageSizeOf(state: GraphFakeState): number {
  return Math.max(1, Math.min(state.maxPageSize, state.pageSize));
}

/**
 * Advanced queries (aad-advanced-queries: "Use of OData cast with transitive members list" needs
 * ConsistencyLevel: eventual and $count=true; user-list-transitivememberof: "This header and $count are
 * required when using ... OData cast"): Graph answers 400 without them. The error's words are a guess.
 */
function advancedQueryRefusal(req: GraphRequest, needsCount: boolean): GraphReply | undefined {
  if (!req.headers) return undefined; // a caller that forwards no headers is taken at its word
  if (headerOf(req.headers, 'consistencylevel')?.toLowerCase() !== 'eventual') {
    return error(400, 'Request_UnsupportedQuery', 'Request with OData cast requires the ConsistencyLevel header set to eventual.');
  }
  if (needsCount && req.url.searchParams.get('$count') !== 'true') {
    return error(400, 'Request_UnsupportedQuery', 'Request with OData cast requires $count=true in the query.');
  }
  return undefined;
}

/** `users/{key}` or `users('{key}')` → the key, decoded */
function userKey(segment: string): string {
  const quoted = /^users\('(.*)'\)$/.exec(segment);
  return quoted ? decodeURIComponent(quoted[1]).replace(/''/g, "'") : decodeURIComponent(segment);
}

const baseOf = (req: GraphRequest) => (req.baseUrl ? req.baseUrl.replace(/\/+$/, '') : req.url.origin);

export interface GraphRoutes {
  readonly state: GraphFakeState;
  handle(req: GraphRequest): Promise<GraphReply | undefined>;
}

export function createGraphRoutes(state: GraphFakeState = new GraphFakeState()): GraphRoutes {
  const deltaPage = (req: GraphRequest, tenant: FakeTenant): GraphReply => {
    const skip = req.url.searchParams.get('$skiptoken');
    const delta = req.url.searchParams.get('$deltatoken');
    const size = pageSizeOf(state);
    let cursor: DeltaCursor | undefined;
    if (skip !== null) cursor = decode(skip);
    else if (delta !== null) {
      const since = decode(delta);
      cursor = since && { position: 0, since: since.upTo, upTo: tenant.changes.length, select: since.select, epoch: since.epoch };
    } else cursor = { position: 0, upTo: tenant.changes.length, select: req.url.searchParams.get('$select'), epoch: tenant.epoch };
    if (!cursor) return error(400, 'Request_BadRequest', 'the skip or delta token is not one this service issued');
    if (cursor.epoch !== tenant.epoch) return error(410, 'SyncStateNotFound', 'The sync state generation is not found. Start a full synchronization.');
    const link = (param: string, next: DeltaCursor) => `${baseOf(req)}/v1.0/users/delta?${param}=${encode(next)}`;
    const value: Record<string, unknown>[] = [];
    let position = cursor.position;
    let done: boolean;
    const fields = fieldsOf(cursor.select);
    if (cursor.since === undefined) {
      state.requests.deltaFullPages += 1;
      const addedList = [...tenant.added.values()];
      const total = tenant.generated.count + addedList.length;
      for (; position < total && value.length < size; position += 1) {
        const user = tenant.userAtPosition(position, addedList);
        if (user) value.push(project(user, fields));
      }
      done = position >= total;
    } else {
      state.requests.deltaChangePages += 1;
      const ids = [...new Set(tenant.changes.slice(cursor.since, cursor.upTo))];
      for (; position < ids.length && value.length < size; position += 1) {
        const user = tenant.byId(ids[position]);
        value.push(user ? project(user, fields) : { id: ids[position], '@removed': { reason: 'deleted' } });
      }
      done = position >= ids.length;
    }
    const body: Record<string, unknown> = { '@odata.context': `${baseOf(req)}/v1.0/$metadata#users(${cursor.select ?? ''})`, value };
    if (done) body['@odata.deltaLink'] = link('$deltatoken', { position: 0, upTo: cursor.upTo, select: cursor.select, epoch: cursor.epoch });
    else body['@odata.nextLink'] = link('$skiptoken', { ...cursor, position });
    return { status: 200, body };
  };

  const rolesPage = (req: GraphRequest, tenant: FakeTenant, key: string): GraphReply => {
    state.requests.rolePages += 1;
    const refused = advancedQueryRefusal(req, true);
    if (refused) return refused;
    const user = tenant.find(key, 'upn');
    if (!user) return error(404, 'Request_ResourceNotFound', `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`);
    const size = pageSizeOf(state);
    const start = Number(req.url.searchParams.get('$skiptoken') ?? 0);
    const all = tenant.roles.get(user.id) ?? [];
    const value = all.slice(start, start + size).map((templateId) => ({
      '@odata.type': '#microsoft.graph.directoryRole',
      id: `role-${templateId}`,
      roleTemplateId: templateId,
      displayName: ROLE_NAMES[templateId] ?? 'Custom role',
    }));
    const body: Record<string, unknown> = { value };
    // Graph's next link keeps the query's options, $count among them.
    if (start + size < all.length) body['@odata.nextLink'] = `${baseOf(req)}${req.url.pathname}?$select=roleTemplateId,displayName&$count=true&$skiptoken=${start + size}`;
    return { status: 200, body };
  };

  const filter = (req: GraphRequest, tenant: FakeTenant): GraphReply => {
    const text = req.url.searchParams.get('$filter') ?? '';
    const select = req.url.searchParams.get('$select');
    const mail = /^mail eq '((?:[^']|'')*)'$/i.exec(text);
    const proxy = /^proxyAddresses\/any\((\w+):\1 eq '((?:[^']|'')*)'\)$/i.exec(text);
    let user: FakeGraphUser | undefined;
    if (mail) {
      state.requests.mailFilters += 1;
      user = tenant.find(mail[1].replace(/''/g, "'"), 'mail');
    } else if (proxy) {
      state.requests.proxyFilters += 1;
      const address = proxy[2].replace(/''/g, "'");
      if (!/^smtp:/i.test(address)) return { status: 200, body: { value: [] } };
      user = tenant.find(address.slice(5), 'proxy');
    } else {
      return error(400, 'Request_UnsupportedQuery', `Unsupported or invalid query filter clause specified: ${text}`);
    }
    return { status: 200, body: { value: user ? [project(user, fieldsOf(select))] : [] } };
  };

  const count = (req: GraphRequest, tenant: FakeTenant): GraphReply => {
    state.requests.counts += 1;
    // Graph counts only in advanced queries; a server that forwards no headers is taken at its word.
    if (req.headers && headerOf(req.headers, 'consistencylevel')?.toLowerCase() !== 'eventual') {
      return error(400, 'Request_BadRequest', '$count is not currently supported.');
    }
    const removed = [...tenant.overrides.values()].filter((u) => u === null).length;
    return { status: 200, body: tenant.generated.count + tenant.added.size - removed };
  };

  /** One Graph request, top-level or inside a $batch. */
  const route = async (req: GraphRequest): Promise<GraphReply | undefined> => {
    const path = req.url.pathname;
    if (!path.startsWith('/v1.0/')) return undefined;
    const rest = path.slice('/v1.0/'.length);
    const tenant = state.tenant(req.tenantId);
    if (rest === '$batch' && req.method === 'POST') return batch(req);
    if (req.method !== 'GET') return error(405, 'Request_BadRequest', `${req.method} is not supported on ${path}`);
    if (rest === 'users/delta' || rest === 'users/microsoft.graph.delta()') return deltaPage(req, tenant);
    if (rest === 'users') return filter(req, tenant);
    if (rest === 'users/$count') return count(req, tenant);
    const roles = /^(users\/[^/]+|users\('[^/]*'\))\/transitiveMemberOf\/microsoft\.graph\.directoryRole$/.exec(rest);
    if (roles) return rolesPage(req, tenant, userKey(roles[1].startsWith('users/') ? roles[1].slice(6) : roles[1]));
    // The product asks for no Application.Read.All: a service principal's name is not the app's to read (a guess at the words).
    if (/^servicePrincipals\/[^/]+$/.test(rest)) return error(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
    const single = /^users\/([^/]+)$/.exec(rest) ?? /^(users\('[^/]*'\))$/.exec(rest);
    if (single) {
      state.requests.userGets += 1;
      const key = userKey(single[1]);
      const user = tenant.find(key, 'upn');
      return user
        ? { status: 200, body: project(user, fieldsOf(req.url.searchParams.get('$select'))) }
        : error(404, 'Request_ResourceNotFound', `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`);
    }
    return error(400, 'BadRequest', `Resource not found for the segment '${rest.split('/')[0]}'.`);
  };

  const batch = async (req: GraphRequest): Promise<GraphReply> => {
    state.requests.batch += 1;
    const requests = (req.body as { requests?: unknown } | undefined)?.requests;
    if (!Array.isArray(requests) || requests.length === 0) return error(400, 'BadRequest', 'Invalid batch payload format.');
    if (requests.length > MAX_BATCH) return error(400, 'BadRequest', `Number of batch request steps exceeds the maximum of ${MAX_BATCH}.`);
    state.requests.batchSubRequests += requests.length;
    const throttled = state.takeThrottle('batch');
    const responses = [];
    for (const sub of requests as { id?: unknown; method?: unknown; url?: unknown; headers?: Record<string, string> }[]) {
      const id = String(sub.id ?? '');
      if (throttled !== undefined) {
        state.requests.throttled += 1;
        responses.push({ id, status: 429, headers: { 'Retry-After': String(throttled) }, body: { error: { code: 'TooManyRequests', message: 'Too many requests' } } });
        continue;
      }
      const relative = String(sub.url ?? '');
      const url = new URL(`/v1.0${relative.startsWith('/') ? '' : '/'}${relative}`, req.url.origin);
      const headers = Object.fromEntries(Object.entries(sub.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      const reply = (await route({ ...req, method: String(sub.method ?? 'GET'), url, body: undefined, headers })) ?? error(404, 'NotFound', relative);
      responses.push({ id, status: reply.status, headers: reply.headers ?? {}, body: reply.body });
    }
    // Graph answers sub-requests in any order: the client must match them by id.
    return { status: 200, body: { responses: responses.reverse() } };
  };

  return {
    state,
    async handle(req) {
      if (!req.url.pathname.startsWith('/v1.0/')) return undefined;
      state.requests.total += 1;
      // A token for another service (the Power Platform admin API) is not Graph's.
      if (req.audience && !req.audience.includes('graph.microsoft.com') && !req.audience.includes(GRAPH_APP_ID)) {
        return error(401, 'InvalidAuthenticationToken', 'Access token validation failure. Invalid audience.');
      }
      const throttled = state.takeThrottle('request');
      if (throttled !== undefined) {
        state.requests.throttled += 1;
        return error(429, 'TooManyRequests', 'Too many requests', { 'Retry-After': String(throttled) });
      }
      return route(req);
    },
  };
}

/** Tokens that name their tenant (`tenant:<id>`), which serveGraphOverHttp reads back: for a client in another process. */
export const GRAPH_FAKE_TOKENS: TokenSource = { token: async (tenantId) => `tenant:${tenantId}` };

export interface GraphHttpServer {
  /** base URL to give GraphClient (no /v1.0) */
  url: string;
  /** tokens that name their tenant, which this server reads back */
  tokens: TokenSource;
  close(): Promise<void>;
}

/**
 * The routes on plain HTTP at 127.0.0.1, every bearer token accepted. The tenant is the
 * x-tenant-id header, else the tenant named by a `tenant:<id>` token (what `tokens` hands
 * out), else `tenantId`.
 */
export async function serveGraphOverHttp(routes: GraphRoutes, options: { tenantId?: string } = {}): Promise<GraphHttpServer> {
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        try {
          const text = Buffer.concat(chunks).toString('utf8');
          const bearer = /^Bearer tenant:(.+)$/.exec(request.headers.authorization ?? '')?.[1];
          const tenantId = headerOf(request.headers, 'x-tenant-id') ?? bearer ?? options.tenantId ?? 'tenant';
          const url = new URL(request.url ?? '/', `http://${request.headers.host ?? '127.0.0.1'}`);
          const reply = (await routes.handle({
            method: request.method ?? 'GET',
            url,
            body: text ? JSON.parse(text) : undefined,
            tenantId,
            audience: 'https://graph.microsoft.com',
            headers: request.headers,
          })) ?? { status: 404, body: { error: { code: 'NotFound', message: `no route for ${url.pathname}` } } };
          const body = reply.body === undefined ? '' : JSON.stringify(reply.body);
          response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
          response.end(body);
        } catch (err) {
          response.writeHead(500, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ error: { code: 'InternalServerError', message: (err as Error).message } }));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tokens: GRAPH_FAKE_TOKENS,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
