// SPEC §3, the article's preparation section: components that do not move, or
// do not work afterwards, unless the admin acts first. Each warning names the
// component and what to do. Pure.
import type { EnvironmentComponents } from '../controlplane/control-plane';

export interface PreparationWarning {
  component: string;
  message: string;
  action: string;
}

const names = (items: { name: string }[]): string => items.map((i) => i.name).join(', ');
const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/** Settings the migration does not carry over, and how to set each up again. */
const SETTING_ACTIONS: { match: RegExp; action: string }[] = [
  { match: /outlook/i, action: 'set up Dynamics 365 App for Outlook again for the users in the target tenant after the migration' },
  { match: /server.?side/i, action: "reconfigure server-side synchronization (email server profile and mailboxes) against the target tenant's Exchange Online after the migration" },
  { match: /sharepoint/i, action: 'reconnect document management to a SharePoint site of the target tenant after the migration' },
];

export function preparationWarnings(components: EnvironmentComponents): PreparationWarning[] {
  const c = components;
  const warnings: PreparationWarning[] = [];
  const warn = (component: string, message: string, action: string) => warnings.push({ component, message, action });

  const looseFlows = c.flows.filter((f) => !f.inSolution);
  if (looseFlows.length > 0) {
    warn(
      'Power Automate flows',
      `${plural(looseFlows.length, 'flow is', 'flows are')} not in a Dataverse solution and will not move: ${names(looseFlows)}`,
      'add them to a solution in the source environment before migrating (Add-AdminFlowsToSolution adds them in bulk)',
    );
  }
  const solutionApps = c.canvasApps.filter((a) => a.solutionAware);
  if (solutionApps.length > 0) {
    warn(
      'Solution-aware canvas apps, custom pages and component libraries',
      `${names(solutionApps)}: solution-aware apps not deleted before the migration will not work after it`,
      'export their solutions, delete the apps from the environment before migrating, and import the solutions again afterwards',
    );
  }
  const looseApps = c.canvasApps.filter((a) => !a.solutionAware);
  if (looseApps.length > 0) {
    warn(
      'Canvas apps that are not solution-aware',
      `${names(looseApps)}: not migrated`,
      'export each app as a package (Export package) before migrating and import it in the migrated environment afterwards (Import canvas app)',
    );
  }
  if (c.bots.length > 0) {
    warn(
      'Copilot Studio bots',
      `${names(c.bots)}: bots are not migrated`,
      "export the bots' solutions before migrating and import them afterwards; reconfigure their connections, environment variables and custom connectors",
    );
  }
  if (c.websites.length > 0) {
    warn(
      'Power Pages websites',
      `${c.websites.map((w) => `${w.name} (${w.portalType}, ${w.language})`).join(', ')}: websites must be deleted before the migration`,
      'note each website\'s portal type and language, delete it before migrating, and provision it again afterwards with the same portal type and language',
    );
  }
  if (c.marketing) {
    warn(
      'Dynamics 365 Marketing',
      'Marketing is deployed and must be re-provisioned after the migration',
      'make sure the target tenant has the Marketing licences before migrating, and re-provision Marketing afterwards',
    );
  }
  const notMigrated: [string, { name: string }[]][] = [
    ['Custom connectors', c.customConnectors],
    ['Connections', c.connections],
    ['Gateways', c.gateways],
  ];
  for (const [component, items] of notMigrated) {
    if (items.length > 0) warn(component, `${names(items)}: not migrated`, 'reconfigure them in the target tenant after the migration');
  }
  for (const component of c.unsupported) {
    warn(
      component,
      `${component} is not supported by tenant-to-tenant migration`,
      `remove ${component} from the environment before migrating, or plan to set it up again in the target tenant afterwards`,
    );
  }
  for (const setting of c.settings) {
    const known = SETTING_ACTIONS.find((s) => s.match.test(setting));
    warn(setting, `${setting} is not carried over to the target tenant`, known?.action ?? `reconfigure ${setting} in the target tenant after the migration`);
  }
  return warnings;
}
