// A batch submit, as every submitting path builds it: the `t2t` client and the
// action gateway. Planned first (the tenants, the submitter's role, each
// environment's eligibility, the batch's input with its migrations' ids), then
// started; the gateway signs the planned input in between.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { ControlPlane } from '../controlplane/control-plane';
import type { Config } from '../config';
import { BATCH_WORKFLOW_TYPE, SearchAttributes, batchWorkflowId, type BatchEnvironment, type BatchInput } from '../contracts';
import { checkEligibility } from '../migration/eligibility';
import { authorizeAction } from '../migration/authorization';
import { UserError } from './user-error';

export type BatchSettings = Pick<Config, 'taskQueue' | 'approvalTimeoutMs' | 'lockboxTimeoutMs' | 'prepareWindowMs'> & Partial<Pick<Config, 'continueAfterEvents'>>;

export interface BatchRequest {
  sourceTenantId: string;
  targetTenantId: string;
  actor: string;
  environmentIds?: string[];
  concurrency: number;
}

export interface BatchSubmission {
  batchId: string;
  environments: BatchEnvironment[];
  skipped: { environmentId: string; reason: string }[];
}

/** A checked batch: its input and the names its start shows in the Web UI. */
export interface BatchPlan {
  batch: BatchInput;
  skipped: BatchSubmission['skipped'];
  sourceTenantName: string;
  targetTenantName: string;
}

/** `checkTenant` sees the source tenant first: the action gateway refuses another tenant's admin there. */
export async function planBatch(controlPlane: ControlPlane, settings: BatchSettings, input: BatchRequest, checkTenant?: (sourceTenantId: string) => void): Promise<BatchPlan> {
  const sourceTenant = await controlPlane.getTenant(input.sourceTenantId);
  const targetTenant = await controlPlane.getTenant(input.targetTenantId);
  if (!sourceTenant) throw new UserError(`batch refused: source tenant '${input.sourceTenantId}' does not exist`);
  if (!targetTenant) throw new UserError(`batch refused: target tenant '${input.targetTenantId}' does not exist`);
  checkTenant?.(sourceTenant.id);
  const authorization = authorizeAction('submit', sourceTenant.id, await controlPlane.getTenantUser(sourceTenant.id, input.actor));
  if (!authorization.allowed) throw new UserError(authorization.reason!.replace(/^submit/, 'batch'));
  const all = await controlPlane.listEnvironments(sourceTenant.id);
  const chosen = input.environmentIds ? input.environmentIds.map((id) => all.find((e) => e.id === id) ?? id) : all;
  const environments: BatchEnvironment[] = [];
  const skipped: BatchSubmission['skipped'] = [];
  for (const environment of chosen) {
    if (typeof environment === 'string') {
      skipped.push({ environmentId: environment, reason: `not an environment of tenant '${sourceTenant.id}'` });
      continue;
    }
    const { blocking } = checkEligibility({ environment, sourceTenant, targetTenant });
    if (blocking.length > 0) skipped.push({ environmentId: environment.id, reason: blocking.map((b) => b.message).join('; ') });
    else environments.push({ environmentId: environment.id, migrationId: randomUUID(), targetMigrationId: randomUUID() });
  }
  if (environments.length === 0) throw new UserError('batch refused: no eligible environment to migrate');
  return {
    batch: {
      batchId: randomUUID(),
      sourceTenantId: sourceTenant.id,
      targetTenantId: targetTenant.id,
      submittedBy: input.actor,
      environments,
      concurrency: input.concurrency,
      approvalTimeoutMs: settings.approvalTimeoutMs,
      lockboxTimeoutMs: settings.lockboxTimeoutMs,
      prepareWindowMs: settings.prepareWindowMs,
      continueAfterEvents: settings.continueAfterEvents,
    },
    skipped,
    sourceTenantName: sourceTenant.name,
    targetTenantName: targetTenant.name,
  };
}

/** Starts the planned batch (its input as planned, a proof added or not). */
export async function startBatch(client: Client, settings: Pick<Config, 'taskQueue'>, plan: BatchPlan): Promise<BatchSubmission> {
  const { batch } = plan;
  await client.workflow.start(BATCH_WORKFLOW_TYPE, {
    taskQueue: settings.taskQueue,
    workflowId: batchWorkflowId(batch.batchId),
    args: [batch],
    typedSearchAttributes: [
      { key: SearchAttributes.sourceTenantId, value: batch.sourceTenantId },
      { key: SearchAttributes.targetTenantId, value: batch.targetTenantId },
    ],
    staticSummary: `Batch: ${batch.environments.length} environments from ${plan.sourceTenantName} to ${plan.targetTenantName}`,
  });
  return { batchId: batch.batchId, environments: batch.environments, skipped: plan.skipped };
}

/** Submits every eligible environment of the source tenant (or the ones named) as one batch. */
export async function submitBatch(
  migrations: { client: Client; controlPlane: ControlPlane; config: BatchSettings },
  input: BatchRequest,
): Promise<BatchSubmission> {
  return startBatch(migrations.client, migrations.config, await planBatch(migrations.controlPlane, migrations.config, input));
}
