// Every activity the worker registers, built from its dependencies so that tests
// can inject their own control plane or storage.
import type { ControlPlane } from '../controlplane/control-plane';
import type { MigrationStorage } from '../storage/migration-storage';
import { createControlPlaneActivities } from './control-plane-activities';
import { createStorageActivities } from './storage-activities';
import { createMappingActivities } from './mapping-activities';

export interface ActivityDependencies {
  controlPlane: ControlPlane;
  storage: MigrationStorage;
  sasValidityMs: number;
  /** users re-mapped per heartbeat; smaller in tests to exercise resumption */
  remapBatchSize?: number;
}

export function createActivities(deps: ActivityDependencies) {
  return {
    ...createControlPlaneActivities(deps.controlPlane),
    ...createStorageActivities(deps),
    ...createMappingActivities(deps),
  };
}

export type MigrationActivities = ReturnType<typeof createActivities>;
