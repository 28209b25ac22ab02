// mapping check — the SPEC §4 checks on a local file, before any upload.
import { Command } from 'commander';
import type { CommandRuntime } from '../cli';
import { UserError } from '../migrations';
import { validateMappingFile } from '../../mapping/validator';
import { createDirectoryChecker } from '../../mapping/directory';

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
      let directory;
      if (opts.targetTenant) {
        const context = runtime.context();
        const controlPlane = await context.controlPlane();
        if (!(await controlPlane.getTenant(opts.targetTenant))) throw new UserError(`target tenant '${opts.targetTenant}' does not exist`);
        let sourceTenantId: string | undefined;
        if (opts.environment) {
          const environment = await controlPlane.getEnvironment(opts.environment);
          if (!environment) throw new UserError(`environment '${opts.environment}' does not exist`);
          sourceTenantId = environment.tenantId;
        } else {
          const actor = context.actor();
          for (const tenant of await controlPlane.listTenants()) {
            if (tenant.id !== opts.targetTenant && (await controlPlane.getTenantUser(tenant.id, actor))) sourceTenantId = tenant.id;
          }
          if (!sourceTenantId) throw new UserError('cannot tell the source tenant: pass --environment <id>');
        }
        directory = createDirectoryChecker(controlPlane, sourceTenantId, opts.targetTenant);
      }
      const result = await validateMappingFile(opts.file, { directory });
      const printer = runtime.printer();
      printer.document({ rows: result.rows, errors: result.errors });
      if (result.errors.length === 0) {
        printer.line(`${opts.file}: ${result.rows} rows, no errors${opts.targetTenant ? ' (directory checks included)' : ''}.`);
        return;
      }
      printer.line(`${opts.file}: ${result.rows} rows, ${result.errors.length} errors:`);
      for (const e of result.errors) printer.line(`  line ${e.line}: ${e.error}`);
      runtime.setExitCode(1);
    });
}
