// Activities for the migration's blob container: generate the resource storage
// (SPEC §2 step 4) and revoke its SAS when the migration ends.
import { ApplicationFailure } from '@temporalio/common';
import type { ControlPlane } from '../controlplane/control-plane';
import { ErrorType, StorageInfo } from '../contracts';
import { MigrationStorage, containerNameFor } from '../storage/migration-storage';

export const BASIC_USER_ROLE = 'Basic User';

export function createStorageActivities(deps: { controlPlane: ControlPlane; storage: MigrationStorage; sasValidityMs: number }) {
  const { controlPlane, storage } = deps;
  return {
    async createMigrationStorage(input: { migrationId: string; environmentId: string; actor: string }): Promise<StorageInfo> {
      const environment = await controlPlane.getEnvironment(input.environmentId);
      if (!environment) throw ApplicationFailure.nonRetryable(`environment '${input.environmentId}' does not exist`, ErrorType.NotFound);
      if (!environment.adminMode) {
        throw ApplicationFailure.nonRetryable(
          `environment '${environment.id}' is not in administration mode; turn administration mode on first`,
          ErrorType.PreconditionFailed,
        );
      }
      const member = await controlPlane.getEnvironmentUser(environment.id, input.actor);
      if (!member || !member.roles.includes(BASIC_USER_ROLE)) {
        throw ApplicationFailure.nonRetryable(
          `the caller does not have the ${BASIC_USER_ROLE} role in environment '${environment.id}'; assign it first`,
          ErrorType.PreconditionFailed,
        );
      }
      return storage.provision(containerNameFor(input.migrationId), deps.sasValidityMs);
    },

    async revokeMigrationStorage(input: { containerName: string }): Promise<void> {
      await storage.revoke(input.containerName);
    },
  };
}
