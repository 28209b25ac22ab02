// The migrate steps as the simulated back end runs them itself (SPEC §2 step 8):
// each step idempotent, the progress kept in the activity's heartbeat so that a
// retry after a crash resumes at the step (and the mapping line) it reached.
// A step that fails for good is compensated (SPEC §2 step 10, the saga pattern):
// the undo of every step done is kept in the same heartbeat, and they run in
// reverse order before the activity fails with MigrateCompensated.
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { parse } from 'csv-parse';
import type { ControlPlane, EnvironmentRecord } from '../controlplane/control-plane';
import { ControlPlaneNotFoundError } from '../controlplane/errors';
import { ErrorType, NON_RETRYABLE_ERRORS, type ChecklistItem } from '../contracts';
import { BlobChangedError, MAPPING_BLOB_NAME } from '../storage/blob-names';
import { postMigrationChecklist, FlowCycleError } from '../migration/checklist';
import { migrationPeople } from '../migration/migration-people';
import type { MappingContainer, MigrateOutcome, OperationContext } from './migration-service';

export interface RemapProgress {
  /** physical line of the mapping file up to which every row has been handled */
  line: number;
  remapped: number;
  alreadyRemapped: number;
}

export interface RemapResult {
  usersRemapped: number;
  alreadyRemapped: number;
  unmappedTotal: number;
  resumedFromLine: number;
}

export const SIMULATED_MIGRATE_STEPS = [
  'rememberAdministrationMode',
  'administrationModeOn',
  'relink',
  'remap',
  'mailboxes',
  'sourceAccessOff',
  'restoreAdministrationMode',
] as const;
export type SimulatedMigrateStep = (typeof SIMULATED_MIGRATE_STEPS)[number];

/** Each step as a failure's message names it. */
export const MIGRATE_STEP_DESCRIPTIONS: Record<SimulatedMigrateStep, string> = {
  rememberAdministrationMode: 'reading the environment',
  administrationModeOn: 'turning administration mode on',
  relink: 're-linking the environment',
  remap: 're-mapping users',
  mailboxes: 'configuring mailboxes',
  sourceAccessOff: 'making the environment inaccessible from the source tenant',
  restoreAdministrationMode: 'restoring administration mode',
};

export const MIGRATE_COMPENSATED = ErrorType.MigrateCompensated;
export const COMPENSATION_FAILED = ErrorType.CompensationFailed;

/** The details of a MigrateCompensated or CompensationFailed failure. */
export interface CompensationDetails {
  failedStep: SimulatedMigrateStep;
  /** what was undone, in words, in the order it was undone */
  undone: string[];
  /** what could not be undone, with why (CompensationFailed only) */
  notUndone?: string[];
}

/** The undo of a step, pushed into the heartbeat once the step has had an effect. */
export type Compensation =
  | { undo: 'administrationMode'; adminMode: boolean }
  | { undo: 'relinkBack'; fromTenantId: string; toTenantId: string; previousTenantId: string | null }
  | { undo: 'remaps' }
  | { undo: 'sourceAccess'; sourceAccess: boolean };

/** Where the compensation of a failed migrate stands. */
export interface CompensationProgress {
  failedStep: SimulatedMigrateStep;
  cause: string;
  undone: string[];
  notUndone: string[];
  /** users re-mapped back so far, over every attempt */
  remapsUndone: number;
}

/** What a migrate attempt has done so far; flat, so that `t2t status --watch` reads `remapped` and `line`. */
export interface MigrateProgress extends Partial<RemapProgress> {
  /** the steps finished, in order */
  done: string[];
  previousAdminMode?: boolean;
  /** the environment before the first effect, what the compensations put back */
  before?: { tenantId: string; previousTenantId: string | null; sourceAccess: boolean };
  remap?: RemapResult;
  mailboxes?: { configured: number; toReconfigure: number; onmicrosoftRewritten: number };
  /** the undo of each step that had an effect, in the order the steps ran: they run last first */
  compensations?: Compensation[];
  /** set once a step failed for good: a retry of the activity goes on undoing, never forward */
  compensating?: CompensationProgress;
  /** ms each finished step took (a step resumed after a crash counts from its resumption) */
  stepMs?: Record<string, number>;
}

export async function environmentOrFail(controlPlane: ControlPlane, environmentId: string): Promise<EnvironmentRecord> {
  const environment = await controlPlane.getEnvironment(environmentId);
  if (!environment) throw ApplicationFailure.nonRetryable(`environment '${environmentId}' does not exist`, ErrorType.NotFound);
  return environment;
}

/** Opens exactly the version of the mapping file that passed validation. */
export async function openValidatedMapping(container: MappingContainer, etag: string | undefined): Promise<NodeJS.ReadableStream> {
  try {
    const opened = await container.openVersion(MAPPING_BLOB_NAME, etag);
    if (opened) return opened.body;
  } catch (err) {
    if (!(err instanceof BlobChangedError)) throw err;
  }
  throw ApplicationFailure.nonRetryable(
    `${MAPPING_BLOB_NAME} was replaced after it passed validation; users were not re-mapped from the new file`,
    ErrorType.MappingChanged,
  );
}

/** Re-maps from the version of the file that passed validation (`mappingEtag`), never from a later upload. */
export async function remapUsers(
  controlPlane: ControlPlane,
  input: { migrationId: string; environmentId: string; container: MappingContainer; mappingEtag?: string; batchSize: number },
  operation: { resumed?: RemapProgress; heartbeat(progress: RemapProgress): void; signal: AbortSignal },
): Promise<RemapResult> {
  const progress: RemapProgress = operation.resumed ?? { line: 0, remapped: 0, alreadyRemapped: 0 };
  const resumedFromLine = progress.line;
  const mapping = await openValidatedMapping(input.container, input.mappingEtag);
  const parser = mapping.pipe(parse({ bom: true, relax_column_count: true, skip_empty_lines: true, trim: true, info: true }));
  let pending: { line: number; source: string; destination: string }[] = [];
  const flush = async (last = false) => {
    // One transaction per batch: a crash leaves a batch applied whole or not at all.
    const results = pending.length === 0 ? [] : await controlPlane.remapEnvironmentUsers(
      input.environmentId,
      input.migrationId,
      pending.map((row) => ({ sourceUpn: row.source, targetUpn: row.destination })),
    );
    for (const result of results) {
      if (result.applied) progress.remapped += 1;
      else if (!result.notInEnvironment) progress.alreadyRemapped += 1;
    }
    if (pending.length > 0) progress.line = pending[pending.length - 1].line;
    pending = [];
    // After the last batch nothing is left to resume or to interrupt.
    if (last) return;
    operation.heartbeat(progress);
    // A worker shutting down cancels us: stop here, the retry resumes from this heartbeat.
    if (operation.signal.aborted) throw new CancelledFailure('re-mapping interrupted; it resumes from the last heartbeat');
  };
  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    const line = info.lines;
    if (line <= resumedFromLine || record.length !== 2) continue;
    const [source, destination] = record;
    if (line === 1 && source.toLowerCase() === 'source' && destination.toLowerCase() === 'destination') continue;
    pending.push({ line, source, destination });
    if (pending.length >= input.batchSize) await flush();
  }
  await flush(true);

  let unmappedTotal = 0;
  for (let afterUpn: string | undefined; ; ) {
    const page = await controlPlane.listEnvironmentUsers(input.environmentId, { afterUpn, limit: 1000 });
    if (page.length === 0) break;
    for (const user of page) if (user.previousUpn === null) unmappedTotal += 1;
    afterUpn = page[page.length - 1].upn;
  }
  // Counted from the control plane: a batch lost in a crash was applied but never heartbeated.
  // A count, not the rows: reading 100,000 rows in one synchronous query held the worker's thread for 300 ms.
  const usersRemapped = await controlPlane.countRemaps(input.migrationId);
  return { usersRemapped, alreadyRemapped: progress.alreadyRemapped, unmappedTotal, resumedFromLine };
}

/**
 * Mailboxes of re-mapped users: configured where the target identity has one,
 * listed for reconfiguration otherwise. Counts only; the names stay in the control plane.
 */
export async function configureMailboxes(
  controlPlane: ControlPlane,
  input: { migrationId: string; environmentId: string; sourceTenantId: string; targetTenantId: string },
): Promise<{ configured: number; toReconfigure: number; onmicrosoftRewritten: number }> {
  // Only a tenant that does not exist fails for good: anything else (a database
  // blip) propagates, so that Temporal retries the activity from its heartbeat.
  for (const tenantId of [input.sourceTenantId, input.targetTenantId]) {
    if (!(await controlPlane.getTenant(tenantId))) throw ApplicationFailure.nonRetryable(`tenant '${tenantId}' does not exist`, ErrorType.NotFound);
  }
  let people;
  try {
    people = await migrationPeople(controlPlane, input);
  } catch (err) {
    if (err instanceof ControlPlaneNotFoundError) throw ApplicationFailure.nonRetryable(err.message, ErrorType.NotFound);
    throw err;
  }
  return {
    configured: people.mailboxesConfigured.length,
    toReconfigure: people.mailboxesToReconfigure.length,
    onmicrosoftRewritten: people.onmicrosoftAddressesRewritten.length,
  };
}

/** The checklist from the environment's inventory; a cycle among flows is said in the checklist, not thrown. */
export function checklistOf(environment: EnvironmentRecord): { items: ChecklistItem[]; flowActivationOrder: string[] } {
  try {
    return postMigrationChecklist(environment);
  } catch (err) {
    if (!(err instanceof FlowCycleError)) throw err;
    // A cycle must not undo a finished migration: the checklist says so instead.
    const withoutFlows = postMigrationChecklist({ ...environment, components: { ...environment.components, flows: [] } });
    return {
      items: [{ kind: 'flowCycle', title: 'Turn on flows by hand: their calls form a cycle', details: [(err as Error).message] }, ...withoutFlows.items],
      flowActivationOrder: [],
    };
  }
}

/** True when retrying cannot help: what the workflow's retry policy would not retry either. */
export function failsForGood(err: unknown): boolean {
  const nonRetryable = NON_RETRYABLE_ERRORS as readonly string[];
  if (err instanceof ApplicationFailure) return err.nonRetryable || (err.type != null && nonRetryable.includes(err.type));
  return err instanceof Error && nonRetryable.includes(err.name);
}

const COMPENSATION_ATTEMPTS = 4;
const COMPENSATION_FIRST_BACKOFF_MS = 250;

/**
 * An undo retried in-process on transient errors (they are idempotent). A fault that
 * outlasts the attempts propagates: Temporal retries the activity, which resumes the
 * compensation from its heartbeat.
 */
async function retryingTransient<T>(work: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (err) {
      if (failsForGood(err) || attempt >= COMPENSATION_ATTEMPTS || signal.aborted) throw err;
      await new Promise((resolve) => setTimeout(resolve, COMPENSATION_FIRST_BACKOFF_MS * 2 ** (attempt - 1)));
    }
  }
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
}

/** What a step leaves to undo once it has succeeded; nothing when it changed nothing the source tenant had. */
function compensationAfter(step: SimulatedMigrateStep, progress: MigrateProgress, targetTenantId: string, sourceTenantId: string): Compensation | undefined {
  const before = progress.before ?? { tenantId: sourceTenantId, previousTenantId: null, sourceAccess: true };
  switch (step) {
    case 'administrationModeOn':
      return { undo: 'administrationMode', adminMode: progress.previousAdminMode ?? true };
    case 'relink':
      // Already in the target before this migrate (a rerun after success): the re-link moved nothing.
      return before.tenantId === targetTenantId
        ? undefined
        : { undo: 'relinkBack', fromTenantId: targetTenantId, toTenantId: before.tenantId, previousTenantId: before.previousTenantId };
    case 'sourceAccessOff':
      return { undo: 'sourceAccess', sourceAccess: before.sourceAccess };
    default:
      // remap's undo is pushed before it starts (its batches commit one by one); the
      // others change nothing, or put back what administrationModeOn's undo puts back.
      return undefined;
  }
}

/** The undo stack of a heartbeat recorded before compensations were kept in it. */
function compensationsOf(progress: MigrateProgress, targetTenantId: string, sourceTenantId: string): Compensation[] {
  const stack: Compensation[] = [];
  for (const step of SIMULATED_MIGRATE_STEPS) {
    if (step === 'remap' && (progress.done.includes('remap') || progress.line !== undefined)) stack.push({ undo: 'remaps' });
    if (!progress.done.includes(step)) continue;
    const compensation = compensationAfter(step, progress, targetTenantId, sourceTenantId);
    if (compensation) stack.push(compensation);
  }
  return stack;
}

function describeCompensation(compensation: Compensation, remapsUndone: number): string {
  switch (compensation.undo) {
    case 'administrationMode':
      return `administration mode restored (${compensation.adminMode ? 'on' : 'off'})`;
    case 'relinkBack':
      return `environment re-linked back to ${compensation.toTenantId}`;
    case 'remaps':
      return `users re-mapped back (${remapsUndone})`;
    case 'sourceAccess':
      return 'source access restored';
  }
}

type MigrateInput = {
  migrationId: string;
  environmentId: string;
  sourceTenantId: string;
  targetTenantId: string;
  container: MappingContainer;
  mappingEtag?: string;
  remapBatchSize: number;
};

async function runStep(controlPlane: ControlPlane, step: SimulatedMigrateStep, input: MigrateInput, progress: MigrateProgress, operation: OperationContext): Promise<void> {
  const { environmentId } = input;
  switch (step) {
    case 'rememberAdministrationMode': {
      const environment = await environmentOrFail(controlPlane, environmentId);
      progress.previousAdminMode = environment.adminMode;
      progress.before = { tenantId: environment.tenantId, previousTenantId: environment.previousTenantId, sourceAccess: environment.sourceAccess };
      return;
    }
    case 'administrationModeOn':
      return controlPlane.setAdminMode(environmentId, true);
    case 'relink':
      return controlPlane.relinkEnvironment(environmentId, input.targetTenantId, input.migrationId);
    case 'remap':
      progress.remap = await remapUsers(
        controlPlane,
        { ...input, batchSize: input.remapBatchSize },
        {
          resumed: progress.line === undefined ? undefined : { line: progress.line, remapped: progress.remapped ?? 0, alreadyRemapped: progress.alreadyRemapped ?? 0 },
          heartbeat: (remap) => operation.heartbeat(Object.assign(progress, remap)),
          signal: operation.signal,
        },
      );
      return;
    case 'mailboxes':
      progress.mailboxes = await configureMailboxes(controlPlane, input);
      return;
    case 'sourceAccessOff':
      return controlPlane.setSourceAccess(environmentId, false);
    case 'restoreAdministrationMode':
      return controlPlane.setAdminMode(environmentId, progress.previousAdminMode ?? true);
  }
}

async function runCompensation(controlPlane: ControlPlane, compensation: Compensation, input: MigrateInput, progress: MigrateProgress, operation: OperationContext): Promise<void> {
  const { environmentId } = input;
  const retrying = <T>(work: () => Promise<T>) => retryingTransient(work, operation.signal);
  switch (compensation.undo) {
    case 'administrationMode':
      return retrying(() => controlPlane.setAdminMode(environmentId, compensation.adminMode));
    case 'relinkBack':
      await retrying(() => controlPlane.relinkBack(environmentId, compensation.fromTenantId, { restorePreviousTenantId: compensation.previousTenantId }));
      return;
    case 'sourceAccess':
      return retrying(() => controlPlane.setSourceAccess(environmentId, compensation.sourceAccess));
    case 'remaps':
      for (;;) {
        const undone = await retrying(() => controlPlane.undoRemaps(environmentId, input.migrationId, { limit: input.remapBatchSize }));
        if (undone === 0) return;
        progress.compensating!.remapsUndone += undone;
        operation.heartbeat(progress);
        if (operation.signal.aborted) throw new CancelledFailure('undoing the re-mapping interrupted; it resumes from the last heartbeat');
      }
  }
}

/** Runs the undo stack last first, then fails the activity for good, saying what was undone. */
async function compensate(controlPlane: ControlPlane, input: MigrateInput, progress: MigrateProgress, operation: OperationContext): Promise<never> {
  const state = progress.compensating!;
  const stack = progress.compensations ?? [];
  while (stack.length > 0) {
    const compensation = stack[stack.length - 1];
    try {
      await runCompensation(controlPlane, compensation, input, progress, operation);
      state.undone.push(describeCompensation(compensation, state.remapsUndone));
    } catch (err) {
      // Transient past the in-process attempts, or a worker shutting down: the retry resumes here.
      if (!failsForGood(err)) throw err;
      // The other undos do not depend on this one: put back as much as can be.
      state.notUndone.push(`${describeCompensation(compensation, state.remapsUndone)} (${oneLine(err)})`);
    }
    stack.pop();
    operation.heartbeat(progress);
  }
  const failed = `${MIGRATE_STEP_DESCRIPTIONS[state.failedStep]} failed: ${state.cause}`;
  const undone = state.undone.length > 0 ? `undone: ${state.undone.join(', ')}` : 'nothing had changed';
  if (state.notUndone.length > 0) {
    const details: CompensationDetails = { failedStep: state.failedStep, undone: state.undone, notUndone: state.notUndone };
    throw ApplicationFailure.nonRetryable(`${failed}; could not undo: ${state.notUndone.join(', ')}; ${undone}`, COMPENSATION_FAILED, details);
  }
  const details: CompensationDetails = { failedStep: state.failedStep, undone: state.undone };
  throw ApplicationFailure.nonRetryable(`${failed}; ${undone}`, MIGRATE_COMPENSATED, details);
}

export async function runSimulatedMigrate(controlPlane: ControlPlane, input: MigrateInput, operation: OperationContext): Promise<MigrateOutcome> {
  const progress: MigrateProgress = (operation.resumed as MigrateProgress | undefined) ?? { done: [] };
  progress.compensations ??= compensationsOf(progress, input.targetTenantId, input.sourceTenantId);
  const compensations = progress.compensations;
  if (!progress.compensating) {
    let current: SimulatedMigrateStep | undefined;
    try {
      for (const step of SIMULATED_MIGRATE_STEPS) {
        if (progress.done.includes(step)) continue;
        current = step;
        // Pushed before it starts: a re-mapping that fails half-way has batches to undo.
        if (step === 'remap' && !compensations.some((c) => c.undo === 'remaps')) compensations.push({ undo: 'remaps' });
        const started = Date.now();
        await runStep(controlPlane, step, input, progress, operation);
        progress.done.push(step);
        (progress.stepMs ??= {})[step] = Date.now() - started;
        const compensation = compensationAfter(step, progress, input.targetTenantId, input.sourceTenantId);
        if (compensation) compensations.push(compensation);
        operation.heartbeat(progress);
      }
    } catch (err) {
      if (!failsForGood(err) || current === undefined) throw err;
      progress.compensating = { failedStep: current, cause: oneLine(err), undone: [], notUndone: [], remapsUndone: 0 };
      operation.heartbeat(progress);
    }
  }
  if (progress.compensating) await compensate(controlPlane, input, progress, operation);

  const checklistStarted = Date.now();
  const checklist = checklistOf(await environmentOrFail(controlPlane, input.environmentId));
  const stepDurationsMs = { ...progress.stepMs, checklist: Date.now() - checklistStarted };
  return {
    usersRemapped: progress.remap?.usersRemapped ?? 0,
    unmappedTotal: progress.remap?.unmappedTotal ?? 0,
    mailboxesConfigured: progress.mailboxes?.configured ?? 0,
    mailboxesToReconfigure: progress.mailboxes?.toReconfigure ?? 0,
    onmicrosoftAddressesRewritten: progress.mailboxes?.onmicrosoftRewritten ?? 0,
    checklist: checklist.items,
    flowActivationOrder: checklist.flowActivationOrder,
    unknown: [],
    stepDurationsMs,
  };
}
