// SPEC §3: what blocks a migration, and what the admin must do before it.
// Pure and deterministic (workflow code may call it): checked at submit and
// again before migrate.
import type { EnvironmentRecord, TenantRecord } from '../controlplane/control-plane';
import { preparationWarnings, type PreparationWarning } from './preparation-warnings';

export { preparationWarnings, type PreparationWarning } from './preparation-warnings';

/** Stable codes of the blocking rules, for scripts and tests. */
export const BlockingCode = {
  UnsupportedEnvironmentType: 'UnsupportedEnvironmentType',
  CrossCloud: 'CrossCloud',
  FinanceOperationsLinked: 'FinanceOperationsLinked',
  SameTenant: 'SameTenant',
  ManagedEnvironment: 'ManagedEnvironment',
  CrossGeo: 'CrossGeo',
} as const;
export type BlockingCode = (typeof BlockingCode)[keyof typeof BlockingCode];

export interface BlockingFinding {
  code: BlockingCode;
  message: string;
}

export interface EligibilityResult {
  blocking: BlockingFinding[];
  warnings: PreparationWarning[];
}

export type EligibilityEnvironment = Pick<EnvironmentRecord, 'type' | 'geo' | 'managed' | 'linkedToFinanceOperations' | 'components'>;
export type EligibilityTenant = Pick<TenantRecord, 'id' | 'cloud' | 'geo'>;

export const SUPPORTED_ENVIRONMENT_TYPES: readonly string[] = ['Production', 'Sandbox'];
const GOVERNMENT_CLOUDS: readonly string[] = ['GCC', 'GCCHigh', 'DoD'];

export function checkEligibility(input: {
  environment: EligibilityEnvironment;
  sourceTenant: EligibilityTenant;
  targetTenant: EligibilityTenant;
}): EligibilityResult {
  const { environment, sourceTenant, targetTenant } = input;
  const blocking: BlockingFinding[] = [];
  const block = (code: BlockingCode, message: string) => blocking.push({ code, message });

  if (!SUPPORTED_ENVIRONMENT_TYPES.includes(environment.type)) {
    block('UnsupportedEnvironmentType', `${environment.type} environments cannot move to another tenant: only Production and Sandbox environments are supported`);
  }
  if (sourceTenant.cloud !== targetTenant.cloud) {
    const government = GOVERNMENT_CLOUDS.includes(sourceTenant.cloud) || GOVERNMENT_CLOUDS.includes(targetTenant.cloud);
    block(
      'CrossCloud',
      `the source tenant is in the ${sourceTenant.cloud} cloud and the target tenant in the ${targetTenant.cloud} cloud: both must be in the same cloud${government ? ' (no move between Government Community Cloud and public cloud, either way)' : ''}`,
    );
  }
  if (environment.linkedToFinanceOperations) {
    block('FinanceOperationsLinked', "the environment's Dataverse organization is linked to a Finance and Operations organization, and such an organization cannot move to another tenant");
  }
  if (sourceTenant.id === targetTenant.id) {
    block('SameTenant', `the target tenant is the environment's own tenant (${targetTenant.id}): name a different tenant`);
  }
  if (environment.managed) {
    block('ManagedEnvironment', 'the environment is a Managed Environment, which tenant-to-tenant migration does not support yet');
  }
  const environmentGeo = environment.geo ?? sourceTenant.geo;
  if (environmentGeo && targetTenant.geo && environmentGeo.toLowerCase() !== targetTenant.geo.toLowerCase()) {
    block('CrossGeo', `the environment is in the ${environmentGeo} geography and the target tenant in ${targetTenant.geo}: move the environment to ${targetTenant.geo} first (a geo-to-geo migration)`);
  }
  return { blocking, warnings: preparationWarnings(environment.components) };
}
