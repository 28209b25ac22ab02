// Every activity the worker registers, built from its dependencies so that tests
// can inject their own back end, control plane or storage.
import type { ControlPlane } from '../controlplane/control-plane';
import type { MigrationService } from '../service/migration-service';
import type { SimulatedMigrationService } from '../service/simulated';
import { createServiceActivities } from './service-activities';
import { createMappingActivities } from './mapping-activities';
import { createLegacyActivities } from './legacy-activities';
import { createAuditActivities } from './audit-activities';
import type { AuditLog } from '../controlplane/audit-log';
import { createReconcilerActivities, type ReconcilerDependencies } from './reconciler-activities';
import { createRehearsalActivities } from './rehearsal-activities';
import { createNotificationActivities, type NotificationDependencies } from './notification-activities';
import { createStallActivities, type StallDependencies } from './stall-activities';

export interface ActivityDependencies {
  service: MigrationService;
  /** where the workflows' audit trail is written (the control-plane database) */
  auditLog: AuditLog;
  /** on the simulated back end: serves the per-step activities of migrations started before the port */
  legacy?: { controlPlane: ControlPlane; service: SimulatedMigrationService; remapBatchSize: number };
  /** the reconciler's activities (simulated back end only: it closes requests of its own control plane) */
  reconciler?: ReconcilerDependencies;
  /** notifications (the worker always gives them); without them the audit writer writes the audit trail only */
  notifications?: NotificationDependencies;
  /** the stall check's activity (every back end: it reads the phase changes of the control-plane database) */
  stalls?: StallDependencies;
}

export function createActivities(deps: ActivityDependencies) {
  const legacy = deps.legacy;
  return {
    ...createServiceActivities(deps.service),
    ...createMappingActivities(deps.service),
    ...createAuditActivities(deps.auditLog),
    ...createRehearsalActivities(deps.service),
    ...(legacy
      ? createLegacyActivities({
          controlPlane: legacy.controlPlane,
          container: (containerName) => legacy.service.mappingContainer({ containerName }),
          remapBatchSize: legacy.remapBatchSize,
        })
      : ({} as ReturnType<typeof createLegacyActivities>)),
    ...(deps.reconciler ? createReconcilerActivities(deps.reconciler) : ({} as ReturnType<typeof createReconcilerActivities>)),
    ...createNotificationActivities(deps.auditLog, deps.notifications),
    ...(deps.stalls ? createStallActivities(deps.stalls) : ({} as ReturnType<typeof createStallActivities>)),
  };
}

export type MigrationActivities = ReturnType<typeof createActivities>;
