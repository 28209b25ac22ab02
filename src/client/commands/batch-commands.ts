// batch submit · batch status — many environments at once.
import { Command } from 'commander';
import type { CommandRuntime } from '../cli';
import { UserError } from '../user-error';
import type { BatchOutcome, BatchStatus } from '../../contracts';
import { describeClosure, type RunClosure } from '../run-closure';

export function registerBatchCommands(program: Command, runtime: CommandRuntime): void {
  const batch = program.command('batch').description('migrate many environments of a tenant at once');

  batch
    .command('submit')
    .description('submit every eligible environment of the source tenant (or those named); at most N migrate at once (source admin)')
    .requiredOption('--source-tenant <id>', 'the tenant the environments belong to')
    .requiredOption('--target-tenant <id>', 'the tenant to move them to')
    .option('--environment <id...>', 'only these environments')
    .option('--concurrency <n>', 'migrations migrating at once (those waiting for people count for none)', '5')
    .action(async (opts: { sourceTenant: string; targetTenant: string; environment?: string[]; concurrency: string }) => {
      const concurrency = Number(opts.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 100) throw new UserError('--concurrency must be a whole number from 1 to 100');
      const context = runtime.context();
      const request = { sourceTenantId: opts.sourceTenant, targetTenantId: opts.targetTenant, environmentIds: opts.environment, concurrency };
      // Sign-in on (the default): through the action gateway, which signs the batch's start (gateway-actions.ts).
      const submitted =
        context.config.signIn.auth === 'on'
          ? await (await import('../gateway-actions')).gatewayBatch(context.config, program.opts().as ?? runtime.env.T2T_ADMIN, request)
          : await (await import('../batch-submission')).submitBatch(
              { client: await context.client(), controlPlane: await context.controlPlane(), config: context.config },
              { ...request, actor: context.actor() },
            );
      const printer = runtime.printer();
      printer.document(submitted);
      printer.line(`Batch ${submitted.batchId}: ${submitted.environments.length} environments, at most ${concurrency} migrating at once.`);
      for (const e of submitted.environments) printer.line(`  ${e.environmentId}  source id ${e.migrationId}  target id ${e.targetMigrationId}`);
      for (const s of submitted.skipped) printer.line(`  skipped ${s.environmentId}: ${s.reason}`);
    });

  batch
    .command('status')
    .description('the outcome of each environment of a batch')
    .requiredOption('--batch-id <id>', 'the batch id')
    .action(async (opts: { batchId: string }) => {
      const [{ batchStatusQuery, batchWorkflowId }, { closuresOf }] = await Promise.all([import('../../contracts'), import('../closed-runs')]);
      const client = await runtime.context().client();
      let status: BatchStatus;
      try {
        status = await client.workflow.getHandle(batchWorkflowId(opts.batchId)).query(batchStatusQuery);
      } catch {
        throw new UserError(`no batch has the id '${opts.batchId}'`);
      }
      // A child closed without our code (terminate, timeout) keeps its last state in the batch until
      // the batch hears of it: say how it closed, as `t2t status` does.
      const unfinished = (o: BatchOutcome) => o.state !== 'ended' || o.phase === 'Terminated';
      const closures = await closuresOf(client, status.outcomes.filter(unfinished).map((o) => o.migrationId));
      const outcomes: (BatchOutcome & { closed?: RunClosure })[] = status.outcomes.map((o) => {
        const closed = unfinished(o) ? closures.get(o.migrationId) : undefined;
        if (!closed) return o;
        const phase = closed.how === 'failed' ? 'Failed' : 'Terminated';
        return { ...o, state: 'ended', phase, reason: `${describeClosure(closed)}${closed.whilePhase ? ` (while ${closed.whilePhase})` : ''}`, closed };
      });
      const printer = runtime.printer();
      printer.document({ ...status, outcomes });
      printer.line(`Batch ${status.batchId}: ${status.sourceTenantId} → ${status.targetTenantId}${status.done ? ' (done)' : ''}`);
      if (!status.done) printer.line(`  ${status.migrating} migrating (at most ${status.concurrency}), ${status.waitingForSlot} waiting for a migrate slot`);
      for (const o of outcomes) {
        const state = o.state === 'ended' ? o.phase : o.migrateSlot === 'held' ? 'migrating' : o.migrateSlot === 'queued' ? 'waiting for a migrate slot' : o.state;
        printer.line(`  ${o.environmentId.padEnd(24)} ${state}${o.reason ? ` — ${o.reason}` : ''}`);
      }
      const summary = Object.entries(status.summary).map(([phase, n]) => `${phase} ${n}`).join(', ');
      if (summary) printer.line(`  Summary: ${summary}`);
    });
}
