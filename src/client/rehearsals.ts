// What `t2t rehearse` does: checks the request as submit would, puts the mapping file
// in the rehearsal's container, starts the rehearsal's workflow and waits for its
// report, then reads the names behind its counts. Used by the command and the tests.
import { randomUUID } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Client, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  REHEARSAL_WORKFLOW_TYPE,
  RehearsalInput,
  RehearsalReport,
  SearchAttributes,
  rehearsalCopyId,
  rehearsalStatusQuery,
  rehearsalWorkflowId,
  rehearsalWorkflowIdOfCopy,
} from '../contracts';
import type { ControlPlane } from '../controlplane/control-plane';
import type { MigrationNames, MigrationService } from '../service/migration-service';
import { MAPPING_BLOB_NAME } from '../storage/migration-storage';
import { INVALID_FILE } from '../mapping/messages';
import { UserError } from './migrations';

export interface RehearsalRequest {
  environmentId: string;
  targetTenantId: string;
  actor: string;
  /** the local usermapping.csv */
  file: string;
}

export interface RehearsalRun {
  workflowId: string;
  report: RehearsalReport;
  /** the names behind the report's counts, read from the rehearsal's container */
  people?: MigrationNames;
  /** copies left by rehearsals that were terminated, removed before this one started */
  leftoversRemoved: string[];
}

/** A checked rehearsal, ready to start: its workflow id, its input and the names its start shows. */
export interface RehearsalPlan {
  workflowId: string;
  input: RehearsalInput;
  names: { environmentName: string; sourceTenantId: string; sourceTenantName: string; targetTenantName: string };
  leftoversRemoved: string[];
}

export interface RehearsalClientOptions {
  client: Client;
  service: MigrationService;
  taskQueue: string;
  /** the simulated back end's control plane: where copies left by terminated rehearsals are found */
  controlPlane?: ControlPlane;
}

/** One line saying that this back end cannot rehearse, and where a rehearsal can run. */
export function cannotRehearse(backend: string): string {
  return `rehearse refused: the ${backend} back end cannot copy environments, so it cannot rehearse a migration: rehearsals run on the simulated back end only (T2T_BACKEND=simulated)`;
}

export class RehearsalClient {
  constructor(private readonly options: RehearsalClientOptions) {}

  /** Checks, puts the file in place and starts the rehearsal; `onStarted` hears its workflow id; waits for its report. */
  async rehearse(request: RehearsalRequest, onStarted?: (workflowId: string) => void): Promise<RehearsalRun> {
    const { service } = this.options;
    if (!service.canCopyEnvironments) throw new UserError(cannotRehearse(service.backend));
    checkMappingFile(request.file);
    const plan = await this.plan(request);
    await this.putMapping(plan, createReadStream(request.file));
    await this.start(plan);
    onStarted?.(plan.workflowId);
    return this.follow(plan.workflowId, plan.input.storage, plan.leftoversRemoved);
  }

  /**
   * What `t2t rehearse` and the gateway (POST /v1/rehearsals) both check and build before the start:
   * the request checked as submit would check it (`checkTenant` hears the source tenant first: the
   * gateway's admin must be its admin), copies left by terminated rehearsals removed, the rehearsal's
   * container made and its input. Nothing is started.
   */
  async plan(request: Omit<RehearsalRequest, 'file'>, checkTenant?: (sourceTenantId: string) => void): Promise<RehearsalPlan> {
    const { service } = this.options;
    if (!service.canCopyEnvironments) throw new UserError(cannotRehearse(service.backend));
    const assessment = await refused(() => service.assess(request.environmentId, request.targetTenantId));
    checkTenant?.(assessment.environmentTenantId);
    const authorization = await service.authorize('submit', request.actor, {
      sourceTenantId: assessment.environmentTenantId,
      targetTenantId: request.targetTenantId,
    });
    if (!authorization.allowed) throw new UserError(authorization.reason!.replace(/^submit refused/, 'rehearse refused'));
    if (assessment.environmentTenantId === request.targetTenantId) {
      throw new UserError(`rehearse refused: environment '${request.environmentId}' already belongs to tenant '${request.targetTenantId}'`);
    }
    if (assessment.blocking.length > 0) {
      throw new UserError(`rehearse refused: not eligible: ${assessment.blocking.map((b) => b.message).join('; ')}`);
    }
    const leftoversRemoved = await this.removeLeftovers(request.environmentId);

    const at = new Date();
    const rehearsalId = randomUUID();
    const storage = await service.stagingStorage(rehearsalId);
    const input: RehearsalInput = {
      rehearsalId,
      environmentId: request.environmentId,
      targetTenantId: request.targetTenantId,
      requestedBy: request.actor,
      storage,
      copyEnvironmentId: rehearsalCopyId(request.environmentId, at),
    };
    const { environmentName, sourceTenantId, sourceTenantName, targetTenantName } = assessment;
    return { workflowId: rehearsalWorkflowId(request.environmentId, at), input, names: { environmentName, sourceTenantId, sourceTenantName, targetTenantName }, leftoversRemoved };
  }

  /** Puts usermapping.csv in the rehearsal's container (before the start: its validation reads it). */
  async putMapping(plan: RehearsalPlan, body: Readable): Promise<void> {
    await this.options.service.mappingContainer(plan.input.storage).writeStream(MAPPING_BLOB_NAME, body, 'text/csv; charset=utf-8');
  }

  /** Starts the planned rehearsal (its input as planned, with the gateway's proof when it carries one). */
  async start(plan: RehearsalPlan): Promise<void> {
    const { input, names, workflowId } = plan;
    const name = names.environmentName;
    try {
      await this.options.client.workflow.start(REHEARSAL_WORKFLOW_TYPE, {
        taskQueue: this.options.taskQueue,
        workflowId,
        workflowIdConflictPolicy: 'FAIL',
        args: [input],
        typedSearchAttributes: [
          { key: SearchAttributes.environmentId, value: input.environmentId },
          { key: SearchAttributes.sourceTenantId, value: names.sourceTenantId },
          { key: SearchAttributes.targetTenantId, value: input.targetTenantId },
        ],
        memo: { environmentName: name, sourceTenant: names.sourceTenantName, targetTenant: names.targetTenantName, rehearsalId: input.rehearsalId },
        staticSummary: `Rehearse moving ${name} (${input.environmentId}) from ${names.sourceTenantName} to ${names.targetTenantName}, on a copy`,
        staticDetails:
          `Rehearsal of the migration of **${name}** (\`${input.environmentId}\`) from **${names.sourceTenantName}** ` +
          `(\`${names.sourceTenantId}\`) to **${names.targetTenantName}** (\`${input.targetTenantId}\`), ` +
          `on the copy \`${input.copyEnvironmentId}\`, removed when the rehearsal ends. The original is not touched.\n\n` +
          `Rehearsal id \`${input.rehearsalId}\``,
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) throw new UserError(`rehearse refused: a rehearsal of '${input.environmentId}' started this very millisecond; try again`);
      throw err;
    }
  }

  /** Waits for a started rehearsal's report, then reads the names behind its counts from its container. */
  async follow(workflowId: string, storage: RehearsalInput['storage'], leftoversRemoved: string[] = []): Promise<RehearsalRun> {
    const handle = this.options.client.workflow.getHandle(workflowId);
    let report: RehearsalReport;
    try {
      report = await handle.result();
    } catch (err) {
      // Cancelled or failed: the run's own report says how far it came and that the copy is gone.
      if (!(err instanceof WorkflowFailedError)) throw err;
      report = await handle.query(rehearsalStatusQuery);
    }
    const people = report.peopleBlob ? await this.readPeople(storage, report.peopleBlob) : undefined;
    return { workflowId, report, ...(people ? { people } : {}), leftoversRemoved };
  }

  /** A rehearsal's report by its workflow id (running or ended). */
  async report(workflowId: string): Promise<RehearsalReport> {
    return this.options.client.workflow.getHandle(workflowId).query(rehearsalStatusQuery);
  }

  /**
   * A rehearsal that was terminated ran none of its cleanup: its copy is still there. Copies of the
   * environment whose rehearsal is not running any more are removed before a new one starts.
   */
  private async removeLeftovers(environmentId: string): Promise<string[]> {
    const { controlPlane, client, service } = this.options;
    if (!controlPlane) return [];
    const removed: string[] = [];
    for (const copy of await controlPlane.listEnvironmentCopies(environmentId)) {
      const workflowId = rehearsalWorkflowIdOfCopy(copy);
      let running = false;
      if (workflowId) {
        try {
          running = (await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }
      if (running) continue;
      if (await service.removeEnvironmentCopy(copy.id)) removed.push(copy.id);
    }
    return removed;
  }

  private async readPeople(storage: RehearsalInput['storage'], blob: string): Promise<MigrationNames | undefined> {
    const opened = await this.options.service.mappingContainer(storage).openVersion(blob);
    if (!opened) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of opened.body as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as MigrationNames;
  }
}

/** The same rules as `t2t upload`: the file is named usermapping.csv and exists. */
export function checkMappingFile(file: string): void {
  if (path.basename(file) !== MAPPING_BLOB_NAME) {
    throw new UserError(`${INVALID_FILE} (the file must be named exactly ${MAPPING_BLOB_NAME}, got ${path.basename(file)})`);
  }
  if (!existsSync(file)) throw new UserError(`${INVALID_FILE} (cannot read ${file}: no such file)`);
}

async function refused<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ApplicationFailure && err.nonRetryable) throw new UserError(`rehearse refused: ${err.message}`);
    throw err;
  }
}
