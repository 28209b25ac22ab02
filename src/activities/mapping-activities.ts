// The validation of the user mapping file in the migration's container (prepare):
// streamed, every error reported, directory checks through the back end's
// directory. Heartbeats its progress, and hashes the file (SHA-256) from the
// same download. Re-mapping is a migrate step of the back end (src/service).
import { Context } from '@temporalio/activity';
import { createHash } from 'node:crypto';
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

/**
 * The file's SHA-256, from the one download the validation's first pass reads: the validator
 * reads `stream`, fed chunk by chunk from `body`, and each chunk is hashed on its way. What the
 * validator leaves unread (a file refused as a whole stops early, a wrong name is never read)
 * is read on from the same download for the hash alone, once `finish()` is called.
 */
function hashWhileReading(body: NodeJS.ReadableStream, signal: AbortSignal, onTail: (bytes: number) => void) {
  const hash = createHash('sha256');
  const stream = new PassThrough();
  let tail = false;
  let bytes = 0;
  const writable = () =>
    new Promise<void>((resolve) => {
      const go = () => {
        stream.off('drain', go);
        stream.off('close', go);
        resolve();
      };
      stream.once('drain', go);
      stream.once('close', go);
    });
  const digest = (async () => {
    try {
      for await (const chunk of body as AsyncIterable<Buffer | string>) {
        const piece = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        hash.update(piece);
        bytes += piece.length;
        if (tail) onTail(bytes);
        if (!stream.destroyed && !stream.write(piece)) await writable();
        signal.throwIfAborted();
      }
    } catch (err) {
      // The validator sees the download's failure as its own; the hash is then not asked for.
      stream.destroy(err as Error);
      throw err;
    }
    stream.end();
    return hash.digest('hex');
  })();
  digest.catch(() => undefined);
  return {
    stream,
    /** The hash of every byte of the file: reads on what the validator left, discarding it. */
    finish: async (): Promise<string> => {
      tail = true;
      if (!stream.destroyed) stream.destroy();
      return digest;
    },
    /** Stops reading (the validation failed): the download is not kept open. */
    abandon: () => {
      stream.destroy();
      (body as Readable).destroy?.();
    },
  };
}

export function createMappingActivities(service: MigrationService) {

  return {
    async validateMapping(input: {
      migrationId: string;
      /** the container's access */
      storage: StorageInfo;
      sourceTenantId: string;
      targetTenantId: string;
      round: number;
    }): Promise<ValidationInfo> {
      const context = Context.current();
      const started = performance.now();
      const container = service.mappingContainer(input.storage);
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
      let mappingSha256: string | undefined;
      try {
        if (mapping === undefined) {
          errors = 1;
          await writeError({ line: 0, source: '', destination: '', error: `${INVALID_FILE} (no ${MAPPING_BLOB_NAME} in the container)` });
        } else {
          const hashed = hashWhileReading(mapping.body, context.cancellationSignal, (bytesHashed) => {
            if (performance.now() - started >= QUIET_MS) context.heartbeat({ bytesHashed });
          });
          let firstRead: NodeJS.ReadableStream | undefined = hashed.stream;
          let result;
          try {
            result = await validateMapping({
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
          } catch (err) {
            hashed.abandon();
            throw err;
          }
          // The first pass's download, read to its end for the hash (a file refused early, or never read for its name).
          mappingSha256 = await hashed.finish();
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
        ...(mappingSha256 ? { mappingSha256 } : {}),
        finishedAt: new Date().toISOString(),
      };
    },
  };
}
