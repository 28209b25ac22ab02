// rehearse — the runbook's first step (docs/runbook.md): the whole migrate on a
// copy of the environment, before booking the cutover.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { CommandRuntime } from '../cli';
import type { Printer } from '../output';
import type { RehearsalRun } from '../rehearsals';
import { UserError } from '../user-error';
import { formatMs } from '../../workflows/details';

export function registerRehearsalCommands(program: Command, runtime: CommandRuntime): void {
  program
    .command('rehearse')
    .description('run the whole migrate on a copy of the environment, without approvals, and print what the real run would do and how long its cutover takes (source admin)')
    .requiredOption('--environment <id>', 'the environment to rehearse the move of')
    .requiredOption('--target-tenant <id>', 'the tenant it would move to')
    .requiredOption('--file <path>', 'the local usermapping.csv')
    .action(async (opts: { environment: string; targetTenant: string; file: string }) => {
      const { RehearsalClient, cannotRehearse } = await import('../rehearsals');
      const context = runtime.context();
      const service = await context.service();
      // Said before anything else is reached: a back end that cannot copy has nothing to rehearse on.
      if (!service.canCopyEnvironments) throw new UserError(cannotRehearse(service.backend));
      const printer = runtime.printer();
      const rehearsals = new RehearsalClient({
        client: await context.client(),
        service,
        taskQueue: context.config.taskQueue,
        ...(service.canCopyEnvironments ? { controlPlane: await context.controlPlane() } : {}),
      });
      const started = (workflowId: string) => printer.line(`Rehearsal ${workflowId} started on a copy of ${opts.environment}; follow it in the Web UI.`);
      let run: RehearsalRun;
      if (context.config.signIn.auth === 'on') {
        // Sign-in on (the default): the gateway checks, signs and starts it as the signed-in admin (gateway-actions.ts); its report is read here.
        const { checkMappingFile } = await import('../rehearsals');
        checkMappingFile(opts.file);
        const { gatewayRehearse } = await import('../gateway-actions');
        const mapping = readFileSync(opts.file, 'utf8');
        const gateway = await gatewayRehearse(context.config, program.opts().as ?? runtime.env.T2T_ADMIN, { environmentId: opts.environment, targetTenantId: opts.targetTenant, mapping });
        started(gateway.workflowId);
        run = await rehearsals.follow(gateway.workflowId, gateway.storage, gateway.leftoversRemoved);
      } else {
        run = await rehearsals.rehearse({ environmentId: opts.environment, targetTenantId: opts.targetTenant, actor: context.actor(), file: opts.file }, started);
      }
      printer.document(rehearsalDocument(run));
      printRehearsal(printer, run);
      if (run.report.outcome !== 'Succeeded') runtime.setExitCode(1);
    });
}

function rehearsalDocument(run: RehearsalRun): Record<string, unknown> {
  return { workflowId: run.workflowId, ...run.report, people: run.people ?? null, leftoversRemoved: run.leftoversRemoved };
}

function printRehearsal(printer: Printer, run: RehearsalRun): void {
  const r = run.report;
  printer.line(`Rehearsal ${run.workflowId} · ${r.environmentName ?? r.environmentId} (${r.environmentId}) → ${r.targetTenantId}: ${r.outcome}`);
  if (r.reason) printer.line(`  ${r.reason}`);
  if (r.copyEnvironmentId) printer.line(`  Ran on the copy ${r.copyEnvironmentId}${r.copyRemoved ? ', removed afterwards' : ' (NOT removed: remove it with a new rehearsal or world load)'}; the original was not touched.`);
  for (const removed of run.leftoversRemoved) printer.line(`  Removed a copy left by a terminated rehearsal: ${removed}`);
  if (r.validation) printer.line(`  Validation: ${r.validation.rows} rows, ${r.validation.errors} errors`);
  for (const finding of r.findings) printer.line(`  ! ${finding}`);
  const s = r.summary;
  const people = run.people;
  if (s) {
    printer.line(`  Users re-mapped: ${s.usersRemapped}; left behind (not in the mapping, not migrated): ${s.unmappedUsers}`);
    if (people && people.unmappedUsers.length > 0) {
      printer.list(people.unmappedUsers.map((upn) => `    left behind: ${upn}`), (hidden) => `    and ${hidden} more (--json lists them all)`);
    }
    printer.line(`  Mailboxes configured: ${s.mailboxesConfigured}; to reconfigure: ${s.mailboxesToReconfigure}; onmicrosoft.com addresses rewritten: ${s.onmicrosoftAddressesRewritten}`);
    if (people && people.mailboxesToReconfigure.length > 0) {
      printer.list(people.mailboxesToReconfigure.map((upn) => `    mailbox to reconfigure: ${upn}`), (hidden) => `    and ${hidden} more (--json lists them all)`);
    }
    for (const rewrite of people?.onmicrosoftAddressesRewritten ?? []) printer.line(`    address rewritten (reconfigure): ${rewrite.from} → ${rewrite.to}`);
  }
  if (r.warnings.length > 0) {
    printer.line('  Before you migrate:');
    for (const w of r.warnings) printer.line(`   ! ${w.component}: ${w.message} — ${w.action}`);
  }
  if (s && s.checklist.length > 0) {
    printer.line('  Post-migration checklist:');
    for (const item of s.checklist) {
      printer.line(`   - ${item.title}`);
      for (const d of item.details) printer.line(`       ${d}`);
    }
  }
  if (r.steps.length > 0) {
    printer.line('  Steps (* = the real cutover runs it):');
    const width = Math.max(...r.steps.map((step) => step.title.length));
    for (const step of r.steps) printer.line(`   ${step.cutover ? '*' : ' '} ${step.title.padEnd(width)}  ${formatMs(step.ms)}`);
  }
  if (r.cutoverMs !== undefined) {
    printer.line(`  Cutover: ${formatMs(r.cutoverMs)} on this copy (eligibility and validation again, then migrate); book a maintenance window with room to spare.`);
  }
}
