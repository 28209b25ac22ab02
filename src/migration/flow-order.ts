// SPEC §5: the order to turn flows on after the migration — every child flow
// before each parent flow that calls it. Pure and deterministic.
import type { FlowComponent } from '../controlplane/control-plane';

export class FlowCycleError extends Error {
  override name = 'FlowCycleError';

  /** @param cycle flow ids along the calls, the first repeated at the end */
  constructor(readonly cycle: string[], names: string[]) {
    super(`flow calls form a cycle: ${names.join(' → ')}`);
  }
}

type Flow = Pick<FlowComponent, 'id' | 'name' | 'childFlows'>;

// Code-point order, not localeCompare: the same on every machine.
const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * A topological order, children first. Among the flows that could go next, the
 * one with the smallest id goes first, so the order is the same every time.
 * Calls to flows that are not in the list are ignored. A cycle throws
 * FlowCycleError naming it.
 */
export function flowActivationOrder<F extends Flow>(flows: F[]): F[] {
  const flowsById = new Map(flows.map((f) => [f.id, f]));
  const children = new Map<string, Set<string>>();
  const parents = new Map<string, string[]>();
  for (const flow of flowsById.values()) {
    const calls = new Set(flow.childFlows.filter((child) => flowsById.has(child)));
    children.set(flow.id, calls);
    for (const child of calls) parents.set(child, [...(parents.get(child) ?? []), flow.id]);
  }

  const waitingOn = new Map([...children].map(([id, calls]) => [id, calls.size]));
  const ready = [...waitingOn].filter(([, n]) => n === 0).map(([id]) => id).sort(byId);
  const order: F[] = [];
  while (ready.length > 0) {
    const id = ready.shift()!;
    order.push(flowsById.get(id)!);
    for (const parent of parents.get(id) ?? []) {
      const left = waitingOn.get(parent)! - 1;
      waitingOn.set(parent, left);
      if (left === 0) insertSorted(ready, parent);
    }
  }
  if (order.length < flowsById.size) {
    const cycle = findCycle([...waitingOn].filter(([, n]) => n > 0).map(([id]) => id), children, waitingOn);
    throw new FlowCycleError(cycle, cycle.map((id) => flowsById.get(id)!.name));
  }
  return order;
}

function insertSorted(sorted: string[], id: string): void {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (byId(sorted[mid], id) < 0) low = mid + 1;
    else high = mid;
  }
  sorted.splice(low, 0, id);
}

/**
 * Every flow left over still calls another left-over flow, so following the
 * calls from any of them must come back round. Returns the cycle from its
 * smallest id, that id repeated at the end.
 */
function findCycle(leftOver: string[], children: Map<string, Set<string>>, waitingOn: Map<string, number>): string[] {
  const path: string[] = [];
  const position = new Map<string, number>();
  let id = leftOver.sort(byId)[0];
  while (!position.has(id)) {
    position.set(id, path.length);
    path.push(id);
    id = [...children.get(id)!].filter((child) => waitingOn.get(child)! > 0).sort(byId)[0];
  }
  const cycle = path.slice(position.get(id));
  const start = cycle.indexOf([...cycle].sort(byId)[0]);
  const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
  return [...rotated, rotated[0]];
}
