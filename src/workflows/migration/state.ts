// A migration's state and the one place each part of it changes: the phase (with its
// search attributes and the Web UI's details), the audit entries, the booked cutover,
// a stall notice, and what a run carries into the next one (continue-as-new).
import { allHandlersFinished, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { continueAsNewOnTarget, newerVersionIsTarget } from '../versioning';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { Action, AuditEntry, MigrationInput, MigrationStatus, Phase, SearchAttributes, isFinalPhase, type CarriedMigration } from '../../contracts';
import { phaseAccepts, phaseRefusal } from '../phase-rules';
import { Inbox } from '../inbox';
import { showDetails, showPhase } from '../visibility';
import { MigrationNotifications, type CarriedNotifications } from '../notifications';
import type { StalledNotice } from '../../operations/stall-signal';
import { AuditTrail } from './trail';
import type { ActionProof } from '../../identity/action-proof';
import type { SignedActions } from '../signed-actions';

/** Audit entries a migration keeps in its own state (the query's recent trail); the whole trail is in the control plane. */
const AUDIT_IN_STATE = 100;
/** Phase changes a migration keeps in its state (each prepare round makes two). */
const STATUS_LOG_IN_STATE = 200;
const DEFAULT_SERVICE_POLL_MS = 5 * 60_000;
// Checks an admin waits for have a budget of minutes, not forever: when it runs out the
// action is refused with one line, and the migration goes on taking actions.
const DEFAULT_CHECK_BUDGET_MS = 3 * 60_000;
const DEFAULT_CONTINUE_AFTER_EVENTS = 10_000;
/** Action ids remembered as handled, carried across continue-as-new (Temporal's own de-duplication of Update ids ends with the run). */
const HANDLED_IDS = 500;
/** Proof action ids remembered as used, carried across continue-as-new: a replay of one is refused. */
const USED_PROOF_IDS = 500;

export class Migration {
  state: MigrationStatus;
  readonly inbox: Inbox;
  readonly trail: AuditTrail;
  sourceTenantId = '';
  validationRound = 0;
  externalActions = false;
  servicePrepares = false;
  nextWatchAt = 0;
  /** a batch's migration: whether its batch has learned of its ending */
  endReported = false;
  /** a notice (a stall) waits to be written: the waiting migration wakes to write it */
  noticeToWrite = false;
  /**
   * The state carried from the run this one continued from. A start that carries state of its own
   * (anyone can start a workflow with any input) is not trusted: see `forged`.
   */
  readonly resumed?: CarriedMigration & CarriedNotifications;
  /**
   * What the start claimed that nothing recorded: carried state in a run that did not continue from
   * an earlier run of the migration, or a batch that did not start it (Temporal records the parent).
   */
  readonly forged?: 'carried state' | 'batch link';
  /** the ids of the actions handled most recently, oldest first */
  private readonly handledIds: string[] = [];
  private readonly handled = new Set<string>();
  /** the sign-in policy, read from the worker when the run starts (proofs.ts startRefusal), before any action is handled */
  auth!: SignedActions;
  /** the gateway's proof of the submit, once checked (T2T_AUTH=on): kept on the submit's audit entry */
  submitProof?: ActionProof;
  /**
   * the action id of the signed action being handled now, and of the accepted migrate: the service
   * calls made for it carry it (ServiceMigration.actionId), so that a tenant taking the admin's own
   * token finds the one handed over for it. Not state: a run continued from this one starts without.
   */
  acting?: string;
  migrateActionId?: string;
  /** the action ids of the proofs checked most recently, oldest first */
  private readonly usedProofIds: string[] = [];
  readonly usedProofs = new Set<string>();
  /** actor refusals remembered for a while, so that a script retrying a refused action costs no look-ups */
  readonly refusals = new Map<string, { reason: string; until: number }>();

  constructor(readonly input: MigrationInput) {
    this.state = {
      migrationId: input.migrationId,
      targetMigrationId: input.targetMigrationId,
      environmentId: input.environmentId,
      targetTenantId: input.targetTenantId,
      phase: 'Submitted',
      submittedAt: new Date(workflowInfo().startTime).toISOString(),
      lockboxRequired: false,
      warnings: [],
      audit: [],
      ...(input.reversesMigrationId ? { reversesMigrationId: input.reversesMigrationId } : {}),
    };
    this.inbox = new Inbox({
      refusalNow: (action) => (phaseAccepts(this.state.phase, action) ? undefined : phaseRefusal(action, this.state.phase, this.state.prepareDeadline)),
      // Nothing reads the inbox while migrate runs or after the end: answer now rather than never.
      answerAtOnce: (action) => this.state.phase === 'Migrating' || (isFinalPhase(this.state.phase) && !phaseAccepts(this.state.phase, action)),
      refuse: (action, actor, reason, requestId) => this.record(action, actor, 'refused', reason, requestId),
    });
    // Only continue-as-new (the workflow's own doing) starts a run that continues from another.
    const continued = workflowInfo().continuedFromExecutionRunId !== undefined;
    // A batch's migration is its child: the parent Temporal recorded is the batch the input names.
    const batchLinkForged = input.batch !== undefined && workflowInfo().parent?.workflowId !== input.batch.workflowId;
    this.forged = input.resume !== undefined && !continued ? 'carried state' : batchLinkForged ? 'batch link' : undefined;
    const resume = continued ? (input.resume as (CarriedMigration & CarriedNotifications) | undefined) : undefined;
    this.resumed = resume;
    if (resume) {
      this.state = resume.state;
      this.sourceTenantId = resume.sourceTenantId;
      this.validationRound = resume.validationRound;
      this.externalActions = resume.externalActions;
      this.servicePrepares = resume.servicePrepares;
      this.nextWatchAt = resume.nextWatchAt;
      for (const id of resume.handledActionIds ?? []) this.markHandled(id);
      for (const id of resume.usedProofIds ?? []) this.markProofUsed(id);
    }
    const notify = new MigrationNotifications(input.migrationId, resume?.notices);
    this.trail = new AuditTrail(input.migrationId, notify);
  }

  get notify(): MigrationNotifications {
    return this.trail.notify;
  }

  /** Whether the migration has yet to reach `phase`'s step: a run continued from an earlier one goes on from where that one stopped. */
  before(phase: 'PendingApproval' | 'PendingLockbox' | 'Approved'): boolean {
    const steps = ['Submitted', 'PendingApproval', 'PendingLockbox', 'Approved'];
    const stage = steps.indexOf(this.resumed?.state.phase ?? 'Submitted');
    return (stage === -1 ? 3 : stage) < steps.indexOf(phase);
  }

  /** The one place a phase changes: state, its log, search attributes and the Web UI's details together. */
  setPhase(phase: Phase, alongside: SearchAttributeUpdatePair[] = []): void {
    const previous = this.state.phase;
    this.state.phase = phase;
    if (this.state.stalled && previous !== phase) {
      // A stall is the phase's: the next phase starts unmarked.
      this.state.stalled = undefined;
      alongside = [...alongside, { key: SearchAttributes.stalled, value: null }];
    }
    // An event for the outbox, written with the next audit write: no command of its own.
    this.notify.phaseChanged(this.state, previous);
    // A run continued as new sets the phase it resumes in again: not a change.
    const log = (this.state.statusLog ??= []);
    const last = log[log.length - 1];
    if (last?.phase !== phase || last.status !== this.state.status) {
      log.push({ at: new Date().toISOString(), phase, ...(this.state.status ? { status: this.state.status } : {}) });
      if (log.length > STATUS_LOG_IN_STATE) log.splice(0, log.length - STATUS_LOG_IN_STATE);
    }
    showPhase(this.state, alongside);
  }

  record(action: Action, actor: string, outcome: AuditEntry['outcome'], reason?: string, requestId?: string, note?: string, proof?: ActionProof): AuditEntry {
    const entry: AuditEntry = { at: new Date().toISOString(), action, actor, outcome };
    if (reason) entry.reason = reason;
    if (requestId) entry.requestId = requestId;
    if (note) entry.note = note;
    if (proof) entry.proof = proof;
    this.state.audit.push(entry);
    if (this.state.audit.length > AUDIT_IN_STATE) this.state.audit.splice(0, this.state.audit.length - AUDIT_IN_STATE);
    this.trail.add(entry);
    if (requestId) this.markHandled(requestId);
    return entry;
  }

  /** The answer given to an action id handled before (in this run or an earlier one), if it was. */
  answeredBefore(requestId: string | undefined, action: Action, actor: string): AuditEntry | undefined {
    if (!requestId || !this.handled.has(requestId)) return undefined;
    const earlier = [...this.state.audit].reverse().find((e) => e.requestId === requestId);
    return earlier ?? { at: new Date().toISOString(), action, actor, outcome: 'refused', reason: `${action} refused: the action ${requestId} was handled already`, requestId };
  }

  private markHandled(id: string): void {
    if (this.handled.has(id)) return;
    this.handled.add(id);
    this.handledIds.push(id);
    if (this.handledIds.length > HANDLED_IDS) this.handled.delete(this.handledIds.shift()!);
  }

  /** A proof that verified is spent, whatever becomes of its action: sent again, it is a replay. */
  markProofUsed(actionId: string): void {
    if (this.usedProofs.has(actionId)) return;
    this.usedProofs.add(actionId);
    this.usedProofIds.push(actionId);
    if (this.usedProofIds.length > USED_PROOF_IDS) this.usedProofs.delete(this.usedProofIds.shift()!);
  }

  /** Writes what the audit trail and the notifications have collected (one local activity); kept for later if it cannot. */
  writeTrail(): Promise<void> {
    return this.trail.write(this.state);
  }

  /** At the end: everything collected is written, however long the control plane takes to come back. */
  writeWholeTrail(): Promise<void> {
    return this.trail.writeAll(this.state);
  }

  /** When the booked cutover is due, while the window it was booked in is open. */
  cutoverAt(): number | undefined {
    return this.state.phase === 'Prepared' && this.state.scheduledMigrateAt ? Date.parse(this.state.scheduledMigrateAt) : undefined;
  }

  cutoverDue(): boolean {
    const at = this.cutoverAt();
    return at !== undefined && Date.now() >= at;
  }

  /** Books (at) or clears (undefined) the cutover: the state, its search attribute and the Web UI's details. */
  bookCutover(at: string | undefined, by?: string): void {
    if (at === this.state.scheduledMigrateAt) return;
    const had = this.state.scheduledMigrateAt !== undefined;
    this.state.scheduledMigrateAt = at;
    this.state.scheduledBy = at ? by : undefined;
    if (at || had) upsertSearchAttributes([{ key: SearchAttributes.scheduledMigrateAt, value: at ? new Date(at) : null }]);
    showDetails(this.state);
  }

  /**
   * The stall check says the current phase has run past its usual time: T2TStalled lists it in the
   * Web UI until the phase changes, and a `stalled` notification goes out. Anyone can send this
   * signal with the temporal CLI: a notice that is malformed, late (another phase) or repeated changes nothing.
   */
  markStalled(notice: StalledNotice): void {
    if (!notice || typeof notice !== 'object' || notice.phase !== this.state.phase || this.state.stalled || isFinalPhase(this.state.phase)) return;
    if (typeof notice.since !== 'string' || typeof notice.thresholdMs !== 'number' || (notice.basis !== 'p90' && notice.basis !== 'limit')) return;
    this.state.stalled = { phase: notice.phase, since: notice.since, thresholdMs: notice.thresholdMs, basis: notice.basis, markedAt: new Date().toISOString() };
    upsertSearchAttributes([{ key: SearchAttributes.stalled, value: true }]);
    this.notify.stalled(this.state);
    this.noticeToWrite = true;
    showDetails(this.state);
  }

  /** The migration as the service knows it; `actionId`: the signed action a call is made for. */
  serviceMigration(actionId?: string) {
    return {
      migrationId: this.input.migrationId,
      environmentId: this.input.environmentId,
      sourceTenantId: this.sourceTenantId,
      targetTenantId: this.input.targetTenantId,
      ...(this.state.serviceMigrationId ? { serviceMigrationId: this.state.serviceMigrationId } : {}),
      ...(actionId ? { actionId } : {}),
    };
  }

  validationRequest(round: number) {
    return {
      migrationId: this.input.migrationId,
      storage: this.state.storage!,
      sourceTenantId: this.sourceTenantId,
      targetTenantId: this.input.targetTenantId,
      round,
    };
  }

  checkBudgetMs(): number {
    return this.input.checkBudgetMs ?? DEFAULT_CHECK_BUDGET_MS;
  }

  servicePollMs(): number {
    return this.input.servicePollMs ?? DEFAULT_SERVICE_POLL_MS;
  }

  /** Past the configured length, when Temporal suggests it, or to move to a newer version, a waiting migration continues as new. */
  historyIsLong(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength > (this.input.continueAfterEvents ?? DEFAULT_CONTINUE_AFTER_EVENTS) || newerVersionIsTarget();
  }

  /** What the next run takes over: the phase, ids and absolute deadlines, and the reminders sent so far (none is sent again). */
  carried(): CarriedMigration & CarriedNotifications {
    return {
      state: this.state,
      sourceTenantId: this.sourceTenantId,
      validationRound: this.validationRound,
      externalActions: this.externalActions,
      servicePrepares: this.servicePrepares,
      nextWatchAt: this.nextWatchAt,
      handledActionIds: [...this.handledIds],
      ...(this.usedProofIds.length > 0 ? { usedProofIds: [...this.usedProofIds] } : {}),
      ...this.notify.carried(),
    };
  }

  /**
   * A fresh run with the same phase, ids and absolute deadlines; the audit trail is already in the
   * control plane. Not while anything is left to handle: what arrived meanwhile is handled first.
   */
  async continueAsNewRun(): Promise<void> {
    await this.writeTrail();
    if (this.inbox.size > 0 || this.trail.hasPending || !allHandlersFinished()) return;
    await continueAsNewOnTarget<(input: MigrationInput) => Promise<MigrationStatus>>({ ...this.input, resume: this.carried() });
  }
}
