// The Microsoft back end (SPEC §6): the migration-service port on Microsoft's
// Power Platform admin API (the calls its admin PowerShell module makes) and
// Microsoft Graph for the directory. Microsoft's service runs the migrate steps
// itself; what only the simulated world can compute (the checklist from a
// component inventory, user counts) is said to be unknown, not made up.
import { ApplicationFailure } from '@temporalio/common';
import { Action, ErrorType, StorageInfo, ChecklistItem } from '../contracts';
import { authorizeAction, requiredTenant, AuthorizationResult } from '../migration/authorization';
import { containerNameFromUri, stripQuery } from '../migration/container-uri';
import { SUPPORTED_ENVIRONMENT_TYPES } from '../migration/eligibility';
import type {
  PrepareOptions,
  ApprovalListing,
  Assessment,
  MappingContainer,
  MigrateOutcome,
  MigrationService,
  OperationContext,
  RequestListing,
  RequestState,
  ServiceMigration,
  ServicePrepareResult,
  Submission,
  EnvironmentCopy,
  MigrationNames,
} from '../service/migration-service';
import { NOT_SUPPORTED } from '../service/migration-service';
import { MicrosoftServiceError } from './errors';
import { callService, type TokenSource } from './http';
import type { MicrosoftSettings } from './settings';
import { createTokenSource, POWER_PLATFORM_SCOPE } from './tokens';
import { operationState, PowerPlatformClient, principalText, rawForLog, sleepWithHeartbeats, type Principal, type T2TRequest } from './power-platform';
import { GraphClient } from './graph';
import { createGraphDirectory } from './graph-directory';
import { sasContainer } from './blob-container';
import type { DelegatedTokens } from '../controlplane/delegated-tokens';
import { takeAdminToken, takesDelegatedCalls, withAdminToken } from './delegation';

const API_VERSION = '2021-04-01';

/** What the product cannot know on Microsoft's service, said once at submit. */
export const UNKNOWN_AT_SUBMIT = [
  "preparation warnings: Microsoft's service does not expose the environment's component inventory; review the article's preparation section (flows outside solutions, canvas apps, Copilot Studio bots, Power Pages, Marketing, connectors) yourself",
  "cloud, geography and Finance and Operations link: checked by Microsoft's service when the request is submitted",
  'Customer Lockbox: when the source tenant has it on, the lockbox request is approved in the Microsoft Purview portal and the service waits for it; the product cannot see it',
];

export const UNKNOWN_AFTER_MIGRATE = [
  "user and mailbox counts: Microsoft's service re-maps users and configures mailboxes itself and does not report counts; see its status (npm run smoke:microsoft -- --migration-status <service migration id>)",
  'post-migration checklist: not computed from an inventory; every general item of the article is listed',
];

/** Why `t2t rehearse` stops at once on this back end. */
export const CANNOT_COPY_ENVIRONMENTS =
  'the Microsoft back end cannot copy environments, so it cannot rehearse a migration: rehearsals run on the simulated back end only (T2T_BACKEND=simulated)';

/** The article's post-migration items, for a back end that cannot see the inventory. */
const GENERAL_CHECKLIST: ChecklistItem[] = [
  ['createConnections', 'Create connections for all connection references'],
  ['turnOnFlows', 'Turn on flows, child flows before the parent flows that call them'],
  ['httpTriggerUrls', 'Retrieve the new URLs of HTTP-triggered flows and update their callers'],
  ['turnOffSourceFlows', 'Turn off flows still on in the source tenant'],
  ['importSolutions', 'Import the exported solutions and canvas app packages'],
  ['importBots', 'Import the Copilot Studio bot solutions'],
  ['reprovisionWebsites', 'Re-provision each Power Pages website with the same portal type and language'],
  ['reprovisionMarketing', 'Re-provision Dynamics 365 Marketing'],
  ['deleteOrphanedRecord', "Delete the source tenant's orphaned environment record once the move is confirmed"],
].map(([kind, title]) => ({ kind, title, details: [] }));

/** What the storage answer says of the SAS's expiry when the SAS names a stored access policy instead of an `se=`. */
export const SAS_EXPIRY_SET_BY_SERVICE = "set by the service (its stored access policy; the SAS carries no expiry)";

const APPROVAL_STATE: Record<string, RequestState['state']> = {
  approved: 'approved',
  rejected: 'denied',
  denied: 'denied',
  deleted: 'deleted',
  cancelled: 'deleted',
  canceled: 'deleted',
};

interface OperationProgress {
  operationUrl?: string;
  /** when the operation was started (ms since the epoch): its budget counts from there, across attempts */
  startedAt?: number;
  lastStatus?: string;
}

/** GUIDs (environment, migration and tenant ids) as the service may spell them: any letter case. */
const sameId = (a: string | undefined, b: string | undefined) => (a ?? '').toLowerCase() === (b ?? '').toLowerCase();

/** Every string in the service's answer, depth first. */
function stringsOf(raw: unknown): string[] {
  const found: string[] = [];
  const seen: unknown[] = [raw];
  while (seen.length > 0) {
    const value = seen.pop();
    if (typeof value === 'string') found.push(value);
    else if (value && typeof value === 'object') seen.push(...Object.values(value as Record<string, unknown>));
  }
  return found;
}

/** Turns the service's answers into Temporal failures: throttling and faults retry (after Retry-After), the rest is final. */
function asFailure(err: unknown): unknown {
  if (!(err instanceof MicrosoftServiceError)) return err;
  if (err.retryable) {
    return ApplicationFailure.create({
      message: err.message,
      type: `Microsoft.${err.kind}`,
      nonRetryable: false,
      ...(err.retryAfterMs !== undefined ? { nextRetryDelay: err.retryAfterMs } : {}),
    });
  }
  return ApplicationFailure.nonRetryable(err.message, err.kind === 'notFound' ? ErrorType.NotFound : ErrorType.ServiceRefused);
}

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw asFailure(err);
  }
}

/**
 * The first link in the service's status into the migration's container: its error report, as a
 * field of its own or inside the article's "Validation Failed, Errors are updated on the blob here: SASURI".
 */
function reportLink(raw: unknown, containerName: string | undefined): string | undefined {
  if (!containerName) return undefined;
  for (const value of stringsOf(raw)) {
    for (const link of value.match(/https?:\/\/[^\s"'<>]+/g) ?? []) if (link.includes(`/${containerName}/`)) return link;
  }
  return undefined;
}

/**
 * Microsoft's article reports a bad mapping through the migration's status
 * (TenantToTenant-GetMigrationStatus: "Validation Failed, Errors are updated on the blob here: SASURI"),
 * not necessarily through the operation's end: the status text that says so, if any.
 */
function validationFailure(raw: unknown): string | undefined {
  return stringsOf(raw).find((value) => /validation failed/i.test(value));
}

export class MicrosoftMigrationService implements MigrationService {
  readonly backend = 'microsoft' as const;

  constructor(
    private readonly settings: MicrosoftSettings,
    private readonly tokens: TokenSource,
    private readonly powerPlatform: PowerPlatformClient,
    readonly directory: ReturnType<typeof createGraphDirectory>,
    /** where the gateway leaves admins' tokens for tenants with delegatedCalls (the control plane) */
    private readonly delegatedTokens?: () => Promise<DelegatedTokens>,
  ) {}

  static fromSettings(settings: MicrosoftSettings, options: { delegatedTokens?: () => Promise<DelegatedTokens> } = {}): MicrosoftMigrationService {
    const tokens = createTokenSource(settings);
    const powerPlatform = new PowerPlatformClient({ baseUrl: settings.powerPlatformApiUrl, tokens, pollIntervalMs: settings.operationPollMs });
    const directory = createGraphDirectory(new GraphClient({ baseUrl: settings.graphApiUrl, tokens }));
    return new MicrosoftMigrationService(settings, tokens, powerPlatform, directory, options.delegatedTokens);
  }

  /**
   * The admin API as a call made at the moment of an admin's action reaches it: in a tenant with
   * delegatedCalls, with that admin's own token, taken once for the action (never the app's instead);
   * elsewhere with the app's.
   */
  private async acting(migration: ServiceMigration, tenantId: string): Promise<PowerPlatformClient> {
    if (!takesDelegatedCalls(this.settings, tenantId)) return this.powerPlatform;
    if (!this.delegatedTokens) {
      throw new MicrosoftServiceError('Power Platform admin API', 'configuration', `tenant ${tenantId} takes delegated calls, and this process has no control plane to read the admins' tokens from`);
    }
    this.openedTokens ??= this.delegatedTokens().catch((err: unknown) => {
      this.openedTokens = undefined;
      throw err;
    });
    const token = await takeAdminToken(this.settings, await this.openedTokens, migration.actionId, tenantId);
    return new PowerPlatformClient({ baseUrl: this.settings.powerPlatformApiUrl, tokens: withAdminToken(this.tokens, tenantId, token), pollIntervalMs: this.settings.operationPollMs });
  }

  private tenantName(tenantId: string): string {
    return this.settings.tenants.find((t) => t.tenantId.toLowerCase() === tenantId.toLowerCase())?.name ?? tenantId;
  }

  /** The environment as the admin API describes it, from the first configured tenant that holds it. */
  private async findEnvironment(environmentId: string, exceptTenantId: string): Promise<{ tenantId: string; body: Record<string, unknown> } | undefined> {
    for (const tenant of this.settings.tenants) {
      if (tenant.tenantId.toLowerCase() === exceptTenantId.toLowerCase()) continue;
      const answer = await callService(this.tokens, {
        service: 'Power Platform admin API',
        tenantId: tenant.tenantId,
        scope: POWER_PLATFORM_SCOPE,
        method: 'GET',
        url: `${this.settings.powerPlatformApiUrl}/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/${encodeURIComponent(environmentId)}?api-version=${API_VERSION}`,
        accept: [404, 403],
      });
      if (answer.status === 200 && answer.body && typeof answer.body === 'object') return { tenantId: tenant.tenantId, body: answer.body as Record<string, unknown> };
    }
    return undefined;
  }

  async tenantsOf(actor: string): Promise<string[]> {
    return guarded(async () => {
      const tenants: string[] = [];
      for (const tenant of this.settings.tenants) {
        if ((await this.directory.roles(tenant.tenantId, actor)).found) tenants.push(tenant.tenantId);
      }
      return tenants;
    });
  }

  async assess(environmentId: string, targetTenantId: string): Promise<Assessment> {
    return guarded(async () => {
      const found = await this.findEnvironment(environmentId, targetTenantId);
      if (!found) {
        throw ApplicationFailure.nonRetryable(
          `environment '${environmentId}' was not found in any source tenant of T2T_MICROSOFT_TENANTS_FILE`,
          ErrorType.NotFound,
        );
      }
      const properties = (found.body.properties ?? {}) as Record<string, unknown>;
      const sku = String(properties.environmentSku ?? properties.environmentType ?? '');
      const protection = String((properties.governanceConfiguration as Record<string, unknown> | undefined)?.protectionLevel ?? '');
      const blocking = [];
      if (sku && !SUPPORTED_ENVIRONMENT_TYPES.includes(sku)) {
        blocking.push({ code: 'UnsupportedEnvironmentType', message: `${sku} environments cannot move to another tenant: only Production and Sandbox environments are supported` });
      }
      if (/^standard$/i.test(protection)) {
        blocking.push({ code: 'ManagedEnvironment', message: 'Managed Environments are not supported yet' });
      }
      if (found.tenantId.toLowerCase() === targetTenantId.toLowerCase()) {
        blocking.push({ code: 'SameTenant', message: `the target tenant is the environment's own tenant (${targetTenantId}): name a different tenant` });
      }
      return {
        backend: this.backend,
        environmentName: String(properties.displayName ?? found.body.name ?? environmentId),
        sourceTenantId: found.tenantId,
        environmentTenantId: found.tenantId,
        sourceTenantName: this.tenantName(found.tenantId),
        targetTenantName: this.tenantName(targetTenantId),
        lockboxRequired: false,
        blocking,
        warnings: [],
        unknown: [...UNKNOWN_AT_SUBMIT],
      };
    });
  }

  async authorize(action: Action, actor: string, tenants: { sourceTenantId: string; targetTenantId: string }): Promise<AuthorizationResult> {
    const tenantId = requiredTenant(action) === 'source' ? tenants.sourceTenantId : tenants.targetTenantId;
    return guarded(async () => {
      const user = await this.directory.roles(tenantId, actor);
      return authorizeAction(action, tenantId, user.found ? { enabled: user.enabled, roles: user.roles } : undefined);
    });
  }

  async submit(migration: ServiceMigration): Promise<Submission> {
    return guarded(async () => {
      const powerPlatform = await this.acting(migration, migration.sourceTenantId);
      // A retry after a lost answer must not open a second request: reuse the open one.
      const open = (await powerPlatform.listRequests(migration.sourceTenantId)).find(
        (r) => sameId(r.environmentId, migration.environmentId) && sameId(r.targetTenantId, migration.targetTenantId) && /pending|approved/i.test(r.approvalStatus ?? 'pending'),
      );
      const request: T2TRequest = open ?? (await powerPlatform.submit(migration.sourceTenantId, migration.environmentId, migration.targetTenantId));
      return { serviceMigrationId: request.id, externalActions: true, servicePrepares: true };
    });
  }

  async listRequests(sourceTenantId: string): Promise<RequestListing[]> {
    return guarded(async () =>
      (await this.powerPlatform.listRequests(sourceTenantId)).map((r) => ({
        id: r.id,
        environmentId: r.environmentId,
        targetTenantId: r.targetTenantId,
        createdOn: r.createdOnTime,
        createdBy: principalText(r.createdBy),
        approvalStatus: r.approvalStatus,
        actedBy: principalText(r.approvalActionedBy),
      })),
    );
  }

  async listApprovals(targetTenantId: string): Promise<ApprovalListing[]> {
    return guarded(async () =>
      (await this.powerPlatform.listApprovals(targetTenantId)).map((a) => ({
        id: a.id,
        sourceMigrationId: a.sourceMigrationId,
        tenantId: a.tenantId,
        environmentName: a.environmentName,
        createdBy: principalText(a.createdBy),
        createdOn: a.resourceCreatedTime,
        state: a.approvalState,
      })),
    );
  }

  async requestState(migration: ServiceMigration, powerPlatform = this.powerPlatform): Promise<RequestState> {
    return guarded(async () => {
      const request = (await powerPlatform.listRequests(migration.sourceTenantId)).find((r) => sameId(r.id, migration.serviceMigrationId));
      if (!request) return { state: 'deleted' };
      const state = APPROVAL_STATE[(request.approvalStatus ?? '').toLowerCase()] ?? 'pending';
      // Who decided is a target-tenant principal: its name is read there, and only once there is a decision to record.
      const actedBy = state === 'pending' ? undefined : await this.nameOf(migration.targetTenantId, request.approvalActionedBy);
      return actedBy ? { state, actedBy } : { state };
    });
  }

  /** A principal's name: as the service gave it, else read from Graph in the tenant; else its id, saying so. */
  private async nameOf(tenantId: string, who: Principal | undefined): Promise<string | undefined> {
    if (!who) return undefined;
    if (who.name) return who.name;
    if (!who.id) return undefined;
    const name = await this.directory.principalName(tenantId, who.id, who.type).catch(() => undefined);
    return name ?? `${principalText(who)} (its name could not be read from Microsoft Graph in tenant ${tenantId})`;
  }

  private async approval(migration: ServiceMigration, powerPlatform: PowerPlatformClient) {
    const approvals = await powerPlatform.listApprovals(migration.targetTenantId);
    return approvals.find((a) => sameId(a.sourceMigrationId, migration.serviceMigrationId));
  }

  async approve(migration: ServiceMigration): Promise<void> {
    await this.decide(migration, 'approved');
  }

  async deny(migration: ServiceMigration): Promise<void> {
    await this.decide(migration, 'denied');
  }

  private async decide(migration: ServiceMigration, decision: 'approved' | 'denied'): Promise<void> {
    await guarded(async () => {
      const powerPlatform = await this.acting(migration, migration.targetTenantId);
      const approval = await this.approval(migration, powerPlatform);
      if (approval && !/approved|rejected|denied/i.test(approval.approvalState ?? '')) {
        if (decision === 'approved') await powerPlatform.approve(migration.targetTenantId, approval.id);
        else await powerPlatform.reject(migration.targetTenantId, approval.id);
        return;
      }
      // Already decided (a retry after a lost answer, or someone in the admin center): fine if it is this decision.
      // The request is the source tenant's: read with the app there, unless the source tenant too takes only admins' tokens.
      const state = (await this.requestState(migration, sameId(migration.sourceTenantId, migration.targetTenantId) ? powerPlatform : this.powerPlatform)).state;
      if (state === decision) return;
      throw ApplicationFailure.nonRetryable(
        approval ? `the request is already ${state} on the service` : `the target tenant has no approval for request ${migration.serviceMigrationId}`,
        ErrorType.ServiceRefused,
      );
    });
  }

  async approveLockbox(): Promise<void> {
    throw ApplicationFailure.nonRetryable(
      "Customer Lockbox requests for Microsoft's service are approved in the Microsoft Purview portal, not through this product",
      ErrorType.ServiceRefused,
    );
  }

  async cancel(migration: ServiceMigration): Promise<void> {
    if (!migration.serviceMigrationId) return;
    await guarded(async () => (await this.acting(migration, migration.sourceTenantId)).delete(migration.sourceTenantId, migration.serviceMigrationId!));
  }

  async closeRequest(): Promise<void> {
    // Microsoft's service closes its requests itself when they end.
  }

  async createStorage(migration: ServiceMigration): Promise<StorageInfo> {
    return guarded(async () => {
      const powerPlatform = await this.acting(migration, migration.sourceTenantId);
      const { sharedAccessSignature } = await powerPlatform.generateStorage(migration.sourceTenantId, migration.environmentId);
      const containerName = containerNameFromUri(sharedAccessSignature);
      if (!containerName) {
        throw ApplicationFailure.nonRetryable("the service's storage answer is not a container SAS URL", ErrorType.ServiceRefused);
      }
      // A stored-access-policy SAS (`si=`, as the article shows the service's) has no `se=`: its policy
      // holds the expiry, which only the account's owner can read.
      const expiry = new URL(sharedAccessSignature).searchParams.get('se');
      return {
        containerName,
        sasUrl: sharedAccessSignature,
        expiresOn: expiry && !Number.isNaN(Date.parse(expiry)) ? new Date(expiry).toISOString() : SAS_EXPIRY_SET_BY_SERVICE,
      };
    });
  }

  async revokeStorage(): Promise<void> {
    // The container and its SAS are Microsoft's: deleting the request (cancel) is what ends them there.
  }

  mappingContainer(storage: StorageInfo): MappingContainer {
    return sasContainer(storage.sasUrl);
  }

  /**
   * The client a prepare or migrate starts its operation with (acting). An attempt that resumes an
   * operation an earlier one started (a lost worker) only polls it, with the app: the admin's token
   * was for the start, and the operation runs on at the service whoever polls it.
   */
  private async operationClient(migration: ServiceMigration, operation: OperationContext): Promise<PowerPlatformClient> {
    if ((operation.resumed as OperationProgress | undefined)?.operationUrl) return this.powerPlatform;
    return this.acting(migration, migration.sourceTenantId);
  }

  /**
   * Starts the operation unless an earlier attempt did (its URL and start time are in the heartbeat),
   * then polls it to its end or to the end of its budget (T2T_OPERATION_BUDGET, from its start).
   */
  private async runOperation(
    powerPlatform: PowerPlatformClient,
    tenantId: string,
    what: 'prepare' | 'migrate',
    start: () => ReturnType<PowerPlatformClient['startPrepare']>,
    operation: OperationContext,
  ) {
    const progress: OperationProgress = { ...((operation.resumed as OperationProgress | undefined) ?? {}) };
    let started;
    if (progress.operationUrl) {
      started = { operationUrl: progress.operationUrl };
    } else {
      progress.startedAt = Date.now();
      started = await start();
      if ('operationUrl' in started && started.operationUrl) {
        progress.operationUrl = started.operationUrl;
        operation.heartbeat(progress);
      }
    }
    return powerPlatform.pollOperation(tenantId, started, {
      signal: operation.signal,
      sleep: (ms, signal) => sleepWithHeartbeats(ms, signal, () => operation.heartbeat(progress)),
      what,
      budgetMs: this.settings.operationBudgetMs,
      ...(progress.startedAt !== undefined ? { startedAt: progress.startedAt } : {}),
      onPoll: (raw: unknown) => {
        progress.lastStatus = operationState(raw) ?? 'no state';
        operation.heartbeat(progress);
      },
      onUnrecognised: (raw: unknown) =>
        operation.log?.(`the Power Platform admin API's ${what} operation answered with no state the product can read (state.id, status); polling on within T2T_OPERATION_BUDGET. Its answer: ${rawForLog(raw)}`),
    });
  }

  async prepare(migration: ServiceMigration, storage: StorageInfo, operation: OperationContext, options: PrepareOptions = {}): Promise<ServicePrepareResult> {
    return guarded(async () => {
      const id = migration.serviceMigrationId!;
      const powerPlatform = await this.operationClient(migration, operation);
      const result = await this.runOperation(
        powerPlatform,
        migration.sourceTenantId,
        'prepare',
        () => powerPlatform.startPrepare(migration.sourceTenantId, id, {
          TargetTenantId: migration.targetTenantId,
          ReadOnlyUserMappingFileContainerUri: stripQuery(storage.sasUrl),
          ...(options.guestAdmin ? { GuestAdminUserEmail: options.guestAdmin } : {}),
        }),
        operation,
      );
      if (result.status === 'Succeeded') {
        // An operation that ended well may still have refused the mapping: the status decides, and a
        // status that cannot be read fails the step (retried, then refused) rather than open the window.
        const status = await powerPlatform.getStatus(migration.sourceTenantId, id);
        const failed = validationFailure(status);
        if (!failed) return { succeeded: true };
        return {
          succeeded: false,
          message: `the migration service refused the mapping after its prepare operation ended: ${failed.split(/https?:\/\//)[0].replace(/[\s:]+$/, '')}`,
          errorReportUrl: reportLink(status, storage.containerName),
        };
      }
      const status = await powerPlatform.getStatus(migration.sourceTenantId, id).catch(() => undefined);
      return {
        succeeded: false,
        message: `the migration service's prepare failed${result.message ? `: ${result.message}` : ''}`,
        errorReportUrl: reportLink(status ?? result.raw, storage.containerName),
      };
    });
  }

  async status(migration: ServiceMigration): Promise<unknown> {
    if (!migration.serviceMigrationId) return null;
    return guarded(() => this.powerPlatform.getStatus(migration.sourceTenantId, migration.serviceMigrationId!));
  }

  async migrate(migration: ServiceMigration & { storage: StorageInfo; guestAdmin?: string }, operation: OperationContext): Promise<MigrateOutcome> {
    return guarded(async () => {
      const id = migration.serviceMigrationId!;
      const powerPlatform = await this.operationClient(migration, operation);
      const result = await this.runOperation(
        powerPlatform,
        migration.sourceTenantId,
        'migrate',
        () =>
          powerPlatform.startMigrate(migration.sourceTenantId, id, {
            TargetTenantId: migration.targetTenantId,
            ...(migration.guestAdmin ? { GuestAdminUserEmail: migration.guestAdmin } : {}),
          }),
        operation,
      );
      if (result.status !== 'Succeeded') {
        throw ApplicationFailure.nonRetryable(`the migration service's migrate failed${result.message ? `: ${result.message}` : ''}`, ErrorType.ServiceRefused);
      }
      return {
        usersRemapped: 0,
        unmappedTotal: 0,
        mailboxesConfigured: 0,
        mailboxesToReconfigure: 0,
        onmicrosoftAddressesRewritten: 0,
        checklist: GENERAL_CHECKLIST,
        flowActivationOrder: [],
        unknown: [...UNKNOWN_AFTER_MIGRATE],
      };
    });
  }

  readonly canCopyEnvironments = false;

  async copyEnvironment(): Promise<EnvironmentCopy> {
    throw ApplicationFailure.nonRetryable(CANNOT_COPY_ENVIRONMENTS, NOT_SUPPORTED);
  }

  async removeEnvironmentCopy(): Promise<boolean> {
    throw ApplicationFailure.nonRetryable(CANNOT_COPY_ENVIRONMENTS, NOT_SUPPORTED);
  }

  async migrationPeople(): Promise<MigrationNames | undefined> {
    // Microsoft's service re-maps users itself and does not report whom (UNKNOWN_AFTER_MIGRATE).
    return undefined;
  }

  async stagingStorage(): Promise<StorageInfo> {
    throw ApplicationFailure.nonRetryable(
      "Microsoft's service creates a migration's storage only when it is asked for, after approval: there is nowhere to put a file before",
      NOT_SUPPORTED,
    );
  }

  /** the store of admins' tokens, once a delegated call opened it */
  private openedTokens?: Promise<DelegatedTokens>;

  async close(): Promise<void> {
    // The app's tokens live in memory only; the store of admins' tokens, if opened, is given back.
    const opened = this.openedTokens;
    this.openedTokens = undefined;
    await (await opened?.catch(() => undefined))?.close();
  }
}
