// SPEC §5: the post-migration checklist, computed from the environment's
// inventory. Pure and deterministic.
import type { EnvironmentRecord, FlowComponent } from '../controlplane/control-plane';
import { flowActivationOrder } from './flow-order';

export { flowActivationOrder, FlowCycleError } from './flow-order';

/** Stable kinds of checklist items, in the order they appear. */
export const ChecklistKind = {
  CreateConnections: 'createConnections',
  TurnOnFlows: 'turnOnFlows',
  UpdateHttpTriggerUrls: 'updateHttpTriggerUrls',
  TurnOffSourceFlows: 'turnOffSourceFlows',
  FlowsNotMigrated: 'flowsNotMigrated',
  ImportSolutions: 'importSolutions',
  ImportCanvasAppPackages: 'importCanvasAppPackages',
  ImportBotSolutions: 'importBotSolutions',
  ReprovisionWebsites: 'reprovisionWebsites',
  ReprovisionMarketing: 'reprovisionMarketing',
  ReconfigureConnectivity: 'reconfigureConnectivity',
  SetUpUnsupportedComponents: 'setUpUnsupportedComponents',
  ReconfigureSettings: 'reconfigureSettings',
  DeleteOrphanedEnvironmentRecord: 'deleteOrphanedEnvironmentRecord',
} as const;
export type ChecklistKind = (typeof ChecklistKind)[keyof typeof ChecklistKind];

export interface ChecklistItem {
  kind: ChecklistKind;
  title: string;
  details: string[];
}

export interface Checklist {
  items: ChecklistItem[];
  /** names of the flows that moved, every child flow before each parent that calls it */
  flowActivationOrder: string[];
}

const isHttpTriggered = (flow: FlowComponent): boolean => /http|request/i.test(flow.trigger ?? '');

/** Throws FlowCycleError when flow calls form a cycle: there is then no order to give. */
export function postMigrationChecklist(environment: Pick<EnvironmentRecord, 'id' | 'name' | 'components'>): Checklist {
  const c = environment.components;
  const items: ChecklistItem[] = [];
  const add = (kind: ChecklistKind, title: string, details: string[]) => items.push({ kind, title, details });

  // Flows outside a solution did not move; they still count for finding cycles.
  const movedFlows = flowActivationOrder(c.flows).filter((f) => f.inSolution);
  const looseFlows = c.flows.filter((f) => !f.inSolution);

  const users = new Map<string, string[]>();
  for (const flow of movedFlows) for (const reference of flow.connectionReferences) users.set(reference, [...(users.get(reference) ?? []), flow.name]);
  if (users.size > 0) {
    add(ChecklistKind.CreateConnections, 'Create connections for all connection references',
      [...users.keys()].sort().map((reference) => `${reference} (used by ${users.get(reference)!.join(', ')})`));
  }
  if (movedFlows.length > 0) {
    add(ChecklistKind.TurnOnFlows, 'Turn on the flows, child flows before the parent flows that call them, in this order',
      movedFlows.map((f, i) => `${i + 1}. ${f.name}`));
  }
  const httpFlows = movedFlows.filter(isHttpTriggered);
  if (httpFlows.length > 0) {
    add(ChecklistKind.UpdateHttpTriggerUrls, 'Retrieve the new URLs of HTTP-triggered flows and update the apps and flows that call them',
      httpFlows.map((f) => f.name));
  }
  const flowsOn = c.flows.filter((f) => f.state === 'On');
  if (flowsOn.length > 0) {
    add(ChecklistKind.TurnOffSourceFlows, 'Turn off flows still on in the source as their counterparts in the target are turned on',
      flowsOn.map((f) => f.name));
  }
  if (looseFlows.length > 0) {
    add(ChecklistKind.FlowsNotMigrated, 'Re-create the flows that did not move (they were not in a solution)', looseFlows.map((f) => f.name));
  }
  const solutionApps = c.canvasApps.filter((a) => a.solutionAware);
  if (solutionApps.length > 0) {
    add(ChecklistKind.ImportSolutions, 'Import the exported solutions (solution-aware canvas apps, custom pages, component libraries)', solutionApps.map((a) => a.name));
  }
  const packagedApps = c.canvasApps.filter((a) => !a.solutionAware);
  if (packagedApps.length > 0) {
    add(ChecklistKind.ImportCanvasAppPackages, 'Import the exported canvas app packages (Apps › Import canvas app)', packagedApps.map((a) => a.name));
  }
  if (c.bots.length > 0) {
    add(ChecklistKind.ImportBotSolutions, 'Import the Copilot Studio bot solutions, then reconfigure their connections, environment variables and custom connectors',
      c.bots.map((b) => b.name));
  }
  if (c.websites.length > 0) {
    add(ChecklistKind.ReprovisionWebsites, 'Re-provision each Power Pages website with the same portal type and language',
      c.websites.map((w) => `${w.name}: portal type ${w.portalType}, language ${w.language}`));
  }
  if (c.marketing) {
    add(ChecklistKind.ReprovisionMarketing, 'Re-provision Dynamics 365 Marketing (the target tenant needs its licences)', []);
  }
  const connectivity = [
    ...c.customConnectors.map((x) => `custom connector: ${x.name}`),
    ...c.connections.map((x) => `connection: ${x.name}`),
    ...c.gateways.map((x) => `gateway: ${x.name}`),
  ];
  if (connectivity.length > 0) {
    add(ChecklistKind.ReconfigureConnectivity, 'Reconfigure custom connectors, connections and gateways in the target tenant', connectivity);
  }
  if (c.unsupported.length > 0) {
    add(ChecklistKind.SetUpUnsupportedComponents, 'Set up again the components tenant-to-tenant migration does not support', c.unsupported);
  }
  if (c.settings.length > 0) {
    add(ChecklistKind.ReconfigureSettings, 'Reconfigure the settings that were not carried over', c.settings);
  }
  add(ChecklistKind.DeleteOrphanedEnvironmentRecord,
    'Once the move is confirmed, delete the orphaned environment record (without Dataverse) left in the source tenant',
    [`${environment.name} (${environment.id})`]);
  return { items, flowActivationOrder: movedFlows.map((f) => f.name) };
}
