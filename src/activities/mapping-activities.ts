// Activities that read the user mapping file from the migration's container:
// validation (prepare) and re-mapping (migrate). Both heartbeat their progress;
// re-mapping resumes from the last heartbeat after a crash or a retry.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { PassThrough, type Readable } from 'node:stream';
import { parse } from 'csv-parse';
import type { ControlPlane } from '../controlplane/control-plane';
import { ErrorType, type ValidationInfo } from '../contracts';
import { MigrationStorage, MAPPING_BLOB_NAME, BlobChangedError } from '../storage/migration-storage';
import { validateMapping, type MappingError } from '../mapping/validator';
import { createDirectoryChecker } from '../mapping/directory';
import { createErrorReportStream } from '../mapping/report';
import { INVALID_FILE } from '../mapping/messages';

/** how long a validation runs before it reports progress by heartbeat */
const QUIET_MS = 1_000;

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

/**
 * Opens the mapping file: usermapping.csv, or a near miss in letter case (reported
 * under the name the admin used); undefined when neither is there. The container
 * is listed only when the exact name is missing.
 */
async function openMappingFile(storage: MigrationStorage, containerName: string) {
  const exact = await storage.openVersion(containerName, MAPPING_BLOB_NAME);
  if (exact) return { name: MAPPING_BLOB_NAME, ...exact };
  const name = (await storage.blobNames(containerName)).find((n) => n.toLowerCase() === MAPPING_BLOB_NAME.toLowerCase());
  const opened = name === undefined ? undefined : await storage.openVersion(containerName, name);
  return opened && name ? { name, ...opened } : undefined;
}

async function openValidatedMapping(storage: MigrationStorage, containerName: string, etag: string | undefined): Promise<NodeJS.ReadableStream> {
  try {
    const opened = await storage.openVersion(containerName, MAPPING_BLOB_NAME, etag);
    if (opened) return opened.body;
  } catch (err) {
    if (!(err instanceof BlobChangedError)) throw err;
  }
  throw ApplicationFailure.nonRetryable(
    `${MAPPING_BLOB_NAME} was replaced after it passed validation; users were not re-mapped from the new file`,
    ErrorType.MappingChanged,
  );
}

export function createMappingActivities(deps: { controlPlane: ControlPlane; storage: MigrationStorage; remapBatchSize?: number }) {
  const { controlPlane, storage } = deps;
  const batchSize = deps.remapBatchSize ?? 200;

  return {
    async validateMapping(input: {
      migrationId: string;
      containerName: string;
      sourceTenantId: string;
      targetTenantId: string;
      round: number;
    }): Promise<ValidationInfo> {
      const context = Context.current();
      const started = performance.now();
      const mapping = await openMappingFile(storage, input.containerName);
      const reportName = `validation/round-${input.round}-errors.csv`;
      const report = createErrorReportStream();
      // The report is uploaded only once there is an error to report: a clean round writes nothing.
      let upload: Promise<void> | undefined;
      const writeError = (error: MappingError) => {
        if (!upload) {
          upload = storage.writeStream(input.containerName, reportName, report.pipe(new PassThrough()), 'text/csv; charset=utf-8');
          // Awaited below; until then a failed upload must not count as an unhandled rejection.
          upload.catch(() => undefined);
        }
        return report.writeError(error);
      };
      let rows = 0;
      let errors = 0;
      try {
        if (mapping === undefined) {
          errors = 1;
          await writeError({ line: 0, source: '', destination: '', error: `${INVALID_FILE} (no ${MAPPING_BLOB_NAME} in the container)` });
        } else {
          let firstRead: NodeJS.ReadableStream | undefined = mapping.body;
          const result = await validateMapping({
            fileName: mapping.name,
            // Every pass reads the version the first one read: a re-upload meanwhile fails the
            // attempt (BlobChangedError) and the retry validates the new file from the start.
            open: async () => {
              const body = firstRead ?? (await storage.openVersion(input.containerName, mapping.name, mapping.etag))?.body;
              firstRead = undefined;
              if (!body) throw new BlobChangedError(mapping.name);
              return body;
            },
            directory: createDirectoryChecker(controlPlane, input.sourceTenantId, input.targetTenantId),
            onError: writeError,
            // A round shorter than a second ends before anyone could see its progress: no heartbeat round trip.
            onProgress: (progress) => performance.now() - started >= QUIET_MS && context.heartbeat(progress),
            signal: context.cancellationSignal,
          });
          // A file refused before its first read (a wrong name) must not keep its download open.
          (firstRead as Readable | undefined)?.destroy();
          rows = result.rows;
          errors = result.errors;
        }
      } finally {
        report.end();
      }
      await upload;
      return {
        round: input.round,
        rows,
        errors,
        errorReportUrl: errors > 0 ? storage.blobReadUrl(input.containerName, reportName) : undefined,
        mappingEtag: mapping?.etag,
        finishedAt: new Date().toISOString(),
      };
    },

    /** Re-maps from the version of the file that passed validation (`mappingEtag`), never from a later upload. */
    async remapUsers(input: { migrationId: string; environmentId: string; containerName: string; mappingEtag?: string }): Promise<RemapResult> {
      const context = Context.current();
      const resumed = context.info.heartbeatDetails as RemapProgress | undefined;
      const progress: RemapProgress = resumed ?? { line: 0, remapped: 0, alreadyRemapped: 0 };
      const resumedFromLine = progress.line;
      const mapping = await openValidatedMapping(storage, input.containerName, input.mappingEtag);
      const parser = mapping.pipe(
        parse({ bom: true, relax_column_count: true, skip_empty_lines: true, trim: true, info: true }),
      );
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
        context.heartbeat(progress);
        // A worker shutting down cancels us: stop here, the retry resumes from this heartbeat.
        if (context.cancellationSignal.aborted) throw new CancelledFailure('re-mapping interrupted; it resumes from the last heartbeat');
      };
      for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
        const line = info.lines;
        if (line <= resumedFromLine || record.length !== 2) continue;
        const [source, destination] = record;
        if (line === 1 && source.toLowerCase() === 'source' && destination.toLowerCase() === 'destination') continue;
        pending.push({ line, source, destination });
        if (pending.length >= batchSize) await flush();
      }
      await flush(true);

      let unmappedTotal = 0;
      let afterUpn: string | undefined;
      for (;;) {
        const page = await controlPlane.listEnvironmentUsers(input.environmentId, { afterUpn, limit: 1000 });
        if (page.length === 0) break;
        for (const user of page) {
          if (user.previousUpn !== null) continue;
          unmappedTotal += 1;
        }
        afterUpn = page[page.length - 1].upn;
      }
      // Counted from the control plane: a batch lost in a crash was applied but never heartbeated.
      const usersRemapped = (await controlPlane.listRemaps(input.migrationId)).length;
      return {
        usersRemapped,
        alreadyRemapped: progress.alreadyRemapped,
        unmappedTotal,
        resumedFromLine,
      };
    },
  };
}
