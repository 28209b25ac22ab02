// The migrate steps as the simulated back end runs them itself (SPEC §2 step 8):
// each step idempotent, the progress kept in the activity's heartbeat so that a
// retry after a crash resumes at the step (and the mapping line) it reached.
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { parse } from 'csv-parse';
import type { ControlPlane, EnvironmentRecord } from '../controlplane/control-plane';
import { ErrorType, type ChecklistItem } from '../contracts';
import { BlobChangedError, MAPPING_BLOB_NAME } from '../storage/migration-storage';
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

/** What a migrate attempt has done so far; flat, so that `t2t status --watch` reads `remapped` and `line`. */
export interface MigrateProgress extends Partial<RemapProgress> {
  /** the steps finished, in order */
  done: string[];
  previousAdminMode?: boolean;
  remap?: RemapResult;
  mailboxes?: { configured: number; toReconfigure: number; onmicrosoftRewritten: number };
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
  const usersRemapped = (await controlPlane.listRemaps(input.migrationId)).length;
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
  let people;
  try {
    people = await migrationPeople(controlPlane, input);
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, ErrorType.NotFound);
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

export async function runSimulatedMigrate(
  controlPlane: ControlPlane,
  input: {
    migrationId: string;
    environmentId: string;
    sourceTenantId: string;
    targetTenantId: string;
    container: MappingContainer;
    mappingEtag?: string;
    remapBatchSize: number;
  },
  operation: OperationContext,
): Promise<MigrateOutcome> {
  const progress: MigrateProgress = (operation.resumed as MigrateProgress | undefined) ?? { done: [] };
  const { environmentId } = input;
  const finished = (step: string) => {
    progress.done.push(step);
    operation.heartbeat(progress);
  };
  try {
    for (const step of SIMULATED_MIGRATE_STEPS) {
      if (progress.done.includes(step)) continue;
      switch (step) {
        case 'rememberAdministrationMode':
          progress.previousAdminMode = (await environmentOrFail(controlPlane, environmentId)).adminMode;
          break;
        case 'administrationModeOn':
          await controlPlane.setAdminMode(environmentId, true);
          break;
        case 'relink':
          await controlPlane.relinkEnvironment(environmentId, input.targetTenantId, input.migrationId);
          break;
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
          break;
        case 'mailboxes':
          progress.mailboxes = await configureMailboxes(controlPlane, input);
          break;
        case 'sourceAccessOff':
          await controlPlane.setSourceAccess(environmentId, false);
          break;
        case 'restoreAdministrationMode':
          await controlPlane.setAdminMode(environmentId, progress.previousAdminMode ?? true);
          break;
      }
      finished(step);
    }
  } catch (err) {
    // A failure for good leaves the environment in the administration mode it had.
    const final = err instanceof ApplicationFailure && err.nonRetryable;
    if (final && progress.previousAdminMode !== undefined && progress.done.includes('administrationModeOn')) {
      await controlPlane.setAdminMode(environmentId, progress.previousAdminMode);
    }
    throw err;
  }
  const checklist = checklistOf(await environmentOrFail(controlPlane, environmentId));
  return {
    usersRemapped: progress.remap?.usersRemapped ?? 0,
    unmappedTotal: progress.remap?.unmappedTotal ?? 0,
    mailboxesConfigured: progress.mailboxes?.configured ?? 0,
    mailboxesToReconfigure: progress.mailboxes?.toReconfigure ?? 0,
    onmicrosoftAddressesRewritten: progress.mailboxes?.onmicrosoftRewritten ?? 0,
    checklist: checklist.items,
    flowActivationOrder: checklist.flowActivationOrder,
    unknown: [],
  };
}
