// The reconciler (SPEC §2 step 9), started by the worker's Schedule every
// T2T_RECONCILE_INTERVAL: closes the control-plane requests of migrations whose
// workflow was terminated, timed out or failed, which no code of ours saw end, and
// tells the batch that started such a migration (closeUnfinishedRequest): a batch
// learns of endings only from reports, and would otherwise wait for this one for ever.
// Each run is a fresh Schedule action, so a run does a bounded amount of work and
// leaves the rest to the next one instead of growing one long history.
import { proxyActivities, workflowInfo, log } from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/common';
import type { CloseOutcome, ReconcilerActivities, RequestCursor } from '../activities/reconciler-activities';
import { failureMessage as messageOf } from './failures';

export interface ReconcileInput {
  /** open requests looked at per activity call (default 100) */
  pageSize?: number;
  /** requests closed per run at most (default 200); the next run goes on */
  maxClosesPerRun?: number;
  /** how old a request with no workflow run must be before it is closed (activity default: 5 min) */
  missingGraceMs?: number;
}

export interface ReconcileResult {
  /** open requests looked at */
  scanned: number;
  /** requests this run closed, by the status it gave them */
  closed: { Terminated: number; Failed: number };
  /** requests judged unfinished but left open when closing: their run came back (a reset) */
  leftOpen: number;
  /** requests that could not be closed now (e.g. storage unreachable); the next run tries again */
  failures: number;
  /** the first few closed request ids, for the Web UI; the control plane has them all */
  closedIds: string[];
  /** true when the run stopped early (its budget); the next run goes on */
  partial: boolean;
}

// A failing page or close ends its attempt quickly: the next Schedule action tries again,
// and with overlap SKIP a run retrying for long would only hold the next ones back.
const BRIEF: ActivityOptions = {
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
};

const find = proxyActivities<ReconcilerActivities>({ ...BRIEF, summary: 'List open requests and look up their workflow runs' }).findUnfinishedRequests;
const close = proxyActivities<ReconcilerActivities>({ ...BRIEF, summary: 'Revoke the storage and close the request' }).closeUnfinishedRequest;

const CLOSES_AT_ONCE = 10;
const CLOSED_IDS_SHOWN = 20;
// Well below the history limits: about three events per activity.
const HISTORY_BUDGET = 3_000;

export async function reconcileMigrations(input: ReconcileInput = {}): Promise<ReconcileResult> {
  const pageSize = input.pageSize ?? 100;
  const maxCloses = input.maxClosesPerRun ?? 200;
  const result: ReconcileResult = { scanned: 0, closed: { Terminated: 0, Failed: 0 }, leftOpen: 0, failures: 0, closedIds: [], partial: false };
  let after: RequestCursor | undefined;
  let attempted = 0;
  do {
    const page = await find({ ...(after ? { after } : {}), limit: pageSize, ...(input.missingGraceMs !== undefined ? { missingGraceMs: input.missingGraceMs } : {}) });
    result.scanned += page.scanned;
    const todo = page.unfinished.slice(0, Math.max(0, maxCloses - attempted));
    for (let i = 0; i < todo.length; i += CLOSES_AT_ONCE) {
      const outcomes = await Promise.all(
        todo.slice(i, i + CLOSES_AT_ONCE).map((u) =>
          close({ requestId: u.requestId, ...(input.missingGraceMs !== undefined ? { missingGraceMs: input.missingGraceMs } : {}) }).catch(
            (err: unknown): CloseOutcome | undefined => {
              // One request that cannot be closed now must not keep the others open.
              log.warn('a request could not be closed; the next run tries again', { requestId: u.requestId, error: messageOf(err) });
              return undefined;
            },
          ),
        ),
      );
      for (const outcome of outcomes) count(result, outcome);
    }
    attempted += todo.length;
    if (todo.length < page.unfinished.length || (page.next && overBudget())) {
      result.partial = true;
      break;
    }
    after = page.next;
  } while (after);
  return result;
}

function count(result: ReconcileResult, outcome: CloseOutcome | undefined): void {
  if (!outcome) {
    result.failures += 1;
  } else if (outcome.outcome === 'closed' && (outcome.status === 'Terminated' || outcome.status === 'Failed')) {
    result.closed[outcome.status] += 1;
    if (result.closedIds.length < CLOSED_IDS_SHOWN) result.closedIds.push(outcome.requestId);
  } else if (outcome.outcome === 'leftOpen') {
    result.leftOpen += 1;
  }
}

function overBudget(): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength > HISTORY_BUDGET;
}
