// A rehearsal (`t2t rehearse`): the whole migrate on a copy of the environment,
// without approvals, to learn what the real run will do and how long its cutover
// takes. It runs the migration's own activities on the copy (eligibility, the
// storage check, validation, the service's migrate), and removes the copy whatever
// happens: after success, a failure, or a cancellation through Temporal.
import {
  ActivityCancellationType,
  CancellationScope,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ActivityOptions, RetryPolicy } from '@temporalio/common';
import { NON_RETRYABLE_ERRORS, rehearsalStatusQuery, type RehearsalInput, type RehearsalReport, type RehearsalStep } from '../contracts';
import type { MigrationActivities } from '../activities';
import { renderRehearsalDetails } from './details';
import { failureMessage, failureType } from './failures';
import { SignedActions, spentElsewhere } from './signed-actions';
import { submitRehearsalProofPayload } from '../identity/action-proof';

const retry: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  nonRetryableErrorTypes: [...NON_RETRYABLE_ERRORS, 'NotSupported'],
};

// Every activity is awaited to its end even when the rehearsal is cancelled, so that the copy
// is removed only once nothing acts on it any more (a cancelled migrate stops at its next heartbeat).
const WAIT = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED;
const CONTROL_PLANE: ActivityOptions = { startToCloseTimeout: '1m', retry, cancellationType: WAIT };
const VALIDATION: ActivityOptions = { startToCloseTimeout: '2h', heartbeatTimeout: '20s', retry: { ...retry, maximumAttempts: 8 }, cancellationType: WAIT };
const MIGRATE: ActivityOptions = { startToCloseTimeout: '24h', heartbeatTimeout: '30s', retry, cancellationType: WAIT };

function activity<K extends keyof MigrationActivities>(name: K, summary: string, options: ActivityOptions = CONTROL_PLANE): MigrationActivities[K] {
  return proxyActivities<MigrationActivities>({ ...options, summary })[name];
}

/** The service's migrate steps in words (the simulated back end's step names). */
const MIGRATE_STEP_TITLES: Record<string, string> = {
  rememberAdministrationMode: 'Read the environment',
  administrationModeOn: 'Turn administration mode on',
  relink: 'Re-link the environment to the target tenant',
  remap: 'Re-map users',
  mailboxes: 'Configure mailboxes',
  sourceAccessOff: 'Make the environment inaccessible from the source tenant',
  restoreAdministrationMode: 'Restore administration mode',
  checklist: 'Compute the post-migration checklist',
};

const TEMPORAL_CANCEL = 'cancelled through Temporal (Web UI or temporal workflow cancel); the copy was removed';

export async function rehearseMigration(input: RehearsalInput): Promise<RehearsalReport> {
  return new Rehearsal(input).run();
}

class Rehearsal {
  private readonly report: RehearsalReport;
  private currentStep = 'starting';
  /** set once the copy may exist: from then on the cleanup removes it */
  private copyAsked = false;
  /** the copy's name, once made: said as the original's in what the rehearsal reports */
  private copyName?: string;

  constructor(private readonly input: RehearsalInput) {
    this.report = {
      rehearsalId: input.rehearsalId,
      environmentId: input.environmentId,
      targetTenantId: input.targetTenantId,
      outcome: 'Running',
      startedAt: new Date(workflowInfo().startTime).toISOString(),
      warnings: [],
      findings: [],
      steps: [],
      copyRemoved: false,
    };
  }

  async run(): Promise<RehearsalReport> {
    setHandler(rehearsalStatusQuery, () => this.report);
    this.show();
    const refusal = await this.startRefusal();
    if (refusal) {
      // Nothing was asked of anything: no copy, and no cleanup (the input's storage is not vouched for).
      this.refuse(refusal);
      this.report.finishedAt = new Date().toISOString();
      this.currentStep = 'ended';
      this.show();
      return this.report;
    }
    try {
      await this.rehearse();
    } catch (err) {
      this.report.outcome = isCancellation(err) ? 'Cancelled' : 'Failed';
      this.report.reason = isCancellation(err) ? TEMPORAL_CANCEL : `the rehearsal could not run: ${failureMessage(err)}`;
      // The compensation of the whole rehearsal: runs whatever was cancelled, then the run closes as it ended.
      await CancellationScope.nonCancellable(() => this.cleanUp());
      throw err;
    }
    await CancellationScope.nonCancellable(() => this.cleanUp());
    return this.report;
  }

  /**
   * With sign-in enforced by the worker (T2T_AUTH=on), the start counts only with the gateway's
   * signed proof (action 'rehearse'): undefined when the rehearsal may go on (it then acts for the
   * proof's user), else why it is refused. As a migration's start (migration/proofs.ts startRefusal).
   */
  private async startRefusal(): Promise<string | undefined> {
    const auth = await SignedActions.read();
    if (!auth.enforced) return undefined;
    const { input } = this;
    const checked = await auth.check(input.proof, { action: 'rehearse', migrationId: input.rehearsalId, payload: submitRehearsalProofPayload(input) }, new Set());
    if (!checked.ok) return `rehearse refused: ${checked.reason}; nothing was done`;
    const spent = await spentElsewhere(checked.proof.actionId);
    if (spent) return `rehearse refused: ${spent}; nothing was done`;
    input.requestedBy = checked.proof.claims.user;
    return undefined;
  }

  private async rehearse(): Promise<void> {
    const { input, report } = this;
    const assessment = await this.step('eligibility', 'Check eligibility', true, async () => {
      try {
        return await activity('assessMigration', 'Check eligibility of the environment')({ environmentId: input.environmentId, targetTenantId: input.targetTenantId });
      } catch (err) {
        if (failureType(err) === 'NotFound') return undefined;
        throw err;
      }
    });
    if (!assessment) return this.refuse(`rehearse refused: environment '${input.environmentId}' or tenant '${input.targetTenantId}' does not exist`);
    report.environmentName = assessment.environmentName;
    report.sourceTenantId = assessment.sourceTenantId;
    report.warnings = assessment.warnings;
    if (assessment.environmentTenantId === input.targetTenantId) {
      return this.refuse(`rehearse refused: environment '${input.environmentId}' already belongs to tenant '${input.targetTenantId}'`);
    }
    const authorization = await activity('authorize', 'Check the role of the admin (as for submit)')({
      action: 'submit',
      actor: input.requestedBy,
      environmentId: input.environmentId,
      sourceTenantId: assessment.sourceTenantId,
      targetTenantId: input.targetTenantId,
    });
    if (!authorization.allowed) return this.refuse((authorization.reason ?? 'refused').replace(/^submit refused/, 'rehearse refused'));
    if (assessment.blocking.length > 0) return this.refuse(`rehearse refused: not eligible: ${assessment.blocking.map((b) => b.message).join('; ')}`);

    this.copyAsked = true;
    const copy = await this.step('copy', 'Copy the environment and its users', false, () =>
      activity('copyEnvironmentForRehearsal', 'Copy the environment for the rehearsal')({ environmentId: input.environmentId, copyId: input.copyEnvironmentId }),
    );
    report.copyEnvironmentId = copy.environmentId;
    this.copyName = copy.name;
    this.retitle('copy', `Copy the environment and its ${copy.users} users`);
    const migration = {
      migrationId: input.rehearsalId,
      environmentId: copy.environmentId,
      sourceTenantId: assessment.sourceTenantId,
      targetTenantId: input.targetTenantId,
    };

    // The real run's storage step, on the copy: its preconditions are findings, not the end of the rehearsal.
    await this.step('storage', 'Generate resource storage (preconditions)', false, async () => {
      try {
        await activity('createMigrationStorage', 'Check the storage preconditions on the copy')({
          migrationId: input.rehearsalId,
          environmentId: copy.environmentId,
          actor: input.requestedBy,
          migration,
        });
      } catch (err) {
        if (isCancellation(err)) throw err;
        report.findings.push(`storage would be refused: ${this.onOriginal(failureMessage(err))}`);
      }
    });

    const validation = await this.step('validation', 'Validate usermapping.csv', true, () =>
      activity('validateMapping', 'Validate usermapping.csv against the copy', VALIDATION)({
        migrationId: input.rehearsalId,
        storage: input.storage,
        sourceTenantId: assessment.sourceTenantId,
        targetTenantId: input.targetTenantId,
        round: 1,
      }),
    );
    report.validation = validation;
    if (validation.errors > 0) {
      report.outcome = 'ValidationFailed';
      report.reason = `usermapping.csv has ${validation.errors} error(s): prepare would fail; see them with t2t mapping check --file usermapping.csv --target-tenant ${input.targetTenantId}`;
      return;
    }

    const migrateStarted = Date.now();
    let outcome;
    try {
      this.currentStep = 'Migrate the copy';
      this.show();
      outcome = await activity('migrateEnvironment', 'Migrate the copy: re-link, re-map users, mailboxes, source access, checklist', MIGRATE)({
        migration,
        storage: input.storage,
        mappingEtag: validation.mappingEtag,
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      // The copy's migrate was undone (or not) like a real one: the rehearsal has found what would fail.
      report.outcome = 'Failed';
      report.reason = `the migrate would fail: ${this.onOriginal(failureMessage(err))}`;
      return;
    }
    const migrateMs = Date.now() - migrateStarted;
    for (const [step, ms] of Object.entries(outcome.stepDurationsMs ?? {})) {
      report.steps.push({ step, title: MIGRATE_STEP_TITLES[step] ?? step, ms, cutover: true });
    }
    if (!outcome.stepDurationsMs) report.steps.push({ step: 'migrate', title: 'Migrate', ms: migrateMs, cutover: true });
    report.summary = {
      usersRemapped: outcome.usersRemapped,
      unmappedUsers: outcome.unmappedTotal,
      mailboxesConfigured: outcome.mailboxesConfigured,
      mailboxesToReconfigure: outcome.mailboxesToReconfigure,
      onmicrosoftAddressesRewritten: outcome.onmicrosoftAddressesRewritten,
      // The checklist names the environment: the original's, which the real run will move.
      checklist: outcome.checklist.map((item) => ({ ...item, title: this.onOriginal(item.title), details: item.details.map((d) => this.onOriginal(d)) })),
      flowActivationOrder: outcome.flowActivationOrder,
    };
    // The real migrate checks eligibility and the file again, then migrates: that is the window to book.
    const checks = report.steps.filter((s) => s.step === 'eligibility' || s.step === 'validation').reduce((sum, s) => sum + s.ms, 0);
    report.cutoverMs = checks + migrateMs;
    const peopleBlob = await activity('writeRehearsalPeople', 'Write who would be re-mapped or left behind next to the mapping')({ migration, storage: input.storage });
    if (peopleBlob) report.peopleBlob = peopleBlob;
    report.outcome = 'Succeeded';
  }

  /** Removes the copy and ends access to the rehearsal's storage; runs however the rehearsal ended. */
  private async cleanUp(): Promise<void> {
    const { input, report } = this;
    if (this.copyAsked) {
      await this.step('removeCopy', 'Remove the copy', false, async () => {
        await activity('removeRehearsalCopy', 'Remove the copy of the environment')({ copyId: input.copyEnvironmentId });
      });
      report.copyRemoved = true;
    }
    await activity('revokeMigrationStorage', "Revoke the SAS of the rehearsal's container")({ storage: input.storage });
    report.finishedAt = new Date().toISOString();
    this.currentStep = 'ended';
    this.show();
    log.info('rehearsal ended', { rehearsalId: input.rehearsalId, outcome: report.outcome });
  }

  private refuse(reason: string): void {
    this.report.outcome = 'Refused';
    this.report.reason = reason;
  }

  /** Runs one step, timed (workflow time: from its scheduling to its result). */
  private async step<T>(step: string, title: string, cutover: boolean, work: () => Promise<T>): Promise<T> {
    this.currentStep = title;
    this.show();
    const started = Date.now();
    const result = await work();
    const entry: RehearsalStep = { step, title, ms: Date.now() - started, cutover };
    this.report.steps.push(entry);
    return result;
  }

  private retitle(step: string, title: string): void {
    const entry = this.report.steps.find((s) => s.step === step);
    if (entry) entry.title = title;
  }

  /** Messages about the copy, told about the environment the admin named. */
  private onOriginal(message: string): string {
    const named = this.copyName && this.report.environmentName ? message.split(this.copyName).join(this.report.environmentName) : message;
    return named.split(this.input.copyEnvironmentId).join(this.input.environmentId);
  }

  private show(): void {
    setCurrentDetails(renderRehearsalDetails(this.report, this.currentStep));
  }
}
