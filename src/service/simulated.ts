// The simulated back end (SPEC §6): the migration service played by the
// product itself on its control plane and its own blob storage. The embedded
// default, used by the tests and the demo; it runs the migrate steps itself.
import { ApplicationFailure } from '@temporalio/common';
import type { Readable } from 'node:stream';
import type { ControlPlane, RequestApprovalStatus } from '../controlplane/control-plane';
import { ControlPlaneNotFoundError } from '../controlplane/errors';
import { Action, ErrorType, Phase, StorageInfo } from '../contracts';
import { checkEligibility } from '../migration/eligibility';
import { authorizeAction, requiredTenant, AuthorizationResult } from '../migration/authorization';
import type { MigrationStorage } from '../storage/migration-storage';
import { containerNameFor } from '../storage/blob-names';
import { migrationPeople } from '../migration/migration-people';
import type {
  ApprovalListing,
  Assessment,
  EnvironmentCopy,
  MappingContainer,
  MigrationNames,
  MigrateOutcome,
  MigrationService,
  OperationContext,
  RequestListing,
  RequestState,
  ServiceMigration,
  ServicePrepareResult,
  Submission,
} from './migration-service';
import { environmentOrFail, runSimulatedMigrate } from './simulated-migrate';

export const BASIC_USER_ROLE = 'Basic User';

export interface SimulatedServiceOptions {
  controlPlane: ControlPlane;
  /** the blob storage, or the call that opens it: reading tenants and requests never loads the storage SDK */
  storage: MigrationStorage | (() => MigrationStorage);
  sasValidityMs: number;
  /** users re-mapped per transaction and heartbeat */
  remapBatchSize: number;
}

const REQUEST_STATE: Record<RequestApprovalStatus, RequestState['state']> = {
  Pending: 'pending',
  Approved: 'approved',
  Rejected: 'denied',
  Deleted: 'deleted',
  // A request the product closed itself: nothing anyone did outside it.
  Succeeded: 'approved',
  Failed: 'approved',
  Expired: 'pending',
  Terminated: 'deleted',
};

/** How each ending closes the request; phases not listed leave it as the actions set it. */
const CLOSED_AS: Partial<Record<Phase, RequestApprovalStatus>> = {
  Succeeded: 'Succeeded',
  Failed: 'Failed',
  Expired: 'Expired',
  Denied: 'Rejected',
  Cancelled: 'Deleted',
  Terminated: 'Terminated',
};

export class SimulatedMigrationService implements MigrationService {
  readonly backend = 'simulated' as const;
  readonly directory: ControlPlane;
  private readonly controlPlane: ControlPlane;

  constructor(private readonly options: SimulatedServiceOptions) {
    this.controlPlane = options.controlPlane;
    this.directory = options.controlPlane;
  }

  private storageValue?: MigrationStorage;

  private get storage(): MigrationStorage {
    const { storage } = this.options;
    return (this.storageValue ??= typeof storage === 'function' ? storage() : storage);
  }

  async tenantsOf(actor: string): Promise<string[]> {
    const tenants: string[] = [];
    for (const tenant of await this.controlPlane.listTenants()) {
      if (await this.controlPlane.getTenantUser(tenant.id, actor)) tenants.push(tenant.id);
    }
    return tenants;
  }

  async assess(environmentId: string, targetTenantId: string): Promise<Assessment> {
    const environment = await environmentOrFail(this.controlPlane, environmentId);
    // After a migration the environment belongs to the target: judge it against the tenant it came from.
    const sourceTenantId = environment.tenantId === targetTenantId && environment.previousTenantId
      ? environment.previousTenantId
      : environment.tenantId;
    const [sourceTenant, targetTenant] = await Promise.all([this.controlPlane.getTenant(sourceTenantId), this.controlPlane.getTenant(targetTenantId)]);
    if (!sourceTenant) throw ApplicationFailure.nonRetryable(`tenant '${sourceTenantId}' does not exist`, ErrorType.NotFound);
    if (!targetTenant) throw ApplicationFailure.nonRetryable(`target tenant '${targetTenantId}' does not exist`, ErrorType.NotFound);
    const result = checkEligibility({ environment, sourceTenant, targetTenant });
    // A rehearsal's copy exists only while its rehearsal runs: only the environment it copies can move.
    const copy = environment.copyOf
      ? [{ code: 'RehearsalCopy', message: `environment '${environment.id}' is a rehearsal copy of '${environment.copyOf}'; migrate the original` }]
      : [];
    return {
      backend: this.backend,
      environmentName: environment.name,
      sourceTenantId,
      environmentTenantId: environment.tenantId,
      sourceTenantName: sourceTenant.name,
      targetTenantName: targetTenant.name,
      lockboxRequired: sourceTenant.lockboxEnabled,
      blocking: [...result.blocking, ...copy],
      warnings: result.warnings,
      unknown: [],
    };
  }

  async authorize(action: Action, actor: string, tenants: { sourceTenantId: string; targetTenantId: string }): Promise<AuthorizationResult> {
    const tenantId = requiredTenant(action) === 'source' ? tenants.sourceTenantId : tenants.targetTenantId;
    return authorizeAction(action, tenantId, await this.controlPlane.getTenantUser(tenantId, actor));
  }

  async submit(migration: ServiceMigration, submittedBy: string): Promise<Submission> {
    await this.controlPlane.recordRequest({
      id: migration.migrationId,
      environmentId: migration.environmentId,
      sourceTenantId: migration.sourceTenantId,
      targetTenantId: migration.targetTenantId,
      createdOn: new Date().toISOString(),
      createdBy: submittedBy,
    });
    // Nobody can act on a simulated request outside the product: nothing to watch.
    return { serviceMigrationId: migration.migrationId, externalActions: false, servicePrepares: false };
  }

  async listRequests(sourceTenantId: string): Promise<RequestListing[]> {
    return (await this.controlPlane.listRequests({ sourceTenantId })).map((r) => ({
      id: r.id,
      environmentId: r.environmentId,
      targetTenantId: r.targetTenantId,
      createdOn: r.createdOn,
      createdBy: r.createdBy,
      approvalStatus: r.approvalStatus,
      actedBy: r.actedBy ?? undefined,
    }));
  }

  async listApprovals(targetTenantId: string): Promise<ApprovalListing[]> {
    return (await this.controlPlane.listRequests({ targetTenantId })).map((r) => ({
      id: r.id,
      sourceMigrationId: r.id,
      tenantId: r.targetTenantId,
      createdBy: r.createdBy,
      createdOn: r.createdOn,
      state: r.approvalStatus,
    }));
  }

  async requestState(migration: ServiceMigration): Promise<RequestState> {
    const request = await this.controlPlane.getRequest(this.requestId(migration));
    if (!request) return { state: 'deleted' };
    return { state: REQUEST_STATE[request.approvalStatus], actedBy: request.actedBy ?? undefined };
  }

  async approve(migration: ServiceMigration, actor: string): Promise<void> {
    await this.setStatus(migration, 'Approved', actor);
  }

  async deny(migration: ServiceMigration, actor: string): Promise<void> {
    await this.setStatus(migration, 'Rejected', actor);
  }

  async approveLockbox(): Promise<void> {
    // The simulated lockbox is the workflow's own wait: nothing to record elsewhere.
  }

  async cancel(migration: ServiceMigration, actor: string): Promise<void> {
    await this.setStatus(migration, 'Deleted', actor);
  }

  async closeRequest(migration: ServiceMigration, phase: Phase): Promise<void> {
    const status = CLOSED_AS[phase];
    if (status) await this.setStatus(migration, status, null);
  }

  async createStorage(migration: ServiceMigration, actor: string): Promise<StorageInfo> {
    const environment = await environmentOrFail(this.controlPlane, migration.environmentId);
    if (!environment.adminMode) {
      throw ApplicationFailure.nonRetryable(
        `environment '${environment.id}' is not in administration mode; turn administration mode on first`,
        ErrorType.PreconditionFailed,
      );
    }
    const member = await this.controlPlane.getEnvironmentUser(environment.id, actor);
    if (!member || !member.roles.includes(BASIC_USER_ROLE)) {
      throw ApplicationFailure.nonRetryable(
        `the caller does not have the ${BASIC_USER_ROLE} role in environment '${environment.id}'; assign it first`,
        ErrorType.PreconditionFailed,
      );
    }
    return this.storage.provision(containerNameFor(migration.migrationId), this.options.sasValidityMs);
  }

  async revokeStorage(storage: Pick<StorageInfo, 'containerName'>): Promise<void> {
    await this.storage.revoke(storage.containerName);
  }

  mappingContainer(storage: Pick<StorageInfo, 'containerName'>): MappingContainer {
    const blobs = this.storage;
    const name = storage.containerName;
    return {
      openVersion: (blobName: string, etag?: string) => blobs.openVersion(name, blobName, etag),
      blobNames: () => blobs.blobNames(name),
      writeStream: (blobName: string, body: Readable, contentType: string) => blobs.writeStream(name, blobName, body, contentType),
      blobReadUrl: (blobName: string) => blobs.blobReadUrl(name, blobName),
    };
  }

  async prepare(): Promise<ServicePrepareResult> {
    // The product's own validation is the simulated service's prepare.
    return { succeeded: true };
  }

  async status(migration: ServiceMigration): Promise<unknown> {
    return (await this.controlPlane.getRequest(this.requestId(migration))) ?? null;
  }

  async migrate(
    migration: ServiceMigration & { storage: StorageInfo; mappingEtag?: string },
    operation: OperationContext,
  ): Promise<MigrateOutcome> {
    return runSimulatedMigrate(
      this.controlPlane,
      {
        migrationId: migration.migrationId,
        environmentId: migration.environmentId,
        sourceTenantId: migration.sourceTenantId,
        targetTenantId: migration.targetTenantId,
        container: this.mappingContainer(migration.storage),
        mappingEtag: migration.mappingEtag,
        remapBatchSize: this.options.remapBatchSize,
      },
      operation,
    );
  }

  readonly canCopyEnvironments = true;

  async copyEnvironment(environmentId: string, copyId: string): Promise<EnvironmentCopy> {
    const original = await environmentOrFail(this.controlPlane, environmentId);
    if (original.copyOf) throw ApplicationFailure.nonRetryable(`environment '${environmentId}' is itself a rehearsal copy`, ErrorType.NotEligible);
    let copy;
    try {
      copy = await this.controlPlane.copyEnvironment(environmentId, { id: copyId, name: `${original.name} (rehearsal copy)` });
    } catch (err) {
      if (err instanceof ControlPlaneNotFoundError) throw ApplicationFailure.nonRetryable(err.message, ErrorType.NotFound);
      throw err;
    }
    const users = await this.controlPlane.countEnvironmentUsers(copy.id);
    return { environmentId: copy.id, copyOf: environmentId, name: copy.name, tenantId: copy.tenantId, users };
  }

  async removeEnvironmentCopy(copyId: string): Promise<boolean> {
    return this.controlPlane.removeEnvironmentCopy(copyId);
  }

  async recordedMigration(migrationId: string) {
    const request = await this.controlPlane.getRequest(migrationId);
    return request && { environmentId: request.environmentId, sourceTenantId: request.sourceTenantId, targetTenantId: request.targetTenantId, status: request.approvalStatus };
  }

  async migrationPeople(migration: ServiceMigration): Promise<MigrationNames> {
    const [people, remaps] = await Promise.all([
      migrationPeople(this.controlPlane, migration),
      this.controlPlane.listRemaps(migration.migrationId),
    ]);
    return { ...people, remapped: remaps.map((r) => ({ sourceUpn: r.sourceUpn, targetUpn: r.targetUpn })) };
  }

  async stagingStorage(migrationId: string): Promise<StorageInfo> {
    return this.storage.provision(containerNameFor(migrationId), this.options.sasValidityMs);
  }

  async close(): Promise<void> {
    // The control plane belongs to whoever opened it.
  }

  private requestId(migration: ServiceMigration): string {
    return migration.serviceMigrationId ?? migration.migrationId;
  }

  private async setStatus(migration: ServiceMigration, status: RequestApprovalStatus, actor: string | null): Promise<void> {
    try {
      // A closing keeps who acted last (the approver, the one who cancelled).
      const actedBy = actor || (await this.controlPlane.getRequest(this.requestId(migration)))?.actedBy || null;
      await this.controlPlane.setRequestStatus(this.requestId(migration), status, actedBy);
    } catch (err) {
      // Migrations submitted before the request register existed have no row: nothing to update.
      if (!(err instanceof ControlPlaneNotFoundError)) throw err;
    }
  }
}
