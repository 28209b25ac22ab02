#!/usr/bin/env node
// `t2t`: one subcommand per admin action, mirroring the article's PowerShell
// commands (SPEC §7). Every failure is one clear line and a non-zero exit.
import { Command, CommanderError, Option } from 'commander';
import { CommandContext } from './context';
import { createPrinter, Printer } from './output';
import { describeError } from '../errors';
import { registerMigrationCommands } from './commands/migration-commands';
import { registerStorageCommands } from './commands/storage-commands';
import { registerWorldCommands } from './commands/world-commands';
import { registerMappingCommands } from './commands/mapping-commands';
import { registerDemoCommand } from './commands/demo-command';
import { registerBatchCommands } from './commands/batch-commands';
import { registerRehearsalCommands } from './commands/rehearsal-commands';
import { registerMoveBackCommands } from './commands/moveback-commands';
import { registerNotifyCommands } from './commands/notify-commands';
import { registerEvidenceCommands } from './commands/evidence-commands';
import { registerStatsCommands } from './commands/stats-commands';
import { registerIdentityCommands } from './commands/identity-commands';
import { registerSignCommands } from './commands/sign-commands';

export interface CommandRuntime {
  context: () => CommandContext;
  printer: () => Printer;
  /** a result that is not a success (validation failed, errors found): exit 1 after printing */
  setExitCode: (code: number) => void;
}

export function buildProgram(runtime: { out?: (s: string) => void; env?: NodeJS.ProcessEnv } = {}): { program: Command; finish: () => Promise<void>; exitCode: () => number } {
  const program = new Command('t2t')
    .description('Tenant-to-tenant migrations of Power Platform environments, on Temporal')
    .addOption(new Option('--as <upn>', 'the acting admin (or set T2T_ADMIN)'))
    .option('--json', 'print one machine-readable JSON document')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  let context: CommandContext | undefined;
  let exitCode = 0;
  const shared: CommandRuntime = {
    setExitCode: (code) => {
      exitCode = code;
    },
    context: () => (context ??= new CommandContext(program.opts(), runtime.env ?? process.env)),
    printer: () => createPrinter(Boolean(program.opts().json), runtime.out),
  };
  registerWorldCommands(program, shared);
  registerMigrationCommands(program, shared);
  registerStorageCommands(program, shared);
  registerMappingCommands(program, shared);
  registerDemoCommand(program, shared);
  registerBatchCommands(program, shared);
  registerRehearsalCommands(program, shared);
  registerMoveBackCommands(program, shared);
  registerNotifyCommands(program, shared);
  registerEvidenceCommands(program, shared);
  registerStatsCommands(program, shared);
  registerIdentityCommands(program, shared, runtime.env ?? process.env);
  registerSignCommands(program, shared, runtime.env ?? process.env);
  return { program, finish: async () => context?.close(), exitCode: () => exitCode };
}

/** Exit codes: 0 done, 1 refused or failed, 2 usage error. */
export async function runCli(argv: string[], runtime: { out?: (s: string) => void; err?: (s: string) => void; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  const err = runtime.err ?? ((s: string) => process.stderr.write(s));
  const { program, finish, exitCode } = buildProgram(runtime);
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode();
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0
      return error.exitCode === 0 ? 0 : 2;
    }
    const message = describeError(error);
    if (json) (runtime.out ?? ((s: string) => process.stdout.write(s)))(`${JSON.stringify({ error: message })}\n`);
    err(`t2t: ${message}\n`);
    return 1;
  } finally {
    await finish().catch(() => undefined);
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`t2t: ${describeError(error)}\n`);
      process.exit(1);
    },
  );
}
