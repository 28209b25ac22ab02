// Activities that read the user mapping file from the migration's container:
// validation (prepare) and re-mapping (migrate). Both heartbeat their progress;
// re-mapping resumes from the last heartbeat after a crash or a retry.
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { PassThrough } from 'node:stream';
import { parse } from 'csv-parse';
import type { ControlPlane } from '../controlplane/control-plane';
import type { ValidationInfo } from '../contracts';
import { MigrationStorage, MAPPING_BLOB_NAME } from '../storage/migration-storage';
import { validateMapping } from '../mapping/validator';
import { createDirectoryChecker } from '../mapping/directory';
import { createErrorReportStream } from '../mapping/report';
import { INVALID_FILE } from '../mapping/messages';

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
      const names = await storage.blobNames(input.containerName);
      // The name is case-sensitive; a near miss is reported with the name the admin used.
      const fileName = names.includes(MAPPING_BLOB_NAME)
        ? MAPPING_BLOB_NAME
        : (names.find((n) => n.toLowerCase() === MAPPING_BLOB_NAME.toLowerCase()) ?? MAPPING_BLOB_NAME);
      const reportName = `validation/round-${input.round}-errors.csv`;
      const report = createErrorReportStream();
      const upload = storage.writeStream(input.containerName, reportName, report.pipe(new PassThrough()), 'text/csv; charset=utf-8');
      let rows = 0;
      let errors = 0;
      try {
        if (!names.includes(fileName)) {
          errors = 1;
          await report.writeError({ line: 0, source: '', destination: '', error: `${INVALID_FILE} (no ${MAPPING_BLOB_NAME} in the container)` });
        } else {
          const result = await validateMapping({
            fileName,
            open: () => storage.openRead(input.containerName, fileName),
            directory: createDirectoryChecker(controlPlane, input.sourceTenantId, input.targetTenantId),
            onError: (error) => report.writeError(error),
            onProgress: (progress) => context.heartbeat(progress),
            signal: context.cancellationSignal,
          });
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
        finishedAt: new Date().toISOString(),
      };
    },

    async remapUsers(input: { migrationId: string; environmentId: string; containerName: string }): Promise<RemapResult> {
      const context = Context.current();
      const resumed = context.info.heartbeatDetails as RemapProgress | undefined;
      const progress: RemapProgress = resumed ?? { line: 0, remapped: 0, alreadyRemapped: 0 };
      const resumedFromLine = progress.line;
      const parser = (await storage.openRead(input.containerName, MAPPING_BLOB_NAME)).pipe(
        parse({ bom: true, relax_column_count: true, skip_empty_lines: true, trim: true, info: true }),
      );
      let pending: { line: number; source: string; destination: string }[] = [];
      const flush = async () => {
        for (const row of pending) {
          const result = await controlPlane.remapEnvironmentUser(input.environmentId, input.migrationId, row.source, row.destination);
          if (result.applied) progress.remapped += 1;
          else if (!result.notInEnvironment) progress.alreadyRemapped += 1;
        }
        if (pending.length > 0) progress.line = pending[pending.length - 1].line;
        pending = [];
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
      await flush();

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
