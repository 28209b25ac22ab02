// storage · upload · errors — the blob side, through SAS URLs only, as an admin
// outside the product would.
import { Command } from 'commander';
import { createReadStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CommandRuntime } from '../cli';
import { statusDocument } from '../output';
import { UserError } from '../user-error';
import type { MigrationStatus } from '../../contracts';
import { MAPPING_BLOB_NAME } from '../../storage/blob-names';
import { stripQuery } from '../../migration/container-uri';
import { progressLine, bytesProgress } from '../progress';

/** Microsoft's invalid-file text (SPEC §4), from the module that keeps it, loaded when a file is refused. */
const invalidFile = async () => (await import('../../mapping/messages')).INVALID_FILE;

export function registerStorageCommands(program: Command, runtime: CommandRuntime): void {
  /** Generate resource storage for the environment's open migration; returns its status. */
  const generateStorage = async (environmentId: string): Promise<MigrationStatus> => {
    const { migrationWorkflowId, statusQuery } = await import('../../contracts');
    const context = runtime.context();
    const client = await context.client();
    const handle = client.workflow.getHandle(migrationWorkflowId(environmentId));
    let open: MigrationStatus;
    try {
      open = await handle.query(statusQuery);
    } catch {
      throw new UserError(`storage refused: environment '${environmentId}' has no open migration; submit one first`);
    }
    // Sign-in on (the default): through the action gateway, as the signed-in admin (gateway-actions.ts).
    const outcome =
      context.config.signIn.auth === 'on'
        ? await (await import('../gateway-actions')).gatewayAct(context.config, program.opts().as ?? runtime.env.T2T_ADMIN, open.migrationId, 'requestStorage', {})
        : await (await context.migrations()).actOn(handle, 'requestStorage', { actor: context.actor() });
    if (outcome.entry.outcome === 'refused') throw new UserError(outcome.entry.reason ?? 'storage refused');
    return outcome.status;
  };

  const uploadFile = async (sasUrl: string, file: string): Promise<void> => {
    if (path.basename(file) !== MAPPING_BLOB_NAME) {
      throw new UserError(`${await invalidFile()} (the file must be named exactly ${MAPPING_BLOB_NAME}, got ${path.basename(file)})`);
    }
    if (!existsSync(file)) throw new UserError(`${await invalidFile()} (cannot read ${file}: no such file)`);
    const { ContainerClient, RestError } = await import('@azure/storage-blob');
    const container = new ContainerClient(sasUrl);
    // On a terminal, bytes sent, share and rate while a large file goes up; nothing in a pipe or with --json.
    const progress = progressLine(runtime.printer().json);
    const total = statSync(file).size;
    const started = Date.now();
    try {
      await container.getBlockBlobClient(MAPPING_BLOB_NAME).uploadStream(createReadStream(file), 4 * 1024 * 1024, 2, {
        blobHTTPHeaders: { blobContentType: 'text/csv; charset=utf-8' },
        onProgress: (event) => progress.show(bytesProgress(event.loadedBytes, total, Date.now() - started)),
      });
    } catch (err) {
      if (err instanceof RestError && (err.statusCode === 403 || err.statusCode === 404)) {
        throw new UserError(`upload refused by storage (${err.statusCode}): the SAS URL is wrong, expired or revoked`);
      }
      throw err;
    } finally {
      progress.done();
    }
  };

  program
    .command('storage')
    .description('generate the resource storage for the migration of an environment; prints the container SAS URL (source admin)')
    .requiredOption('--environment <id>', 'the environment id')
    .action(async (opts: { environment: string }) => {
      const status = await generateStorage(opts.environment);
      const printer = runtime.printer();
      printer.document(statusDocument(status));
      printer.line(`Container SAS URL (valid until ${status.storage!.expiresOn}):`);
      printer.line(status.storage!.sasUrl);
      printer.line(`Upload ${MAPPING_BLOB_NAME} with: t2t upload --sas '<the URL above>' --file ${MAPPING_BLOB_NAME}`);
    });

  program
    .command('upload')
    .description(`upload ${MAPPING_BLOB_NAME} with a container SAS URL, or generate storage and upload in one step with --environment`)
    .option('--sas <url>', 'the container SAS URL from `t2t storage`')
    .option('--environment <id>', 'generate the storage for this environment first')
    .requiredOption('--file <path>', `the local ${MAPPING_BLOB_NAME}`)
    .action(async (opts: { sas?: string; environment?: string; file: string }) => {
      if (Boolean(opts.sas) === Boolean(opts.environment)) throw new UserError('upload needs exactly one of --sas <url> or --environment <id>');
      if (path.basename(opts.file) !== MAPPING_BLOB_NAME) {
        throw new UserError(`${await invalidFile()} (the file must be named exactly ${MAPPING_BLOB_NAME}, got ${path.basename(opts.file)})`);
      }
      const status = opts.environment ? await generateStorage(opts.environment) : undefined;
      const sasUrl = opts.sas ?? status!.storage!.sasUrl;
      await uploadFile(sasUrl, opts.file);
      const containerUri = stripQuery(sasUrl);
      const printer = runtime.printer();
      printer.document({ ...(status ? statusDocument(status) : {}), sasUrl, containerUri, bytes: statSync(opts.file).size });
      printer.line(`Uploaded ${MAPPING_BLOB_NAME} (${statSync(opts.file).size} bytes).`);
      printer.line(`Container URI for prepare: ${containerUri}`);
    });

  program
    .command('errors')
    .description('download the error report of the last validation')
    .requiredOption('--migration-id <id>', 'the source migration id')
    .requiredOption('--out <dir>', 'the folder to write it to')
    .action(async (opts: { migrationId: string; out: string }) => {
      const migrations = await runtime.context().migrations();
      const status = await migrations.status(opts.migrationId);
      const url = status.validation?.errorReportUrl;
      if (!url) throw new UserError(`migration ${opts.migrationId} has no error report (${status.validation ? 'the last validation found no errors' : 'prepare has not run'})`);
      const response = await fetch(url);
      if (!response.ok) {
        throw new UserError(`the error report cannot be read (${response.status}): ${response.status === 403 ? 'its link has been revoked because the migration ended' : response.statusText}`);
      }
      mkdirSync(opts.out, { recursive: true });
      const file = path.join(opts.out, `usermapping-errors-round-${status.validation!.round}.csv`);
      const text = await response.text();
      await writeFile(file, text);
      const printer = runtime.printer();
      printer.document({ ...statusDocument(status), file, errors: status.validation!.errors });
      printer.line(`${status.validation!.errors} errors written to ${file}`);
    });
}
