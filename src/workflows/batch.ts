// A batch: starts the migrations of many environments as child workflows, grants
// them migrate slots, and collects their endings. A migration waiting for people
// holds nothing: only one whose migrate was accepted asks for a slot, and at most
// `concurrency` hold one at once. One environment failing does not stop the
// others; the migrations outlive the batch (parent close policy ABANDON) and talk
// to it by workflow id, so that the batch may continue as new to keep its history short.
import {
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  getExternalWorkflowHandle,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  BatchInput,
  BatchOutcome,
  BatchResult,
  BatchStatus,
  CarriedBatch,
  MigrateSlotSchema,
  MigrationEndedSchema,
  MigrationInput,
  MigrationStatus,
  Phase,
  SearchAttributes,
  batchStatusQuery,
  grantMigrateSlotSignal,
  initialSearchAttributes,
  isFinalPhase,
  migrationEndedSignal,
  migrationWorkflowId,
  requestMigrateSlotSignal,
  returnMigrateSlotSignal,
} from '../contracts';
import { tenantMigration } from './migration';
import { continueAsNewOnTarget, newerVersionIsTarget } from './versioning';

/**
 * Since this patch, a batch starts every migration at once and only limits how many migrate at
 * once; before it, a batch held one of `concurrency` places per migration until it ended.
 */
const BATCH_MIGRATE_SLOTS = 'batch-migrate-slots';

/** Children started in one workflow task: a few hundred commands at most, whatever the batch's size. */
const START_CHUNK = 100;
const DEFAULT_CONTINUE_AFTER_EVENTS = 10_000;
/** Below this, a run would spend its history on little more than its own start. */
const MIN_CONTINUE_AFTER_EVENTS = 200;
/**
 * History events one child costs the run that starts it: initiated and started, then (if this
 * run is still open when the child ends) its close and its ending signal, and a share of the
 * workflow tasks these wake.
 */
const EVENTS_PER_CHILD = 5;
/** Of those, the ones still to come after its start. */
const EVENTS_PER_OPEN_CHILD = 3;
/** Room kept below the limit for what arrives while the batch decides: signals and the workflow tasks they wake. */
const HEADROOM = 200;
/** A reason longer than this is cut: the batch carries every one of them into its next run. */
const REASON_LIMIT = 500;

export async function batchMigration(input: BatchInput): Promise<BatchResult | BatchStatus> {
  // A batch started before migrate slots replays as it ran.
  if (!patched(BATCH_MIGRATE_SLOTS)) return batchBeforeMigrateSlots(input);
  return new Batch(input).run();
}

class Batch {
  private readonly outcomes: BatchOutcome[];
  private readonly indexOf = new Map<string, number>();
  private started: number;
  private ended = 0;
  private readonly slotHolders: string[];
  private readonly slotQueue: string[];
  private readonly runs: number;
  /** children this run started that have not ended: their close and signal will still land in this run's history */
  private readonly openStartedHere = new Set<string>();
  private readonly limit: number;
  private readonly headroom: number;

  constructor(private readonly input: BatchInput) {
    this.outcomes = input.environments.map((e, index) => {
      this.indexOf.set(e.environmentId, index);
      return { ...e, state: 'waiting' };
    });
    const carried = input.resume;
    this.started = carried?.started ?? 0;
    for (const outcome of this.outcomes.slice(0, this.started)) outcome.state = 'running';
    for (const [index, phase, reason] of carried?.endings ?? []) {
      const outcome = this.outcomes[index];
      outcome.state = 'ended';
      outcome.phase = phase;
      if (reason >= 0) outcome.reason = carried!.reasons[reason];
    }
    this.ended = carried?.endings.length ?? 0;
    this.slotHolders = [...(carried?.slotHolders ?? [])];
    this.slotQueue = [...(carried?.slotQueue ?? [])];
    for (const id of this.slotHolders) this.outcomes[this.indexOf.get(id)!].migrateSlot = 'held';
    for (const id of this.slotQueue) this.outcomes[this.indexOf.get(id)!].migrateSlot = 'queued';
    this.runs = (carried?.runs ?? 0) + 1;
    this.limit = Math.max(MIN_CONTINUE_AFTER_EVENTS, input.continueAfterEvents ?? DEFAULT_CONTINUE_AFTER_EVENTS);
    this.headroom = Math.min(HEADROOM, Math.floor(this.limit / 4));
  }

  async run(): Promise<BatchResult> {
    setHandler(batchStatusQuery, () => this.status());
    setHandler(requestMigrateSlotSignal, (payload) => this.slotRequested(payload));
    setHandler(returnMigrateSlotSignal, (payload) => this.slotReturned(payload));
    setHandler(migrationEndedSignal, (payload) => this.migrationEnded(payload));
    if (this.runs === 1) {
      upsertSearchAttributes([
        { key: SearchAttributes.sourceTenantId, value: this.input.sourceTenantId },
        { key: SearchAttributes.targetTenantId, value: this.input.targetTenantId },
      ]);
    }
    // Slot requests, returns and endings arrive as signals between these steps.
    while (!this.allEnded()) {
      this.showProgress();
      await this.grantSlots();
      const chunk = this.nextChunk();
      if (chunk > 0) {
        await this.startChildren(chunk);
      } else if (this.started < this.outcomes.length || this.historyIsLong()) {
        await this.continueAsNewRun();
      } else {
        await condition(() => this.allEnded() || this.slotToGrant() || this.historyIsLong());
      }
    }
    this.showProgress();
    const { outcomes: _outcomes, ...result } = this.status();
    return result;
  }

  // ---- start the children ------------------------------------------------------

  /** How many children to start now: as many as this run's history has room for, at most a chunk. */
  private nextChunk(): number {
    const left = this.outcomes.length - this.started;
    const info = workflowInfo();
    if (left === 0 || info.continueAsNewSuggested) return 0;
    const projected = info.historyLength + this.openStartedHere.size * EVENTS_PER_OPEN_CHILD;
    const room = Math.floor((this.limit - this.headroom - projected) / EVENTS_PER_CHILD);
    return Math.max(0, Math.min(START_CHUNK, left, room));
  }

  private async startChildren(count: number): Promise<void> {
    const from = this.started;
    // Every start is awaited before the next decision: a run never continues as new with a start in flight.
    await Promise.all(this.outcomes.slice(from, from + count).map((outcome) => this.startChild(outcome)));
    this.started = from + count;
  }

  private async startChild(outcome: BatchOutcome): Promise<void> {
    const migration: MigrationInput = {
      migrationId: outcome.migrationId,
      targetMigrationId: outcome.targetMigrationId,
      environmentId: outcome.environmentId,
      targetTenantId: this.input.targetTenantId,
      submittedBy: this.input.submittedBy,
      approvalTimeoutMs: this.input.approvalTimeoutMs,
      lockboxTimeoutMs: this.input.lockboxTimeoutMs,
      prepareWindowMs: this.input.prepareWindowMs,
      batch: { workflowId: workflowInfo().workflowId },
    };
    try {
      await startChild(tenantMigration, {
        workflowId: migrationWorkflowId(outcome.environmentId),
        args: [migration],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        typedSearchAttributes: initialSearchAttributes(migration, this.input.sourceTenantId),
        staticSummary: `Move ${outcome.environmentId} to ${this.input.targetTenantId} (batch ${this.input.batchId})`,
      });
      // A child that fails fast may have reported its end before its start was recorded here.
      if (outcome.state === 'waiting') {
        outcome.state = 'running';
        this.openStartedHere.add(outcome.environmentId);
      }
    } catch (err) {
      const reason =
        err instanceof WorkflowExecutionAlreadyStartedError
          ? `environment '${outcome.environmentId}' already has an open migration`
          : `migration failed: ${err instanceof Error ? err.message : String(err)}`;
      this.end(outcome, 'Failed', reason);
    }
  }

  // ---- grant slots -------------------------------------------------------------

  private slotToGrant(): boolean {
    return this.slotHolders.length < this.input.concurrency && this.slotQueue.length > 0;
  }

  private async grantSlots(): Promise<void> {
    const grants: Promise<void>[] = [];
    while (this.slotToGrant()) {
      const outcome = this.outcomeOf(this.slotQueue.shift()!)!;
      this.slotHolders.push(outcome.environmentId);
      outcome.migrateSlot = 'held';
      grants.push(this.grant(outcome));
    }
    // Awaited, so that no grant is in flight when the run continues as new.
    await Promise.all(grants);
  }

  private async grant(outcome: BatchOutcome): Promise<void> {
    try {
      await getExternalWorkflowHandle(migrationWorkflowId(outcome.environmentId)).signal(grantMigrateSlotSignal, { environmentId: outcome.environmentId });
    } catch (err) {
      // Its workflow is closed. A migration reports its end before it closes, so this one
      // closed without our code (terminated, timed out): it will never report, nor migrate.
      if (outcome.state === 'ended') return;
      log.warn('a migration holding a migrate slot is closed without having reported its end', { environmentId: outcome.environmentId, error: String(err) });
      this.end(outcome, 'Terminated', 'its workflow closed without reporting an ending (terminated or timed out)');
    }
  }

  private slotRequested(payload: unknown): void {
    const outcome = this.outcomeFrom(MigrateSlotSchema, payload, 'requestMigrateSlot');
    // A repeated request (the sender's retry) changes nothing; an ended migration wants nothing.
    if (!outcome || outcome.state === 'ended' || outcome.migrateSlot) return;
    outcome.migrateSlot = 'queued';
    this.slotQueue.push(outcome.environmentId);
  }

  private slotReturned(payload: unknown): void {
    const outcome = this.outcomeFrom(MigrateSlotSchema, payload, 'returnMigrateSlot');
    if (outcome) this.freeSlot(outcome);
  }

  /** Gives the environment's slot, or its place in the queue, back; nothing when it has neither. */
  private freeSlot(outcome: BatchOutcome): void {
    for (const list of [this.slotHolders, this.slotQueue]) {
      const at = list.indexOf(outcome.environmentId);
      if (at >= 0) list.splice(at, 1);
    }
    delete outcome.migrateSlot;
  }

  // ---- collect endings ---------------------------------------------------------

  private migrationEnded(payload: unknown): void {
    const parsed = MigrationEndedSchema.safeParse(payload);
    const outcome = parsed.success ? this.outcomeOf(parsed.data.environmentId) : undefined;
    if (!parsed.success || !outcome || !isFinalPhase(parsed.data.phase)) {
      log.warn('a migrationEnded signal was ignored: not an ending of an environment of this batch', { payload: JSON.stringify(payload)?.slice(0, 500) });
      return;
    }
    this.end(outcome, parsed.data.phase, parsed.data.reason);
  }

  private end(outcome: BatchOutcome, phase: Phase, reason?: string): void {
    this.freeSlot(outcome);
    this.openStartedHere.delete(outcome.environmentId);
    if (outcome.state !== 'ended') this.ended += 1;
    outcome.state = 'ended';
    outcome.phase = phase;
    if (reason) outcome.reason = reason.slice(0, REASON_LIMIT);
    else delete outcome.reason;
  }

  private allEnded(): boolean {
    return this.ended === this.outcomes.length;
  }

  // ---- continue as new ---------------------------------------------------------

  private historyIsLong(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength >= this.limit - this.headroom || newerVersionIsTarget();
  }

  private async continueAsNewRun(): Promise<never> {
    await condition(allHandlersFinished);
    const reasons: string[] = [];
    const reasonIndex = new Map<string, number>();
    const endings: CarriedBatch['endings'] = [];
    this.outcomes.forEach((outcome, index) => {
      if (outcome.state !== 'ended') return;
      let reason = -1;
      if (outcome.reason !== undefined) {
        reason = reasonIndex.get(outcome.reason) ?? reasons.push(outcome.reason) - 1;
        reasonIndex.set(outcome.reason, reason);
      }
      endings.push([index, outcome.phase!, reason]);
    });
    return continueAsNewOnTarget<typeof batchMigration>({
      ...this.input,
      resume: {
        started: this.started,
        endings,
        reasons,
        slotHolders: this.slotHolders,
        slotQueue: this.slotQueue,
        runs: this.runs,
      },
    });
  }

  // ---- what people see ---------------------------------------------------------

  private status(): BatchStatus {
    const summary: Record<string, number> = {};
    for (const o of this.outcomes) if (o.state === 'ended' && o.phase) summary[o.phase] = (summary[o.phase] ?? 0) + 1;
    return {
      batchId: this.input.batchId,
      sourceTenantId: this.input.sourceTenantId,
      targetTenantId: this.input.targetTenantId,
      concurrency: this.input.concurrency,
      outcomes: this.outcomes,
      summary,
      migrating: this.slotHolders.length,
      waitingForSlot: this.slotQueue.length,
      run: this.runs,
      done: this.allEnded(),
    };
  }

  private showProgress(): void {
    const { summary, migrating, waitingForSlot } = this.status();
    const ended = Object.values(summary).reduce((a, b) => a + b, 0);
    setCurrentDetails(
      `**Batch** ${this.input.sourceTenantId} → ${this.input.targetTenantId}: ${this.outcomes.length} environments, ` +
        `${this.started} started, ${ended} ended; ${migrating} migrating (at most ${this.input.concurrency} at once), ` +
        `${waitingForSlot} waiting for a slot; run ${this.runs}\n\n` +
        Object.entries(summary).map(([phase, n]) => `${phase}: ${n}`).join(' · '),
    );
  }

  private outcomeOf(environmentId: string): BatchOutcome | undefined {
    const index = this.indexOf.get(environmentId);
    return index === undefined ? undefined : this.outcomes[index];
  }

  /** The environment a signal names; anything else is logged and ignored (a signal handler never throws). */
  private outcomeFrom(schema: typeof MigrateSlotSchema, payload: unknown, signal: string): BatchOutcome | undefined {
    const parsed = schema.safeParse(payload);
    const outcome = parsed.success ? this.outcomeOf(parsed.data.environmentId) : undefined;
    if (!outcome) log.warn(`a ${signal} signal was ignored: it names no environment of this batch`, { payload: JSON.stringify(payload)?.slice(0, 500) });
    return outcome;
  }
}

/**
 * Batches started before migrate slots: `concurrency` places, each held by one migration
 * until it ends. Kept only so that those batches replay; remove once none is open.
 */
async function batchBeforeMigrateSlots(input: BatchInput): Promise<BatchStatus> {
  const status: BatchStatus = {
    batchId: input.batchId,
    sourceTenantId: input.sourceTenantId,
    targetTenantId: input.targetTenantId,
    concurrency: input.concurrency,
    outcomes: input.environments.map((e) => ({ ...e, state: 'waiting' })),
    summary: {},
    migrating: 0,
    waitingForSlot: 0,
    run: 1,
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
  const place = async () => {
    while (next < status.outcomes.length) {
      const outcome = status.outcomes[next];
      next += 1;
      outcome.state = 'running';
      refresh();
      await runToItsEnd(input, outcome);
      outcome.state = 'ended';
      refresh();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(input.concurrency, status.outcomes.length)) }, place));
  status.done = true;
  refresh();
  return status;
}

async function runToItsEnd(input: BatchInput, outcome: BatchOutcome): Promise<void> {
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
