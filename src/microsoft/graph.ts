// Microsoft Graph, for the directory checks of a user mapping and for the roles
// of the admin who acts. Users by address through $batch (small mappings); the
// whole directory by delta paging (large mappings, then only the changes),
// sized beforehand by users/$count; a user's directory roles. Throttling is
// waited out here, as Graph asks (Retry-After), a bounded number of times in a
// row; every other failure is a MicrosoftServiceError for the caller's retry
// policy.
import { setTimeout as delay } from 'node:timers/promises';
import { accessHint, MicrosoftServiceError } from './errors';
import { callService, retryAfterMs, serviceMessage, type ServiceAnswer, type ServiceCall, type TokenSource } from './http';
import { GRAPH_SCOPE } from './scopes';

const SERVICE = 'Microsoft Graph' as const;

/** What the product reads of a user, everywhere: one $select so that $batch, filters and delta agree. */
export const USER_SELECT = 'id,userPrincipalName,accountEnabled,assignedLicenses,mail,proxyAddresses';
/** Graph refuses a $batch of more. */
export const BATCH_LIMIT = 20;
/**
 * Advanced queries (Graph's aad-advanced-queries page): an OData cast such as
 * transitiveMemberOf/microsoft.graph.directoryRole, and $count, are served
 * only with this header and, for the cast, $count=true in the query
 * (user-list-transitivememberof: "This header and $count are required when
 * using ... OData cast"). Without them Graph answers 400.
 */
const ADVANCED_QUERY = { consistencylevel: 'eventual' } as const;

export type ProductRole = 'PowerPlatformAdmin' | 'Dynamics365Admin' | 'GlobalAdmin' | 'LockboxApprover';

/** Entra built-in roles by template id (the same in every tenant), as the product names them. */
export const DIRECTORY_ROLE_TEMPLATES: Readonly<Record<string, ProductRole>> = {
  '11648597-926c-4cf3-9c36-bcebb0ba8dcc': 'PowerPlatformAdmin', // Power Platform Administrator
  '44367163-eba1-44c3-98af-f5787879f96a': 'Dynamics365Admin', // Dynamics 365 Administrator (CRM Service Administrator)
  '62e90394-69f5-4237-9190-012177145e10': 'GlobalAdmin', // Global Administrator
  '5c4f9dcd-47dc-4cf7-8c9a-9e4207cbfc91': 'LockboxApprover', // Customer LockBox Access Approver
};
const ROLE_ORDER: readonly ProductRole[] = ['PowerPlatformAdmin', 'Dynamics365Admin', 'GlobalAdmin', 'LockboxApprover'];

export interface GraphUser {
  id: string;
  userPrincipalName: string;
  accountEnabled: boolean;
  assignedLicenses: { skuId: string }[];
  /** null when the user has no mailbox address */
  mail: string | null;
  /** `SMTP:` (primary) and `smtp:` addresses, and other kinds (x500:, sip:) */
  proxyAddresses: string[];
}

export interface GraphUsersPage {
  users: GraphUser[];
  /** ids of users deleted or gone out of scope since the delta link (delta rounds only) */
  removed: string[];
  /** on the last page only: where the next round asks for changes since this one */
  deltaLink?: string;
}

export interface DirectoryRoles {
  found: boolean;
  enabled: boolean;
  roles: ProductRole[];
}

export interface GraphClientOptions {
  /** settings.graphApiUrl, without /v1.0 */
  baseUrl: string;
  tokens: TokenSource;
  /** how the client waits out Retry-After (tests pass their own clock) */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** $batch requests in flight at once within one findUsers (default 4) */
  concurrency?: number;
  /** throttled answers waited out in a row before the error is thrown (default 10) */
  maxThrottledWaits?: number;
}

interface Lookup {
  address: string;
  key: string;
  /** 0: by UPN (or id), 1: by mail, 2: by smtp: proxy address */
  stage: number;
  throttled: number;
}

interface SubResponse {
  id?: unknown;
  status?: unknown;
  headers?: Record<string, unknown>;
  body?: unknown;
}

type Call = Omit<ServiceCall, 'service' | 'tenantId' | 'scope'> & { headers?: Record<string, string> };

const quote = (text: string) => text.replace(/'/g, "''");

/** `/users/{upn}`, or Graph's `/users('{upn}')` form when the UPN starts with `$` (which Graph would read as a system segment). */
function userPath(idOrUpn: string): string {
  return idOrUpn.startsWith('$') ? `/users('${encodeURIComponent(quote(idOrUpn))}')` : `/users/${encodeURIComponent(idOrUpn)}`;
}

function lookupUrl(lookup: Lookup): string {
  const select = `$select=${USER_SELECT}`;
  if (lookup.stage === 0) return `${userPath(lookup.address)}?${select}`;
  const filter =
    lookup.stage === 1 ? `mail eq '${quote(lookup.address)}'` : `proxyAddresses/any(p:p eq '${quote(`smtp:${lookup.address}`)}')`;
  return `/users?$filter=${encodeURIComponent(filter)}&${select}`;
}

function asUser(value: unknown): GraphUser | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const raw = value as Record<string, unknown>;
  if (typeof raw.id !== 'string') return undefined;
  const licenses = Array.isArray(raw.assignedLicenses) ? raw.assignedLicenses : [];
  return {
    id: raw.id,
    userPrincipalName: typeof raw.userPrincipalName === 'string' ? raw.userPrincipalName : '',
    accountEnabled: raw.accountEnabled === true,
    assignedLicenses: licenses.map((l) => ({ skuId: String((l as { skuId?: unknown } | null)?.skuId ?? '') })),
    mail: typeof raw.mail === 'string' && raw.mail ? raw.mail : null,
    proxyAddresses: Array.isArray(raw.proxyAddresses) ? raw.proxyAddresses.filter((p): p is string => typeof p === 'string') : [],
  };
}

function header(headers: Record<string, unknown> | undefined, name: string): string | null {
  for (const [key, value] of Object.entries(headers ?? {})) if (key.toLowerCase() === name) return String(value);
  return null;
}

/** Without Retry-After Graph asks for exponential backoff. */
const backoffMs = (attempt: number) => Math.min(30_000, 1000 * 2 ** attempt);

export class GraphClient {
  private readonly root: string;
  private readonly origin: string;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly concurrency: number;
  private readonly maxWaits: number;
  /** Graph throttles per app and tenant: one pause for every request to that tenant. */
  private readonly pausedUntil = new Map<string, number>();

  constructor(private readonly options: GraphClientOptions) {
    const base = options.baseUrl.replace(/\/+$/, '');
    this.root = `${base}/v1.0`;
    this.origin = new URL(base).origin;
    this.sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.maxWaits = Math.max(0, options.maxThrottledWaits ?? 10);
  }

  /**
   * The users among `addresses` (UPNs or mail addresses), keyed by the lower-cased address asked.
   * An address not found by UPN is looked up by mail, then by smtp: proxy address, in later batches.
   */
  async findUsers(tenantId: string, addresses: string[], options: { signal?: AbortSignal } = {}): Promise<Map<string, GraphUser>> {
    const found = new Map<string, GraphUser>();
    const queue: Lookup[] = [];
    const seen = new Set<string>();
    for (const address of addresses) {
      const key = address.toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      queue.push({ address, key, stage: 0, throttled: 0 });
    }
    // A worker that sends a batch also sends what that batch leaves to later stages, so none waits on an empty queue.
    const worker = async () => {
      try {
        while (queue.length > 0) await this.lookupBatch(tenantId, queue.splice(0, BATCH_LIMIT), queue, found, options.signal);
      } catch (err) {
        queue.length = 0; // the answer is lost anyway: the other workers stop sending
        throw err;
      }
    };
    const workers = Math.min(this.concurrency, Math.ceil(queue.length / BATCH_LIMIT));
    await Promise.all(Array.from({ length: workers }, worker));
    return found;
  }

  private async lookupBatch(tenantId: string, lookups: Lookup[], queue: Lookup[], found: Map<string, GraphUser>, signal?: AbortSignal): Promise<void> {
    const answer = await this.send(tenantId, {
      method: 'POST',
      url: `${this.root}/$batch`,
      body: { requests: lookups.map((l, i) => ({ id: String(i + 1), method: 'GET', url: lookupUrl(l) })) },
      signal,
    });
    const responses = (answer.body as { responses?: SubResponse[] } | undefined)?.responses;
    if (!Array.isArray(responses)) throw new MicrosoftServiceError(SERVICE, 'unavailable', 'Microsoft Graph answered a $batch without responses');
    const byId = new Map(responses.map((r) => [String(r.id), r]));
    const throttled: Lookup[] = [];
    let wait = 0;
    lookups.forEach((lookup, i) => {
      const response = byId.get(String(i + 1));
      const status = Number(response?.status);
      if (!response || !Number.isInteger(status)) {
        throw new MicrosoftServiceError(SERVICE, 'unavailable', `Microsoft Graph left the look-up of ${lookup.address} out of its $batch answer`);
      }
      if (status === 429) {
        lookup.throttled += 1;
        const ms = retryAfterMs(header(response.headers, 'retry-after')) ?? backoffMs(lookup.throttled - 1);
        if (lookup.throttled > this.maxWaits) {
          throw new MicrosoftServiceError(SERVICE, 'throttled', `Microsoft Graph kept throttling the user look-ups; retry after ${Math.ceil(ms / 1000)}s`, 429, ms);
        }
        wait = Math.max(wait, ms);
        throttled.push(lookup);
        return;
      }
      const next = () => {
        if (lookup.stage < 2) queue.push({ ...lookup, stage: lookup.stage + 1, throttled: 0 });
      };
      if (status === 200) {
        const body = response.body as { value?: unknown[] } | undefined;
        const user = asUser(lookup.stage === 0 ? body : body?.value?.[0]);
        if (user) found.set(lookup.key, user);
        else next();
        return;
      }
      // Not a UPN Graph knows (or not one it can read as a key): the address may still be a mail address.
      if (lookup.stage === 0 && (status === 404 || status === 400)) {
        next();
        return;
      }
      throw this.subError(tenantId, status, response, lookup);
    });
    if (throttled.length > 0) {
      this.pause(tenantId, wait);
      queue.unshift(...throttled);
    }
  }

  private subError(tenantId: string, status: number, response: SubResponse, lookup: Lookup): MicrosoftServiceError {
    const said = serviceMessage(response.body);
    const suffix = said ? ` (${said})` : '';
    if (status === 401 || status === 403) {
      const kind = status === 401 ? 'unauthorized' : 'forbidden';
      return new MicrosoftServiceError(SERVICE, kind, `${accessHint(SERVICE, kind, tenantId)}${suffix}`, status);
    }
    if (status >= 500) {
      return new MicrosoftServiceError(SERVICE, 'unavailable', `Microsoft Graph had a fault looking up ${lookup.address} (${status})${suffix}`, status);
    }
    return new MicrosoftServiceError(SERVICE, 'refused', `Microsoft Graph refused the look-up of ${lookup.address} (${status})${suffix}`, status);
  }

  /**
   * The whole directory page by page (no deltaLink), or the changes since `deltaLink`.
   * The last page carries the deltaLink for the next round. A deltaLink Graph no longer
   * honours fails with status 410: read the whole directory again then.
   */
  async *readUsers(tenantId: string, options: { deltaLink?: string; signal?: AbortSignal } = {}): AsyncGenerator<GraphUsersPage, void, undefined> {
    // Pages are as large as Graph makes them: user-delta documents no page size and no way to ask for
    // one ($top is not supported on users delta, and Prefer: odata.maxpagesize is documented for other deltas).
    let url = options.deltaLink ?? `${this.root}/users/delta?$select=${USER_SELECT}`;
    for (;;) {
      this.checkLink(url);
      const { body } = await this.send(tenantId, { method: 'GET', url, signal: options.signal });
      const page = (body ?? {}) as { value?: unknown; '@odata.nextLink'?: unknown; '@odata.deltaLink'?: unknown };
      const users: GraphUser[] = [];
      const removed: string[] = [];
      for (const item of Array.isArray(page.value) ? page.value : []) {
        const record = item as Record<string, unknown> | null;
        if (record && '@removed' in record) {
          if (typeof record.id === 'string') removed.push(record.id);
          continue;
        }
        const user = asUser(item);
        if (user) users.push(user);
      }
      const deltaLink = page['@odata.deltaLink'];
      const nextLink = page['@odata.nextLink'];
      if (typeof deltaLink === 'string') {
        yield { users, removed, deltaLink };
        return;
      }
      if (typeof nextLink !== 'string') throw new MicrosoftServiceError(SERVICE, 'unavailable', 'Microsoft Graph answered a users/delta page with neither a next link nor a delta link');
      yield { users, removed };
      url = nextLink;
    }
  }

  /** How many users the tenant has (Graph's index, eventually consistent): a hint for sizing, not a count to rely on. */
  async countUsers(tenantId: string, options: { signal?: AbortSignal } = {}): Promise<number> {
    const { body } = await this.send(tenantId, { method: 'GET', url: `${this.root}/users/$count`, headers: { ...ADVANCED_QUERY }, signal: options.signal });
    const count = Number(body);
    if (!Number.isSafeInteger(count) || count < 0) throw new MicrosoftServiceError(SERVICE, 'unavailable', `Microsoft Graph answered users/$count with ${String(body).slice(0, 40)}`);
    return count;
  }

  /** Whether the user exists, is enabled, and which of the product's roles the directory gives them (group-assigned included). */
  async directoryRoles(tenantId: string, upn: string, options: { signal?: AbortSignal } = {}): Promise<DirectoryRoles> {
    const answer = await this.send(tenantId, { method: 'GET', url: `${this.root}${userPath(upn)}?$select=id,accountEnabled`, accept: [404], signal: options.signal });
    if (answer.status === 404) return { found: false, enabled: false, roles: [] };
    const user = answer.body as { id?: unknown; accountEnabled?: unknown } | undefined;
    if (typeof user?.id !== 'string') throw new MicrosoftServiceError(SERVICE, 'unavailable', `Microsoft Graph answered the user ${upn} without an id`);
    const held = new Set<ProductRole>();
    let url: string | undefined =
      `${this.root}/users/${encodeURIComponent(user.id)}/transitiveMemberOf/microsoft.graph.directoryRole?$select=roleTemplateId,displayName&$count=true`;
    while (url) {
      this.checkLink(url);
      const answer = await this.send(tenantId, { method: 'GET', url, headers: { ...ADVANCED_QUERY }, signal: options.signal });
      const page = (answer.body ?? {}) as { value?: unknown; '@odata.nextLink'?: unknown };
      for (const role of Array.isArray(page.value) ? page.value : []) {
        const name = DIRECTORY_ROLE_TEMPLATES[String((role as { roleTemplateId?: unknown } | null)?.roleTemplateId ?? '').toLowerCase()];
        if (name) held.add(name);
      }
      url = typeof page['@odata.nextLink'] === 'string' ? page['@odata.nextLink'] : undefined;
    }
    return { found: true, enabled: user.accountEnabled === true, roles: ROLE_ORDER.filter((r) => held.has(r)) };
  }

  /**
   * The name of a directory object by id (who acted on a migration request): a user's UPN, or a
   * service principal's display name. Undefined when Graph does not let the app read it (a service
   * principal needs Application.Read.All, which the product does not ask for) or has no such object.
   */
  async principalName(tenantId: string, id: string, type?: string, options: { signal?: AbortSignal } = {}): Promise<string | undefined> {
    const application = /serviceprincipal|application|app/i.test(type ?? '');
    const path = application ? `/servicePrincipals/${encodeURIComponent(id)}?$select=displayName,appId` : `${userPath(id)}?$select=userPrincipalName,displayName`;
    const answer = await this.send(tenantId, { method: 'GET', url: `${this.root}${path}`, accept: [400, 403, 404], signal: options.signal });
    if (answer.status !== 200) return undefined;
    const body = (answer.body ?? {}) as { userPrincipalName?: unknown; displayName?: unknown };
    const name = application ? body.displayName : (body.userPrincipalName ?? body.displayName);
    return typeof name === 'string' && name ? name : undefined;
  }

  /** Links come from the service's answers: the bearer token goes to Graph's own origin only. */
  private checkLink(url: string): void {
    let origin: string;
    try {
      origin = new URL(url).origin;
    } catch {
      origin = '';
    }
    if (origin !== this.origin) throw new MicrosoftServiceError(SERVICE, 'refused', `Microsoft Graph sent a link outside ${this.origin}; not followed`);
  }

  private pause(tenantId: string, ms: number): void {
    this.pausedUntil.set(tenantId, Math.max(this.pausedUntil.get(tenantId) ?? 0, Date.now() + ms));
  }

  /** One request, after any pause Graph asked for; a whole-request 429 pauses and retries, up to maxThrottledWaits in a row. */
  private async send(tenantId: string, call: Call): Promise<ServiceAnswer> {
    for (let waits = 0; ; waits += 1) {
      const wait = (this.pausedUntil.get(tenantId) ?? 0) - Date.now();
      if (wait > 0) await this.sleep(wait, call.signal);
      const full: ServiceCall = { ...call, service: SERVICE, tenantId, scope: GRAPH_SCOPE };
      try {
        return await callService(this.options.tokens, full);
      } catch (err) {
        if (!(err instanceof MicrosoftServiceError) || err.kind !== 'throttled' || waits >= this.maxWaits) throw err;
        this.pause(tenantId, err.retryAfterMs ?? backoffMs(waits));
      }
    }
  }
}

