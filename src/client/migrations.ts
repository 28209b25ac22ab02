// What an admin's client does with migrations: submit, find by either id, send
// an action and learn whether it was accepted, read the status. Used by the
// `t2t` commands and by the tests alike.
import { randomUUID } from 'node:crypto';
import { migrationInputOf } from './migration-input';
import type { AuditLog } from '../controlplane/audit-log';
import { migrationRefOf, refusalEvent, type NotificationEvent } from '../notifications/events';
import { Client, WithStartWorkflowOperation, WorkflowHandle, WorkflowExecutionInfo, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { MigrationService } from '../service/migration-service';
import type { Config } from '../config';
import {
  AuditEntry,
  MIGRATION_WORKFLOW_TYPE,
  MigrationInput,
  MigrationStatus,
  actionUpdates,
  migrationWorkflowId,
  statusQuery,
  submittedUpdate,
  initialSearchAttributes,
  SearchAttributes,
  isFinalPhase,
} from '../contracts';
import type { ReportedStatus } from './run-closure';
import { clientReads, handleReads } from './client-reads';
import { findRun, latestRunOf, migrationListQuery, statusOfRun, withReversal, type ListedRun } from './status-reader';

import { UserError } from './user-error';

/** A batch's ids are looked up this many at a time: a query stays short. */
const USED_IDS_PER_QUERY = 50;
export { UserError };

/**
 * Runs a look-up of the service for `action`: what the service says does not exist (or refuses
 * for good) becomes the admin's one line; faults stay errors.
 */
async function refusedAs<T>(action: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ApplicationFailure && err.nonRetryable) throw new UserError(`${action} refused: ${err.message}`);
    if (err instanceof ApplicationFailure) throw new UserError(`${action}: the migration service did not answer: ${err.message}`);
    throw err;
  }
}

/** A dependency given as it is, or as the call that opens it. */
async function opened<T extends object>(value: T | (() => Promise<T>)): Promise<T> {
  return typeof value === 'function' ? (value as () => Promise<T>)() : value;
}

/** How often a wait asks the server whether the migration's run has ended. */
const ENDED_CHECK_INTERVAL_MS = 2_000;
/** how long `submit` waits for the migration's first settled phase, as other waits for an answer */
const SUBMIT_ANSWER_MS = 60_000;

/** How an action is named in a refusal, as the workflow names it. */
function verbOf(action: SignalAction): string {
  return action === 'approveLockbox' ? 'lockbox approval' : action === 'requestStorage' ? 'storage' : action;
}

export type SignalAction = keyof typeof actionUpdates;

export interface ActionOutcome {
  entry: AuditEntry;
  status: MigrationStatus;
}

export interface MigrationClientOptions {
  client: Client;
  config: Pick<Config, 'taskQueue' | 'approvalTimeoutMs' | 'lockboxTimeoutMs' | 'prepareWindowMs'> & Partial<Pick<Config, 'servicePollMs' | 'checkBudgetMs' | 'continueAfterEvents'>>;
  /** the migration service the worker drives: the client's checks at submit go through it too (opened when first needed) */
  service: MigrationService | (() => Promise<MigrationService>);
  /** how long to wait for the workflow to record an action's outcome */
  ackTimeoutMs?: number;
  /**
   * Where refusals the workflow never records are written: an Update its validator rejects
   * (a malformed payload, an action the phase cannot take) leaves no history, so the client
   * writes it to the audit trail itself (SPEC §2: every refused action is recorded).
   */
  auditLog?: AuditLog | (() => Promise<AuditLog>);
  /** notifies the subscribers of such a refusal (`action-refused`), as the worker does for the refusals it records */
  publish?: (events: NotificationEvent[]) => Promise<void>;
}

export interface SubmitRequest {
  environmentId: string;
  targetTenantId: string;
  actor: string;
  reversesMigrationId?: string;
}

/** A checked submit: the migration's input and the names its start shows in the Web UI. */
export interface SubmissionPlan {
  migration: MigrationInput;
  environment: { id: string; name: string };
  sourceTenant: { id: string; name: string };
  targetTenant: { id: string; name: string };
}

export class MigrationClient {
  private readonly client: Client;

  constructor(private readonly options: MigrationClientOptions) {
    this.client = options.client;
  }

  /** Checks the request at once, starts the migration and waits until it has been assessed. */
  async submit(input: SubmitRequest): Promise<MigrationStatus> {
    return this.startSubmission(await this.planSubmission(input));
  }

  /**
   * What a submit checks before anything reaches Temporal (the environment, the submitter's role,
   * eligibility), and the migration's input. `checkTenant` sees the source tenant first: the action
   * gateway refuses another tenant's admin there.
   */
  async planSubmission(input: SubmitRequest, checkTenant?: (sourceTenantId: string) => void): Promise<SubmissionPlan> {
    const service = await opened(this.options.service);
    const assessment = await refusedAs('submit', () => service.assess(input.environmentId, input.targetTenantId));
    checkTenant?.(assessment.environmentTenantId);
    const authorization = await service.authorize('submit', input.actor, {
      sourceTenantId: assessment.environmentTenantId,
      targetTenantId: input.targetTenantId,
    });
    if (!authorization.allowed) throw new UserError(authorization.reason!);
    if (assessment.environmentTenantId === input.targetTenantId) {
      throw new UserError(`submit refused: not eligible: environment '${input.environmentId}' already belongs to tenant '${input.targetTenantId}'`);
    }
    if (assessment.blocking.length > 0) {
      throw new UserError(`submit refused: not eligible: ${assessment.blocking.map((b) => b.message).join('; ')}`);
    }
    return {
      migration: migrationInputOf({ ...input, submittedBy: input.actor }, this.options.config),
      environment: { id: input.environmentId, name: assessment.environmentName },
      sourceTenant: { id: assessment.sourceTenantId, name: assessment.sourceTenantName },
      targetTenant: { id: input.targetTenantId, name: assessment.targetTenantName },
    };
  }

  /** Starts the planned migration (its input as planned, a proof added or not) and answers with its first settled phase. */
  async startSubmission(plan: SubmissionPlan): Promise<MigrationStatus> {
    const { migration, environment, sourceTenant, targetTenant } = plan;
    const reversesMigrationId = migration.reversesMigrationId;
    // A move-back says so in the Web UI's list and names the migration it reverses in its memo, where
    // the reversed migration's status finds it (reversalOf).
    const moveBack = reversesMigrationId ? 'Move back ' : 'Move ';
    // One call starts the migration and answers with its first settled phase (update-with-start):
    // no polling of the status while the workflow assesses and registers it.
    const start = new WithStartWorkflowOperation(MIGRATION_WORKFLOW_TYPE, {
      taskQueue: this.options.config.taskQueue,
      workflowId: migrationWorkflowId(environment.id),
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      args: [migration],
      typedSearchAttributes: initialSearchAttributes(migration, sourceTenant.id),
      memo: {
        environmentName: environment.name,
        sourceTenant: sourceTenant.name,
        targetTenant: targetTenant.name,
        ...(reversesMigrationId ? { reversesMigrationId } : {}),
      },
      staticSummary: `${moveBack}${environment.name} (${environment.id}) from ${sourceTenant.name} to ${targetTenant.name}`,
      staticDetails:
        `Tenant-to-tenant migration of environment **${environment.name}** (\`${environment.id}\`) ` +
        `from tenant **${sourceTenant.name}** (\`${sourceTenant.id}\`) to **${targetTenant.name}** (\`${targetTenant.id}\`).\n\n` +
        `Source migration id \`${migration.migrationId}\` · target migration id \`${migration.targetMigrationId}\`` +
        (reversesMigrationId ? `\n\nMove-back of migration \`${reversesMigrationId}\`` : ''),
    });
    const deadline = Date.now() + SUBMIT_ANSWER_MS;
    try {
      return await this.client.connection.withDeadline(deadline, () =>
        this.client.workflow.executeUpdateWithStart(submittedUpdate, { startWorkflowOperation: start, updateId: migration.migrationId }),
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        const open = await this.describeOpen(environment.id);
        // A start retried after a lost reply finds its own migration: that is a success.
        if (open?.migrationId === migration.migrationId) {
          return this.waitForStatus(this.client.workflow.getHandle(migrationWorkflowId(environment.id)), (s) => s.phase !== 'Submitted');
        }
        throw new UserError(
          `submit refused: environment '${environment.id}' already has an open migration${open ? ` (${open.migrationId}, ${open.phase})` : ''}`,
        );
      }
      // Started, but no worker answered within the time (as any wait for a migration's answer ends).
      if (Date.now() >= deadline && (await start.workflowHandle().catch(() => undefined))) {
        throw new UserError(`the migration did not answer within ${SUBMIT_ANSWER_MS / 1000}s; see \`t2t status\``);
      }
      throw err;
    }
  }

  private async describeOpen(environmentId: string): Promise<MigrationStatus | undefined> {
    try {
      return await this.client.workflow.getHandle(migrationWorkflowId(environmentId)).query(statusQuery);
    } catch {
      return undefined;
    }
  }

  /** Finds a migration by its source or its target migration id. */
  async find(migrationId: string): Promise<WorkflowHandle> {
    const run = await findRun(clientReads(this.client), migrationId);
    return this.client.workflow.getHandle(run.workflowId, run.runId);
  }

  /**
   * The first of these ids some migration already has (any run, open or closed), as its source or
   * target migration id, with that migration's workflow id; undefined when none is used. Read from
   * Temporal's visibility, as `find` does. Ids are UUIDs (the caller checks): they go in the query as they are.
   */
  async usedMigrationId(ids: readonly string[]): Promise<{ id: string; workflowId: string } | undefined> {
    const { sourceMigrationId, targetMigrationId } = SearchAttributes;
    for (let at = 0; at < ids.length; at += USED_IDS_PER_QUERY) {
      const chunk = ids.slice(at, at + USED_IDS_PER_QUERY);
      const list = chunk.map((id) => `'${id}'`).join(', ');
      const query = `(${sourceMigrationId.name} IN (${list}) OR ${targetMigrationId.name} IN (${list}))`;
      for (const run of await clientReads(this.client).list(query)) {
        const id = chunk.find((candidate) => candidate === run.keyword(sourceMigrationId.name) || candidate === run.keyword(targetMigrationId.name));
        if (id) return { id, workflowId: run.workflowId };
      }
    }
    return undefined;
  }

  /** The run a continued-as-new run led to, following the chain until a run that did not continue. */
  private async latestRunOf(workflowId: string, runId: string): Promise<WorkflowHandle> {
    const run = await latestRunOf(clientReads(this.client), { workflowId, runId });
    return this.client.workflow.getHandle(run.workflowId, run.runId);
  }

  async status(migrationId: string): Promise<ReportedStatus> {
    return this.withReversal(await this.statusOf(await this.find(migrationId)));
  }

  /** A succeeded migration's status with the move-back that reverses it, if one was opened (status-reader.ts). */
  async withReversal<S extends MigrationStatus>(status: S): Promise<S> {
    return withReversal(clientReads(this.client), status);
  }

  /** The status query, corrected for a run closed outside the product (status-reader.ts). */
  async statusOf(handle: WorkflowHandle): Promise<ReportedStatus> {
    return statusOfRun(handleReads(this.client, handle), { workflowId: handle.workflowId });
  }

  async list(filter: { sourceTenantIds?: string[]; targetTenantIds?: string[]; environmentId?: string }): Promise<WorkflowExecutionInfo[]> {
    const query = migrationListQuery(filter);
    if (!query) return [];
    const found: WorkflowExecutionInfo[] = [];
    for await (const execution of this.client.workflow.list({ query })) found.push(execution);
    return found;
  }

  /** The same list, as status-reader.ts reads runs (the form `t2t requests` prints from, on either path). */
  async listRuns(filter: { sourceTenantIds?: string[]; targetTenantIds?: string[] }): Promise<ListedRun[]> {
    const query = migrationListQuery(filter);
    return query ? clientReads(this.client).list(query) : [];
  }

  /**
   * Sends an admin action and waits until the workflow has recorded its outcome in
   * the audit trail: accepted, or refused with the reason.
   */
  async act(migrationId: string, action: SignalAction, payload: Record<string, unknown> & { actor: string }): Promise<ActionOutcome> {
    const handle = await this.find(migrationId);
    return this.actOn(handle, action, payload);
  }

  async actOn(handle: WorkflowHandle, action: SignalAction, payload: Record<string, unknown> & { actor: string }): Promise<ActionOutcome> {
    // An action a first send already carried (the lean path's, lean/lean-action.ts) keeps its id: the server answers it from its record.
    const requestId = typeof payload.requestId === 'string' ? payload.requestId : randomUUID();
    let entry: AuditEntry;
    try {
      entry = await this.executeUntilAnswered(handle, action, { ...payload, requestId });
    } catch (err) {
      // The validator's refusal (a malformed payload, or an action this phase cannot take): no history was written.
      if (err instanceof WorkflowUpdateFailedError) {
        const reason = err.cause?.message ?? err.message;
        const refused: AuditEntry = { at: new Date().toISOString(), action, actor: payload.actor, outcome: 'refused', reason, requestId, note: 'rejected by the migration before it was queued' };
        const status = await handle.query(statusQuery);
        const record = { ...refused, entryId: `rejected-${requestId}`, migrationId: status.migrationId, count: 1 };
        if (this.options.auditLog) await (await opened(this.options.auditLog)).append([record]);
        await this.options.publish?.([refusalEvent(migrationRefOf(status), status.phase, record)]);
        return { entry: refused, status };
      }
      const description = await handle.describe().catch(() => undefined);
      // The run continued as new meanwhile: act on the run it led to.
      if (description?.status.name === 'CONTINUED_AS_NEW') {
        return this.actOn(await this.latestRunOf(handle.workflowId, description.runId), action, payload);
      }
      if (description && description.status.name !== 'RUNNING') {
        const ended = await this.statusOf(handle).then((s) => s.phase as string, () => description.status.name.toLowerCase());
        throw new UserError(`${verbOf(action)} refused: the migration has ended (${ended})`);
      }
      throw err;
    }
    return { entry, status: await handle.query(statusQuery) };
  }

  /**
   * The action's Update, sent again with the same id when its call times out before the answer (a
   * worker busy with many wake-ups): the server runs an Update id once and answers every send of it.
   */
  private async executeUntilAnswered(handle: WorkflowHandle, action: SignalAction, payload: Record<string, unknown> & { requestId: string }): Promise<AuditEntry> {
    const deadline = Date.now() + (this.options.ackTimeoutMs ?? 600_000);
    for (;;) {
      try {
        return await handle.executeUpdate(actionUpdates[action], { args: [payload], updateId: payload.requestId });
      } catch (err) {
        if (!(err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) || Date.now() >= deadline) throw err;
      }
    }
  }

  /** Polls the status query until `done` holds (or the migration has ended). */
  async waitForStatus(
    handle: WorkflowHandle,
    done: (s: MigrationStatus) => boolean,
    timeoutMs = 60_000,
    onUpdate?: (s: MigrationStatus) => void,
  ): Promise<MigrationStatus> {
    const deadline = Date.now() + timeoutMs;
    let delay = 50;
    let describedAt = Date.now();
    for (;;) {
      const status = await handle.query(statusQuery);
      onUpdate?.(status);
      if (done(status)) return status;
      // Whether the run has ended (and will never satisfy `done`) is asked now and then,
      // not on every poll: each poll is already a query the worker answers.
      if (isFinalPhase(status.phase) || Date.now() - describedAt >= ENDED_CHECK_INTERVAL_MS || Date.now() > deadline) {
        describedAt = Date.now();
        const description = await handle.describe();
        if (description.status.name === 'CONTINUED_AS_NEW') {
          handle = await this.latestRunOf(handle.workflowId, description.runId);
          continue;
        }
        if (description.status.name !== 'RUNNING') return this.statusOf(handle);
      }
      if (Date.now() > deadline) throw new UserError(`the migration did not answer within ${Math.round(timeoutMs / 1000)}s; see \`t2t status\``);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 500);
    }
  }
}

// The batch submit lives in its own module; its old home still names it.
export { submitBatch, type BatchSubmission } from './batch-submission';
