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
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  BatchInput,
  BatchOutcome,
  BatchResult,
  BatchStatus,
  CarriedBatch,
  MigrateSlotSchema,
  MigrateSlotSignal,
  MigrationEndedSchema,
  MigrationInput,
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
import { tenantMigration } from './migration/workflow';
import { continueAsNewOnTarget, newerVersionIsTarget } from './versioning';
import { SignedActions } from './signed-actions';
import { submitBatchProofPayload } from '../identity/action-proof';

/** Children started in one workflow task: a few hundred commands at most, whatever the batch's size. */
const START_CHUNK = 100;
const DEFAULT_CONTINUE_AFTER_EVENTS = 10_000;
/** Below this, a run would spend its history on little more than its own start. */
const MIN_CONTINUE_AFTER_EVENTS = 200;
/**
 * A run starts at most this share of its history limit in children, then continues as new when
 * more remain (a page a run, as the batch sliding-window sample does): each start writes two
 * events, and a child that ends while the run that started it is open two more, so its own
 * children fill at most half of a run's history whenever they end.
 */
const STARTS_SHARE = 1 / 8;
/**
 * A run continues as new once its history (the server's count) reaches this share of the limit,
 * or when Temporal suggests it: the rest is room for what lands before it closes (the signals of
 * one workflow task, the task itself, the continue-as-new).
 */
const CONTINUE_SHARE = 3 / 4;
/** A reason longer than this is cut: the batch carries every one of them into its next run. */
const REASON_LIMIT = 500;

export async function batchMigration(input: BatchInput): Promise<BatchResult> {
  return new Batch(input).run();
}

class Batch {
  private readonly outcomes: BatchOutcome[];
  private readonly indexOf = new Map<string, number>();
  private started: number;
  private ended = 0;
  private readonly slotHolders: string[];
  private readonly slotQueue: string[];
  /** the request each slot holder holds its slot for, and each in the queue waits with */
  private readonly slotRequests: Map<string, string>;
  private readonly runs: number;
  /** children this run started: at most `page` */
  private startedHere = 0;
  private readonly page: number;
  private readonly continueAt: number;

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
    this.slotRequests = new Map(Object.entries(carried?.slotRequests ?? {}));
    for (const id of this.slotHolders) this.outcomes[this.indexOf.get(id)!].migrateSlot = 'held';
    for (const id of this.slotQueue) this.outcomes[this.indexOf.get(id)!].migrateSlot = 'queued';
    this.runs = (carried?.runs ?? 0) + 1;
    const limit = Math.max(MIN_CONTINUE_AFTER_EVENTS, input.continueAfterEvents ?? DEFAULT_CONTINUE_AFTER_EVENTS);
    this.page = Math.floor(limit * STARTS_SHARE);
    this.continueAt = Math.floor(limit * CONTINUE_SHARE);
  }

  async run(): Promise<BatchResult> {
    setHandler(batchStatusQuery, () => this.status());
    // Before any child starts: a batch that should not be ends here, having started none.
    if (workflowInfo().continuedFromExecutionRunId === undefined) await this.checkSignedSubmit();
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

  // ---- the signed submit ---------------------------------------------------------

  /**
   * Sign-in on (the worker's configuration, never the input): the start carries the gateway's proof
   * of submit for this batch, or the batch fails at once having started no migration. Its
   * migrations trust it through the parent Temporal records, and act for the proof's user.
   * A run continued from this batch's own was vouched for when the batch started.
   */
  private async checkSignedSubmit(): Promise<void> {
    const auth = await SignedActions.read();
    if (!auth.enforced) return;
    const checked = await auth.check(this.input.proof, { action: 'submit', migrationId: this.input.batchId, payload: submitBatchProofPayload(this.input) }, new Set());
    if (!checked.ok) throw ApplicationFailure.nonRetryable(`submit refused: ${checked.reason}; no migration was started`, 'SubmitRefused');
    this.input.submittedBy = checked.proof.claims.user;
  }

  // ---- start the children ------------------------------------------------------

  /** How many children to start now: what is left of this run's page, at most a chunk. */
  private nextChunk(): number {
    if (this.historyIsLong()) return 0;
    return Math.min(START_CHUNK, this.outcomes.length - this.started, this.page - this.startedHere);
  }

  private async startChildren(count: number): Promise<void> {
    const from = this.started;
    // Every start is awaited before the next decision: a run never continues as new with a start in flight.
    await Promise.all(this.outcomes.slice(from, from + count).map((outcome) => this.startChild(outcome)));
    this.started = from + count;
    this.startedHere += count;
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
      if (outcome.state === 'waiting') outcome.state = 'running';
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
      const grant: MigrateSlotSignal = { environmentId: outcome.environmentId, request: this.slotRequests.get(outcome.environmentId)! };
      await getExternalWorkflowHandle(migrationWorkflowId(outcome.environmentId)).signal(grantMigrateSlotSignal, grant);
    } catch (err) {
      // Its workflow is closed. A migration reports its end before it closes, so this one
      // closed without our code (terminated, timed out): it will never report, nor migrate.
      if (outcome.state === 'ended') return;
      log.warn('a migration holding a migrate slot is closed without having reported its end', { environmentId: outcome.environmentId, error: String(err) });
      this.end(outcome, 'Terminated', 'its workflow closed without reporting an ending (terminated or timed out)');
    }
  }

  private slotRequested(payload: unknown): void {
    const request = this.slotSignal(payload, 'requestMigrateSlot');
    if (!request) return;
    const { outcome, token } = request;
    // A repeated request (the sender's retry) changes nothing; an ended migration wants nothing.
    if (outcome.state === 'ended' || this.slotRequests.get(outcome.environmentId) === token) return;
    // A new request replaces one the batch still counts: the migration has withdrawn that one.
    this.freeSlot(outcome);
    outcome.migrateSlot = 'queued';
    this.slotQueue.push(outcome.environmentId);
    this.slotRequests.set(outcome.environmentId, token);
  }

  private slotReturned(payload: unknown): void {
    const returned = this.slotSignal(payload, 'returnMigrateSlot');
    // A return of an older request than the one the batch counts changes nothing.
    if (returned && this.slotRequests.get(returned.outcome.environmentId) === returned.token) this.freeSlot(returned.outcome);
  }

  /** Gives the environment's slot, or its place in the queue, back; nothing when it has neither. */
  private freeSlot(outcome: BatchOutcome): void {
    for (const list of [this.slotHolders, this.slotQueue]) {
      const at = list.indexOf(outcome.environmentId);
      if (at >= 0) list.splice(at, 1);
    }
    this.slotRequests.delete(outcome.environmentId);
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
    // The first report stands: the migration's own, before the reconciler's about the same run.
    if (outcome.state === 'ended') return;
    this.end(outcome, parsed.data.phase, parsed.data.reason);
  }

  private end(outcome: BatchOutcome, phase: Phase, reason?: string): void {
    this.freeSlot(outcome);
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
    return info.continueAsNewSuggested || info.historyLength >= this.continueAt || newerVersionIsTarget();
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
        slotRequests: Object.fromEntries(this.slotRequests),
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

  /** The environment and request a slot signal names; anything else is logged and ignored (a signal handler never throws). */
  private slotSignal(payload: unknown, signal: string): { outcome: BatchOutcome; token: string } | undefined {
    const parsed = MigrateSlotSchema.safeParse(payload);
    const outcome = parsed.success ? this.outcomeOf(parsed.data.environmentId) : undefined;
    if (!parsed.success || !outcome) {
      log.warn(`a ${signal} signal was ignored: it names no environment of this batch or no request`, { payload: JSON.stringify(payload)?.slice(0, 500) });
      return undefined;
    }
    return { outcome, token: parsed.data.request };
  }
}
