// The per-step migrate activities of migrations started before the
// migration-service port: their histories call these by name, so a worker on
// the simulated back end keeps serving them until those migrations have ended.
// New migrations run the same steps through the port (migrateEnvironment).
import { Context } from '@temporalio/activity';
import type { ChecklistItem } from '../contracts';
import type { ControlPlane } from '../controlplane/control-plane';
import type { MappingContainer } from '../service/migration-service';
import {
  RemapProgress,
  RemapResult,
  checklistOf,
  configureMailboxes,
  environmentOrFail,
  remapUsers,
} from '../service/simulated-migrate';

export function createLegacyActivities(deps: {
  controlPlane: ControlPlane;
  container(containerName: string): MappingContainer;
  remapBatchSize: number;
}) {
  const { controlPlane } = deps;
  return {
    async getAdministrationMode(input: { environmentId: string }): Promise<{ adminMode: boolean }> {
      return { adminMode: (await environmentOrFail(controlPlane, input.environmentId)).adminMode };
    },

    async setAdministrationMode(input: { environmentId: string; adminMode: boolean }): Promise<void> {
      await controlPlane.setAdminMode(input.environmentId, input.adminMode);
    },

    async relinkEnvironment(input: { environmentId: string; targetTenantId: string; migrationId: string }): Promise<void> {
      await controlPlane.relinkEnvironment(input.environmentId, input.targetTenantId, input.migrationId);
    },

    async setSourceAccess(input: { environmentId: string; sourceAccess: boolean }): Promise<void> {
      await controlPlane.setSourceAccess(input.environmentId, input.sourceAccess);
    },

    async remapUsers(input: { migrationId: string; environmentId: string; containerName: string; mappingEtag?: string }): Promise<RemapResult> {
      const context = Context.current();
      return remapUsers(
        controlPlane,
        { ...input, container: deps.container(input.containerName), batchSize: deps.remapBatchSize },
        {
          resumed: context.info.heartbeatDetails as RemapProgress | undefined,
          heartbeat: (progress) => context.heartbeat(progress),
          signal: context.cancellationSignal,
        },
      );
    },

    async configureMailboxes(input: { migrationId: string; environmentId: string; sourceTenantId: string; targetTenantId: string }) {
      return configureMailboxes(controlPlane, input);
    },

    async postMigrationChecklist(input: { environmentId: string }): Promise<{ items: ChecklistItem[]; flowActivationOrder: string[] }> {
      return checklistOf(await environmentOrFail(controlPlane, input.environmentId));
    },
  };
}
