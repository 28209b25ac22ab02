#!/usr/bin/env node
// `t2t`: one subcommand per admin action, mirroring the article's PowerShell
// commands (SPEC §7). Every failure is one clear line and a non-zero exit.
//
// Startup is kept to what the command in hand uses: this module and the command
// definitions load commander and nothing heavy, so `t2t --help` answers in about
// the time Node takes to start; a command line that names a command defines only
// that command's module; each action imports its libraries (the Temporal client,
// the storage SDK, the database drivers) when it runs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { CommandContext } from './context';
import { createPrinter, Printer } from './output';

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

type Register = (program: Command, runtime: CommandRuntime, env: NodeJS.ProcessEnv) => void;

/* eslint-disable @typescript-eslint/no-require-imports */
/**
 * Every command module, in the order `t2t --help` lists them, with the top-level commands (and
 * aliases) it defines: a command line that names one of them loads and defines only that module
 * (a test holds each list to what its module defines); anything else — help, a misspelling,
 * `completion`, which describes them all — loads them all.
 */
export const COMMAND_MODULES: { commands: string[]; describesAll?: true; register: () => Register }[] = [
  { commands: ['world'], register: () => (require('./commands/world-commands') as typeof import('./commands/world-commands')).registerWorldCommands },
  {
    commands: ['submit', 'requests', 'approvals', 'approve', 'deny', 'lockbox', 'prepare', 'status', 'migrate', 'cancel', 'delete'],
    register: () => (require('./commands/migration-commands') as typeof import('./commands/migration-commands')).registerMigrationCommands,
  },
  { commands: ['storage', 'upload', 'errors'], register: () => (require('./commands/storage-commands') as typeof import('./commands/storage-commands')).registerStorageCommands },
  { commands: ['mapping'], register: () => (require('./commands/mapping-commands') as typeof import('./commands/mapping-commands')).registerMappingCommands },
  { commands: ['demo'], register: () => (require('./commands/demo-command') as typeof import('./commands/demo-command')).registerDemoCommand },
  { commands: ['batch'], register: () => (require('./commands/batch-commands') as typeof import('./commands/batch-commands')).registerBatchCommands },
  { commands: ['rehearse'], register: () => (require('./commands/rehearsal-commands') as typeof import('./commands/rehearsal-commands')).registerRehearsalCommands },
  { commands: ['moveback'], register: () => (require('./commands/moveback-commands') as typeof import('./commands/moveback-commands')).registerMoveBackCommands },
  { commands: ['notify'], register: () => (require('./commands/notify-commands') as typeof import('./commands/notify-commands')).registerNotifyCommands },
  { commands: ['evidence'], register: () => (require('./commands/evidence-commands') as typeof import('./commands/evidence-commands')).registerEvidenceCommands },
  { commands: ['stats'], register: () => (require('./commands/stats-commands') as typeof import('./commands/stats-commands')).registerStatsCommands },
  { commands: ['completion'], describesAll: true, register: () => (require('./commands/completion-command') as typeof import('./commands/completion-command')).registerCompletionCommand },
  { commands: ['login', 'whoami', 'logout'], register: () => (require('./commands/identity-commands') as typeof import('./commands/identity-commands')).registerIdentityCommands },
  { commands: ['sign'], register: () => (require('./commands/sign-commands') as typeof import('./commands/sign-commands')).registerSignCommands },
];
/* eslint-enable @typescript-eslint/no-require-imports */

/** The top-level command a command line names (after the global options), if any. */
export function commandNamed(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i += 1) {
    const word = argv[i];
    if (word === '--') return argv[i + 1];
    if (word === '--as') i += 1;
    else if (!word.startsWith('-')) return word;
  }
  return undefined;
}

export interface CommandRuntime {
  context: () => CommandContext;
  printer: () => Printer;
  /** the environment the command reads its settings from */
  env: NodeJS.ProcessEnv;
  /** a result that is not a success (validation failed, errors found): exit 1 after printing */
  setExitCode: (code: number) => void;
}

/** The program; with `argv`, only the command module that command line names (all of them when it names none). */
export function buildProgram(runtime: { out?: (s: string) => void; env?: NodeJS.ProcessEnv; argv?: readonly string[] } = {}): { program: Command; finish: () => Promise<void>; exitCode: () => number } {
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
  const named = runtime.argv && commandNamed(runtime.argv);
  const owner = named === undefined ? undefined : COMMAND_MODULES.find((module) => module.commands.includes(named));
  for (const module of owner && !owner.describesAll ? [owner] : COMMAND_MODULES) module.register()(program, shared, runtime.env ?? process.env);
  return { program, finish: async () => context?.close(), exitCode: () => exitCode };
}

/** Exit codes: 0 done, 1 refused or failed, 2 usage error. */
export async function runCli(argv: string[], runtime: { out?: (s: string) => void; err?: (s: string) => void; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  const err = runtime.err ?? ((s: string) => process.stderr.write(s));
  const { program, finish, exitCode } = buildProgram({ ...runtime, argv });
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
