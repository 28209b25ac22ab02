// Every activity the worker registers, built from its dependencies so that tests
// can inject their own back end, control plane or storage.
import type { MigrationService } from '../service/migration-service';
import { createServiceActivities } from './service-activities';
import { createMappingActivities } from './mapping-activities';
import type { AuditLog } from '../controlplane/audit-log';
import { createReconcilerActivities, type ReconcilerDependencies } from './reconciler-activities';
import { createRehearsalActivities } from './rehearsal-activities';
import { createNotificationActivities, type NotificationDependencies } from './notification-activities';
import { createStallActivities, type StallDependencies } from './stall-activities';
import { createAuthPolicyActivities, type AuthSettings } from './auth-policy';

export interface ActivityDependencies {
  service: MigrationService;
  /** where the workflows' audit trail is written (the control-plane database) */
  auditLog: AuditLog;
  /** the reconciler's activities (simulated back end only: it closes requests of its own control plane) */
  reconciler?: ReconcilerDependencies;
  /** notifications (the worker always gives them); without them the audit writer writes the audit trail only */
  notifications?: NotificationDependencies;
  /** the stall check's activity (every back end: it reads the phase changes of the control-plane database) */
  stalls?: StallDependencies;
  /** the sign-in policy the workflows enforce (config.signIn): required, so that no worker is left without one */
  signIn: AuthSettings;
}

export function createActivities(deps: ActivityDependencies) {
  return {
    ...createServiceActivities(deps.service),
    ...createMappingActivities(deps.service),
    ...createRehearsalActivities(deps.service),
    ...(deps.reconciler ? createReconcilerActivities(deps.reconciler) : ({} as ReturnType<typeof createReconcilerActivities>)),
    ...createNotificationActivities(deps.auditLog, deps.notifications),
    ...(deps.stalls ? createStallActivities(deps.stalls) : ({} as ReturnType<typeof createStallActivities>)),
    ...createAuthPolicyActivities(deps.signIn),
  };
}

export type MigrationActivities = ReturnType<typeof createActivities>;
