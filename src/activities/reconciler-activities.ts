// The reconciler's activities (SPEC §2 step 9): a terminate or a timeout closes a
// migration's workflow without any of our code running, so its request stays open
// in the control plane and its container SAS keeps working. These find such
// requests and close them, and tell the batch that started such a migration, which
// would otherwise wait for its report for ever. Only the simulated back end keeps requests here.
import { log } from '@temporalio/activity';
import type { Client, WorkflowExecutionDescription, WorkflowExecutionStatusName } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { MIGRATION_WORKFLOW_TYPE, MigrationEndedSignal, SearchAttributes, migrationEndedSignal, migrationWorkflowId, phaseOfUnfinishedRun } from '../contracts';
import { OPEN_REQUEST_STATUSES, type ControlPlane, type MigrationRequestRecord } from '../controlplane/control-plane';
import { containerNameFor, type MigrationStorage } from '../storage/migration-storage';

export interface ReconcilerDependencies {
  controlPlane: ControlPlane;
  /** undefined: the migrations have no blob storage of ours to revoke */
  storage: MigrationStorage | undefined;
  client: Client;
}

/** Who the control plane records as having closed a request the reconciler closed. */
export const RECONCILER_ACTOR = 't2t-reconciler';

/**
 * A request registered this recently with no workflow to be found is left for a later
 * run: a guard against reading a namespace whose visibility or history lags behind.
 */
export const DEFAULT_MISSING_GRACE_MS = 5 * 60_000;

/** The request status a closed run leaves its still-open request in; undefined: leave it alone. */
export type ClosedAs = 'Terminated' | 'Failed';

/**
 * How a migration's run ended, as the reconciler judges it. `undefined` (no run at all)
 * counts as terminated: its history is gone (retention) or it never ran.
 * Completed and cancelled runs closed their own request; running and paused ones still own it.
 */
export function closedAsOf(status: WorkflowExecutionStatusName | undefined): ClosedAs | undefined {
  // No run at all (after the grace period) counts as terminated.
  return status === undefined ? 'Terminated' : phaseOfUnfinishedRun(status);
}

/** Requests are paged in the order the control plane lists them: creation time, then id. */
export interface RequestCursor {
  createdOn: string;
  id: string;
}

export interface UnfinishedRequest {
  requestId: string;
  environmentId: string;
  /** how its run ended: TERMINATED, TIMED_OUT, FAILED, or NONE when there is none */
  runStatus: WorkflowExecutionStatusName | 'NONE';
  closeAs: ClosedAs;
}

export interface UnfinishedPage {
  /** open requests looked at in this page */
  scanned: number;
  unfinished: UnfinishedRequest[];
  /** where the next page starts; absent after the last page */
  next?: RequestCursor;
}

export interface CloseOutcome {
  requestId: string;
  /** closed by this call; closed before it (a repeat, or the workflow got there first); or left open: its run owns it */
  outcome: 'closed' | 'closedAlready' | 'leftOpen';
  /** the request's status after the call */
  status: string;
  reason: string;
  /** the batch that started the migration, told of its ending */
  batchWorkflowId?: string;
}

/** What describe showed of a request's run. */
interface RunSeen {
  status: WorkflowExecutionStatusName;
  /** the batch that started it, when one did */
  batchWorkflowId?: string;
}

// Ids go into visibility queries as literals: anything else is judged by describe alone.
const QUERY_SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// Describes run side by side, not all at once: the frontend rate-limits per namespace.
const DESCRIBE_CONCURRENCY = 8;
const MAX_PAGE_SIZE = 500;

function byCursorOrder(a: RequestCursor, b: RequestCursor): number {
  if (a.createdOn !== b.createdOn) return a.createdOn < b.createdOn ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function createReconcilerActivities(deps: ReconcilerDependencies) {
  const { controlPlane, storage, client } = deps;

  /** The run that carries this request, described (strongly consistent); undefined when there is none. */
  async function runOf(request: MigrationRequestRecord): Promise<RunSeen | undefined> {
    // Describe gives the latest run of the workflow id; a newer migration of the same
    // environment may have taken it since, so the run must carry this request's id.
    const latest = await describe(migrationWorkflowId(request.environmentId));
    if (latest && latest.typedSearchAttributes.get(SearchAttributes.sourceMigrationId) === request.id) return seen(latest);
    if (!QUERY_SAFE_ID.test(request.id)) return latest ? { status: 'UNKNOWN' } : undefined;
    const runs: { workflowId: string; runId: string; startTime: Date }[] = [];
    for await (const run of client.workflow.list({ query: `${SearchAttributes.sourceMigrationId.name} = '${request.id}'` })) {
      runs.push({ workflowId: run.workflowId, runId: run.runId, startTime: run.startTime });
    }
    if (runs.length === 0) return undefined;
    // A reset leaves several runs with the request's id: the newest one owns it.
    runs.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
    const newest = await describe(runs[0].workflowId, runs[0].runId);
    return newest ? seen(newest) : undefined;
  }

  function seen(description: WorkflowExecutionDescription): RunSeen {
    // Only a batch starts migrations as child workflows (batch.ts); the parent stays recorded across the child's continue-as-new.
    const batchWorkflowId = description.parentExecution?.workflowId;
    return { status: description.status.name, ...(batchWorkflowId ? { batchWorkflowId } : {}) };
  }

  async function describe(workflowId: string, runId?: string) {
    try {
      return await client.workflow.getHandle(workflowId, runId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /** How the request's run ended, if it ended without closing the request. */
  async function judge(
    request: MigrationRequestRecord,
    missingGraceMs: number,
  ): Promise<{ closeAs?: ClosedAs; runStatus: WorkflowExecutionStatusName | 'NONE'; batchWorkflowId?: string }> {
    const run = await runOf(request);
    if (run === undefined && Date.now() - Date.parse(request.createdOn) < missingGraceMs) return { runStatus: 'NONE' };
    return { closeAs: closedAsOf(run?.status), runStatus: run?.status ?? 'NONE', ...(run?.batchWorkflowId ? { batchWorkflowId: run.batchWorkflowId } : {}) };
  }

  /**
   * Tells the migration's batch how it ended, as the migration would have: the batch frees its
   * migrate slot or its place in the queue, and counts it ended. Before the request is marked
   * closed, so that a failure here leaves the request for the next run to try again. A batch
   * that is closed wants nothing.
   */
  async function tellBatch(batchWorkflowId: string, ending: MigrationEndedSignal): Promise<void> {
    try {
      await client.workflow.getHandle(batchWorkflowId).signal(migrationEndedSignal, ending);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return;
      throw err;
    }
  }

  /**
   * The visible runs of each request id, in one query. Visibility is eventually consistent, so it
   * only decides what need not be described: a run shown running or closed normally is
   * left for now; anything else is described before it is acted on.
   */
  async function visibleRuns(ids: string[]): Promise<Map<string, { status: WorkflowExecutionStatusName; startTime: number }[]>> {
    const runs = new Map<string, { status: WorkflowExecutionStatusName; startTime: number }[]>();
    const safe = ids.filter((id) => QUERY_SAFE_ID.test(id));
    if (safe.length === 0) return runs;
    const query =
      `WorkflowType = '${MIGRATION_WORKFLOW_TYPE}' AND ` +
      `${SearchAttributes.sourceMigrationId.name} IN (${safe.map((id) => `'${id}'`).join(', ')})`;
    for await (const run of client.workflow.list({ query })) {
      const id = run.typedSearchAttributes.get(SearchAttributes.sourceMigrationId);
      if (typeof id !== 'string') continue;
      const list = runs.get(id) ?? [];
      list.push({ status: run.status.name, startTime: run.startTime.getTime() });
      runs.set(id, list);
    }
    return runs;
  }

  return {
    /**
     * One page of open requests (in creation order, after `after`), with those whose run
     * ended without finishing them. Reads only; acting is closeUnfinishedRequest's job.
     */
    async findUnfinishedRequests(input: { after?: RequestCursor; limit: number; missingGraceMs?: number }): Promise<UnfinishedPage> {
      const limit = Math.max(1, Math.min(input.limit, MAX_PAGE_SIZE));
      const after = input.after;
      // The control plane has no status filter or paging for requests: one read, paged here.
      // Sorted here, not by the database: the cursor compares as JavaScript does, whatever the database's collation.
      const open = (await controlPlane.listRequests({}))
        .filter((r) => OPEN_REQUEST_STATUSES.includes(r.approvalStatus))
        .sort(byCursorOrder)
        .filter((r) => !after || byCursorOrder(r, after) > 0);
      const page = open.slice(0, limit);
      const last = page[page.length - 1];
      const next = open.length > limit && last ? { createdOn: last.createdOn, id: last.id } : undefined;

      const visible = await visibleRuns(page.map((r) => r.id));
      const suspects = page.filter((r) => {
        const runs = visible.get(r.id);
        if (!runs) return true;
        if (runs.some((run) => run.status === 'RUNNING' || run.status === 'PAUSED')) return false;
        const newest = runs.reduce((a, b) => (b.startTime > a.startTime ? b : a));
        return closedAsOf(newest.status) !== undefined;
      });

      const missingGraceMs = input.missingGraceMs ?? DEFAULT_MISSING_GRACE_MS;
      const unfinished: UnfinishedRequest[] = [];
      for (let i = 0; i < suspects.length; i += DESCRIBE_CONCURRENCY) {
        const judged = await Promise.all(suspects.slice(i, i + DESCRIBE_CONCURRENCY).map(async (request) => ({ request, ...(await judge(request, missingGraceMs)) })));
        for (const { request, closeAs, runStatus } of judged) {
          if (closeAs) unfinished.push({ requestId: request.id, environmentId: request.environmentId, runStatus, closeAs });
        }
      }
      return { scanned: page.length, unfinished, ...(next ? { next } : {}) };
    },

    /**
     * Closes one request whose run ended without finishing it: revokes the container's
     * SAS, then marks the request Terminated or Failed. Judges the run again first (the
     * page may be minutes old, and a reset may have revived it); idempotent.
     */
    async closeUnfinishedRequest(input: { requestId: string; missingGraceMs?: number }): Promise<CloseOutcome> {
      const request = await controlPlane.getRequest(input.requestId);
      if (!request) return { requestId: input.requestId, outcome: 'closedAlready', status: 'unknown', reason: 'no such request' };
      if (!OPEN_REQUEST_STATUSES.includes(request.approvalStatus)) {
        return { requestId: request.id, outcome: 'closedAlready', status: request.approvalStatus, reason: 'closed already' };
      }
      const { closeAs, runStatus, batchWorkflowId } = await judge(request, input.missingGraceMs ?? DEFAULT_MISSING_GRACE_MS);
      if (!closeAs) return { requestId: request.id, outcome: 'leftOpen', status: request.approvalStatus, reason: `its run is ${runStatus}` };
      const reason = runStatus === 'NONE' ? 'no workflow run was found for it' : `its workflow run closed as ${runStatus}`;
      // Storage first: if marking the request fails, the request stays open and the next
      // run revokes again (idempotent); the other order could leave a live SAS behind a closed request.
      if (storage) await storage.revoke(containerNameFor(request.id));
      if (batchWorkflowId) await tellBatch(batchWorkflowId, { environmentId: request.environmentId, phase: closeAs, reason: `${reason} (found by the reconciler)` });
      await controlPlane.setRequestStatus(request.id, closeAs, RECONCILER_ACTOR);
      log.info('reconciler closed a migration request', { requestId: request.id, environmentId: request.environmentId, status: closeAs, runStatus, ...(batchWorkflowId ? { batchWorkflowId } : {}) });
      return { requestId: request.id, outcome: 'closed', status: closeAs, reason, ...(batchWorkflowId ? { batchWorkflowId } : {}) };
    },
  };
}

export type ReconcilerActivities = ReturnType<typeof createReconcilerActivities>;
