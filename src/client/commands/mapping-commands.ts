// mapping check — the SPEC §4 checks on a local file, before any upload.
import { Command } from 'commander';
import type { CommandRuntime } from '../cli';
import { UserError } from '../user-error';
import { progressLine, rowsProgress } from '../progress';

export function registerMappingCommands(program: Command, runtime: CommandRuntime): void {
  program
    .command('mapping')
    .description('the user mapping file')
    .command('check')
    .description('check a local usermapping.csv (with the directory checks when a target tenant is named); exits 1 when it finds errors')
    .requiredOption('--file <path>', 'the local usermapping.csv')
    .option('--target-tenant <id>', 'also check the destination users in this tenant')
    .option('--environment <id>', "the environment the file is for (its tenant is the source tenant; default: the acting admin's tenant)")
    .action(async (opts: { file: string; targetTenant?: string; environment?: string }) => {
      const [{ validateMappingFile }, { invalidFileHints }] = await Promise.all([import('../../mapping/validator'), import('../../mapping/messages')]);
      let directory;
      if (opts.targetTenant) {
        const [{ createDirectoryChecker }, { ApplicationFailure }] = await Promise.all([import('../../mapping/directory'), import('@temporalio/common')]);
        const context = runtime.context();
        const service = await context.service();
        let sourceTenantId: string | undefined;
        if (opts.environment) {
          try {
            sourceTenantId = (await service.assess(opts.environment, opts.targetTenant)).environmentTenantId;
          } catch (err) {
            if (err instanceof ApplicationFailure && err.nonRetryable) throw new UserError(err.message);
            throw err;
          }
        } else {
          // The simulated world knows every tenant; Microsoft's service is asked only for the configured ones.
          if (context.config.backend === 'simulated' && !(await (await context.controlPlane()).getTenant(opts.targetTenant))) {
            throw new UserError(`target tenant '${opts.targetTenant}' does not exist`);
          }
          const tenants = (await service.tenantsOf(context.actor())).filter((id) => id !== opts.targetTenant);
          sourceTenantId = tenants[tenants.length - 1];
          if (!sourceTenantId) throw new UserError('cannot tell the source tenant: pass --environment <id>');
        }
        directory = createDirectoryChecker(service.directory, sourceTenantId, opts.targetTenant);
      }
      const printer = runtime.printer();
      // On a terminal, rows, rate and errors so far while a large file is read; nothing in a pipe or with --json.
      const progress = progressLine(printer.json);
      const started = Date.now();
      const result = await validateMappingFile(opts.file, {
        directory,
        onProgress: (p) =>
          progress.show(p.phase === 'duplicates' ? `spelling out duplicates: line ${(p.line ?? 0).toLocaleString('en-US')} of ${p.rowsValidated.toLocaleString('en-US')} rows · ${p.errors.toLocaleString('en-US')} errors so far` : rowsProgress(p.rowsValidated, p.errors, Date.now() - started, p.bytesRead)),
      }).finally(() => progress.done());
      printer.document({ rows: result.rows, errors: result.errors });
      if (result.errors.length === 0) {
        printer.line(`${opts.file}: ${count(result.rows, 'row')}, no errors${opts.targetTenant ? ' (directory checks included)' : ''}.`);
        return;
      }
      runtime.setExitCode(1);
      if (result.binaryAt !== undefined) {
        // An image or an archive is not a mapping file gone wrong: what it is says more than Microsoft's invalid-file text.
        printer.line(invalidFileHints.binary(result.binaryAt));
        return;
      }
      printer.line(`${opts.file}: ${count(result.rows, 'row')}, ${count(result.errors.length, 'error')}:`);
      printer.list(
        result.errors.map((e) => `  line ${e.line}: ${e.error}`),
        (hidden) => `  and ${hidden} more: use --json for all of them`,
      );
    });
}

const count = (n: number, noun: string) => `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;
