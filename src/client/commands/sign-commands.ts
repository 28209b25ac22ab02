// t2t sign <action>: the gateway's signed payload for an action, printed for any
// Temporal client to send as the signal or Update of that name (SPEC §7), e.g.
//   temporal workflow signal --workflow-id <id> --name approve --input "$(t2t sign approve --migration-id <id>)"
// The payload's actor is the signed-in admin; the proof is the gateway's.
// `t2t sign submit` prints a whole signed start input instead, for
//   temporal workflow start --type tenantMigration --workflow-id t2t-<environment> --input "$(t2t sign submit …)"
// and `t2t sign rehearse` a rehearsal's (its mapping already in the rehearsal's container).
import { randomUUID } from 'node:crypto';
import { Command, Option } from 'commander';
import type { CommandRuntime } from '../cli';
import { UserError } from '../user-error';

const ACTIONS = ['submit', 'rehearse', 'approve', 'deny', 'approveLockbox', 'requestStorage', 'prepare', 'migrate', 'cancel'] as const;

export function registerSignCommands(program: Command, runtime: CommandRuntime, env: NodeJS.ProcessEnv = process.env): void {
  program
    .command('sign')
    .description('print a payload signed by the action gateway, for any Temporal client to send (signal or Update of the same name; submit: the start input)')
    .addArgument(program.createArgument('<action>', `one of ${ACTIONS.join(', ')}`).choices(ACTIONS))
    .addOption(new Option('--migration-id <id>', 'the migration (the workflow id the signal goes to); not for submit'))
    .addOption(new Option('--environment <id>', 'submit, rehearse: the environment to move'))
    .addOption(new Option('--file <path>', 'rehearse: the local usermapping.csv'))
    .addOption(new Option('--reason <text>', 'deny, cancel: the reason'))
    .addOption(new Option('--target-tenant <id>', 'submit, rehearse, prepare, migrate: the target tenant'))
    .addOption(new Option('--mapping-container <uri>', 'prepare: the mapping container'))
    .action(
      async (
        action: (typeof ACTIONS)[number],
        options: { migrationId?: string; environment?: string; file?: string; reason?: string; targetTenant?: string; mappingContainer?: string },
      ) => {
        const { loadConfig } = await import('../../config');
        const config = loadConfig(env);
        if (action === 'submit' && (!options.environment || !options.targetTenant)) throw new UserError('sign submit: --environment and --target-tenant are required');
        if (action === 'rehearse' && (!options.environment || !options.targetTenant || !options.file)) throw new UserError('sign rehearse: --environment, --target-tenant and --file are required');
        if (action !== 'submit' && action !== 'rehearse' && !options.migrationId) throw new UserError(`sign ${action}: --migration-id is required`);
        if ((action === 'prepare' || action === 'migrate') && !options.targetTenant) throw new UserError(`sign ${action}: --target-tenant is required`);
        if (action === 'prepare' && !options.mappingContainer) throw new UserError('sign prepare: --mapping-container is required');
        const { currentSignIn } = await import('../../identity/sign-in');
        const who = await currentSignIn(config.signIn).catch((err: unknown) => {
          throw new UserError((err as Error).message);
        });
        const { gatewayProof } = await import('../gateway-actions');
        const askForProof = (migrationId: string, payload: Record<string, unknown>): Promise<unknown> => gatewayProof(config, who.accessToken, { action, migrationId, payload });
        let document: Record<string, unknown>;
        if (action === 'submit') {
          // The input `t2t submit` would start, the signed-in admin its submitter; the proof covers submitProofPayload.
          const [{ migrationInputOf }, { submitProofPayload }, { migrationWorkflowId }] = await Promise.all([
            import('../migration-input'),
            import('../../identity/action-proof'),
            import('../../contracts'),
          ]);
          const input = migrationInputOf({ environmentId: options.environment!, targetTenantId: options.targetTenant!, submittedBy: who.user }, config);
          document = { ...input, proof: await askForProof(input.migrationId, submitProofPayload(input)) };
          // Only the input on stdout (it is meant for another program); the ids the start needs go to stderr.
          // With the search attributes `t2t submit` starts it with, but the source tenant's: only the control plane knows it.
          const attributes = { T2TPhase: 'Submitted', T2TEnvironmentId: input.environmentId, T2TTargetTenantId: input.targetTenantId, T2TSourceMigrationId: input.migrationId, T2TTargetMigrationId: input.targetMigrationId };
          process.stderr.write(
            `migration ${input.migrationId} (target migration id ${input.targetMigrationId}): start it with ` +
              `temporal workflow start --type tenantMigration --task-queue ${config.taskQueue} --workflow-id ${migrationWorkflowId(input.environmentId)} ` +
              Object.entries(attributes).map(([k, v]) => `--search-attribute '${k}=${JSON.stringify(v)}' `).join('') +
              `--input '<this input>'\n`,
          );
        } else if (action === 'rehearse') {
          // The rehearsal `t2t rehearse` would start (checked as it checks it, the mapping put in its container), the signed-in admin its requester.
          const [{ RehearsalClient, checkMappingFile }, { submitRehearsalProofPayload }, { createReadStream }] = await Promise.all([
            import('../rehearsals'),
            import('../../identity/action-proof'),
            import('node:fs'),
          ]);
          checkMappingFile(options.file!);
          const context = runtime.context();
          const service = await context.service();
          const rehearsals = new RehearsalClient({
            client: await context.client(),
            service,
            taskQueue: config.taskQueue,
            ...(service.canCopyEnvironments ? { controlPlane: await context.controlPlane() } : {}),
          });
          const plan = await rehearsals.plan({ environmentId: options.environment!, targetTenantId: options.targetTenant!, actor: who.user });
          await rehearsals.putMapping(plan, createReadStream(options.file!));
          document = { ...plan.input, proof: await askForProof(plan.input.rehearsalId, submitRehearsalProofPayload(plan.input)) };
          process.stderr.write(
            `rehearsal ${plan.input.rehearsalId}: start it with temporal workflow start --type rehearseMigration --task-queue ${config.taskQueue} --workflow-id ${plan.workflowId} --input '<this input>'\n`,
          );
        } else {
          const payload: Record<string, unknown> = {
            actor: who.user,
            requestId: randomUUID(),
            ...(options.reason !== undefined ? { reason: options.reason } : {}),
            ...(options.targetTenant ? { targetTenantId: options.targetTenant } : {}),
            ...(options.mappingContainer ? { mappingContainer: options.mappingContainer } : {}),
          };
          document = { ...payload, proof: await askForProof(options.migrationId!, payload) };
        }
        // Always one JSON document: this output is meant for another program.
        const printer = runtime.printer();
        if (printer.json) printer.document(document);
        else printer.line(JSON.stringify(document));
      },
    );
}
