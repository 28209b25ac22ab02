// Opens the migration service the configuration names (T2T_BACKEND): the
// simulated one on the control plane, or Microsoft's.
import type { Config } from '../config';
import type { ControlPlane } from '../controlplane/control-plane';
import type { MigrationStorage } from '../storage/migration-storage';
import type { MigrationService } from './migration-service';
import { SimulatedMigrationService } from './simulated';

export interface OpenedService {
  service: MigrationService;
  /** set on the simulated back end, whose control plane the reconciler reads */
  simulated?: SimulatedMigrationService;
}

export async function openMigrationService(
  config: Config,
  simulated: { controlPlane: ControlPlane; storage?: MigrationStorage },
): Promise<OpenedService> {
  if (config.backend === 'microsoft') {
    const { MicrosoftMigrationService } = await import('../microsoft/microsoft-service');
    // Tenants with delegatedCalls: the admins' tokens the gateway leaves in the control plane, opened at first use.
    const open = async () => (await import('../controlplane/delegated-tokens')).openDelegatedTokens(config.databaseUrl);
    return { service: MicrosoftMigrationService.fromSettings(config.microsoft!, config.microsoft!.delegation ? { delegatedTokens: open } : {}) };
  }
  const service = new SimulatedMigrationService({
    controlPlane: simulated.controlPlane,
    storage:
      simulated.storage ??
      // The storage SDK loads only when a migration's container is used, not to list an admin's tenants.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      (() => new ((require('../storage/migration-storage') as typeof import('../storage/migration-storage')).MigrationStorage)(config.storageConnectionString)),
    sasValidityMs: config.sasValidityMs,
    remapBatchSize: config.remapBatchSize,
  });
  return { service, simulated: service };
}
