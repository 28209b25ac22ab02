// Reads how a run closed from Temporal: the close event of its history, and the
// latest runs of a batch's migrations from visibility (see run-closure.ts).
import type { Client } from '@temporalio/client';
import type { Phase } from '../contracts';
import { SearchAttributes } from '../contracts';
import type { RunClosure } from './run-closure';
import { closureOfRun } from './status-reader';
import { clientReads } from './client-reads';

/** The closure of a run Temporal reports as closed by `runStatus`, or undefined for every other run. */
export async function runClosureOf(
  client: Client,
  run: { workflowId: string; runId?: string; runStatus: string; closeTime?: Date },
  whilePhase?: Phase,
): Promise<RunClosure | undefined> {
  return closureOfRun(clientReads(client), run, whilePhase);
}

/**
 * Of these migrations (by source migration id), the ones whose latest run closed without our
 * code: a batch's child terminated while it held a slot or waited for people still shows as
 * running in the batch's own state until the batch hears of it.
 */
export async function closuresOf(client: Client, migrationIds: readonly string[]): Promise<Map<string, RunClosure>> {
  const closures = new Map<string, RunClosure>();
  const ids = migrationIds.filter((id) => /^[0-9a-fA-F-]{8,64}$/.test(id));
  if (ids.length === 0) return closures;
  const latest = new Map<string, { workflowId: string; runId: string; runStatus: string; closeTime?: Date; startTime: Date; phase?: Phase }>();
  const query = `${SearchAttributes.sourceMigrationId.name} IN (${ids.map((id) => `'${id}'`).join(', ')})`;
  for await (const execution of client.workflow.list({ query })) {
    const id = execution.typedSearchAttributes.get(SearchAttributes.sourceMigrationId);
    if (!id) continue;
    const seen = latest.get(id);
    // A migration that continued as new has several runs: the running one, else the latest.
    if (seen?.runStatus === 'RUNNING' || (seen && execution.status.name !== 'RUNNING' && seen.startTime >= execution.startTime)) continue;
    // T2TPhase keeps the phase the run stopped in: what it was doing when it closed.
    const phase = execution.typedSearchAttributes.get(SearchAttributes.phase) as Phase | undefined;
    latest.set(id, { workflowId: execution.workflowId, runId: execution.runId, runStatus: execution.status.name, closeTime: execution.closeTime, startTime: execution.startTime, phase });
  }
  await Promise.all(
    [...latest].map(async ([id, run]) => {
      const closure = await runClosureOf(client, run, run.phase);
      if (closure) closures.set(id, closure);
    }),
  );
  return closures;
}
