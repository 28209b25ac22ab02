// One durable workflow per migration, reading like the article's steps:
// submit → eligibility → approval → lockbox → storage + prepare rounds →
// seven-day window → migrate → post-migration checklist.
import {
  ApplicationFailure,
  condition,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  log,
  patched,
  ActivityFailure,
} from '@temporalio/workflow';
import type { ActivityOptions, RetryPolicy, SearchAttributeUpdatePair } from '@temporalio/common';
import type { z } from 'zod';
import {
  Action,
  ApproveLockboxSchema,
  ApproveSchema,
  AuditEntry,
  CancelSchema,
  DenySchema,
  MigrateSchema,
  MigrationInput,
  MigrationStatus,
  NON_RETRYABLE_ERRORS,
  Phase,
  PrepareSchema,
  RequestStorageSchema,
  SA,
  STATUS,
  approveLockboxSignal,
  approveSignal,
  cancelSignal,
  denySignal,
  isFinalPhase,
  migrateSignal,
  prepareSignal,
  requestStorageSignal,
  statusQuery,
} from '../contracts';
import type { MigrationActivities } from '../activities';
import { phaseAccepts, phaseRefusal } from './phase-rules';
import { containerNameFromUri } from '../migration/container-uri';
import { renderDetails } from './details';

const retry: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS],
};

/**
 * Since this patch, a phase and the attributes that change with it are one upsert, and
 * values the start already carried are not upserted again (fewer events, fewer visibility writes).
 */
const ONE_UPSERT_PER_PHASE = 'one-upsert-per-phase';

/**
 * Since this patch, the workflow acts through the migration-service port: it registers the
 * request with the service, tells the service of approvals, denials and cancellations, watches
 * the request for actions taken outside the product, and migrates in one resumable service step.
 */
const MIGRATION_SERVICE_PORT = 'migration-service-port';

const DEFAULT_SERVICE_POLL_MS = 5 * 60_000;

const CONTROL_PLANE: ActivityOptions = { startToCloseTimeout: '1m', retry };
const STORAGE: ActivityOptions = { startToCloseTimeout: '2m', retry };
// Long steps heartbeat their progress; a retry resumes from the last heartbeat.
const LONG_RUNNING: ActivityOptions = { startToCloseTimeout: '2h', heartbeatTimeout: '20s', retry };
// The service's own prepare and migrate are polled long-running operations: hours, heartbeating
// while they wait, so that a lost worker is noticed within seconds and another resumes the step.
const SERVICE_OPERATION: ActivityOptions = { startToCloseTimeout: '24h', heartbeatTimeout: '30s', retry };

/** An activity with the one-line summary the Web UI shows for it (no personal data). */
function step<K extends keyof MigrationActivities>(name: K, summary: string, options: ActivityOptions = CONTROL_PLANE): MigrationActivities[K] {
  return proxyActivities<MigrationActivities>({ ...options, summary })[name];
}

const SCHEMAS: Record<Exclude<Action, 'submit'>, z.ZodType> = {
  approve: ApproveSchema,
  deny: DenySchema,
  approveLockbox: ApproveLockboxSchema,
  requestStorage: RequestStorageSchema,
  prepare: PrepareSchema,
  migrate: MigrateSchema,
  cancel: CancelSchema,
};

interface InboxMessage {
  action: Exclude<Action, 'submit'>;
  payload: unknown;
}

type Handler = (payload: Record<string, unknown>, actor: string) => Promise<'continue' | 'done' | { refused: string }>;

/** Reads the request on the service while people are awaited: 'done' when someone acted outside the product. */
type Watch = () => Promise<'continue' | 'done'>;

export async function tenantMigration(input: MigrationInput): Promise<MigrationStatus> {
  return new Migration(input).run();
}

class Migration {
  private readonly state: MigrationStatus;
  private readonly inbox: InboxMessage[] = [];
  private sourceTenantId = '';
  private validationRound = 0;
  /** false when replaying a migration started before the port */
  private usesPort = false;
  private externalActions = false;
  private servicePrepares = false;
  private nextWatchAt = 0;

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
    };
  }

  async run(): Promise<MigrationStatus> {
    this.usesPort = patched(MIGRATION_SERVICE_PORT);
    this.registerHandlers();
    this.setPhase('Submitted');

    if (!(await this.submit())) return this.finish();
    if (!(await this.awaitApproval())) return this.finish();
    if (this.state.lockboxRequired && !(await this.awaitLockbox())) return this.finish();
    this.setPhase('Approved');
    if (!(await this.prepareUntilMigrate())) return this.finish();
    await this.migrate();
    return this.finish();
  }

  // ---- steps ---------------------------------------------------------------

  private async submit(): Promise<boolean> {
    const assessment = await step('assessMigration', 'Check eligibility of the environment')({
      environmentId: this.input.environmentId,
      targetTenantId: this.input.targetTenantId,
    });
    this.sourceTenantId = assessment.sourceTenantId;
    this.state.sourceTenantId = assessment.sourceTenantId;
    this.state.environmentName = assessment.environmentName;
    this.state.lockboxRequired = assessment.lockboxRequired;
    this.state.warnings = assessment.warnings;
    const sourceTenant = { key: SA.sourceTenantId, value: assessment.sourceTenantId } as const;
    const memo = { environmentName: assessment.environmentName, sourceTenant: assessment.sourceTenantName, targetTenant: assessment.targetTenantName };
    const onlyChanges = patched(ONE_UPSERT_PER_PHASE);
    if (!onlyChanges || !carriesAlready(sourceTenant)) upsertSearchAttributes([sourceTenant]);
    if (!onlyChanges || !carriesMemoAlready(memo)) upsertMemo(memo);

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
    if (this.usesPort) {
      this.state.backend = assessment.backend;
      if (assessment.unknown.length > 0) this.state.unknown = assessment.unknown;
      try {
        const submission = await step('submitMigration', 'Register the request with the migration service')({
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
    const deadline = Date.now() + this.input.lockboxTimeoutMs;
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
          migrate: async (payload) => {
            if (payload.targetTenantId !== this.input.targetTenantId) {
              return { refused: `migrate refused: target tenant '${String(payload.targetTenantId)}' is not this migration's target tenant` };
            }
            return 'done';
          },
          cancel: async (payload, actor) => this.cancel(payload, actor),
        },
        windowDeadline,
        'seven-day window to migrate',
        () => this.watchRequest(false),
      );
      if (outcome === 'timeout') {
        this.state.status = undefined;
        this.state.reason = `the preparation expired at ${this.state.prepareDeadline}; run prepare again`;
        this.setPhase('PreparationExpired');
        continue;
      }
      return !isFinalPhase(this.state.phase);
    }
  }

  private async requestStorage(actor: string): Promise<'continue' | { refused: string }> {
    try {
      this.state.storage = await step('createMigrationStorage', 'Generate resource storage (container and SAS)', STORAGE)({
        migrationId: this.input.migrationId,
        environmentId: this.input.environmentId,
        actor,
        ...(this.usesPort ? { migration: this.serviceMigration() } : {}),
      });
      this.refreshDetails();
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
    const previous = this.state.phase;
    this.validationRound += 1;
    this.state.status = STATUS.validateRunning;
    this.state.reason = undefined;
    this.setPhase('Validating');
    let result;
    try {
      result = await step('validateMapping', `Validate usermapping.csv (round ${this.validationRound})`, LONG_RUNNING)(this.validationRequest(this.validationRound));
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
      this.setPhase('ValidationFailed', [{ key: SA.prepareDeadline, value: null }]);
      return 'continue';
    }
    if (this.servicePrepares) {
      let onService;
      try {
        onService = await step('prepareOnService', 'Prepare on the migration service', SERVICE_OPERATION)({
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
        this.setPhase('ValidationFailed', [{ key: SA.prepareDeadline, value: null }]);
        return 'continue';
      }
    }
    this.state.status = STATUS.validateSucceeded;
    const deadline = new Date(Date.now() + this.input.prepareWindowMs);
    this.state.prepareDeadline = deadline.toISOString();
    this.setPhase('Prepared', [{ key: SA.prepareDeadline, value: deadline }]);
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
    activity: 'approveOnService' | 'denyOnService' | 'approveLockboxOnService' | 'cancelOnService',
    summary: string,
    details: { actor: string; reason?: string },
  ): Promise<'done' | { refused: string }> {
    if (!this.usesPort) return 'done';
    try {
      await step(activity, summary)({ migration: this.serviceMigration(), actor: details.actor, reason: details.reason ?? '' });
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
      request = await step('readMigrationRequest', 'Check the request on the migration service')({ migration: this.serviceMigration() });
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
      containerName: storage.containerName,
      ...(this.usesPort ? { storage } : {}),
      sourceTenantId: this.sourceTenantId,
      targetTenantId: this.input.targetTenantId,
      round,
    };
  }

  private async migrate(): Promise<void> {
    if (!this.usesPort) return this.migrateStepByStep();
    const storage = this.state.storage!;
    this.state.status = STATUS.migrateRunning;
    this.state.reason = undefined;
    this.setPhase('Migrating');
    try {
      const check = await this.checkAgainBeforeMigrate();
      const outcome = await step('migrateEnvironment', 'Migrate: re-link, re-map users, mailboxes, source access, checklist', SERVICE_OPERATION)({
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
    } catch (err) {
      this.state.status = undefined;
      this.state.reason = `migration failed: ${failureMessage(err)}`;
      log.warn('migration failed', { migrationId: this.input.migrationId, error: failureMessage(err) });
      this.setPhase('Failed');
    }
  }

  /** Eligibility and the mapping file once more before any effect: either may have changed since prepare. */
  private async checkAgainBeforeMigrate() {
    const assessment = await step('assessMigration', 'Check eligibility again before migrating')({ environmentId: this.input.environmentId, targetTenantId: this.input.targetTenantId });
    if (assessment.blocking.length > 0) {
      throw ApplicationFailure.nonRetryable(`not eligible any more: ${assessment.blocking.map((b) => b.message).join('; ')}`, 'NotEligible');
    }
    const check = await step('validateMapping', 'Validate usermapping.csv again before migrating', LONG_RUNNING)(this.validationRequest(this.validationRound + 1));
    if (check.errors > 0) {
      this.state.validation = check;
      throw ApplicationFailure.nonRetryable(
        `the mapping file no longer passes validation (${check.errors} errors, report: ${check.errorReportUrl}); nothing was changed`,
        'MappingInvalidAtMigrate',
      );
    }
    return check;
  }

  /** Migrations started before the port run the steps as separate activities, as they were recorded. */
  private async migrateStepByStep(): Promise<void> {
    const storageInfo = this.state.storage!;
    this.state.status = STATUS.migrateRunning;
    this.state.reason = undefined;
    this.setPhase('Migrating');
    const environmentId = this.input.environmentId;
    let previousAdminMode: boolean | undefined;
    try {
      const assessment = await step('assessMigration', 'Check eligibility again before migrating')({ environmentId, targetTenantId: this.input.targetTenantId });
      if (assessment.blocking.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `not eligible any more: ${assessment.blocking.map((b) => b.message).join('; ')}`,
          'NotEligible',
        );
      }
      // The file may have changed since prepare: check it again before any effect.
      const check = await step('validateMapping', 'Validate usermapping.csv again before migrating', LONG_RUNNING)({
        migrationId: this.input.migrationId,
        containerName: storageInfo.containerName,
        sourceTenantId: this.sourceTenantId,
        targetTenantId: this.input.targetTenantId,
        round: this.validationRound + 1,
      });
      if (check.errors > 0) {
        this.state.validation = check;
        throw ApplicationFailure.nonRetryable(
          `the mapping file no longer passes validation (${check.errors} errors, report: ${check.errorReportUrl}); nothing was changed`,
          'MappingInvalidAtMigrate',
        );
      }

      previousAdminMode = (await step('getAdministrationMode', 'Remember the administration mode')({ environmentId })).adminMode;
      await step('setAdministrationMode', 'Turn administration mode on')({ environmentId, adminMode: true });
      await step('relinkEnvironment', 'Re-link the environment to the target tenant')({ environmentId, targetTenantId: this.input.targetTenantId, migrationId: this.input.migrationId });
      const remap = await step('remapUsers', 'Re-map users to their target identities', LONG_RUNNING)({
        migrationId: this.input.migrationId,
        environmentId,
        containerName: storageInfo.containerName,
        mappingEtag: check.mappingEtag,
      });
      const mailboxes = await step('configureMailboxes', 'Configure mailboxes')({
        migrationId: this.input.migrationId,
        environmentId,
        sourceTenantId: this.sourceTenantId,
        targetTenantId: this.input.targetTenantId,
      });
      await step('setSourceAccess', 'Make the environment inaccessible from the source tenant')({ environmentId, sourceAccess: false });
      await step('setAdministrationMode', 'Restore the administration mode')({ environmentId, adminMode: previousAdminMode });
      const checklist = await step('postMigrationChecklist', 'Compute the post-migration checklist')({ environmentId });
      this.state.summary = {
        usersRemapped: remap.usersRemapped,
        unmappedUsers: remap.unmappedTotal,
        mailboxesConfigured: mailboxes.configured,
        mailboxesToReconfigure: mailboxes.toReconfigure,
        onmicrosoftAddressesRewritten: mailboxes.onmicrosoftRewritten,
        checklist: checklist.items,
        flowActivationOrder: checklist.flowActivationOrder,
      };
      this.state.status = STATUS.migrateSucceeded;
      this.setPhase('Succeeded');
    } catch (err) {
      this.state.status = undefined;
      this.state.reason = `migration failed: ${failureMessage(err)}`;
      log.warn('migration failed', { migrationId: this.input.migrationId, error: failureMessage(err) });
      if (previousAdminMode !== undefined) {
        await step('setAdministrationMode', 'Restore the administration mode')({ environmentId, adminMode: previousAdminMode });
      }
      this.setPhase('Failed');
    }
  }

  private async finish(): Promise<MigrationStatus> {
    if (this.state.storage) {
      // Once the migration has ended nobody needs the container: revoke the SAS.
      await step('revokeMigrationStorage', 'Revoke the SAS of the migration container', STORAGE)({
        containerName: this.state.storage.containerName,
        ...(this.usesPort ? { storage: this.state.storage } : {}),
      });
    }
    this.refreshDetails();
    return this.state;
  }

  // ---- actions ---------------------------------------------------------------

  /**
   * Handles queued admin actions one at a time until a handler says 'done' or the
   * deadline passes. Bad payloads, wrong phases and wrong people are refused and
   * recorded; none of them changes the migration.
   */
  private async handleActions(
    handlers: Partial<Record<Exclude<Action, 'submit'>, Handler>>,
    currentDeadline: () => number | undefined,
    timerSummary: string,
    watch?: Watch,
  ): Promise<'done' | 'timeout'> {
    const watching = watch !== undefined && this.externalActions;
    for (;;) {
      // An accepted action can move the deadline (a successful prepare opens the window).
      const deadline = currentDeadline();
      if (this.inbox.length === 0) {
        if (watching && this.nextWatchAt === 0) this.nextWatchAt = Date.now() + this.servicePollMs();
        const watchAt = watching ? this.nextWatchAt : undefined;
        const wakeAt = deadline === undefined ? watchAt : watchAt === undefined ? deadline : Math.min(deadline, watchAt);
        if (wakeAt === undefined) {
          await condition(() => this.inbox.length > 0);
        } else {
          const remaining = wakeAt - Date.now();
          const summary = wakeAt === deadline ? timerSummary : 'next look at the request on the migration service';
          const arrived = remaining > 0 && (await condition(() => this.inbox.length > 0, remaining, { summary }));
          if (!arrived) {
            if (deadline !== undefined && Date.now() >= deadline) return 'timeout';
            // A durable timer, not a busy loop: the request is read once per interval.
            this.nextWatchAt = Date.now() + this.servicePollMs();
            if ((await watch!()) === 'done') return 'done';
            continue;
          }
        }
      }
      // An action delivered together with the timer, or after the deadline, is too late:
      // the deadline is handled first and the action meets the next phase.
      if (deadline !== undefined && Date.now() >= deadline) return 'timeout';
      const message = this.inbox.shift()!;
      const parsed = SCHEMAS[message.action].safeParse(message.payload);
      const rawActor = actorOf(message.payload);
      const requestId = requestIdOf(message.payload);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        this.record(message.action, rawActor, 'refused', `${message.action} refused: invalid payload: ${issue.path.join('.') || 'payload'}: ${issue.message}`, requestId);
        continue;
      }
      const payload = parsed.data as Record<string, unknown>;
      const actor = String(payload.actor);
      const handler = handlers[message.action];
      if (!handler || !phaseAccepts(this.state.phase, message.action)) {
        this.record(message.action, actor, 'refused', phaseRefusal(message.action, this.state.phase, this.state.prepareDeadline), requestId);
        continue;
      }
      const authorization = await this.checkRole(message.action, actor, `Check the role for ${message.action}`);
      if (!authorization.allowed) {
        this.record(message.action, actor, 'refused', authorization.reason, requestId);
        continue;
      }
      const outcome = await handler(payload, actor);
      if (typeof outcome === 'object') {
        this.record(message.action, actor, 'refused', outcome.refused, requestId);
        continue;
      }
      this.record(message.action, actor, 'accepted', undefined, requestId);
      if (outcome === 'done') return 'done';
    }
  }

  private registerHandlers(): void {
    const enqueue = (action: Exclude<Action, 'submit'>) => (payload: unknown) => {
      this.inbox.push({ action, payload });
    };
    setHandler(approveSignal, enqueue('approve'));
    setHandler(denySignal, enqueue('deny'));
    setHandler(approveLockboxSignal, enqueue('approveLockbox'));
    setHandler(requestStorageSignal, enqueue('requestStorage'));
    setHandler(prepareSignal, enqueue('prepare'));
    setHandler(migrateSignal, enqueue('migrate'));
    setHandler(cancelSignal, enqueue('cancel'));
    setHandler(statusQuery, () => this.state);
  }

  /** The actor's role for the action; a directory that cannot answer refuses the action, never fails the migration. */
  private async checkRole(action: Action, actor: string, summary: string): Promise<{ allowed: boolean; reason?: string }> {
    try {
      return await step('authorize', summary)(this.authorizationRequest(action, actor));
    } catch (err) {
      return { allowed: false, reason: `${action} refused: could not check the role of ${actor}: ${failureMessage(err)}` };
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

  private servicePollMs(): number {
    return this.input.servicePollMs ?? DEFAULT_SERVICE_POLL_MS;
  }

  private record(action: Action, actor: string, outcome: AuditEntry['outcome'], reason?: string, requestId?: string, note?: string): void {
    const entry: AuditEntry = { at: new Date().toISOString(), action, actor, outcome };
    if (reason) entry.reason = reason;
    if (requestId) entry.requestId = requestId;
    if (note) entry.note = note;
    this.state.audit.push(entry);
  }

  /** The one place a phase changes: state, search attribute and the Web UI's details together. */
  private setPhase(phase: Phase, alongside: SearchAttributeUpdatePair[] = []): void {
    this.state.phase = phase;
    // One upsert for the phase and what changes with it; none when the start already carried it all.
    if (patched(ONE_UPSERT_PER_PHASE)) {
      const updates = [{ key: SA.phase, value: phase }, ...alongside].filter((pair) => !carriesAlready(pair));
      if (updates.length > 0) upsertSearchAttributes(updates as SearchAttributeUpdatePair[]);
    } else {
      // Migrations started before the change replay their upserts as they made them.
      if (alongside.length > 0) upsertSearchAttributes(alongside);
      upsertSearchAttributes([{ key: SA.phase, value: phase }]);
    }
    this.refreshDetails();
  }

  private refreshDetails(): void {
    setCurrentDetails(renderDetails(this.state));
  }
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

function actorOf(payload: unknown): string {
  const actor = (payload as { actor?: unknown } | null)?.actor;
  return typeof actor === 'string' ? actor.slice(0, 320) : '(unknown)';
}

function requestIdOf(payload: unknown): string | undefined {
  const id = (payload as { requestId?: unknown } | null)?.requestId;
  return typeof id === 'string' ? id.slice(0, 100) : undefined;
}

function failureMessage(err: unknown): string {
  let current: unknown = err;
  // An ActivityFailure wraps the activity's own ApplicationFailure: show that one.
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}
