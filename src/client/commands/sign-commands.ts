// t2t sign <action>: the gateway's signed payload for an action, printed for any
// Temporal client to send as the signal or Update of that name (SPEC §7), e.g.
//   temporal workflow signal --workflow-id <id> --name approve --input "$(t2t sign approve --migration-id <id>)"
// The payload's actor is the signed-in admin; the proof is the gateway's.
import { randomUUID } from 'node:crypto';
import { Command, Option } from 'commander';
import type { CommandRuntime } from '../cli';
import { UserError } from '../user-error';

const ACTIONS = ['approve', 'deny', 'approveLockbox', 'prepare', 'migrate', 'cancel'] as const;

export function registerSignCommands(program: Command, runtime: CommandRuntime, env: NodeJS.ProcessEnv = process.env): void {
  program
    .command('sign')
    .description('print a payload signed by the action gateway, for any Temporal client to send (signal or Update of the same name)')
    .addArgument(program.createArgument('<action>', `one of ${ACTIONS.join(', ')}`).choices(ACTIONS))
    .requiredOption('--migration-id <id>', 'the migration (the workflow id the signal goes to)')
    .addOption(new Option('--reason <text>', 'deny, cancel: the reason'))
    .addOption(new Option('--target-tenant <id>', 'prepare, migrate: the target tenant'))
    .addOption(new Option('--mapping-container <uri>', 'prepare: the mapping container'))
    .action(async (action: (typeof ACTIONS)[number], options: { migrationId: string; reason?: string; targetTenant?: string; mappingContainer?: string }) => {
      const { loadConfig } = await import('../../config');
      const config = loadConfig(env);
      const { currentSignIn } = await import('../../identity/sign-in');
      const who = await currentSignIn(config.signIn).catch((err: unknown) => {
        throw new UserError((err as Error).message);
      });
      if ((action === 'prepare' || action === 'migrate') && !options.targetTenant) throw new UserError(`sign ${action}: --target-tenant is required`);
      if (action === 'prepare' && !options.mappingContainer) throw new UserError('sign prepare: --mapping-container is required');
      const payload: Record<string, unknown> = {
        actor: who.user,
        requestId: randomUUID(),
        ...(options.reason !== undefined ? { reason: options.reason } : {}),
        ...(options.targetTenant ? { targetTenantId: options.targetTenant } : {}),
        ...(options.mappingContainer ? { mappingContainer: options.mappingContainer } : {}),
      };
      let res: Response;
      try {
        res = await fetch(`http://${config.signIn.gatewayAddress}/v1/proofs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${who.accessToken}` },
          body: JSON.stringify({ action, migrationId: options.migrationId, payload }),
        });
      } catch {
        throw new UserError(`cannot reach the action gateway at ${config.signIn.gatewayAddress}: is the stack running? (npm start)`);
      }
      const answer = (await res.json().catch(() => ({}))) as { proof?: unknown; error?: string };
      if (!res.ok || !answer.proof) throw new UserError(`the action gateway refused: ${answer.error ?? `status ${res.status}`}`);
      // Always one JSON document: this output is meant for another program.
      const printer = runtime.printer();
      if (printer.json) printer.document({ ...payload, proof: answer.proof });
      else printer.line(JSON.stringify({ ...payload, proof: answer.proof }));
    });
}
