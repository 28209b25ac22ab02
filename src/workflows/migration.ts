// One durable workflow per migration, reading like the article's steps:
// submit → eligibility → approval → lockbox → storage + prepare rounds →
// seven-day window → migrate (undone if a step fails for good) → checklist.
// A cancellation through Temporal ends it like `t2t cancel` until migrate starts.
import {
  ApplicationFailure,
  CancellationScope,
  TemporalFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  proxyLocalActivities,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ActivityOptions, RetryPolicy, SearchAttributeUpdatePair } from '@temporalio/common';
import {
  Action,
  AuditEntry,
  ErrorType,
  MigrationInput,
  MigrationStatus,
  NON_RETRYABLE_ERRORS,
  Phase,
  SearchAttributes,
  STATUS,
  MigrateSlotSchema,
  grantMigrateSlotSignal,
  isFinalPhase,
  migrationEndedSignal,
  requestMigrateSlotSignal,
  returnMigrateSlotSignal,
  statusQuery,
  submittedUpdate,
} from '../contracts';
import type { MigrationActivities } from '../activities';
import type { AuditRecord } from '../controlplane/audit-log';
import { phaseAccepts, phaseRefusal } from './phase-rules';
import { containerNameFromUri } from '../migration/container-uri';
import { AdminAction, Inbox, parseAction, requestIdOf } from './inbox';
import { showAssessment, showDetails, showPhase } from './visibility';
import type { CarriedMigration } from '../contracts';
import { MigrationNotifications, type CarriedNotifications } from './notifications';
import { stalledSignal, type StalledNotice } from '../operations/stall-signal';
import { failureMessage, failureType } from './failures';
import { retryWithinBudget } from './check-budget';

/** the back-off of every retried step, in ms; local role checks fit their budget to it (check-budget.ts) */
const BACKOFF = { initialMs: 1000, coefficient: 2, maximumMs: 30_000 };
const retry: RetryPolicy = {
  initialInterval: BACKOFF.initialMs,
  backoffCoefficient: BACKOFF.coefficient,
  maximumInterval: BACKOFF.maximumMs,
  nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS],
};

const DEFAULT_SERVICE_POLL_MS = 5 * 60_000;

const TEMPORAL_CANCEL = 'requested through Temporal (Web UI or temporal workflow cancel)';

const CONTROL_PLANE: ActivityOptions = { startToCloseTimeout: '1m', retry };
const STORAGE: ActivityOptions = { startToCloseTimeout: '2m', retry };
// Checks an admin waits for have a budget of minutes, not forever: when it runs out the
// action is refused with one line, and the migration goes on taking actions.
const DEFAULT_CHECK_BUDGET_MS = 3 * 60_000;
// Long steps heartbeat their progress; a retry resumes from the last heartbeat.
const LONG_RUNNING: ActivityOptions = { startToCloseTimeout: '2h', heartbeatTimeout: '20s', retry };
// Validation may take long on a big file, so its budget is in attempts (about a minute and a half of
// back-off in all), not in time; when it runs out the admin is told and may prepare again.
const VALIDATION: ActivityOptions = { ...LONG_RUNNING, retry: { ...retry, maximumAttempts: 8 } };
// The service's own prepare and migrate are polled long-running operations: hours, heartbeating
// while they wait, so that a lost worker is noticed within seconds and another resumes the step.
const SERVICE_OPERATION: ActivityOptions = { startToCloseTimeout: '24h', heartbeatTimeout: '30s', retry };

/** An activity with the one-line summary the Web UI shows for it (no personal data). */
function activity<K extends keyof MigrationActivities>(name: K, summary: string, options: ActivityOptions = CONTROL_PLANE): MigrationActivities[K] {
  return proxyActivities<MigrationActivities>({ ...options, summary })[name];
}

/** Audit entries a migration keeps in its own state (the query's recent trail); the whole trail is in the control plane. */
const AUDIT_IN_STATE = 100;
/** Phase changes a migration keeps in its state (each prepare round makes two). */
const STATUS_LOG_IN_STATE = 200;
/** How long a refusal of an actor for an action is remembered instead of asking the directory again. */
const REFUSAL_MEMORY_MS = 60_000;
const DEFAULT_CONTINUE_AFTER_EVENTS = 10_000;

// A write that cannot be made in two minutes is kept for the next one: the migration never waits on it for long.
const { recordTrail } = proxyLocalActivities<MigrationActivities>({ startToCloseTimeout: '30s', scheduleToCloseTimeout: '2m', retry, summary: 'Write the audit trail and the notifications' });

type ActionHandler = (payload: Record<string, unknown>, actor: string) => Promise<'continue' | 'done' | { refused: string }>;

/** Reads the request on the service while people are awaited: 'done' when someone acted outside the product. */
type Watch = () => Promise<'continue' | 'done'>;

export async function tenantMigration(input: MigrationInput): Promise<MigrationStatus> {
  return new Migration(input).run();
}

class Migration {
  private state: MigrationStatus;
  private readonly inbox: Inbox;
  private sourceTenantId = '';
  private validationRound = 0;
  private externalActions = false;
  private servicePrepares = false;
  private nextWatchAt = 0;
  /** audit entries not yet written to the control plane; identical refusals in a row are counted in one */
  private readonly auditToWrite: AuditRecord[] = [];
  private auditEntries = 0;
  /** actor refusals remembered for a while, so that a script retrying a refused action costs no look-ups */
  private readonly refusals = new Map<string, { reason: string; until: number }>();
  /** a batch's migration: whether its batch has learned of its ending */
  private endReported = false;
  /** a notice (a stall) waits to be written: the waiting migration wakes to write it */
  private noticeToWrite = false;
  /** reminders and notifications, written with the audit trail */
  private readonly notify: MigrationNotifications;

  constructor(private readonly input: MigrationInput) {
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
    const resume = input.resume;
    if (resume) {
      this.state = resume.state;
      this.sourceTenantId = resume.sourceTenantId;
      this.validationRound = resume.validationRound;
      this.externalActions = resume.externalActions;
      this.servicePrepares = resume.servicePrepares;
      this.nextWatchAt = resume.nextWatchAt;
    }
    this.notify = new MigrationNotifications(input.migrationId, (resume as (CarriedMigration & CarriedNotifications) | undefined)?.notices);
  }

  async run(): Promise<MigrationStatus> {
    this.inbox.register();
    setHandler(statusQuery, () => this.state);
    setHandler(submittedUpdate, async () => {
      await condition(() => this.state.phase !== 'Submitted');
      return this.state;
    });
    setHandler(stalledSignal, (notice) => this.markStalled(notice));
    if (this.input.batch) setHandler(grantMigrateSlotSignal, (payload) => this.slotGranted(payload));
    if (!this.input.resume) this.setPhase('Submitted');
    try {
      await this.lifecycle();
    } catch (err) {
      if (!isCancellation(err) || isFinalPhase(this.state.phase)) {
        // A failure that closes the run (not one that only retries the workflow task) is an ending too.
        if (err instanceof TemporalFailure) {
          const [phase, reason] = isFinalPhase(this.state.phase) ? [this.state.phase, this.state.reason] : ['Failed' as const, `the migration's workflow failed: ${failureMessage(err)}`];
          await CancellationScope.nonCancellable(() => this.reportEnd(phase, reason));
        }
        throw err;
      }
      // Cleanup runs whatever else is cancelled; then the run closes as cancelled in Temporal too.
      await CancellationScope.nonCancellable(() => this.cancelledThroughTemporal());
      throw err;
    }
    return CancellationScope.nonCancellable(() => this.closeMigration());
  }

  private async lifecycle(): Promise<void> {
    // A run continued from an earlier one goes on from the stage where that one stopped.
    const stage = ['Submitted', 'PendingApproval', 'PendingLockbox'].indexOf(this.input.resume?.state.phase ?? 'Submitted');
    const from = stage === -1 ? 3 : stage;
    if (from <= 0 && !(await this.submit())) return;
    if (from <= 1 && !(await this.awaitApproval())) return;
    if (from <= 2 && this.state.lockboxRequired && !(await this.awaitLockbox())) return;
    if (from <= 2) this.setPhase('Approved');
    for (;;) {
      if (!(await this.prepareUntilMigrate())) return;
      // Once migrate has started it runs to its end: a cancellation meanwhile is refused.
      const outcome = await CancellationScope.nonCancellable(() => this.migrate());
      if (outcome === 'ended') {
        if (CancellationScope.current().consideredCancelled) {
          this.record('cancel', 'Temporal', 'refused', 'cancel refused: migrate had started; it ran to its end', undefined, TEMPORAL_CANCEL);
        }
        return;
      }
      // Undone after a failed step: back to prepare (a cancellation requested meanwhile now takes effect),
      // and to people: the slot is for migrating.
      await this.giveBackSlot();
    }
  }

  // ---- steps ---------------------------------------------------------------

  private async submit(): Promise<boolean> {
    const assessment = await activity('assessMigration', 'Check eligibility of the environment')({
      environmentId: this.input.environmentId,
      targetTenantId: this.input.targetTenantId,
    });
    this.sourceTenantId = assessment.sourceTenantId;
    this.state.sourceTenantId = assessment.sourceTenantId;
    this.state.environmentName = assessment.environmentName;
    this.state.lockboxRequired = assessment.lockboxRequired;
    this.state.warnings = assessment.warnings;
    showAssessment(assessment.sourceTenantId, {
      environmentName: assessment.environmentName,
      sourceTenant: assessment.sourceTenantName,
      targetTenant: assessment.targetTenantName,
    });

    const authorization = await this.checkRole('submit', this.input.submittedBy, 'Check the role of the submitter');
    if (!authorization.allowed) {
      this.record('submit', this.input.submittedBy, 'refused', authorization.reason);
      this.state.reason = authorization.reason;
      this.setPhase('Failed');
      return false;
    }
    if (assessment.blocking.length > 0) {
      const reason = `not eligible: ${assessment.blocking.map((b) => b.message).join('; ')}`;
      this.record('submit', this.input.submittedBy, 'refused', reason);
      this.state.reason = reason;
      this.setPhase('Failed');
      return false;
    }
    this.state.backend = assessment.backend;
    if (assessment.unknown.length > 0) this.state.unknown = assessment.unknown;
    try {
      const submission = await activity('submitMigration', 'Register the request with the migration service')({
        migration: this.serviceMigration(),
        submittedBy: this.input.submittedBy,
      });
      this.state.serviceMigrationId = submission.serviceMigrationId;
      this.externalActions = submission.externalActions;
      this.servicePrepares = submission.servicePrepares;
    } catch (err) {
      const reason = `submit refused by the migration service: ${failureMessage(err)}`;
      this.record('submit', this.input.submittedBy, 'refused', reason);
      this.state.reason = reason;
      this.setPhase('Failed');
      return false;
    }
    this.record('submit', this.input.submittedBy, 'accepted');
    return true;
  }

  private async awaitApproval(): Promise<boolean> {
    const deadline = Date.parse(this.state.submittedAt) + this.input.approvalTimeoutMs;
    this.state.approvalDeadline = new Date(deadline).toISOString();
    this.setPhase('PendingApproval');
    const outcome = await this.handleActions(
      {
        approve: async (_payload, actor) => this.tellService('approveOnService', 'Approve the request on the migration service', { actor }),
        deny: async (payload, actor) => {
          const reason = String(payload.reason ?? '') || 'denied by the target tenant admin';
          const told = await this.tellService('denyOnService', 'Deny the request on the migration service', { actor, reason });
          if (told !== 'done') return told;
          this.state.reason = reason;
          this.setPhase('Denied');
          return 'done';
        },
        cancel: async (payload, actor) => this.cancel(payload, actor),
      },
      () => deadline,
      'approval deadline',
      () => this.watchRequest(true),
    );
    if (outcome === 'timeout') {
      this.state.reason = 'the target tenant admin did not approve the request in time';
      this.setPhase('Expired');
      return false;
    }
    return !isFinalPhase(this.state.phase);
  }

  private async awaitLockbox(): Promise<boolean> {
    // Absolute, so that a run continued from this one keeps the same deadline.
    const deadline = this.state.lockboxDeadline ? Date.parse(this.state.lockboxDeadline) : Date.now() + this.input.lockboxTimeoutMs;
    this.state.lockboxDeadline = new Date(deadline).toISOString();
    this.setPhase('PendingLockbox');
    const outcome = await this.handleActions(
      {
        approveLockbox: async (_payload, actor) => this.tellService('approveLockboxOnService', 'Record the lockbox approval with the migration service', { actor }),
        cancel: async (payload, actor) => this.cancel(payload, actor),
      },
      () => deadline,
      'lockbox deadline',
      () => this.watchRequest(false),
    );
    if (outcome === 'timeout') {
      this.state.reason = 'the lockbox request was not approved in time';
      this.setPhase('Expired');
      return false;
    }
    return !isFinalPhase(this.state.phase);
  }

  /** Storage requests and prepare rounds until a migrate is accepted (true) or the migration ends (false). */
  private async prepareUntilMigrate(): Promise<boolean> {
    const windowDeadline = () =>
      this.state.phase === 'Prepared' && this.state.prepareDeadline ? Date.parse(this.state.prepareDeadline) : undefined;
    for (;;) {
      const outcome = await this.handleActions(
        {
          requestStorage: async (_payload, actor) => this.requestStorage(actor),
          prepare: async (payload) => this.prepare(payload),
          migrate: async (payload, actor) => this.migrateRequested(payload, actor),
          cancel: async (payload, actor) => this.cancel(payload, actor),
        },
        windowDeadline,
        'seven-day window to migrate',
        () => this.watchRequest(false),
        () => (this.input.batch !== undefined && this.state.migrateSlot === 'granted') || (this.cutoverDue() && !this.state.migrateSlot),
        { at: () => (this.state.migrateSlot ? undefined : this.cutoverAt()), summary: 'the booked cutover' },
      );
      if (outcome === 'timeout') {
        const booked = this.state.scheduledMigrateAt;
        this.state.status = undefined;
        this.state.reason = booked
          ? `the preparation expired at ${this.state.prepareDeadline} before the cutover booked for ${booked} could run${this.state.migrateSlot ? " (it waited for its batch's migrate slot)" : ''}; run prepare again, then book the cutover again`
          : `the preparation expired at ${this.state.prepareDeadline}; run prepare again`;
        this.bookCutover(undefined);
        this.setPhase('PreparationExpired');
        await this.giveBackSlot();
        continue;
      }
      if (outcome === 'ready' && this.cutoverDue() && !this.state.migrateSlot) {
        const by = this.state.scheduledBy ?? 'unknown';
        this.record('migrate', by, 'accepted', undefined, undefined, `the cutover booked for ${this.state.scheduledMigrateAt} started`);
        if (this.input.batch) {
          // The booking stays shown until the batch grants a slot: a window that closes first says so.
          await this.requestSlot();
          continue;
        }
      }
      // Migrating now, or the phase left the window the booking was made in (a failed prepare): it is done with.
      if (this.state.scheduledMigrateAt) this.bookCutover(undefined);
      return !isFinalPhase(this.state.phase);
    }
  }

  /** `t2t migrate`: now (done), or the cutover booked, moved or cleared (continue), or refused. */
  private async migrateRequested(payload: Record<string, unknown>, actor: string): Promise<'continue' | 'done' | { refused: string }> {
    if (payload.targetTenantId !== this.input.targetTenantId) {
      return { refused: `migrate refused: target tenant '${String(payload.targetTenantId)}' is not this migration's target tenant` };
    }
    const booked = this.state.scheduledMigrateAt;
    const bookedBy = this.state.scheduledBy;
    if (booked && bookedBy && bookedBy.toLowerCase() !== actor.toLowerCase()) {
      return { refused: `migrate refused: the cutover at ${booked} was booked by ${bookedBy}; only they can move, clear or start it` };
    }
    if (this.input.batch && this.state.migrateSlot) {
      return { refused: "migrate refused: its migrate was accepted already and waits for the batch's migrate slot" };
    }
    if (payload.unschedule === true) {
      if (!booked) return { refused: 'migrate refused: no cutover is booked' };
      this.bookCutover(undefined);
      return 'continue';
    }
    if (typeof payload.at === 'string') {
      const at = Date.parse(payload.at);
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(payload.at) || Number.isNaN(at)) {
        return { refused: `migrate refused: '${payload.at}' is not an ISO 8601 time (e.g. 2026-12-05T22:00:00Z)` };
      }
      const iso = new Date(at).toISOString();
      if (at <= Date.now()) return { refused: `migrate refused: ${iso} is in the past` };
      const windowEnd = this.state.prepareDeadline ? Date.parse(this.state.prepareDeadline) : undefined;
      if (windowEnd !== undefined && at >= windowEnd) {
        return { refused: `migrate refused: ${iso} is after the seven-day window closes at ${this.state.prepareDeadline}` };
      }
      this.bookCutover(iso, actor);
      return 'continue';
    }
    // Now: a booking the same admin made is replaced by migrating at once.
    if (booked) this.bookCutover(undefined);
    if (!this.input.batch) return 'done';
    // Accepted; it migrates once its batch grants it a slot, and takes actions meanwhile.
    await this.requestSlot();
    return 'continue';
  }

  /** When the booked cutover is due, while the window it was booked in is open. */
  private cutoverAt(): number | undefined {
    return this.state.phase === 'Prepared' && this.state.scheduledMigrateAt ? Date.parse(this.state.scheduledMigrateAt) : undefined;
  }

  private cutoverDue(): boolean {
    const at = this.cutoverAt();
    return at !== undefined && Date.now() >= at;
  }

  /** Books (at) or clears (undefined) the cutover: the state, its search attribute and the Web UI's details. */
  private bookCutover(at: string | undefined, by?: string): void {
    if (at === this.state.scheduledMigrateAt) return;
    const had = this.state.scheduledMigrateAt !== undefined;
    this.state.scheduledMigrateAt = at;
    this.state.scheduledBy = at ? by : undefined;
    if (at || had) upsertSearchAttributes([{ key: SearchAttributes.scheduledMigrateAt, value: at ? new Date(at) : null }]);
    showDetails(this.state);
  }

  private async requestStorage(actor: string): Promise<'continue' | { refused: string }> {
    try {
      this.state.storage = await activity('createMigrationStorage', 'Generate resource storage (container and SAS)', this.withinBudget(STORAGE))({
        migrationId: this.input.migrationId,
        environmentId: this.input.environmentId,
        actor,
        migration: this.serviceMigration(),
      });
      showDetails(this.state);
      return 'continue';
    } catch (err) {
      return { refused: `storage refused: ${failureMessage(err)}` };
    }
  }

  private async prepare(payload: Record<string, unknown>): Promise<'continue' | { refused: string }> {
    if (payload.targetTenantId !== this.input.targetTenantId) {
      return { refused: `prepare refused: target tenant '${String(payload.targetTenantId)}' is not this migration's target tenant` };
    }
    if (!this.state.storage) return { refused: 'prepare refused: generate the resource storage first (t2t storage)' };
    const container = containerNameFromUri(String(payload.mappingContainer));
    if (container !== this.state.storage.containerName) {
      return { refused: "prepare refused: the mapping container is not this migration's container" };
    }
    // A new round asks for a new decision to migrate: a migrate accepted before it is withdrawn.
    await this.giveBackSlot();
    const previous = this.state.phase;
    this.validationRound += 1;
    this.state.status = STATUS.validateRunning;
    this.state.reason = undefined;
    this.setPhase('Validating');
    let result;
    try {
      result = await activity('validateMapping', `Validate usermapping.csv (round ${this.validationRound})`, VALIDATION)(this.validationRequest(this.validationRound));
    } catch (err) {
      this.state.status = undefined;
      this.state.reason = `validation could not run: ${failureMessage(err)}`;
      this.setPhase(previous === 'Prepared' ? 'ValidationFailed' : previous);
      return 'continue';
    }
    this.state.validation = result;
    if (result.errors > 0 && result.errorReportUrl) {
      this.state.status = STATUS.validationFailed(result.errorReportUrl);
      this.state.prepareDeadline = undefined;
      this.setPhase('ValidationFailed', [{ key: SearchAttributes.prepareDeadline, value: null }]);
      return 'continue';
    }
    if (this.servicePrepares) {
      let onService;
      try {
        onService = await activity('prepareOnService', 'Prepare on the migration service', SERVICE_OPERATION)({
          migration: this.serviceMigration(),
          storage: this.state.storage,
        });
      } catch (err) {
        onService = { succeeded: false, message: `the service's prepare could not run: ${failureMessage(err)}`, errorReportUrl: undefined };
      }
      if (!onService.succeeded) {
        this.state.status = onService.errorReportUrl ? STATUS.validationFailed(onService.errorReportUrl) : undefined;
        this.state.reason = onService.message ?? "the migration service's prepare failed";
        this.state.prepareDeadline = undefined;
        this.setPhase('ValidationFailed', [{ key: SearchAttributes.prepareDeadline, value: null }]);
        return 'continue';
      }
    }
    this.state.status = STATUS.validateSucceeded;
    const deadline = new Date(Date.now() + this.input.prepareWindowMs);
    this.state.prepareDeadline = deadline.toISOString();
    this.setPhase('Prepared', [{ key: SearchAttributes.prepareDeadline, value: deadline }]);
    return 'continue';
  }

  private async cancel(payload: Record<string, unknown>, actor: string): Promise<'done' | { refused: string }> {
    const told = await this.tellService('cancelOnService', 'Delete the request on the migration service', { actor });
    if (told !== 'done') return told;
    this.state.reason = payload.reason ? `cancelled: ${String(payload.reason)}` : 'cancelled by the source admin';
    this.setPhase('Cancelled');
    return 'done';
  }

  /** Tells the service of an accepted action; a refusal by the service refuses the action. */
  private async tellService(
    name: 'approveOnService' | 'denyOnService' | 'approveLockboxOnService' | 'cancelOnService',
    summary: string,
    details: { actor: string; reason?: string },
  ): Promise<'done' | { refused: string }> {
    try {
      await activity(name, summary)({ migration: this.serviceMigration(), actor: details.actor, reason: details.reason ?? '' });
      return 'done';
    } catch (err) {
      return { refused: `the migration service refused it: ${failureMessage(err)}` };
    }
  }

  /**
   * Reads the request on the service: an approval, denial or deletion made outside the
   * product (Microsoft's admin center, PowerShell) moves the migration on as if the action
   * had come through it. `approvalAwaited`: whether an approval or denial is news now.
   */
  private async watchRequest(approvalAwaited: boolean): Promise<'continue' | 'done'> {
    let request;
    try {
      request = await activity('readMigrationRequest', 'Check the request on the migration service')({ migration: this.serviceMigration() });
    } catch (err) {
      // A service that cannot be read now is read again at the next interval.
      log.warn('the request could not be read on the service', { migrationId: this.input.migrationId, error: failureMessage(err) });
      return 'continue';
    }
    const actor = request.actedBy || 'someone outside the product';
    const note = 'done on the migration service outside the product';
    if (request.state === 'deleted') {
      this.record('cancel', actor, 'accepted', undefined, undefined, note);
      this.state.reason = 'the request was deleted on the migration service outside the product';
      this.setPhase('Cancelled');
      return 'done';
    }
    if (!approvalAwaited) return 'continue';
    if (request.state === 'approved') {
      this.record('approve', actor, 'accepted', undefined, undefined, note);
      return 'done';
    }
    if (request.state === 'denied') {
      this.record('deny', actor, 'accepted', undefined, undefined, note);
      this.state.reason = 'denied on the migration service outside the product';
      this.setPhase('Denied');
      return 'done';
    }
    return 'continue';
  }

  /** The migration as the service knows it. */
  private serviceMigration() {
    return {
      migrationId: this.input.migrationId,
      environmentId: this.input.environmentId,
      sourceTenantId: this.sourceTenantId,
      targetTenantId: this.input.targetTenantId,
      ...(this.state.serviceMigrationId ? { serviceMigrationId: this.state.serviceMigrationId } : {}),
    };
  }

  private validationRequest(round: number) {
    const storage = this.state.storage!;
    return {
      migrationId: this.input.migrationId,
      storage,
      sourceTenantId: this.sourceTenantId,
      targetTenantId: this.input.targetTenantId,
      round,
    };
  }

  private async migrate(): Promise<'ended' | 'compensated'> {
    const storage = this.state.storage!;
    this.state.status = STATUS.migrateRunning;
    this.state.reason = undefined;
    this.setPhase('Migrating');
    // Migrate may take hours: the accepted migrate and the new phase are told now, not at the end.
    await this.writeAudit();
    try {
      const check = await this.checkAgainBeforeMigrate();
      const outcome = await activity('migrateEnvironment', 'Migrate: re-link, re-map users, mailboxes, source access, checklist', SERVICE_OPERATION)({
        migration: this.serviceMigration(),
        storage,
        mappingEtag: check.mappingEtag,
      });
      this.state.summary = {
        usersRemapped: outcome.usersRemapped,
        unmappedUsers: outcome.unmappedTotal,
        mailboxesConfigured: outcome.mailboxesConfigured,
        mailboxesToReconfigure: outcome.mailboxesToReconfigure,
        onmicrosoftAddressesRewritten: outcome.onmicrosoftAddressesRewritten,
        checklist: outcome.checklist,
        flowActivationOrder: outcome.flowActivationOrder,
      };
      if (outcome.unknown.length > 0) this.state.unknown = [...(this.state.unknown ?? []), ...outcome.unknown];
      this.state.status = STATUS.migrateSucceeded;
      this.setPhase('Succeeded');
      return 'ended';
    } catch (err) {
      this.state.status = STATUS.migrateFailed;
      this.state.reason = `migration failed: ${failureMessage(err)}`;
      log.warn('migration failed', { migrationId: this.input.migrationId, error: failureMessage(err) });
      if (failureType(err) === ErrorType.MigrateCompensated) {
        // Every effect was undone: the environment is as it was before migrate, ready for a new prepare.
        this.state.prepareDeadline = undefined;
        this.setPhase('Approved', [{ key: SearchAttributes.prepareDeadline, value: null }]);
        return 'compensated';
      }
      this.setPhase('Failed');
      return 'ended';
    }
  }

  /** Eligibility and the mapping file once more before any effect: either may have changed since prepare. */
  private async checkAgainBeforeMigrate() {
    const assessment = await activity('assessMigration', 'Check eligibility again before migrating')({ environmentId: this.input.environmentId, targetTenantId: this.input.targetTenantId });
    if (assessment.blocking.length > 0) {
      throw ApplicationFailure.nonRetryable(`not eligible any more: ${assessment.blocking.map((b) => b.message).join('; ')}`, 'NotEligible');
    }
    const check = await activity('validateMapping', 'Validate usermapping.csv again before migrating', LONG_RUNNING)(this.validationRequest(this.validationRound + 1));
    if (check.errors > 0) {
      this.state.validation = check;
      throw ApplicationFailure.nonRetryable(
        `the mapping file no longer passes validation (${check.errors} errors, report: ${check.errorReportUrl}); nothing was changed`,
        'MappingInvalidAtMigrate',
      );
    }
    return check;
  }

  // ---- the batch's migrate slots -------------------------------------------------
  // Only for a migration a batch started (`input.batch`): the others send no signal,
  // so that their histories replay as they were recorded.

  /** Asks the batch for a slot, once however many times migrate is accepted. */
  private async requestSlot(): Promise<void> {
    if (this.state.migrateSlot) return;
    // Set before asking: the grant may arrive before the request's own acknowledgement.
    this.state.migrateSlot = 'requested';
    showDetails(this.state);
    if (!(await this.tellBatch(requestMigrateSlotSignal, { environmentId: this.input.environmentId }))) {
      // No batch left to share slots with: nothing to wait for.
      this.state.migrateSlot = 'granted';
    }
  }

  private async slotGranted(payload: unknown): Promise<void> {
    const parsed = MigrateSlotSchema.safeParse(payload);
    if (!parsed.success || parsed.data.environmentId !== this.input.environmentId) {
      log.warn('a grantMigrateSlot signal was ignored: it names another environment', { migrationId: this.input.migrationId });
      return;
    }
    if (this.state.migrateSlot === 'requested') {
      this.state.migrateSlot = 'granted';
      showDetails(this.state);
      return;
    }
    // A repeated grant changes nothing; after the end, the ending reported frees the slot.
    if (this.state.migrateSlot === 'granted' || isFinalPhase(this.state.phase)) return;
    // Not wanted any more (the window lapsed, prepare again, migrate undone): given back at once.
    await this.tellBatch(returnMigrateSlotSignal, { environmentId: this.input.environmentId });
  }

  /** Gives back the slot or withdraws the request, if there is one. */
  private async giveBackSlot(): Promise<void> {
    if (!this.state.migrateSlot) return;
    this.state.migrateSlot = undefined;
    showDetails(this.state);
    await this.tellBatch(returnMigrateSlotSignal, { environmentId: this.input.environmentId });
  }

  /** Tells the batch how the migration ended, once; that frees its slot or its place in the queue. */
  private async reportEnd(phase: Phase, reason: string | undefined): Promise<void> {
    if (!this.input.batch || this.endReported) return;
    this.endReported = true;
    this.state.migrateSlot = undefined;
    await this.tellBatch(migrationEndedSignal, { environmentId: this.input.environmentId, phase, ...(reason ? { reason } : {}) });
  }

  /**
   * Signals the batch by workflow id alone, so that it reaches the batch's current run after a
   * continue-as-new. False when no run of the batch is open (it was terminated or has ended).
   */
  private async tellBatch(signal: typeof migrationEndedSignal, payload: Record<string, unknown>): Promise<boolean> {
    try {
      await getExternalWorkflowHandle(this.input.batch!.workflowId).signal(signal, payload);
      return true;
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn('the batch could not be told', { migrationId: this.input.migrationId, signal: signal.name, error: failureMessage(err) });
      return false;
    }
  }

  // ---- ending ------------------------------------------------------------------

  /** After a cancellation requested through Temporal, before migrate: the same ending as `t2t cancel`. */
  private async cancelledThroughTemporal(): Promise<void> {
    this.record('cancel', 'Temporal', 'accepted', undefined, undefined, TEMPORAL_CANCEL);
    if (this.state.serviceMigrationId) {
      const told = await this.tellService('cancelOnService', 'Delete the request on the migration service', { actor: 'Temporal' });
      if (told !== 'done') log.warn('the service did not take the cancellation', { migrationId: this.input.migrationId, reason: told.refused });
    }
    this.state.status = undefined;
    this.state.reason = 'cancelled through Temporal (Web UI or temporal workflow cancel)';
    this.state.prepareDeadline = undefined;
    this.setPhase('Cancelled', [{ key: SearchAttributes.prepareDeadline, value: null }]);
    await this.closeMigration();
  }

  /** Every ending: queued actions answered, the batch and the audit trail told, storage access ended, the request closed. */
  private async closeMigration(): Promise<MigrationStatus> {
    // Actions still queued are answered, so that no client waits for an acknowledgement that never comes.
    for (const message of this.inbox.drain()) {
      const parsed = parseAction(message.action, message.payload);
      const reason = phaseRefusal(message.action, this.state.phase, this.state.prepareDeadline);
      this.inbox.answer(message, this.record(message.action, parsed.actor, 'refused', reason, message.replyTo ?? requestIdOf(message.payload)));
    }
    // Before the cleanup: the batch can give the slot to the next migration meanwhile.
    await this.reportEnd(this.state.phase, this.state.reason);
    await this.writeAudit();
    // Storage access ends and the request is closed with the service, whatever the ending.
    await activity('endMigration', 'Revoke the storage access and close the request', STORAGE)({
      migration: this.serviceMigration(),
      phase: this.state.phase,
      ...(this.state.storage ? { storage: this.state.storage } : {}),
    });
    showDetails(this.state);
    await condition(allHandlersFinished);
    return this.state;
  }

  // ---- actions ---------------------------------------------------------------

  /**
   * Handles queued admin actions one at a time until a handler says 'done', the
   * deadline passes, or (with no action left to handle) `ready` holds. Bad payloads,
   * wrong phases and wrong people are refused and recorded; none of them changes the migration.
   */
  private async handleActions(
    handlers: Partial<Record<AdminAction, ActionHandler>>,
    currentDeadline: () => number | undefined,
    timerSummary: string,
    watch?: Watch,
    ready?: () => boolean,
    /** when `ready` becomes true by itself (a booked cutover): a timer wakes the migration then */
    readyAt?: { at: () => number | undefined; summary: string },
  ): Promise<'done' | 'timeout' | 'ready'> {
    const watching = watch !== undefined && this.externalActions;
    const isReady = () => ready?.() ?? false;
    for (;;) {
      // An accepted action can move the deadline (a successful prepare opens the window).
      const deadline = currentDeadline();
      if (this.inbox.size === 0 && !isReady()) {
        this.noticeToWrite = false;
        await this.writeAudit();
        if (this.historyIsLong() && this.inbox.size === 0 && allHandlersFinished()) await this.continueAsNewRun();
        if (watching && this.nextWatchAt === 0) this.nextWatchAt = Date.now() + this.servicePollMs();
        const watchAt = watching ? this.nextWatchAt : undefined;
        // The next reminder or escalation of the deadline waited on shares the one durable timer.
        const notice = this.notify.next(this.state);
        const dueAt = readyAt?.at();
        const wakeAt = earliest(deadline, watchAt, notice?.at, dueAt);
        if (wakeAt === undefined) {
          await condition(() => this.inbox.size > 0 || isReady() || this.noticeToWrite);
        } else {
          const remaining = wakeAt - Date.now();
          const summary =
            wakeAt === deadline
              ? timerSummary
              : notice && wakeAt === notice.at
                ? MigrationNotifications.summary(notice)
                : readyAt && wakeAt === dueAt
                  ? readyAt.summary
                  : 'next look at the request on the migration service';
          const arrived = remaining > 0 && (await condition(() => this.inbox.size > 0 || isReady() || this.noticeToWrite, remaining, { summary }));
          if (!arrived) {
            if (deadline !== undefined && Date.now() >= deadline) return 'timeout';
            if (isReady()) continue;
            if (notice && Date.now() >= notice.at) {
              // Sent once: marked done now, written at the top of the loop, carried across continue-as-new.
              this.notify.send(notice, this.state);
              continue;
            }
            // A durable timer, not a busy loop: the request is read once per interval.
            this.nextWatchAt = Date.now() + this.servicePollMs();
            if ((await watch!()) === 'done') return 'done';
            continue;
          }
        }
      }
      // Woken only to write a notice (a stall): back to the top, which writes it, then waits again.
      if (this.inbox.size === 0 && !isReady()) continue;
      // An action delivered together with the timer, or after the deadline, is too late:
      // the deadline is handled first and the action meets the next phase.
      if (deadline !== undefined && Date.now() >= deadline) return 'timeout';
      // Actions queued when it became ready go first: a cancel sent while waiting for a slot wins over the migrate.
      const message = this.inbox.take();
      if (!message) return 'ready';
      const parsed = parseAction(message.action, message.payload);
      const requestId = message.replyTo ?? requestIdOf(message.payload);
      const refuse = (reason: string) => this.inbox.answer(message, this.record(message.action, parsed.actor, 'refused', reason, requestId));
      if (!parsed.ok) {
        refuse(parsed.reason);
        continue;
      }
      const { payload, actor } = parsed;
      const handler = handlers[message.action];
      if (!handler || !phaseAccepts(this.state.phase, message.action)) {
        refuse(phaseRefusal(message.action, this.state.phase, this.state.prepareDeadline));
        continue;
      }
      const authorization = await this.checkRole(message.action, actor, `Check the role for ${message.action}`);
      if (!authorization.allowed) {
        refuse(authorization.reason!);
        continue;
      }
      const outcome = await handler(payload, actor);
      if (typeof outcome === 'object') {
        refuse(outcome.refused);
        continue;
      }
      this.inbox.answer(message, this.record(message.action, actor, 'accepted', undefined, requestId));
      if (outcome === 'done') return 'done';
    }
  }

  /** The actor's role for the action; a directory that cannot answer refuses the action, never fails the migration. */
  private async checkRole(action: Action, actor: string, summary: string): Promise<{ allowed: boolean; reason?: string }> {
    const key = `${action}\u0000${actor.toLowerCase()}`;
    const remembered = this.refusals.get(key);
    if (remembered && remembered.until > Date.now()) return { allowed: false, reason: remembered.reason };
    let result: { allowed: boolean; reason?: string };
    try {
      const request = this.authorizationRequest(action, actor);
      result = await this.localRoleCheck(request, summary);
    } catch (err) {
      // Not remembered: the directory may answer next time.
      return { allowed: false, reason: `${action} refused: could not check your role; try again (${failureMessage(err)})` };
    }
    if (result.allowed) this.refusals.delete(key);
    else this.refusals.set(key, { reason: result.reason!, until: Date.now() + REFUSAL_MEMORY_MS });
    return result;
  }

  /**
   * A role check as a local activity (a short look-up: one marker in history), held to the check
   * budget by its retry policy (check-budget.ts).
   */
  private localRoleCheck(request: ReturnType<Migration['authorizationRequest']>, summary: string): Promise<{ allowed: boolean; reason?: string }> {
    const budgetMs = this.checkBudgetMs();
    const { maximumAttempts, attemptMs } = retryWithinBudget(budgetMs, BACKOFF);
    const { authorize } = proxyLocalActivities<MigrationActivities>({
      startToCloseTimeout: attemptMs,
      scheduleToCloseTimeout: budgetMs,
      retry: { ...retry, maximumAttempts },
      summary,
    });
    return authorize(request);
  }

  /** Past the configured length, or when Temporal suggests it, a waiting migration continues as new. */
  private historyIsLong(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength > (this.input.continueAfterEvents ?? DEFAULT_CONTINUE_AFTER_EVENTS);
  }

  /**
   * A fresh run with the same phase, ids and absolute deadlines; the audit trail is already in the
   * control plane. Not while anything is left to handle: what arrived meanwhile is handled first.
   */
  private async continueAsNewRun(): Promise<void> {
    await this.writeAudit();
    if (this.inbox.size > 0 || this.auditToWrite.length > 0 || this.notify.hasPending || !allHandlersFinished()) return;
    // The reminders sent so far go along, so that the next run sends none of them again.
    const resume: CarriedMigration & CarriedNotifications = {
      state: this.state,
      sourceTenantId: this.sourceTenantId,
      validationRound: this.validationRound,
      externalActions: this.externalActions,
      servicePrepares: this.servicePrepares,
      nextWatchAt: this.nextWatchAt,
      ...this.notify.carried(),
    };
    await continueAsNew<typeof tenantMigration>({ ...this.input, resume });
  }

  /** The audit entries and notification events since the last write, in one local activity (one marker in history). */
  private async writeAudit(): Promise<void> {
    const notify = this.notify;
    if (this.auditToWrite.length === 0 && !notify.hasPending) return;
    const entries = this.auditToWrite.splice(0, this.auditToWrite.length);
    const { events, collected } = notify.take(entries, this.state);
    try {
      notify.settle(await recordTrail({ entries, events }));
    } catch (err) {
      // Kept for the next write rather than lost; the migration does not stop for its audit trail or its notifications.
      this.auditToWrite.unshift(...entries);
      notify.restore(collected);
      log.warn('the audit trail and notifications could not be written; they are written at the next wait', { migrationId: this.input.migrationId, error: failureMessage(err) });
    }
  }

  private authorizationRequest(action: Action, actor: string) {
    return {
      action,
      actor,
      environmentId: this.input.environmentId,
      sourceTenantId: this.sourceTenantId,
      targetTenantId: this.input.targetTenantId,
    };
  }

  private checkBudgetMs(): number {
    return this.input.checkBudgetMs ?? DEFAULT_CHECK_BUDGET_MS;
  }

  /** Options for a check an admin waits for: retried within a budget of minutes, then refused. */
  private withinBudget(options: ActivityOptions): ActivityOptions {
    const budget = this.checkBudgetMs();
    const startToClose = Math.min(budget, 60_000);
    return { ...options, startToCloseTimeout: startToClose, scheduleToCloseTimeout: budget };
  }

  private servicePollMs(): number {
    return this.input.servicePollMs ?? DEFAULT_SERVICE_POLL_MS;
  }

  private record(action: Action, actor: string, outcome: AuditEntry['outcome'], reason?: string, requestId?: string, note?: string): AuditEntry {
    const entry: AuditEntry = { at: new Date().toISOString(), action, actor, outcome };
    if (reason) entry.reason = reason;
    if (requestId) entry.requestId = requestId;
    if (note) entry.note = note;
    this.state.audit.push(entry);
    if (this.state.audit.length > AUDIT_IN_STATE) this.state.audit.splice(0, this.state.audit.length - AUDIT_IN_STATE);
    this.toWrite(entry);
    return entry;
  }

  private toWrite(entry: AuditEntry): void {
    const last = this.auditToWrite[this.auditToWrite.length - 1];
    const same = last && entry.outcome === 'refused' && last.outcome === 'refused' && last.action === entry.action && last.actor === entry.actor && last.reason === entry.reason && last.note === entry.note;
    if (same) {
      last.count += 1;
      return;
    }
    this.auditEntries += 1;
    this.auditToWrite.push({
      ...entry,
      entryId: `${workflowInfo().runId}-${this.auditEntries}`,
      migrationId: this.input.migrationId,
      count: 1,
    });
  }

  /**
   * The stall check says the current phase has run past its usual time: T2TStalled lists it in the
   * Web UI until the phase changes, and a `stalled` notification goes out. Anyone can send this
   * signal with the temporal CLI: a notice that is malformed, late (another phase) or repeated changes nothing.
   */
  private markStalled(notice: StalledNotice): void {
    if (!notice || typeof notice !== 'object' || notice.phase !== this.state.phase || this.state.stalled || isFinalPhase(this.state.phase)) return;
    if (typeof notice.since !== 'string' || typeof notice.thresholdMs !== 'number' || (notice.basis !== 'p90' && notice.basis !== 'limit')) return;
    this.state.stalled = { phase: notice.phase, since: notice.since, thresholdMs: notice.thresholdMs, basis: notice.basis, markedAt: new Date().toISOString() };
    upsertSearchAttributes([{ key: SearchAttributes.stalled, value: true }]);
    this.notify.stalled(this.state);
    this.noticeToWrite = true;
    showDetails(this.state);
  }

  /** The one place a phase changes: state, its log, search attributes and the Web UI's details together. */
  private setPhase(phase: Phase, alongside: SearchAttributeUpdatePair[] = []): void {
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
}

/** The earliest of the times given, if any. */
function earliest(...times: (number | undefined)[]): number | undefined {
  const given = times.filter((t): t is number => t !== undefined);
  return given.length === 0 ? undefined : Math.min(...given);
}
