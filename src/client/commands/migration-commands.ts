// submit · requests · approvals · approve · deny · lockbox approve · prepare ·
// status · migrate · cancel (alias delete)
import { Command } from 'commander';
import type { CommandRuntime } from '../cli';
import { describeStatus, describeWarnings, shownPeople, statusDocument } from '../output';
import { UserError } from '../user-error';
import type { SignalAction, ActionOutcome } from '../migrations';
import type { MigrationStatus, Phase } from '../../contracts';
import type { StalledMigration } from '../../operations/phase-times';
import { formatDuration } from '../../duration';

// The libraries behind these commands load when one of them runs, not with `t2t --help`.
const contracts = () => import('../../contracts');
const watching = () => import('../watch');

/** Phases in which the migration waits for a person: `--watch` stops there. */
const WAITING_FOR_PEOPLE: Phase[] = ['PendingApproval', 'PendingLockbox', 'Approved', 'ValidationFailed', 'Prepared', 'PreparationExpired'];

export function registerMigrationCommands(program: Command, runtime: CommandRuntime): void {
  const act = async (migrationId: string, action: SignalAction, payload: Record<string, unknown>): Promise<ActionOutcome> => {
    const context = runtime.context();
    // Sign-in on (the default): through the action gateway, as the signed-in admin (gateway-actions.ts).
    const acting = context.actingConfig();
    if (acting.signIn.auth === 'on') {
      const { gatewayAct } = await import('../gateway-actions');
      const signed = await gatewayAct(acting, program.opts().as ?? runtime.env.T2T_ADMIN, migrationId, action, payload);
      if (signed.entry.outcome === 'refused') throw new UserError(signed.entry.reason ?? `${action} refused`);
      return signed;
    }
    const actor = context.actor();
    // Sent through the lean reader (lean/); what it does not settle goes the Temporal client's way, with the same request id.
    const { leanAct } = await import('../lean/lean-action');
    const lean = await leanAct(context.connectionConfig, migrationId, action, { ...payload, actor }, runtime.env);
    const outcome =
      'outcome' in lean
        ? lean.outcome
        : await (await context.migrations()).act(migrationId, action, { ...payload, actor, ...(lean.requestId ? { requestId: lean.requestId } : {}) });
    if (outcome.entry.outcome === 'refused') throw new UserError(outcome.entry.reason ?? `${action} refused`);
    return outcome;
  };

  /** Prints a status; the lists of people are cut to a screenful each unless `full` (a migration may move 100,000 users). */
  const report = async (status: MigrationStatus, view: 'source' | 'target' = 'source', extra: Record<string, unknown> = {}, full = false) => {
    const printer = runtime.printer();
    const found = await peopleOf(status);
    const people = found && (full ? found : shownPeople(found));
    printer.document(statusDocument(status, extra, people));
    for (const line of describeStatus(status, view, people)) printer.line(line);
  };

  /** After a migration, the names behind the summary's counts, from the control plane. */
  const peopleOf = async (status: MigrationStatus) => {
    // Only the simulated back end keeps who was re-mapped; Microsoft's service does not report it.
    if (!status.summary || !status.sourceTenantId || (status.backend ?? 'simulated') !== 'simulated') return undefined;
    const { migrationPeople } = await import('../../migration/migration-people');
    return migrationPeople(await runtime.context().controlPlane(), {
      migrationId: status.migrationId,
      environmentId: status.environmentId,
      sourceTenantId: status.sourceTenantId,
      targetTenantId: status.targetTenantId,
    });
  };

  program
    .command('submit')
    .description('submit a migration request (source admin)')
    .requiredOption('--environment <id>', 'the environment to move')
    .requiredOption('--target-tenant <id>', 'the tenant to move it to')
    .action(async (opts: { environment: string; targetTenant: string }) => {
      const context = runtime.context();
      const request = { environmentId: opts.environment, targetTenantId: opts.targetTenant };
      const status =
        context.config.signIn.auth === 'on'
          ? await (await import('../gateway-actions')).gatewaySubmit(context.config, program.opts().as ?? runtime.env.T2T_ADMIN, request)
          : await (await context.migrations()).submit({ ...request, actor: context.actor() });
      if (status.phase === 'Failed') throw new UserError(`submit refused: ${status.reason}`);
      const printer = runtime.printer();
      printer.document(statusDocument(status));
      printer.line(`Submitted. Source migration id: ${status.migrationId}`);
      printer.line(`Give the target tenant admin the target migration id: ${status.targetMigrationId}`);
      for (const line of describeStatus(status).slice(1)) printer.line(line);
      for (const line of describeWarnings(status)) printer.line(line);
    });

  for (const [name, view, description] of [
    ['requests', 'source', "migrations of the acting admin's tenant, as source (source admin's view)"],
    ['approvals', 'target', "migrations into the acting admin's tenant, awaiting or past approval (target admin's view)"],
  ] as const) {
    program
      .command(name)
      .description(description)
      .option('--all', 'include ended migrations')
      .action(async (opts: { all?: boolean }) => {
        const context = runtime.context();
        // The settings the list reads, read first: a mistake in them is the first line.
        const config = context.listingConfig();
        const actor = context.actor();
        // The control plane read without its query builder (lean/) where it can be; the migration service otherwise.
        const { LeanControlPlane } = await import('../lean/lean-control-plane');
        const controlPlane = LeanControlPlane.open(config);
        const tenants = controlPlane?.tenantsOf(actor) ?? (await (await context.service()).tenantsOf(actor));
        const phaseChanges = controlPlane?.phaseChanges();
        controlPlane?.close();
        if (tenants.length === 0) throw new UserError(`${actor} is not a user of any tenant the control plane knows`);
        const filter = view === 'source' ? { sourceTenantIds: tenants } : { targetTenantIds: tenants };
        const [{ isFinalPhase, phaseOfUnfinishedRun }, { stalledById }, { migrationListQuery }, { leanList }] = await Promise.all([
          contracts(),
          import('../../operations/stalls'),
          import('../status-reader'),
          import('../lean/lean-status'),
        ]);
        // The list reads through the lean reader (lean/); the Temporal client where it does not apply.
        const query = migrationListQuery(filter);
        const listed = async () => (query ? ((await leanList(config, query, runtime.env)) ?? (await context.migrations()).listRuns(filter)) : []);
        const [executions, stalled] = await Promise.all([listed(), stalledById(config, Date.now(), phaseChanges)]);
        const rows: Record<string, unknown>[] = [];
        for (const execution of executions) {
          // A run closed without our code ending it keeps the phase it stopped in: say how it closed instead.
          const phase = phaseOfUnfinishedRun(execution.statusName) ?? (execution.keyword('T2TPhase') as Phase | undefined);
          if (!opts.all && phase && isFinalPhase(phase)) continue;
          const get = (n: string) => execution.keyword(n);
          rows.push({
            migrationId: view === 'source' ? get('T2TSourceMigrationId') : get('T2TTargetMigrationId'),
            environmentId: get('T2TEnvironmentId'),
            environmentName: (execution.memo?.environmentName as string | undefined) ?? null,
            sourceTenantId: get('T2TSourceTenantId'),
            targetTenantId: get('T2TTargetTenantId'),
            phase: phase ?? null,
            startedAt: execution.startTime.toISOString(),
            stalled: stalled.get(get('T2TSourceMigrationId') ?? '') ?? null,
          });
        }
        const printer = runtime.printer();
        printer.document({ migrations: rows });
        if (rows.length === 0) printer.line(opts.all ? 'No migrations.' : 'No open migrations (use --all to include ended ones).');
        for (const r of rows) {
          const stall = r.stalled as StalledMigration | null;
          const mark = stall ? `  STALLED: ${formatDuration(Math.max(1_000, Math.round(stall.elapsedMs / 1_000) * 1_000))} in ${stall.phase} (usually under ${formatDuration(stall.thresholdMs)})` : '';
          printer.line(`${r.migrationId}  ${String(r.phase).padEnd(18)} ${r.environmentId} (${r.environmentName ?? ''})  ${r.sourceTenantId} → ${r.targetTenantId}${mark}`);
        }
      });
  }

  program
    .command('approve')
    .description('approve a migration request (target admin)')
    .requiredOption('--migration-id <id>', 'the target migration id')
    .action(async (opts: { migrationId: string }) => {
      const { status } = await act(opts.migrationId, 'approve', {});
      await report(status, 'target');
    });

  program
    .command('deny')
    .description('deny a migration request (target admin)')
    .requiredOption('--migration-id <id>', 'the target migration id')
    .requiredOption('--reason <text>', 'why, kept with the migration')
    .action(async (opts: { migrationId: string; reason: string }) => {
      const { status } = await act(opts.migrationId, 'deny', { reason: opts.reason });
      await report(status, 'target');
    });

  program
    .command('lockbox')
    .description('Customer Lockbox requests')
    .command('approve')
    .description('approve the lockbox request of a migration (lockbox approver of the source tenant)')
    .requiredOption('--migration-id <id>', 'the migration id')
    .action(async (opts: { migrationId: string }) => {
      const { status } = await act(opts.migrationId, 'approveLockbox', {});
      await report(status);
    });

  program
    .command('prepare')
    .description('validate the uploaded user mapping and open the seven-day window (source admin)')
    .requiredOption('--migration-id <id>', 'the source migration id')
    .requiredOption('--target-tenant <id>', 'the target tenant id')
    .requiredOption('--mapping-container <uri>', 'the container SAS URI, up to the container name (the query part may be left out)')
    .option('--guest-admin <email>', "a guest admin of the target tenant, for Microsoft's service (GuestAdminUserEmail)")
    .action(async (opts: { migrationId: string; targetTenant: string; mappingContainer: string; guestAdmin?: string }) => {
      const { status } = await act(opts.migrationId, 'prepare', { targetTenantId: opts.targetTenant, mappingContainer: opts.mappingContainer, ...guestAdminOf(opts) });
      await report(status);
      if (status.phase !== 'Prepared') runtime.setExitCode(1);
    });

  program
    .command('status')
    .description('where a migration stands (source or target migration id)')
    .requiredOption('--migration-id <id>', 'the source or target migration id')
    .option('--watch', 'follow the migration until it settles or waits for a person')
    .option('--full', 'every user in the lists of people, not the first 20 of each')
    .action(async (opts: { migrationId: string; watch?: boolean; full?: boolean }) => {
      const context = runtime.context();
      if (!opts.watch) {
        // A plain read needs neither the Temporal client nor its reflection of the whole API (lean/).
        const { leanStatus } = await import('../lean/lean-status');
        const status = await leanStatus(context.connectionConfig, opts.migrationId, runtime.env);
        if (status) return report(status, status.targetMigrationId === opts.migrationId ? 'target' : 'source', {}, Boolean(opts.full));
      }
      const [migrations, { isFinalPhase }, { watchMigration }] = await Promise.all([context.migrations(), contracts(), watching()]);
      const handle = await migrations.find(opts.migrationId);
      // statusOf, not the bare query: a terminated run's own state shows the phase it stopped in for ever.
      let status = await migrations.statusOf(handle);
      const view = status.targetMigrationId === opts.migrationId ? 'target' : 'source';
      if (opts.watch && !runtime.printer().json) {
        status = await watchMigration(migrations, handle, (s) => isFinalPhase(s.phase) || WAITING_FOR_PEOPLE.includes(s.phase));
      } else if (opts.watch) {
        status = await migrations.waitForStatus(handle, (s) => isFinalPhase(s.phase) || WAITING_FOR_PEOPLE.includes(s.phase), 24 * 3_600_000);
      }
      await report(await migrations.withReversal(status), view, {}, Boolean(opts.full));
    });

  program
    .command('migrate')
    .description('migrate the environment within the seven-day window, now or at a booked time (source admin)')
    .requiredOption('--migration-id <id>', 'the source migration id')
    .requiredOption('--target-tenant <id>', 'the target tenant id')
    .option('--at <time>', 'book the cutover for this time (ISO 8601, e.g. 2026-12-05T22:00:00Z) inside the window; again to move it')
    .option('--now', 'migrate now (also replaces a cutover you booked)')
    .option('--unschedule', 'clear the cutover you booked')
    .option('--no-wait', 'return once the migrate request is accepted')
    .option('--guest-admin <email>', "a guest admin of the target tenant, for Microsoft's service (GuestAdminUserEmail)")
    .action(async (opts: { migrationId: string; targetTenant: string; at?: string; now?: boolean; unschedule?: boolean; wait: boolean; guestAdmin?: string }) => {
      const chosen = [opts.at !== undefined && '--at', opts.now && '--now', opts.unschedule && '--unschedule'].filter(Boolean);
      if (chosen.length > 1) throw new UserError(`choose one of ${chosen.join(', ')}`);
      if (opts.at !== undefined) {
        const at = parseCutoverTime(opts.at);
        const { status } = await act(opts.migrationId, 'migrate', { targetTenantId: opts.targetTenant, at, ...guestAdminOf(opts) });
        runtime.printer().line(`Cutover booked for ${status.scheduledMigrateAt}: migrate starts then by itself (window closes ${status.prepareDeadline}).`);
        await report(status);
        return;
      }
      if (opts.unschedule) {
        const { status } = await act(opts.migrationId, 'migrate', { targetTenantId: opts.targetTenant, unschedule: true });
        runtime.printer().line('Booked cutover cleared.');
        await report(status);
        return;
      }
      const { status } = await act(opts.migrationId, 'migrate', { targetTenantId: opts.targetTenant, ...guestAdminOf(opts) });
      let final = status;
      if (opts.wait) {
        const [{ isFinalPhase }, { watchMigration }] = await Promise.all([contracts(), watching()]);
        const migrations = await runtime.context().migrations();
        const handle = await migrations.find(opts.migrationId);
        final = runtime.printer().json
          ? await migrations.waitForStatus(handle, (s) => isFinalPhase(s.phase), 24 * 3_600_000)
          : await watchMigration(migrations, handle, (s) => isFinalPhase(s.phase));
      }
      await report(final);
      if (final.phase === 'Failed') runtime.setExitCode(1);
    });

  program
    .command('cancel')
    .alias('delete')
    .description('cancel (delete) a migration request before migrate starts (source admin)')
    .requiredOption('--migration-id <id>', 'the source migration id')
    .option('--reason <text>', 'why')
    .action(async (opts: { migrationId: string; reason?: string }) => {
      const { status } = await act(opts.migrationId, 'cancel', opts.reason ? { reason: opts.reason } : {});
      await report(status);
    });
}

/** `--guest-admin`, checked here so that a typo is one line and nothing is sent. */
export function guestAdminOf(opts: { guestAdmin?: string }): { guestAdmin?: string } {
  if (opts.guestAdmin === undefined) return {};
  const email = opts.guestAdmin.trim();
  // Loaded here only: every other command of this module starts without the address rules.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { isEmail } = require('../../mapping/email') as typeof import('../../mapping/email');
  if (!isEmail(email)) throw new UserError(`--guest-admin '${opts.guestAdmin}' is not an email address (the guest admin's address in the target tenant, e.g. admin@fabrikam.com)`);
  return { guestAdmin: email };
}

/** An ISO 8601 time with a date and a time of day; one without a zone is refused rather than guessed. */
export function parseCutoverTime(text: string): string {
  const trimmed = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(trimmed) || Number.isNaN(Date.parse(trimmed))) {
    throw new UserError(`--at '${text}' is not an ISO 8601 time with its zone (e.g. 2026-12-05T22:00:00Z or 2026-12-05T23:00:00+01:00)`);
  }
  return new Date(Date.parse(trimmed)).toISOString();
}
