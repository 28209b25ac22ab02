// SPEC §5: the post-migration checklist, computed from the environment's inventory.
import type { EnvironmentRecord, FlowComponent } from '../controlplane/control-plane';

export class FlowCycleError extends Error {
  override name = 'FlowCycleError';
}

export interface ChecklistItem {
  kind: string;
  title: string;
  details: string[];
}

export interface Checklist {
  items: ChecklistItem[];
  /** flow names in an order where every child flow comes before each parent that calls it */
  flowActivationOrder: string[];
}

/**
 * Children before parents (a depth-first topological order); ties are broken by
 * flow id so the order is the same every time. A cycle throws, naming it.
 */
export function flowActivationOrder(flows: FlowComponent[]): FlowComponent[] {
  const byId = new Map(flows.map((f) => [f.id, f]));
  const state = new Map<string, 'visiting' | 'done'>();
  const order: FlowComponent[] = [];
  const visit = (flow: FlowComponent, path: FlowComponent[]) => {
    const seen = state.get(flow.id);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      const cycle = [...path.slice(path.findIndex((f) => f.id === flow.id)), flow];
      throw new FlowCycleError(`flow calls form a cycle: ${cycle.map((f) => f.name).join(' → ')}`);
    }
    state.set(flow.id, 'visiting');
    for (const childId of [...flow.childFlows].sort()) {
      const child = byId.get(childId);
      if (child) visit(child, [...path, flow]);
    }
    state.set(flow.id, 'done');
    order.push(flow);
  };
  for (const flow of [...flows].sort((a, b) => a.id.localeCompare(b.id))) visit(flow, []);
  return order;
}

export function postMigrationChecklist(environment: Pick<EnvironmentRecord, 'components' | 'name'>): Checklist {
  const c = environment.components;
  const items: ChecklistItem[] = [];
  const ordered = flowActivationOrder(c.flows);

  const references = [...new Set(c.flows.flatMap((f) => f.connectionReferences))].sort();
  if (references.length > 0) {
    items.push({ kind: 'connections', title: 'Create connections for all connection references', details: references });
  }
  const migratedFlows = ordered.filter((f) => f.inSolution);
  if (migratedFlows.length > 0) {
    items.push({
      kind: 'flowActivation',
      title: 'Turn on the flows, child flows before the parent flows that call them, in this order',
      details: migratedFlows.map((f, i) => `${i + 1}. ${f.name}`),
    });
  }
  const httpFlows = c.flows.filter((f) => f.trigger?.toLowerCase() === 'http');
  if (httpFlows.length > 0) {
    items.push({
      kind: 'httpTriggers',
      title: 'Retrieve the new URLs of HTTP-triggered flows and update their callers',
      details: httpFlows.map((f) => f.name),
    });
  }
  const flowsOn = c.flows.filter((f) => f.state === 'On');
  if (flowsOn.length > 0) {
    items.push({ kind: 'sourceFlowsOff', title: 'Turn off flows still on in the source tenant', details: flowsOn.map((f) => f.name) });
  }
  const apps = c.canvasApps;
  const looseFlows = c.flows.filter((f) => !f.inSolution);
  if (apps.length > 0 || looseFlows.length > 0) {
    items.push({
      kind: 'imports',
      title: 'Import the exported solutions and canvas app packages',
      details: [
        ...apps.map((a) => `${a.name} (${a.solutionAware ? 'solution' : 'canvas app package'})`),
        ...looseFlows.map((f) => `${f.name} (flow not in a solution: add it to one, export and import)`),
      ],
    });
  }
  if (c.bots.length > 0) {
    items.push({ kind: 'bots', title: 'Import the Copilot Studio bot solutions', details: c.bots.map((b) => b.name) });
  }
  if (c.websites.length > 0) {
    items.push({
      kind: 'websites',
      title: 'Re-provision each Power Pages website with the same portal type and language',
      details: c.websites.map((w) => `${w.name}: ${w.portalType}, ${w.language}`),
    });
  }
  if (c.marketing) {
    items.push({ kind: 'marketing', title: 'Re-provision Dynamics 365 Marketing', details: [] });
  }
  const connectivity = [...c.customConnectors, ...c.connections, ...c.gateways];
  if (connectivity.length > 0) {
    items.push({ kind: 'connectivity', title: 'Reconfigure custom connectors, connections and gateways', details: connectivity.map((x) => x.name) });
  }
  if (c.settings.length > 0) {
    items.push({ kind: 'settings', title: 'Reconfigure settings', details: c.settings });
  }
  items.push({
    kind: 'orphanedRecord',
    title: 'Delete the orphaned environment record in the source tenant once the move is confirmed',
    details: [environment.name],
  });
  return { items, flowActivationOrder: ordered.map((f) => f.name) };
}
