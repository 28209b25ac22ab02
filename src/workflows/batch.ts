// A batch: submits the migrations of many environments as child workflows, at
// most `concurrency` open at once, follows each to its end and keeps its
// outcome. One environment failing does not stop the others; the migrations
// outlive the batch (parent close policy ABANDON).
import {
  ParentClosePolicy,
  setHandler,
  startChild,
  upsertSearchAttributes,
  setCurrentDetails,
} from '@temporalio/workflow';
import {
  BatchInput,
  BatchOutcome,
  BatchStatus,
  MigrationInput,
  MigrationStatus,
  SearchAttributes,
  batchStatusQuery,
  initialSearchAttributes,
  isFinalPhase,
  migrationWorkflowId,
} from '../contracts';
import { tenantMigration } from './migration';

export async function batchMigration(input: BatchInput): Promise<BatchStatus> {
  const status: BatchStatus = {
    batchId: input.batchId,
    sourceTenantId: input.sourceTenantId,
    targetTenantId: input.targetTenantId,
    concurrency: input.concurrency,
    outcomes: input.environments.map((e) => ({ ...e, state: 'waiting' })),
    summary: {},
    done: false,
  };
  setHandler(batchStatusQuery, () => status);
  upsertSearchAttributes([
    { key: SearchAttributes.sourceTenantId, value: input.sourceTenantId },
    { key: SearchAttributes.targetTenantId, value: input.targetTenantId },
  ]);
  const refresh = () => {
    const counts: Record<string, number> = {};
    for (const o of status.outcomes) if (o.state === 'ended' && o.phase) counts[o.phase] = (counts[o.phase] ?? 0) + 1;
    status.summary = counts;
    const running = status.outcomes.filter((o) => o.state === 'running').length;
    const ended = status.outcomes.filter((o) => o.state === 'ended').length;
    setCurrentDetails(
      `**Batch** ${input.sourceTenantId} → ${input.targetTenantId}: ${status.outcomes.length} environments, ` +
        `${running} running, ${ended} ended (at most ${input.concurrency} at once)\n\n` +
        Object.entries(counts).map(([phase, n]) => `${phase}: ${n}`).join(' · '),
    );
  };
  refresh();

  let next = 0;
  const lane = async () => {
    while (next < status.outcomes.length) {
      const outcome = status.outcomes[next];
      next += 1;
      outcome.state = 'running';
      refresh();
      await follow(input, outcome);
      outcome.state = 'ended';
      refresh();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(input.concurrency, status.outcomes.length)) }, lane));
  status.done = true;
  refresh();
  return status;
}

async function follow(input: BatchInput, outcome: BatchOutcome): Promise<void> {
  const migration: MigrationInput = {
    migrationId: outcome.migrationId,
    targetMigrationId: outcome.targetMigrationId,
    environmentId: outcome.environmentId,
    targetTenantId: input.targetTenantId,
    submittedBy: input.submittedBy,
    approvalTimeoutMs: input.approvalTimeoutMs,
    lockboxTimeoutMs: input.lockboxTimeoutMs,
    prepareWindowMs: input.prepareWindowMs,
  };
  try {
    const child = await startChild(tenantMigration, {
      workflowId: migrationWorkflowId(outcome.environmentId),
      args: [migration],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: initialSearchAttributes(migration, input.sourceTenantId),
      staticSummary: `Move ${outcome.environmentId} to ${input.targetTenantId} (batch ${input.batchId})`,
    });
    const final: MigrationStatus = await child.result();
    outcome.phase = final.phase;
    if (final.reason) outcome.reason = final.reason;
    if (!isFinalPhase(final.phase)) outcome.phase = 'Failed';
  } catch (err) {
    outcome.phase = 'Failed';
    const message = err instanceof Error ? err.message : String(err);
    outcome.reason = /already started|AlreadyStarted/i.test(message)
      ? `environment '${outcome.environmentId}' already has an open migration`
      : `migration failed: ${message}`;
  }
}
