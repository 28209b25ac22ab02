// The validation of the user mapping file in the migration's container (prepare):
// streamed, every error reported, directory checks through the back end's
// directory. Heartbeats its progress. Re-mapping is a migrate step of the
// back end (src/service).
import { Context } from '@temporalio/activity';
import { PassThrough, type Readable } from 'node:stream';
import type { StorageInfo, ValidationInfo } from '../contracts';
import { MAPPING_BLOB_NAME, BlobChangedError } from '../storage/migration-storage';
import { validateMapping, type MappingError } from '../mapping/validator';
import { createDirectoryChecker } from '../mapping/directory';
import { createErrorReportStream } from '../mapping/report';
import { INVALID_FILE } from '../mapping/messages';
import type { MappingContainer, MigrationService } from '../service/migration-service';

/** how long a validation runs before it reports progress by heartbeat */
const QUIET_MS = 1_000;

/**
 * Opens the mapping file: usermapping.csv, or a near miss in letter case (reported
 * under the name the admin used); undefined when neither is there. The container
 * is listed only when the exact name is missing.
 */
async function openMappingFile(container: MappingContainer) {
  const exact = await container.openVersion(MAPPING_BLOB_NAME);
  if (exact) return { name: MAPPING_BLOB_NAME, ...exact };
  const name = (await container.blobNames()).find((n) => n.toLowerCase() === MAPPING_BLOB_NAME.toLowerCase());
  const opened = name === undefined ? undefined : await container.openVersion(name);
  return opened && name ? { name, ...opened } : undefined;
}

export function createMappingActivities(service: MigrationService) {

  return {
    async validateMapping(input: {
      migrationId: string;
      containerName: string;
      /** the container's access; migrations started before the port send only its name */
      storage?: StorageInfo;
      sourceTenantId: string;
      targetTenantId: string;
      round: number;
    }): Promise<ValidationInfo> {
      const context = Context.current();
      const started = performance.now();
      const container = service.mappingContainer(input.storage ?? { containerName: input.containerName, sasUrl: '', expiresOn: '' });
      const mapping = await openMappingFile(container);
      const reportName = `validation/round-${input.round}-errors.csv`;
      const report = createErrorReportStream();
      // The report is uploaded only once there is an error to report: a clean round writes nothing.
      let upload: Promise<void> | undefined;
      const writeError = (error: MappingError) => {
        if (!upload) {
          upload = container.writeStream(reportName, report.pipe(new PassThrough()), 'text/csv; charset=utf-8');
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
              const body = firstRead ?? (await container.openVersion(mapping.name, mapping.etag))?.body;
              firstRead = undefined;
              if (!body) throw new BlobChangedError(mapping.name);
              return body;
            },
            directory: createDirectoryChecker(service.directory, input.sourceTenantId, input.targetTenantId),
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
        errorReportUrl: errors > 0 ? container.blobReadUrl(reportName) : undefined,
        mappingEtag: mapping?.etag,
        finishedAt: new Date().toISOString(),
      };
    },
  };
}
