// The Power Platform admin API's tenant-to-tenant migration calls, the ones its
// admin PowerShell module makes. The answers' shapes are not documented, so
// every field is read tolerantly; each call acts in the tenant the step belongs
// to (the source tenant, or the target tenant for approvals). Nothing here
// retries a whole call (Temporal does), except polling a long operation, which
// waits out throttling and faults a bounded number of times in a row.
import { MicrosoftServiceError } from './errors';
import { callService, retryAfterMs, serviceMessage, type ServiceAnswer, type TokenSource } from './http';
import { POWER_PLATFORM_SCOPE } from './tokens';
import { stripQuery } from '../migration/container-uri';
import { formatDuration } from '../duration';

const SERVICE = 'Power Platform admin API' as const;
const API = '/providers/Microsoft.BusinessAppPlatform';
export const POWER_PLATFORM_API_VERSION = '2021-04-01';
/** Throttled or failed polls in a row before the last failure is the answer. */
export const MAX_POLL_FAILURES = 20;
/** A list longer than this many pages is a service fault, not a tenant's requests. */
const MAX_PAGES = 1000;

/**
 * Who created or acted on a request: an object `{ id, type }` in the module's
 * TenantToTenant-ViewMigrationRequest (`$_.createdBy.id`, `$_.createdBy.type`,
 * `$_.approvalActionedBy.id`, `.type`); a name when the answer carries one
 * (BAP's principals elsewhere also carry displayName, email, userPrincipalName);
 * a plain string in older answers, kept as the name.
 */
export interface Principal {
  id?: string;
  type?: string;
  name?: string;
}

export interface T2TRequest {
  id: string;
  environmentId: string;
  targetTenantId: string;
  createdOnTime?: string;
  createdBy?: Principal;
  approvalActionedBy?: Principal;
  /** Pending, Approved or Rejected, as the service spells it */
  approvalStatus?: string;
}

export interface T2TApproval {
  id: string;
  /** the migration request in the source tenant this approval is for */
  sourceMigrationId: string;
  tenantId?: string;
  createdBy?: Principal;
  resourceCreatedTime?: string;
  approvalState?: string;
  environmentName?: string;
  organizationId?: string;
}

/** A long operation to follow, or the service's answer when it finished at once. */
export type OperationStarted = { operationUrl: string; retryAfterMs?: number } | { done: unknown };

export interface OperationResult {
  status: 'Succeeded' | 'Failed';
  raw: unknown;
  /** the service's own error text */
  message?: string;
}

export interface PrepareRequest {
  TargetTenantId: string;
  /** the container's URI; any SAS query is removed before it is sent */
  ReadOnlyUserMappingFileContainerUri: string;
  NewSecurityGroupId?: string;
  /** a guest admin in the target tenant, as the module's TenantToTenant-PrepareMigration sends it */
  GuestAdminUserEmail?: string;
}

export interface MigrateRequest {
  TargetTenantId: string;
  NewSecurityGroupId?: string;
  /** as the module's TenantToTenant-MigratePowerAppEnvironment and the article's migrate example send it */
  GuestAdminUserEmail?: string;
}

export interface PollOptions {
  signal?: AbortSignal;
  /** after every answer, e.g. to heartbeat */
  onPoll?: (raw: unknown) => void;
  /** once, for the first answer in which no state can be read, with that answer */
  onUnrecognised?: (raw: unknown) => void;
  /** how long the operation may run, counted from startedAt, before the poll gives up (no limit when absent) */
  budgetMs?: number;
  /** when the operation was started (ms since the epoch), also by an earlier attempt; now by default */
  startedAt?: number;
  /** names the operation in the message that ends it ("prepare", "migrate") */
  what?: string;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface PowerPlatformClientOptions {
  /** settings.powerPlatformApiUrl */
  baseUrl: string;
  tokens: TokenSource;
  /** settings.operationPollMs: the wait between polls when the service sends no Retry-After */
  pollIntervalMs: number;
}

type Json = Record<string, unknown>;

const record = (value: unknown): Json => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {});
const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value ? value : typeof value === 'number' ? String(value) : undefined;
const same = (a: string | undefined, b: string) => (a ?? '').toLowerCase() === b.toLowerCase();
const segment = encodeURIComponent;

/** The first of `names` found on the item or, ARM style, in its `properties`. */
function field(item: Json, ...names: string[]): string | undefined {
  const properties = record(item.properties);
  for (const name of names) {
    const value = text(item[name]) ?? text(properties[name]);
    if (value) return value;
  }
  return undefined;
}

/** An id, also when the service gives a resource path (`/providers/.../t2tmigrations/{id}`). */
function readId(item: Json): string | undefined {
  const id = field(item, 'id', 'migrationId', 'name');
  return id?.split('/').filter(Boolean).pop();
}

/** A principal as the service gives it: an object (id, type, maybe a name) or, in older answers, a string. */
function principal(item: Json, name: string): Principal | undefined {
  const value = item[name] ?? record(item.properties)[name];
  const plain = text(value);
  if (plain) return { name: plain };
  const object = record(value);
  const found: Principal = {};
  const id = text(object.id);
  const type = text(object.type);
  const shown = text(object.userPrincipalName) ?? text(object.email) ?? text(object.displayName);
  if (id) found.id = id;
  if (type) found.type = type;
  if (shown) found.name = shown;
  return found.id || found.name ? found : undefined;
}

/** A principal for people: its name, else its id and type. */
export function principalText(who: Principal | undefined): string | undefined {
  if (!who) return undefined;
  return who.name ?? (who.id ? `${who.type ?? 'principal'} ${who.id}` : undefined);
}

function toRequest(item: Json): T2TRequest | undefined {
  const id = readId(item);
  if (!id) return undefined;
  return {
    id,
    environmentId: field(item, 'environmentId') ?? '',
    targetTenantId: field(item, 'targetTenantId', 'TargetTenantId') ?? '',
    createdOnTime: field(item, 'createdOnTime', 'createdTime'),
    createdBy: principal(item, 'createdBy'),
    approvalActionedBy: principal(item, 'approvalActionedBy'),
    approvalStatus: field(item, 'approvalStatus'),
  };
}

function toApproval(item: Json): T2TApproval | undefined {
  const id = readId(item);
  if (!id) return undefined;
  return {
    id,
    sourceMigrationId: field(item, 'sourceMigrationId') ?? '',
    tenantId: field(item, 'tenantId'),
    createdBy: principal(item, 'createdBy'),
    resourceCreatedTime: field(item, 'resourceCreatedTime'),
    approvalState: field(item, 'approvalState'),
    environmentName: field(item, 'environmentName'),
    organizationId: field(item, 'organizationId'),
  };
}

const createdAt = (r: T2TRequest) => Date.parse(r.createdOnTime ?? '') || 0;

const STATE_FIELDS = ['state', 'status', 'provisioningState'] as const;

/**
 * The operation's state word. The module's WaitUntilFinished reads
 * `$content.state.id` and polls while it is neither "Succeeded" nor "Failed";
 * the Terraform provider (internal/api/lifecycle.go, LifecycleDto) reads
 * `State.Id` the same way: the state is an object `{ id }`. Older ARM-style
 * answers put a string in `status`, `state` or `properties.provisioningState`;
 * those are read too.
 */
export function operationState(raw: unknown): string | undefined {
  const body = record(raw);
  for (const source of [body, record(body.properties)]) {
    for (const name of STATE_FIELDS) {
      const word = text(source[name]) ?? text(record(source[name]).id);
      if (word) return word;
    }
  }
  return undefined;
}

/** Succeeded or Failed once the operation has ended; 'running' for any other state word; undefined when there is none. */
function finalStatus(raw: unknown): OperationResult['status'] | 'running' | undefined {
  const state = operationState(raw)?.toLowerCase();
  if (state === undefined) return undefined;
  if (state === 'succeeded') return 'Succeeded';
  if (state === 'failed' || state === 'canceled' || state === 'cancelled') return 'Failed';
  return 'running';
}

/** The service's answer for a log or an error line: one line, SAS signatures blanked, bounded. */
export function rawForLog(raw: unknown, max = 2000): string {
  let line: string;
  try {
    line = typeof raw === 'string' ? raw : (JSON.stringify(raw) ?? String(raw));
  } catch {
    line = String(raw);
  }
  line = line.replace(/([?&]sig=)[^&"\s]+/gi, '$1***').replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

function failureMessage(raw: unknown): string | undefined {
  const body = record(raw);
  const properties = record(body.properties);
  for (const source of [body, properties]) {
    if (typeof source.error === 'string' && source.error) return source.error;
    const error = record(source.error);
    const details = Array.isArray(error.details) ? record(error.details[0]) : {};
    const message = text(error.message) ?? text(details.message);
    if (message) return message;
  }
  return text(body.message) ?? text(properties.message) ?? text(properties.statusMessage);
}

function result(status: OperationResult['status'], raw: unknown): OperationResult {
  const message = failureMessage(raw);
  return message ? { status, raw, message } : { status, raw };
}

/** Rejects with the signal's reason when it aborts, so a cancelled activity ends at once. */
function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Sleeps `ms` in steps of at most `everyMs`, calling `beat` between steps: a wait the service asks for
 * (Retry-After, the poll interval) may be longer than the activity's heartbeat timeout, and an activity
 * that waits as asked must not be taken for a lost one.
 */
export async function sleepWithHeartbeats(ms: number, signal: AbortSignal | undefined, beat: () => void, everyMs = 10_000): Promise<void> {
  for (let left = ms; left > 0; left -= everyMs) {
    await sleepUnlessAborted(Math.min(left, everyMs), signal);
    if (left > everyMs) beat();
  }
}

/**
 * Links the service hands back (nextLink, Operation-Location) get the product's
 * bearer token, so they must point at the service: its host, or a sibling
 * under the same parent domain (a regional host).
 */
function isServiceHost(url: URL, base: URL): boolean {
  if (url.protocol !== 'https:') return false;
  if (url.host === base.host) return true;
  const labels = base.hostname.split('.');
  return labels.length >= 3 && url.port === base.port && url.hostname.endsWith(`.${labels.slice(1).join('.')}`);
}

export class PowerPlatformClient {
  private readonly baseUrl: string;
  private readonly tokens: TokenSource;
  private readonly pollIntervalMs: number;

  constructor(options: PowerPlatformClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.tokens = options.tokens;
    this.pollIntervalMs = options.pollIntervalMs;
  }

  /** Opens a migration request for the environment; the target tenant's admin then approves it. */
  async submit(sourceTenantId: string, environmentId: string, targetTenantId: string): Promise<T2TRequest> {
    const answer = await this.call(sourceTenantId, 'POST', this.url(`/environments/${segment(environmentId)}/createt2t`), { TargetTenantId: targetTenantId });
    const created = toRequest(record(answer.body));
    if (created) return { ...created, environmentId: created.environmentId || environmentId, targetTenantId: created.targetTenantId || targetTenantId };
    // The answer does not always name the new request: it is then the newest one for this environment and target.
    const newest = (await this.listRequests(sourceTenantId))
      .filter((r) => same(r.environmentId, environmentId) && same(r.targetTenantId, targetTenantId))
      .sort((a, b) => createdAt(b) - createdAt(a))[0];
    if (newest) return newest;
    throw new MicrosoftServiceError(
      SERVICE,
      'notFound',
      `the ${SERVICE} accepted the migration request for environment ${environmentId} to tenant ${targetTenantId} but did not name it, and it is not in the source tenant's list of requests`,
    );
  }

  async listRequests(sourceTenantId: string): Promise<T2TRequest[]> {
    const items = await this.listAll(sourceTenantId, '/t2tmigrations');
    return items.map(toRequest).filter((r): r is T2TRequest => r !== undefined);
  }

  async listApprovals(targetTenantId: string): Promise<T2TApproval[]> {
    const items = await this.listAll(targetTenantId, '/t2tmigrationapprovals');
    return items.map(toApproval).filter((a): a is T2TApproval => a !== undefined);
  }

  async approve(targetTenantId: string, approvalId: string): Promise<void> {
    await this.call(targetTenantId, 'POST', this.url(`/t2tmigrationapprovals/${segment(approvalId)}/approve`));
  }

  async reject(targetTenantId: string, approvalId: string): Promise<void> {
    await this.call(targetTenantId, 'POST', this.url(`/t2tmigrationapprovals/${segment(approvalId)}/reject`));
  }

  /** The container (a SAS URL) where the service reads the user mapping file and writes its reports. */
  async generateStorage(sourceTenantId: string, environmentId: string): Promise<{ sharedAccessSignature: string }> {
    const answer = await this.call(sourceTenantId, 'POST', this.url(`/environments/${segment(environmentId)}/generateTenantToTenantResourceStorage`));
    const sharedAccessSignature = field(record(answer.body), 'sharedAccessSignature', 'SharedAccessSignature');
    if (!sharedAccessSignature) {
      throw new MicrosoftServiceError(SERVICE, 'unavailable', `the ${SERVICE} answered generateTenantToTenantResourceStorage for environment ${environmentId} without a sharedAccessSignature`, answer.status);
    }
    return { sharedAccessSignature };
  }

  startPrepare(sourceTenantId: string, migrationId: string, request: PrepareRequest): Promise<OperationStarted> {
    // The service reads the container with its own access: a SAS in the URI is refused, and is a secret besides.
    const body = { ...request, ReadOnlyUserMappingFileContainerUri: stripQuery(request.ReadOnlyUserMappingFileContainerUri) };
    return this.startOperation(sourceTenantId, `/t2tmigrations/${segment(migrationId)}/prepare`, body);
  }

  startMigrate(sourceTenantId: string, migrationId: string, request: MigrateRequest): Promise<OperationStarted> {
    return this.startOperation(sourceTenantId, `/t2tmigrations/${segment(migrationId)}/migrate`, request);
  }

  /**
   * Follows a started operation to its end, calling onPoll after every answer.
   * Whatever the service answers, it ends: with the operation's end, after
   * MAX_POLL_FAILURES failed polls in a row, or once options.budgetMs has run out
   * (a 'timedOut' error naming the operation and its last answer).
   */
  async pollOperation(tenantId: string, started: OperationStarted, options: PollOptions = {}): Promise<OperationResult> {
    if ('done' in started) {
      const status = finalStatus(started.done);
      return result(status === 'Failed' ? 'Failed' : 'Succeeded', started.done);
    }
    const sleep = options.sleep ?? sleepUnlessAborted;
    const now = options.now ?? Date.now;
    const startedAt = options.startedAt ?? now();
    const url = this.resolve(started.operationUrl, 'Operation-Location');
    let wait = started.retryAfterMs ?? this.pollIntervalMs;
    let failures = 0;
    let told = false;
    let last: string = 'none yet';
    for (;;) {
      if (options.budgetMs !== undefined) {
        const left = startedAt + options.budgetMs - now();
        if (left <= 0) throw this.outOfBudget(url, options, last);
        wait = Math.min(wait, left);
      }
      await sleep(wait, options.signal);
      options.signal?.throwIfAborted();
      let answer: ServiceAnswer;
      try {
        // 409: the operation is busy (the Terraform provider's DoWaitForLifecycleOperationStatus waits and asks again).
        answer = await this.call(tenantId, 'GET', url, undefined, { signal: options.signal, accept: [409] });
      } catch (err) {
        // A throttled or failing poll says nothing about the operation, which runs on: ask again, a bounded number of times.
        if (!(err instanceof MicrosoftServiceError) || !err.retryable || ++failures >= MAX_POLL_FAILURES) throw err;
        wait = err.retryAfterMs ?? this.pollIntervalMs;
        last = `HTTP ${err.status ?? err.kind}`;
        continue;
      }
      failures = 0;
      options.onPoll?.(answer.body);
      last = answer.status === 409 ? 'HTTP 409 (busy)' : rawForLog(answer.body, 300);
      const status = answer.status === 409 ? 'running' : finalStatus(answer.body);
      if (status === 'Succeeded' || status === 'Failed') return result(status, answer.body);
      if (status === undefined && !told) {
        told = true;
        options.onUnrecognised?.(answer.body);
      }
      wait = retryAfterMs(answer.headers.get('retry-after')) ?? this.pollIntervalMs;
    }
  }

  private outOfBudget(url: string, options: PollOptions, last: string): MicrosoftServiceError {
    const operation = new URL(url).pathname.split('/').filter(Boolean).pop() ?? url;
    return new MicrosoftServiceError(
      SERVICE,
      'timedOut',
      `the ${SERVICE}'s ${options.what ?? 'long'} operation ${operation} reported no end within ${formatDuration(options.budgetMs ?? 0)} (T2T_OPERATION_BUDGET); its last answer: ${last}`,
    );
  }

  /** The service's view of the migration; its shape is undocumented, so it is returned as it came. */
  async getStatus(sourceTenantId: string, migrationId: string): Promise<unknown> {
    const answer = await this.call(sourceTenantId, 'GET', this.url(`/t2tmigrations/${segment(migrationId)}/get`));
    return answer.body ?? null;
  }

  /**
   * Deletes the request; one already gone counts as deleted. The service may
   * answer an unknown migration with 400 rather than 404: a 400 counts as gone
   * when the request is no longer in the source tenant's list, and is the
   * service's refusal otherwise.
   */
  async delete(sourceTenantId: string, migrationId: string): Promise<void> {
    const answer = await this.call(sourceTenantId, 'DELETE', this.url(`/t2tmigrations/${segment(migrationId)}/delete`), undefined, { accept: [404, 400] });
    if (answer.status !== 400) return;
    if (!(await this.listRequests(sourceTenantId)).some((r) => same(r.id, migrationId))) return;
    const said = serviceMessage(answer.body);
    throw new MicrosoftServiceError(SERVICE, 'refused', `${SERVICE} refused DELETE ${API}/t2tmigrations/${migrationId}/delete (400)${said ? ` (${said})` : ''}`, 400);
  }

  private url(path: string): string {
    return `${this.baseUrl}${API}${path}?api-version=${POWER_PLATFORM_API_VERSION}`;
  }

  private call(tenantId: string, method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown, extra: { accept?: number[]; signal?: AbortSignal } = {}) {
    return callService(this.tokens, { service: SERVICE, tenantId, scope: POWER_PLATFORM_SCOPE, method, url, body, ...extra });
  }

  private async startOperation(tenantId: string, path: string, body: object): Promise<OperationStarted> {
    const answer = await this.call(tenantId, 'POST', this.url(path), body);
    const location = answer.headers.get('operation-location') ?? answer.headers.get('location');
    if (location) return { operationUrl: this.resolve(location, 'Operation-Location'), retryAfterMs: retryAfterMs(answer.headers.get('retry-after')) };
    if (answer.status === 202) {
      throw new MicrosoftServiceError(SERVICE, 'refused', `the ${SERVICE} accepted POST ${API}${path} (202) but sent no Operation-Location to follow it`, 202);
    }
    return { done: answer.body ?? null };
  }

  /** Every item of a paged list, following nextLink until the service stops sending one. */
  private async listAll(tenantId: string, path: string): Promise<Json[]> {
    const items: Json[] = [];
    let url: string | undefined = new URL(this.url(path)).toString();
    const seen = new Set<string>([url]);
    while (url) {
      const body = record((await this.call(tenantId, 'GET', url)).body);
      if (Array.isArray(body.value)) items.push(...body.value.map(record));
      const next = text(body.nextLink) ?? text(body['@odata.nextLink']);
      url = next === undefined ? undefined : this.resolve(next, 'nextLink');
      if (url && (seen.has(url) || seen.size >= MAX_PAGES)) {
        throw new MicrosoftServiceError(SERVICE, 'unavailable', `the ${SERVICE} paged GET ${API}${path} in a loop (nextLink ${seen.has(url) ? 'repeated' : `beyond ${MAX_PAGES} pages`})`);
      }
      if (url) seen.add(url);
    }
    return items;
  }

  /** An absolute link, or one relative to the base URL, that is safe to send the token to. */
  private resolve(link: string, what: string): string {
    const base = new URL(this.baseUrl);
    const url = /^[a-z][a-z0-9+.-]*:/i.test(link) ? new URL(link) : new URL(`${this.baseUrl}${link.startsWith('/') ? '' : '/'}${link}`);
    if (!isServiceHost(url, base)) {
      throw new MicrosoftServiceError(SERVICE, 'refused', `the ${SERVICE}'s ${what} points at ${url.origin}, not at ${base.origin}: the product does not send its token there`);
    }
    return url.toString();
  }
}
