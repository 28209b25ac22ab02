// Activities that act through the migration-service port (SPEC §6): the same
// names and payloads whichever back end the worker was configured with. Each is
// idempotent; the two long ones heartbeat and resume from their last heartbeat.
import { Context } from '@temporalio/activity';
import type { Action, Phase, StorageInfo } from '../contracts';
import type { AuthorizationResult } from '../migration/authorization';
import type {
  Assessment,
  MigrateOutcome,
  MigrationService,
  OperationContext,
  RequestState,
  ServiceMigration,
  ServicePrepareResult,
  Submission,
} from '../service/migration-service';

function operationContext(): OperationContext {
  const context = Context.current();
  return {
    resumed: context.info.heartbeatDetails,
    heartbeat: (progress) => context.heartbeat(progress),
    signal: context.cancellationSignal,
    log: (message) => context.log.warn(message),
  };
}

export function createServiceActivities(service: MigrationService) {
  return {
    async assessMigration(input: { environmentId: string; targetTenantId: string }): Promise<Assessment> {
      return service.assess(input.environmentId, input.targetTenantId);
    },

    async authorize(input: {
      action: Action;
      actor: string;
      environmentId: string;
      sourceTenantId: string;
      targetTenantId: string;
    }): Promise<AuthorizationResult> {
      return service.authorize(input.action, input.actor, input);
    },

    /**
     * Whether a move-back's link holds: the migration it names moved this environment from the tenant
     * the move-back goes to, into the one it leaves, and succeeded. Undefined when it holds, else why not.
     */
    async checkMoveBackLink(input: { reversesMigrationId: string; environmentId: string; sourceTenantId: string; targetTenantId: string }): Promise<string | undefined> {
      if (!service.recordedMigration) return `the ${service.backend} back end keeps no record to check the migration it reverses against`;
      const reversed = await service.recordedMigration(input.reversesMigrationId);
      if (!reversed) return `no migration ${input.reversesMigrationId} was recorded`;
      const matches = reversed.environmentId === input.environmentId && reversed.sourceTenantId === input.targetTenantId && reversed.targetTenantId === input.sourceTenantId;
      if (!matches) return `migration ${input.reversesMigrationId} did not move this environment from tenant '${input.targetTenantId}' to '${input.sourceTenantId}'`;
      if (reversed.status !== 'Succeeded') return `migration ${input.reversesMigrationId} did not succeed (it is ${reversed.status})`;
      return undefined;
    },

    async submitMigration(input: { migration: ServiceMigration; submittedBy: string }): Promise<Submission> {
      return service.submit(input.migration, input.submittedBy);
    },

    /** What the service says of the request: how the workflow notices actions taken outside the product. */
    async readMigrationRequest(input: { migration: ServiceMigration }): Promise<RequestState> {
      return service.requestState(input.migration);
    },

    async approveOnService(input: { migration: ServiceMigration; actor: string }): Promise<void> {
      await service.approve(input.migration, input.actor);
    },

    async denyOnService(input: { migration: ServiceMigration; actor: string; reason: string }): Promise<void> {
      await service.deny(input.migration, input.actor, input.reason);
    },

    async approveLockboxOnService(input: { migration: ServiceMigration; actor: string }): Promise<void> {
      await service.approveLockbox(input.migration, input.actor);
    },

    async cancelOnService(input: { migration: ServiceMigration; actor: string }): Promise<void> {
      await service.cancel(input.migration, input.actor);
    },

    async createMigrationStorage(input: { migrationId: string; environmentId: string; actor: string; migration: ServiceMigration }): Promise<StorageInfo> {
      return service.createStorage(input.migration, input.actor);
    },

    async revokeMigrationStorage(input: { storage: StorageInfo }): Promise<void> {
      await service.revokeStorage(input.storage);
    },

    /** Every ending: storage access revoked (what the product can revoke), the request closed with the service. */
    async endMigration(input: { migration: ServiceMigration; phase: Phase; storage?: StorageInfo }): Promise<void> {
      if (input.storage) await service.revokeStorage(input.storage);
      await service.closeRequest(input.migration, input.phase);
    },

    /** `guestAdmin`: the admin's --guest-admin, for Microsoft's service (the simulated one has no use for it). */
    async prepareOnService(input: { migration: ServiceMigration; storage: StorageInfo; guestAdmin?: string }): Promise<ServicePrepareResult> {
      return service.prepare(input.migration, input.storage, operationContext(), input.guestAdmin ? { guestAdmin: input.guestAdmin } : {});
    },

    async migrateEnvironment(input: { migration: ServiceMigration; storage: StorageInfo; mappingEtag?: string; guestAdmin?: string }): Promise<MigrateOutcome> {
      return service.migrate(
        { ...input.migration, storage: input.storage, mappingEtag: input.mappingEtag, ...(input.guestAdmin ? { guestAdmin: input.guestAdmin } : {}) },
        operationContext(),
      );
    },
  };
}
