// How a migration's status is read from Temporal — found by either id, its run's
// own state corrected for a run closed outside the product, the move-back that
// reverses it — written once over the few reads it needs, so that the Temporal
// client (migrations.ts) and the lean reader of `t2t status` (lean/) give the
// same answer by the same steps.
import type { MigrationStatus, Phase } from '../contracts';
import { MIGRATION_WORKFLOW_TYPE, SearchAttributes, isFinalPhase, phaseOfUnfinishedRun, statusQuery } from '../contracts';
import type { ReportedStatus, RunClosure } from './run-closure';
import { UserError } from './user-error';

export interface RunRef {
  workflowId: string;
  /** absent: the latest run */
  runId?: string;
}

export interface ListedRun {
  workflowId: string;
  runId: string;
  statusName: string;
  startTime: Date;
  closeTime?: Date;
  /** a Keyword search attribute */
  keyword(name: string): string | undefined;
  memo?: Record<string, unknown>;
}

export interface RunDescription {
  workflowId: string;
  runId: string;
  statusName: string;
  closeTime?: Date;
}

/** What the close event of a run's history says. */
export interface CloseEvent {
  at?: Date;
  terminatedBy?: string;
  terminatedReason?: string;
  failureMessage?: string;
  continuedAsNewRunId?: string;
}

export interface TemporalReads {
  list(query: string): Promise<ListedRun[]>;
  query(run: RunRef, queryType: string): Promise<unknown>;
  describe(run: RunRef): Promise<RunDescription>;
  closeEvent(run: RunRef): Promise<CloseEvent | undefined>;
}

/** Finds a migration's run by its source or its target migration id. */
export async function findRun(reads: TemporalReads, migrationId: string): Promise<RunRef> {
  if (!/^[0-9a-fA-F-]{8,64}$/.test(migrationId)) throw new UserError(`no migration has the id '${migrationId}'`);
  const query = `(${SearchAttributes.sourceMigrationId.name} = '${migrationId}' OR ${SearchAttributes.targetMigrationId.name} = '${migrationId}')`;
  // Visibility is eventually consistent: a migration submitted a moment ago may take a moment to show.
  for (let attempt = 0; attempt < 20; attempt += 1) {
    // A migration that continued as new has several runs: the running one, else the latest.
    let found: ListedRun | undefined;
    for (const execution of await reads.list(query)) {
      if (execution.statusName === 'RUNNING') {
        found = execution;
        break;
      }
      if (!found || execution.startTime > found.startTime) found = execution;
    }
    if (found) {
      // The last run of a chain may not be listed yet: follow the chain from the one found.
      if (found.statusName === 'CONTINUED_AS_NEW') return latestRunOf(reads, { workflowId: found.workflowId, runId: found.runId });
      return { workflowId: found.workflowId, runId: found.runId };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new UserError(`no migration has the id '${migrationId}'`);
}

/** The run a continued-as-new run led to, following the chain until a run that did not continue. */
export async function latestRunOf(reads: TemporalReads, run: RunRef): Promise<RunRef> {
  let current = run.runId;
  for (let hops = 0; hops < 100; hops += 1) {
    const next = (await reads.closeEvent({ workflowId: run.workflowId, runId: current }))?.continuedAsNewRunId;
    if (!next) break;
    current = next;
  }
  return { workflowId: run.workflowId, runId: current };
}

/** The closure of a run Temporal reports as closed by `runStatus` (terminate, timeout, failure), or undefined. */
export async function closureOfRun(
  reads: Pick<TemporalReads, 'closeEvent'>,
  run: RunRef & { runStatus: string; closeTime?: Date },
  whilePhase?: Phase,
): Promise<RunClosure | undefined> {
  if (!phaseOfUnfinishedRun(run.runStatus)) return undefined;
  const how: RunClosure['how'] = run.runStatus === 'TIMED_OUT' ? 'timed out' : run.runStatus === 'FAILED' ? 'failed' : 'terminated';
  const closure: RunClosure = { how, at: run.closeTime?.toISOString() ?? '', ...(whilePhase ? { whilePhase } : {}) };
  const event = await reads.closeEvent(run).catch(() => undefined);
  if (event?.at) closure.at = event.at.toISOString();
  if (event?.terminatedBy) closure.by = event.terminatedBy;
  if (event?.terminatedReason) closure.reason = event.terminatedReason;
  if (event?.failureMessage) closure.reason = event.failureMessage;
  return closure;
}

/**
 * The status query, corrected for a run that closed without our code ending it (terminate,
 * timeout, a failed task): its own state still shows the phase it stopped in, so the phase is
 * `Terminated` (or `Failed`) and `closed` says how, when and by whom, from the run's close event.
 */
export async function statusOfRun(reads: TemporalReads, run: RunRef): Promise<ReportedStatus> {
  // Both at once: a status is one round trip's wait, not two.
  const [status, description] = await Promise.all([reads.query(run, statusQuery.name) as Promise<MigrationStatus>, reads.describe(run)]);
  if (isFinalPhase(status.phase)) return status;
  const closed = await closureOfRun(
    reads,
    { workflowId: description.workflowId, runId: description.runId, runStatus: description.statusName, closeTime: description.closeTime },
    status.phase,
  );
  const phase = phaseOfUnfinishedRun(description.statusName);
  if (!phase || !closed) return status;
  return {
    ...status,
    phase,
    status: undefined,
    // How, by whom and when are in `closed` (and the status's Closed line); the reason says what follows.
    reason: `the migration's workflow was ${closed.how} while ${status.phase}, outside the product; its storage access is revoked by the reconciler`,
    closed,
  };
}

/**
 * The latest move-back of a succeeded migration: a migration of the same environment, the other
 * way, whose memo names this one (set when `t2t moveback` started it). Read from visibility, so no
 * workflow is asked; a move-back started a moment ago may take a moment to show.
 */
export async function reversalOf(reads: Pick<TemporalReads, 'list'>, status: MigrationStatus): Promise<MigrationStatus['reversedBy']> {
  if (status.phase !== 'Succeeded' || !status.sourceTenantId) return undefined;
  const quote = (value: string) => `'${value.replace(/'/g, '')}'`;
  const query = [
    `WorkflowType = '${MIGRATION_WORKFLOW_TYPE}'`,
    `${SearchAttributes.environmentId.name} = ${quote(status.environmentId)}`,
    `${SearchAttributes.sourceTenantId.name} = ${quote(status.targetTenantId)}`,
    `${SearchAttributes.targetTenantId.name} = ${quote(status.sourceTenantId)}`,
  ].join(' AND ');
  let found: ListedRun | undefined;
  for (const execution of await reads.list(query)) {
    if (execution.memo?.reversesMigrationId !== status.migrationId) continue;
    if (!found || execution.startTime > found.startTime) found = execution;
  }
  const migrationId = found?.keyword(SearchAttributes.sourceMigrationId.name);
  if (!found || !migrationId) return undefined;
  const phase = phaseOfUnfinishedRun(found.statusName) ?? (found.keyword(SearchAttributes.phase.name) as Phase | undefined);
  return { migrationId, ...(phase ? { phase } : {}) };
}

/** A succeeded migration's status with the move-back that reverses it, if one was opened. */
export async function withReversal<S extends MigrationStatus>(reads: Pick<TemporalReads, 'list'>, status: S): Promise<S> {
  const reversedBy = await reversalOf(reads, status);
  return reversedBy ? { ...status, reversedBy } : status;
}

/** The visibility query of the migrations of these tenants (as source or as target), or of one environment; undefined when a list of tenants is empty. */
export function migrationListQuery(filter: { sourceTenantIds?: string[]; targetTenantIds?: string[]; environmentId?: string }): string | undefined {
  const clauses: string[] = [`WorkflowType = '${MIGRATION_WORKFLOW_TYPE}'`];
  const inList = (ids: string[]) => ids.map((id) => `'${id.replace(/'/g, '')}'`).join(', ');
  if (filter.sourceTenantIds) clauses.push(`${SearchAttributes.sourceTenantId.name} IN (${inList(filter.sourceTenantIds)})`);
  if (filter.targetTenantIds) clauses.push(`${SearchAttributes.targetTenantId.name} IN (${inList(filter.targetTenantIds)})`);
  if (filter.environmentId) clauses.push(`${SearchAttributes.environmentId.name} = '${filter.environmentId.replace(/'/g, '')}'`);
  if ((filter.sourceTenantIds?.length ?? 1) === 0 || (filter.targetTenantIds?.length ?? 1) === 0) return undefined;
  return clauses.join(' AND ');
}
