// moveback — the runbook's way back (docs/runbook.md): after a migration has
// succeeded, the reverse migration with the inverse user mapping, for review.
import { Command } from 'commander';
import type { CommandRuntime } from '../cli';
import { describeStatus, statusDocument } from '../output';

export function registerMoveBackCommands(program: Command, runtime: CommandRuntime): void {
  program
    .command('moveback')
    .description('after a migration has succeeded, open the reverse migration with the inverse user mapping, uploaded for review (admin of the tenant that holds the environment now)')
    .requiredOption('--migration-id <id>', 'the migration to reverse (its source or target migration id)')
    .option('--out <file>', 'also write the inverse usermapping.csv here, to review it before the approval')
    .action(async (opts: { migrationId: string; out?: string }) => {
      const { openMoveBack } = await import('../movebacks');
      const context = runtime.context();
      const service = await context.service();
      // Sign-in on (the default): the reverse migration's submit goes through the action gateway, signed with the migration it reverses.
      const signed = context.config.signIn.auth === 'on';
      const as = program.opts().as ?? runtime.env.T2T_ADMIN;
      const gateway = signed ? await import('../gateway-actions') : undefined;
      const moveBack = await openMoveBack(
        {
          client: await context.client(),
          migrations: await context.migrations(),
          service,
          ...(context.config.backend === 'simulated' ? { controlPlane: await context.controlPlane() } : {}),
          ...(gateway
            ? { submit: ({ environmentId, targetTenantId, reversesMigrationId }) => gateway.gatewaySubmit(context.config, as, { environmentId, targetTenantId, reversesMigrationId }) }
            : {}),
        },
        { migrationId: opts.migrationId, actor: signed ? '' : context.actor(), ...(opts.out ? { out: opts.out } : {}) },
      );
      const { reverse } = moveBack;
      const printer = runtime.printer();
      printer.document(statusDocument(reverse, {
        reversesMigrationId: moveBack.original.migrationId,
        mappingRows: moveBack.rows,
        skippedUsers: moveBack.skipped,
        containerUri: moveBack.containerUri,
        mappingUrl: moveBack.mappingUrl,
        file: moveBack.file ?? null,
      }));
      printer.line(`Move-back of migration ${moveBack.original.migrationId} submitted. Source migration id: ${reverse.migrationId}`);
      printer.line(`Give the admin of ${reverse.targetTenantId} the target migration id: ${reverse.targetMigrationId}`);
      for (const line of describeStatus(reverse).slice(1)) printer.line(line);
      printer.line(`  Inverse user mapping: ${moveBack.rows} users, uploaded for review to ${moveBack.mappingUrl}`);
      if (moveBack.file) printer.line(`  A copy to review now: ${moveBack.file}`);
      if (moveBack.skipped.length > 0) {
        printer.line(`  Left out (their identity changed since the migration): ${moveBack.skipped.length}`);
        printer.list(moveBack.skipped.map((upn) => `    ${upn}`), (hidden) => `    and ${hidden} more (--json lists them all)`);
      }
      printer.line('  Next, as for any migration: approval by the other tenant\'s admin, then t2t storage --environment ' +
        `${reverse.environmentId} (its SAS URL reads and replaces the file), prepare with the container URI ${moveBack.containerUri}, and migrate within the window.`);
    });
}
