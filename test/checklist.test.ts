// SPEC §5: the post-migration checklist, and the order to turn flows on.
import assert from 'node:assert/strict';
import type { EnvironmentComponents, FlowComponent } from '../src/controlplane/control-plane';
import { ChecklistKind, FlowCycleError, flowActivationOrder, postMigrationChecklist } from '../src/migration/checklist';

const NONE: EnvironmentComponents = {
  flows: [], canvasApps: [], bots: [], websites: [], marketing: false, unsupported: [],
  customConnectors: [], connections: [], gateways: [], settings: [],
};

function flow(id: string, childFlows: string[] = [], extra: Partial<FlowComponent> = {}): FlowComponent {
  return { id, name: id.toUpperCase(), inSolution: true, state: 'On', childFlows, connectionReferences: [], ...extra };
}

const order = (flows: FlowComponent[]) => flowActivationOrder(flows).map((f) => f.id);

/** every child before each parent that calls it */
function respectsCalls(flows: FlowComponent[], ids: string[]): boolean {
  return flows.every((parent) => parent.childFlows.every((child) => ids.indexOf(child) < ids.indexOf(parent.id)));
}

describe('flow activation order', () => {
  it('a chain: the deepest child first', () => {
    assert.deepEqual(order([flow('a', ['b']), flow('b', ['c']), flow('c')]), ['c', 'b', 'a']);
  });

  it('a diamond: the shared child once, before both parents', () => {
    assert.deepEqual(order([flow('a', ['b', 'c']), flow('b', ['d']), flow('c', ['d']), flow('d')]), ['d', 'b', 'c', 'a']);
  });

  it('ties go to the smallest id, whatever the input order', () => {
    const flows = [flow('z'), flow('m', ['z']), flow('b'), flow('a', ['m', 'b']), flow('q')];
    const expected = ['b', 'q', 'z', 'm', 'a'];
    assert.deepEqual(order(flows), expected);
    assert.deepEqual(order([...flows].reverse()), expected);
  });

  it('respects every call in a larger graph of chains and diamonds', () => {
    const flows = [
      flow('p1', ['c1', 'c2']), flow('p2', ['c2', 'c3']), flow('c1', ['g1']), flow('c2', ['g1', 'g2']), flow('c3', ['g2']),
      flow('g1'), flow('g2'), flow('top', ['p1', 'p2', 'g2']), flow('alone'),
    ];
    const ids = order(flows);
    assert.equal(ids.length, flows.length);
    assert.ok(respectsCalls(flows, ids), ids.join(' '));
    assert.deepEqual(ids, ['alone', 'g1', 'c1', 'g2', 'c2', 'c3', 'p1', 'p2', 'top']);
  });

  it('ignores calls to flows it does not know, and repeated calls', () => {
    assert.deepEqual(order([flow('a', ['ghost', 'b', 'b']), flow('b')]), ['b', 'a']);
    assert.deepEqual(order([]), []);
  });

  it('a cycle throws, naming it by flow names', () => {
    assert.throws(() => order([flow('a', ['b']), flow('b', ['a'])]), (err: unknown) =>
      err instanceof FlowCycleError && err.message === 'flow calls form a cycle: A → B → A' && err.cycle.join(',') === 'a,b,a');
    assert.throws(() => order([flow('x', ['x'])]), { message: 'flow calls form a cycle: X → X' });
    // reached through a flow outside the cycle, and started from its smallest id
    assert.throws(() => order([flow('a', ['d']), flow('d', ['b']), flow('b', ['c']), flow('c', ['d']), flow('e')]), {
      name: 'FlowCycleError',
      message: 'flow calls form a cycle: B → C → D → B',
    });
  });
});

describe('post-migration checklist', () => {
  const environment = (components: Partial<EnvironmentComponents>) => ({ id: 'env-sales', name: 'Contoso Sales', components: { ...NONE, ...components } });
  const item = (checklist: ReturnType<typeof postMigrationChecklist>, kind: string) => checklist.items.find((i) => i.kind === kind);

  it('an empty environment: only deleting the orphaned record in the source tenant', () => {
    const checklist = postMigrationChecklist(environment({}));
    assert.deepEqual(checklist, {
      items: [{
        kind: 'deleteOrphanedEnvironmentRecord',
        title: 'Once the move is confirmed, delete the orphaned environment record (without Dataverse) left in the source tenant',
        details: ['Contoso Sales (env-sales)'],
      }],
      flowActivationOrder: [],
    });
  });

  it('flows: connections, child-first order, HTTP trigger URLs, source flows off, flows that did not move', () => {
    const checklist = postMigrationChecklist(environment({
      flows: [
        flow('f-parent', ['f-child'], { name: 'Parent', trigger: 'http', connectionReferences: ['shared_office365', 'shared_sql'] }),
        flow('f-child', [], { name: 'Child', state: 'Off', connectionReferences: ['shared_office365'] }),
        flow('f-loose', [], { name: 'Loose', inSolution: false, connectionReferences: ['shared_teams'] }),
      ],
    }));
    assert.deepEqual(checklist.flowActivationOrder, ['Child', 'Parent']);
    assert.deepEqual(item(checklist, ChecklistKind.CreateConnections)?.details, ['shared_office365 (used by Child, Parent)', 'shared_sql (used by Parent)']);
    assert.deepEqual(item(checklist, ChecklistKind.TurnOnFlows), {
      kind: 'turnOnFlows', title: 'Turn on the flows, child flows before the parent flows that call them, in this order', details: ['1. Child', '2. Parent'],
    });
    assert.deepEqual(item(checklist, ChecklistKind.UpdateHttpTriggerUrls)?.details, ['Parent']);
    assert.deepEqual(item(checklist, ChecklistKind.TurnOffSourceFlows)?.details, ['Parent', 'Loose']);
    assert.deepEqual(item(checklist, ChecklistKind.FlowsNotMigrated)?.details, ['Loose']);
  });

  it('a cycle in flow calls throws FlowCycleError', () => {
    assert.throws(() => postMigrationChecklist(environment({ flows: [flow('a', ['b']), flow('b', ['a'])] })), FlowCycleError);
  });

  it('apps, bots, websites, Marketing, connectivity, unsupported components, settings: one item each', () => {
    const checklist = postMigrationChecklist(environment({
      canvasApps: [{ id: 'a1', name: 'Expenses', solutionAware: true }, { id: 'a2', name: 'Visits', solutionAware: false }],
      bots: [{ id: 'b', name: 'Helper' }],
      websites: [{ id: 'w1', name: 'Partners', portalType: 'Customer self-service', language: 'en-US' }, { id: 'w2', name: 'Careers', portalType: 'Blank', language: 'fr-FR' }],
      marketing: true,
      customConnectors: [{ id: 'c', name: 'ERP' }], connections: [{ id: 'k', name: 'SQL' }], gateways: [{ id: 'g', name: 'Gateway' }],
      unsupported: ['Dynamics 365 Customer Voice'],
      settings: ['SharePoint'],
    }));
    assert.deepEqual(checklist.items.map((i) => i.kind), [
      'importSolutions', 'importCanvasAppPackages', 'importBotSolutions', 'reprovisionWebsites', 'reprovisionMarketing',
      'reconfigureConnectivity', 'setUpUnsupportedComponents', 'reconfigureSettings', 'deleteOrphanedEnvironmentRecord',
    ]);
    assert.deepEqual(item(checklist, 'importSolutions')?.details, ['Expenses']);
    assert.deepEqual(item(checklist, 'importCanvasAppPackages')?.details, ['Visits']);
    assert.deepEqual(item(checklist, 'importBotSolutions')?.details, ['Helper']);
    assert.deepEqual(item(checklist, 'reprovisionWebsites'), {
      kind: 'reprovisionWebsites',
      title: 'Re-provision each Power Pages website with the same portal type and language',
      details: ['Partners: portal type Customer self-service, language en-US', 'Careers: portal type Blank, language fr-FR'],
    });
    assert.match(item(checklist, 'reprovisionMarketing')!.title, /Re-provision Dynamics 365 Marketing/);
    assert.deepEqual(item(checklist, 'reconfigureConnectivity')?.details, ['custom connector: ERP', 'connection: SQL', 'gateway: Gateway']);
    assert.deepEqual(item(checklist, 'setUpUnsupportedComponents')?.details, ['Dynamics 365 Customer Voice']);
    assert.deepEqual(item(checklist, 'reconfigureSettings')?.details, ['SharePoint']);
  });

  it('every kind it can produce is a ChecklistKind, in the declared order', () => {
    const checklist = postMigrationChecklist(environment({
      flows: [flow('p', ['c'], { trigger: 'http', connectionReferences: ['r'] }), flow('c'), flow('l', [], { inSolution: false })],
      canvasApps: [{ id: 'a1', name: 'A', solutionAware: true }, { id: 'a2', name: 'B', solutionAware: false }],
      bots: [{ id: 'b', name: 'B' }], websites: [{ id: 'w', name: 'W', portalType: 'Blank', language: 'en-US' }], marketing: true,
      gateways: [{ id: 'g', name: 'G' }], unsupported: ['X'], settings: ['Y'],
    }));
    assert.deepEqual(checklist.items.map((i) => i.kind), Object.values(ChecklistKind));
  });
});
