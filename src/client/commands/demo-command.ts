// demo — a complete guided migration on the demo world, against the running stack.
import { Command } from 'commander';
import { copyFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CommandRuntime } from '../cli';
import { projectRoot } from '../../temporal-binaries';
import { describeStatus } from '../output';
import { UserError } from '../user-error';
import { MAPPING_BLOB_NAME } from '../../storage/blob-names';
import type { ActionOutcome, SignalAction } from '../migrations';

export const DEMO = {
  environmentId: 'env-sales',
  sourceTenantId: 't-contoso',
  targetTenantId: 't-fabrikam',
  sourceAdmin: 'admin@contoso.com',
  targetAdmin: 'admin@fabrikam.com',
};

export function registerDemoCommand(program: Command, runtime: CommandRuntime): void {
  program
    .command('demo')
    .description('run a complete guided migration on the demo world against the running stack (reloads the demo world)')
    .option('--world <file>', 'the demo world', path.join(projectRoot(), 'examples', 'demo-world.json'))
    .option('--mapping <file>', 'the demo mapping file', path.join(projectRoot(), 'examples', 'usermapping.csv'))
    .action(async (opts: { world: string; mapping: string }) => {
      const [{ readWorldFile }, { migrationWorkflowId, statusQuery, isFinalPhase }, { migrationPeople }, { ContainerClient }] = await Promise.all([
        import('../../controlplane/world'),
        import('../../contracts'),
        import('../../migration/migration-people'),
        import('@azure/storage-blob'),
      ]);
      const context = runtime.context();
      const printer = runtime.printer();
      const step = (n: number, text: string) => printer.line(`\n[${n}] ${text}`);
      const ui = `http://localhost:${context.config.uiPort}/namespaces/${context.config.namespace}`;
      const migrations = await context.migrations();
      const client = await context.client();
      // Sign-in on (the default): each step goes through the action gateway as the demo's admin who
      // takes it, signed in at the sandbox's provider as `--as` does (gateway-actions.ts).
      const gateway = context.config.signIn.auth === 'on' ? await import('../gateway-actions') : undefined;
      const act = (admin: string, migrationId: string, action: SignalAction, payload: Record<string, unknown> = {}): Promise<ActionOutcome> =>
        gateway ? gateway.gatewayAct(context.config, admin, migrationId, action, payload) : migrations.act(migrationId, action, { ...payload, actor: admin });

      // An open demo migration from an earlier run would block a new submit.
      const existing = client.workflow.getHandle(migrationWorkflowId(DEMO.environmentId));
      try {
        const status = await existing.query(statusQuery);
        if (!isFinalPhase(status.phase)) {
          if (status.phase === 'Migrating') throw new UserError('a demo migration is running right now; wait for it (t2t status --watch)');
          await act(DEMO.sourceAdmin, status.migrationId, 'cancel', { reason: 'a new demo run' });
        }
      } catch (err) {
        if (err instanceof UserError) throw err;
      }

      step(1, `Load the demo world (${path.relative(process.cwd(), opts.world)})`);
      const world = await readWorldFile(opts.world);
      const controlPlane = await context.controlPlane();
      await controlPlane.loadWorld(world);
      printer.line(`    ${world.tenants.length} tenants, ${world.environments.length} environments`);

      step(2, `Source admin ${DEMO.sourceAdmin} submits ${DEMO.environmentId} → ${DEMO.targetTenantId}   (t2t submit)`);
      const request = { environmentId: DEMO.environmentId, targetTenantId: DEMO.targetTenantId };
      const submitted = gateway ? await gateway.gatewaySubmit(context.config, DEMO.sourceAdmin, request) : await migrations.submit({ ...request, actor: DEMO.sourceAdmin });
      if (submitted.phase === 'Failed') throw new UserError(`submit refused: ${submitted.reason}`);
      printer.line(`    source migration id ${submitted.migrationId}, target migration id ${submitted.targetMigrationId}`);
      printer.line(`    ${submitted.warnings.length} preparation warnings (see t2t status)`);
      printer.line(`    Web UI: ${ui}/workflows/${migrationWorkflowId(DEMO.environmentId)}`);

      step(3, `Target admin ${DEMO.targetAdmin} approves   (t2t approve)`);
      const approved = await act(DEMO.targetAdmin, submitted.targetMigrationId, 'approve');
      if (approved.entry.outcome === 'refused') throw new UserError(approved.entry.reason!);
      printer.line(`    phase ${approved.status.phase}`);

      step(4, 'Generate the resource storage and upload usermapping.csv with its SAS URL   (t2t upload --environment)');
      const storage = await act(DEMO.sourceAdmin, submitted.migrationId, 'requestStorage');
      if (storage.entry.outcome === 'refused') throw new UserError(storage.entry.reason!);
      const sasUrl = storage.status.storage!.sasUrl;
      const staged = path.join(mkdtempSync(path.join(os.tmpdir(), 't2t-demo-')), MAPPING_BLOB_NAME);
      copyFileSync(opts.mapping, staged);
      await new ContainerClient(sasUrl).getBlockBlobClient(MAPPING_BLOB_NAME).uploadFile(staged);
      printer.line(`    container ${storage.status.storage!.containerName}`);

      step(5, 'Prepare: validate the mapping   (t2t prepare)');
      const prepared = await act(DEMO.sourceAdmin, submitted.migrationId, 'prepare', {
        targetTenantId: DEMO.targetTenantId,
        mappingContainer: sasUrl.split('?')[0],
      });
      printer.line(`    ${prepared.status.status ?? prepared.entry.reason}`);
      if (prepared.status.phase !== 'Prepared') throw new UserError(`the demo mapping did not validate: ${prepared.status.status ?? prepared.entry.reason}`);
      printer.line(`    migrate before ${prepared.status.prepareDeadline}`);

      step(6, 'Migrate   (t2t migrate)');
      const migrating = await act(DEMO.sourceAdmin, submitted.migrationId, 'migrate', { targetTenantId: DEMO.targetTenantId });
      if (migrating.entry.outcome === 'refused') throw new UserError(migrating.entry.reason!);
      const final = await migrations.waitForStatus(await migrations.find(submitted.migrationId), (s) => isFinalPhase(s.phase), 600_000);
      const people = await migrationPeople(controlPlane, {
        migrationId: final.migrationId,
        environmentId: final.environmentId,
        sourceTenantId: final.sourceTenantId ?? DEMO.sourceTenantId,
        targetTenantId: final.targetTenantId,
      });
      for (const line of describeStatus(final, 'source', people)) printer.line(`    ${line}`);
      printer.document({ migrationId: final.migrationId, targetMigrationId: final.targetMigrationId, phase: final.phase, summary: final.summary });

      step(7, 'Look at it in the Web UI');
      printer.line(`    ${ui}/workflows?query=${encodeURIComponent("T2TPhase = 'Succeeded'")}`);
      printer.line(`    and the environment now: t2t world show --environment ${DEMO.environmentId}`);
      if (final.phase !== 'Succeeded') runtime.setExitCode(1);
    });
}
