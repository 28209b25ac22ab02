#!/usr/bin/env node
// `t2t`: one subcommand per admin action, mirroring the article's PowerShell
// commands (SPEC §7). Every failure is one clear line and a non-zero exit.
//
// Startup is kept to what the command in hand uses: this module and the command
// definitions load commander and nothing heavy, so `t2t --help` answers in about
// the time Node takes to start; each action imports its libraries (the Temporal
// client, the storage SDK, the database drivers) when it runs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { CommandContext } from './context';
import { createPrinter, Printer } from './output';
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
import { registerCompletionCommand } from './commands/completion-command';

/** The context's module (the Temporal client, the configuration), loaded by the first command that needs it. */
function loadContext(): typeof import('./context') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./context') as typeof import('./context');
}

/** The package's version, as npm installed it. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** One line for any error, without loading the configuration's schema on the way to a success. */
async function describeFailure(error: unknown): Promise<string> {
  const { describeError } = await import('../errors');
  return describeError(error);
}
import { registerIdentityCommands } from './commands/identity-commands';
import { registerSignCommands } from './commands/sign-commands';

export interface CommandRuntime {
  context: () => CommandContext;
  printer: () => Printer;
  /** the environment the command reads its settings from */
  env: NodeJS.ProcessEnv;
  /** a result that is not a success (validation failed, errors found): exit 1 after printing */
  setExitCode: (code: number) => void;
}

export function buildProgram(runtime: { out?: (s: string) => void; env?: NodeJS.ProcessEnv } = {}): { program: Command; finish: () => Promise<void>; exitCode: () => number } {
  const program = new Command('t2t')
    .description('Tenant-to-tenant migrations of Power Platform environments, on Temporal')
    .addOption(new Option('--as <upn>', 'the acting admin (or set T2T_ADMIN)'))
    .option('--json', 'print one machine-readable JSON document')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  let context: CommandContext | undefined;
  let exitCode = 0;
  const shared: CommandRuntime = {
    env: runtime.env ?? process.env,
    setExitCode: (code) => {
      exitCode = code;
    },
    context: () => (context ??= new (loadContext().CommandContext)(program.opts(), runtime.env ?? process.env)),
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
  registerCompletionCommand(program, shared);
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
    const message = await describeFailure(error);
    if (json) (runtime.out ?? ((s: string) => process.stdout.write(s)))(`${JSON.stringify({ error: message })}\n`);
    err(`t2t: ${message}\n`);
    return 1;
  } finally {
    await finish().catch(() => undefined);
  }
}

/**
 * Ends the process once everything written has reached its reader: a pipe to another program
 * (a socket, when that program is Node) takes output asynchronously, and exiting before it has
 * drained cuts a large document short.
 */
export function exitAfterOutput(code: number): void {
  let pending = 2;
  const done = () => {
    pending -= 1;
    if (pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then(exitAfterOutput, async (error) => {
    process.stderr.write(`t2t: ${await describeFailure(error)}\n`);
    exitAfterOutput(1);
  });
}
