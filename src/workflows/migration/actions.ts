// The admin actions, one at a time: the wait between them (deadlines, reminders, the
// service watch and continue-as-new share one durable timer) and who may act (role
// checks). Bad payloads, wrong phases and wrong people are refused and recorded;
// none of them changes the migration.
import { allHandlersFinished, condition, isCancellation, proxyLocalActivities } from '@temporalio/workflow';
import type { Action } from '../../contracts';
import type { ActionProof } from '../../identity/action-proof';
import type { MigrationActivities } from '../../activities';
import { phaseAccepts, phaseRefusal } from '../phase-rules';
import { AdminAction, parseAction, requestIdOf } from '../inbox';
import { MigrationNotifications } from '../notifications';
import { failureMessage } from '../failures';
import { retryWithinBudget } from '../check-budget';
import { BACKOFF, retry } from './service';
import { checkActionProof } from './proofs';
import type { Migration } from './state';

/** How long a refusal of an actor for an action is remembered instead of asking the directory again. */
const REFUSAL_MEMORY_MS = 60_000;

export type ActionHandler = (payload: Record<string, unknown>, actor: string) => Promise<'continue' | 'done' | { refused: string }>;

/** Reads the request on the service while people are awaited: 'done' when someone acted outside the product. */
export type Watch = () => Promise<'continue' | 'done'>;

export interface Wait {
  handlers: Partial<Record<AdminAction, ActionHandler>>;
  deadline: () => number | undefined;
  timerSummary: string;
  watch?: Watch;
  ready?: () => boolean;
  /** when `ready` becomes true by itself (a booked cutover): a timer wakes the migration then */
  readyAt?: { at: () => number | undefined; summary: string };
}

/**
 * Handles queued admin actions one at a time until a handler says 'done', the
 * deadline passes, or (with no action left to handle) `ready` holds.
 */
export async function handleActions(m: Migration, { handlers, deadline: currentDeadline, timerSummary, watch, ready, readyAt }: Wait): Promise<'done' | 'timeout' | 'ready'> {
  const watching = watch !== undefined && m.externalActions;
  const isReady = () => ready?.() ?? false;
  for (;;) {
    // An accepted action can move the deadline (a successful prepare opens the window).
    const deadline = currentDeadline();
    if (m.inbox.size === 0 && !isReady()) {
      m.noticeToWrite = false;
      await m.writeTrail();
      if (m.historyIsLong() && m.inbox.size === 0 && allHandlersFinished()) await m.continueAsNewRun();
      if (watching && m.nextWatchAt === 0) m.nextWatchAt = Date.now() + m.servicePollMs();
      const watchAt = watching ? m.nextWatchAt : undefined;
      // The next reminder or escalation of the deadline waited on shares the one durable timer.
      const notice = m.notify.next(m.state);
      const dueAt = readyAt?.at();
      // A trail the control plane could not take is written again later, whatever else happens meanwhile.
      const trailAt = m.trail.retryAt;
      const wakeAt = earliest(deadline, watchAt, notice?.at, dueAt, trailAt);
      if (wakeAt === undefined) {
        await condition(() => m.inbox.size > 0 || isReady() || m.noticeToWrite);
      } else {
        const remaining = wakeAt - Date.now();
        const summary =
          wakeAt === deadline
            ? timerSummary
            : notice && wakeAt === notice.at
              ? MigrationNotifications.summary(notice)
              : readyAt && wakeAt === dueAt
                ? readyAt.summary
                : wakeAt === trailAt
                  ? 'next try at writing the audit trail'
                  : 'next look at the request on the migration service';
        const arrived = remaining > 0 && (await condition(() => m.inbox.size > 0 || isReady() || m.noticeToWrite, remaining, { summary }));
        if (!arrived) {
          if (deadline !== undefined && Date.now() >= deadline) return 'timeout';
          if (isReady()) continue;
          if (notice && Date.now() >= notice.at) {
            // Sent once: marked done now, written at the top of the loop, carried across continue-as-new.
            m.notify.send(notice, m.state);
            continue;
          }
          // Written at the top of the loop.
          if (trailAt !== undefined && Date.now() >= trailAt) continue;
          // A durable timer, not a busy loop: the request is read once per interval.
          m.nextWatchAt = Date.now() + m.servicePollMs();
          if ((await watch!()) === 'done') return 'done';
          continue;
        }
      }
    }
    // Woken only to write a notice (a stall): back to the top, which writes it, then waits again.
    if (m.inbox.size === 0 && !isReady()) continue;
    // An action delivered together with the timer, or after the deadline, is too late:
    // the deadline is handled first and the action meets the next phase.
    if (deadline !== undefined && Date.now() >= deadline) return 'timeout';
    // Actions queued when it became ready go first: a cancel sent while waiting for a slot wins over the migrate.
    const message = m.inbox.take();
    if (!message) return 'ready';
    const parsed = parseAction(message.action, message.payload);
    const requestId = message.replyTo ?? requestIdOf(message.payload);
    // Sent again (a client retrying after a continue-as-new, a signal repeated): answered as before, not applied twice.
    const earlier = m.answeredBefore(requestId, message.action, parsed.actor);
    if (earlier) {
      m.inbox.answer(message, earlier);
      continue;
    }
    let actor = parsed.actor;
    let proof: ActionProof | undefined;
    const refuse = (reason: string) => m.inbox.answer(message, m.record(message.action, actor, 'refused', reason, requestId, undefined, proof));
    if (!parsed.ok) {
      refuse(parsed.reason);
      continue;
    }
    const { payload } = parsed;
    let outcome: Awaited<ReturnType<ActionHandler>>;
    try {
      // Sign-in on: the gateway's proof first; who acts is the user it verified, and the role check runs on them.
      if (m.auth.enforced) {
        const pendingProof = checkActionProof(m, message);
        const checked = pendingProof instanceof Promise ? await pendingProof : pendingProof;
        if (!checked.ok) {
          refuse(`${message.action} refused: ${checked.reason}`);
          continue;
        }
        proof = checked.proof;
        actor = proof.claims.user;
      }
      const handler = handlers[message.action];
      if (!handler || !phaseAccepts(m.state.phase, message.action)) {
        refuse(phaseRefusal(message.action, m.state.phase, m.state.prepareDeadline));
        continue;
      }
      const pendingRole = checkRole(m, message.action, actor, `Check the role for ${message.action}`);
      // Awaited only when not answered yet: see checkRole.
      const authorization = pendingRole instanceof Promise ? await pendingRole : pendingRole;
      if (!authorization.allowed) {
        refuse(authorization.reason!);
        continue;
      }
      m.acting = proof?.actionId;
      try {
        outcome = await handler(payload, actor);
      } finally {
        m.acting = undefined;
      }
    } catch (err) {
      // Cancelled through Temporal while this action ran: its sender is answered, and the migration ends.
      if (isCancellation(err)) refuse(`${message.action} refused: the migration was cancelled through Temporal while it ran`);
      throw err;
    }
    if (typeof outcome === 'object') {
      refuse(outcome.refused);
      continue;
    }
    m.inbox.answer(message, m.record(message.action, actor, 'accepted', undefined, requestId, undefined, proof));
    if (outcome === 'done') return 'done';
  }
}

type RoleCheck = { allowed: boolean; reason?: string };

/**
 * The actor's role for the action; a directory that cannot answer refuses the action, never fails the
 * migration. A refusal remembered is answered at once, not as a promise, and the caller then does
 * not await it: a script flooding a migration with the same refused action (thousands of signals in
 * one workflow task) is answered without microtasks per refusal. Tens of thousands of them in one
 * task corrupted Node's async-hook stack in the workflow's worker thread and crashed the worker
 * (seen under a 6,000-signal burst).
 */
export function checkRole(m: Migration, action: Action, actor: string, summary: string): RoleCheck | Promise<RoleCheck> {
  const key = `${action}\u0000${actor.toLowerCase()}`;
  const remembered = m.refusals.get(key);
  if (remembered && remembered.until > Date.now()) return { allowed: false, reason: remembered.reason };
  return askForRole(m, action, actor, summary, key);
}

async function askForRole(m: Migration, action: Action, actor: string, summary: string, key: string): Promise<RoleCheck> {
  let result: RoleCheck;
  try {
    result = await localRoleCheck(m, action, actor, summary);
  } catch (err) {
    if (isCancellation(err)) throw err;
    // Not remembered: the directory may answer next time.
    return { allowed: false, reason: `${action} refused: could not check your role; try again (${failureMessage(err)})` };
  }
  if (result.allowed) m.refusals.delete(key);
  else m.refusals.set(key, { reason: result.reason!, until: Date.now() + REFUSAL_MEMORY_MS });
  return result;
}

/**
 * A role check as a local activity (a short look-up: one marker in history), held to the check
 * budget by its retry policy (check-budget.ts).
 */
function localRoleCheck(m: Migration, action: Action, actor: string, summary: string): Promise<{ allowed: boolean; reason?: string }> {
  const budgetMs = m.checkBudgetMs();
  const { maximumAttempts, attemptMs } = retryWithinBudget(budgetMs, BACKOFF);
  const { authorize } = proxyLocalActivities<MigrationActivities>({
    startToCloseTimeout: attemptMs,
    scheduleToCloseTimeout: budgetMs,
    retry: { ...retry, maximumAttempts },
    summary,
  });
  return authorize({ action, actor, environmentId: m.input.environmentId, sourceTenantId: m.sourceTenantId, targetTenantId: m.input.targetTenantId });
}

/** The earliest of the times given, if any. */
function earliest(...times: (number | undefined)[]): number | undefined {
  const given = times.filter((t): t is number => t !== undefined);
  return given.length === 0 ? undefined : Math.min(...given);
}
