// What operators see of a migration without opening it: the search attributes
// (the Web UI's list filters and columns), the memo, and the current details.
// One call per phase change writes them together.
import { setCurrentDetails, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { SearchAttributes, type MigrationStatus } from '../contracts';
import { renderDetails } from './details';

/**
 * Shows the migration's phase, with the search attributes that change with it: one upsert, and
 * values the start already carried are not upserted again (fewer events, fewer visibility writes).
 */
export function showPhase(state: MigrationStatus, alongside: SearchAttributeUpdatePair[] = []): void {
  const phase = { key: SearchAttributes.phase, value: state.phase } as const;
  const updates = [phase, ...alongside].filter((pair) => !carriesAlready(pair));
  if (updates.length > 0) upsertSearchAttributes(updates as SearchAttributeUpdatePair[]);
  showDetails(state);
}

/** The Web UI's current details, for changes that are not a new phase. */
export function showDetails(state: MigrationStatus): void {
  setCurrentDetails(renderDetails(state));
}

/** The source tenant and the names, once the migration has been assessed. */
export function showAssessment(sourceTenantId: string, memo: Record<string, string>): void {
  const sourceTenant = { key: SearchAttributes.sourceTenantId, value: sourceTenantId } as const;
  if (!carriesAlready(sourceTenant)) upsertSearchAttributes([sourceTenant]);
  if (!carriesMemoAlready(memo)) upsertMemo(memo);
}

/**
 * Whether the run's search attributes hold this value already (the client sets
 * the first ones at start): an upsert of the same value is an event for nothing.
 */
function carriesAlready(pair: SearchAttributeUpdatePair): boolean {
  if (pair.value === null || pair.value instanceof Date) return false;
  return workflowInfo()
    .typedSearchAttributes.getAll()
    .some((current) => current.key.name === pair.key.name && current.value === pair.value);
}

function carriesMemoAlready(memo: Record<string, string>): boolean {
  const current = workflowInfo().memo ?? {};
  return Object.entries(memo).every(([key, value]) => current[key] === value);
}
