// SPEC §3: what blocks a migration, and what the admin must do before it.
// Pure and deterministic; checked at submit and again before migrate.
import type { EnvironmentRecord, TenantRecord } from '../controlplane/control-plane';

export interface BlockingFinding {
  code: 'UnsupportedEnvironmentType' | 'CrossCloud' | 'FinanceOperationsLinked' | 'SameTenant' | 'ManagedEnvironment' | 'CrossGeo';
  message: string;
}

export interface Warning {
  component: string;
  message: string;
  action: string;
}

export interface EligibilityResult {
  blocking: BlockingFinding[];
  warnings: Warning[];
}

const SUPPORTED_TYPES = ['Production', 'Sandbox'];
const GOVERNMENT_CLOUDS = ['GCC', 'GCCHigh', 'DoD'];

export function checkEligibility(input: {
  environment: EnvironmentRecord;
  sourceTenant: TenantRecord;
  targetTenant: TenantRecord;
}): EligibilityResult {
  const { environment, sourceTenant, targetTenant } = input;
  const blocking: BlockingFinding[] = [];
  if (!SUPPORTED_TYPES.includes(environment.type)) {
    blocking.push({
      code: 'UnsupportedEnvironmentType',
      message: `${environment.type} environments cannot be migrated; only Production and Sandbox environments are supported`,
    });
  }
  if (sourceTenant.cloud !== targetTenant.cloud) {
    const gov = GOVERNMENT_CLOUDS.includes(sourceTenant.cloud) || GOVERNMENT_CLOUDS.includes(targetTenant.cloud);
    blocking.push({
      code: 'CrossCloud',
      message: `the source tenant is in the ${sourceTenant.cloud} cloud and the target tenant in ${targetTenant.cloud}; both must be in the same cloud${gov ? ' (no move between Government Community Cloud and public cloud)' : ''}`,
    });
  }
  if (environment.linkedToFinanceOperations) {
    blocking.push({
      code: 'FinanceOperationsLinked',
      message: 'the Dataverse organization is linked to a Finance and Operations organization and cannot be moved',
    });
  }
  if (sourceTenant.id === targetTenant.id) {
    blocking.push({ code: 'SameTenant', message: 'the source and target tenant are the same tenant' });
  }
  if (environment.managed) {
    blocking.push({ code: 'ManagedEnvironment', message: 'Managed Environments are not supported yet; turn off Managed Environment first' });
  }
  const environmentGeo = environment.geo ?? sourceTenant.geo;
  if (environmentGeo && targetTenant.geo && environmentGeo.toLowerCase() !== targetTenant.geo.toLowerCase()) {
    blocking.push({
      code: 'CrossGeo',
      message: `the environment is in geography ${environmentGeo} and the target tenant in ${targetTenant.geo}; do a geo-to-geo migration first`,
    });
  }
  return { blocking, warnings: preparationWarnings(environment) };
}

export function preparationWarnings(environment: EnvironmentRecord): Warning[] {
  const c = environment.components;
  const warnings: Warning[] = [];
  const names = (items: { name: string }[]) => items.map((i) => i.name).join(', ');

  const looseFlows = c.flows.filter((f) => !f.inSolution);
  if (looseFlows.length > 0) {
    warnings.push({
      component: 'Power Automate flows',
      message: `${looseFlows.length} flows are not in a Dataverse solution and will not move: ${names(looseFlows)}`,
      action: 'add them to a solution before migrating (Add-AdminFlowsToSolution adds them in bulk)',
    });
  }
  const solutionApps = c.canvasApps.filter((a) => a.solutionAware);
  if (solutionApps.length > 0) {
    warnings.push({
      component: 'Solution-aware canvas apps, custom pages and component libraries',
      message: `${names(solutionApps)} will not work after the migration unless deleted before it`,
      action: 'export their solutions, delete them from the environment before migrating, and import them again afterwards',
    });
  }
  const looseApps = c.canvasApps.filter((a) => !a.solutionAware);
  if (looseApps.length > 0) {
    warnings.push({
      component: 'Canvas apps not in a solution',
      message: `${names(looseApps)} will not move`,
      action: 'export each as a package before migrating and import it in the target tenant afterwards',
    });
  }
  if (c.bots.length > 0) {
    warnings.push({
      component: 'Copilot Studio bots',
      message: `${names(c.bots)} will not move`,
      action: 'export their solutions before migrating and import them afterwards',
    });
  }
  if (c.websites.length > 0) {
    warnings.push({
      component: 'Power Pages websites',
      message: `${names(c.websites)} must be deleted before the migration`,
      action: 'delete each website before migrating and provision it again afterwards with the same portal type and language',
    });
  }
  if (c.marketing) {
    warnings.push({
      component: 'Dynamics 365 Marketing',
      message: 'Marketing needs licences in the target tenant',
      action: 'make sure the target tenant has Marketing licences, and re-provision Marketing after the migration',
    });
  }
  const connectivity = [...c.customConnectors, ...c.connections, ...c.gateways];
  if (connectivity.length > 0) {
    warnings.push({
      component: 'Custom connectors, connections and gateways',
      message: `${names(connectivity)} are not migrated`,
      action: 'reconfigure them in the target tenant after the migration',
    });
  }
  for (const component of c.unsupported) {
    warnings.push({
      component,
      message: `${component} is not supported by tenant-to-tenant migration`,
      action: `remove ${component} before migrating, or set it up again in the target tenant afterwards`,
    });
  }
  for (const setting of c.settings) {
    warnings.push({
      component: setting,
      message: `${setting} is not carried over`,
      action: `reconfigure ${setting} after the migration`,
    });
  }
  return warnings;
}
