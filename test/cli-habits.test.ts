// What people expect of a command-line tool, without a server: a version, shell
// completion, a start that loads only what the command uses, a long output that
// arrives whole through a pipe, and progress on a terminal only.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../src/temporal-binaries';
import { Command } from 'commander';
import { progressLine, rowsProgress, bytesProgress } from '../src/client/progress';
import { buildProgram, COMMAND_MODULES, commandNamed, type CommandRuntime } from '../src/client/cli';

const CLI = path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js');

function t2t(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; node?: string[] } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...(options.node ?? []), CLI, ...args], { cwd: options.cwd, env: { PATH: process.env.PATH ?? '', T2T_AUTH: 'off', ...options.env }, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('t2t habits', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-habits-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const run = await t2t([flag]);
      assert.equal(run.code, 0);
      assert.equal(run.stdout, `${version}\n`);
    }
  });

  describe('loads only what the command uses', () => {
    /** The packages a run loaded, from a preload that lists the module cache at exit. */
    async function packagesLoaded(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Set<string>> {
      const preload = path.join(dir, 'list-modules.js');
      const list = path.join(dir, `modules-${args.join('-').replace(/[^a-z]/gi, '')}.json`);
      writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(list)}, JSON.stringify(Object.keys(require.cache))));`);
      await t2t(args, { node: ['-r', preload], env, cwd: dir });
      const files = JSON.parse(readFileSync(list, 'utf8')) as string[];
      return new Set(files.flatMap((f) => {
        const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f);
        return m ? [m[1]] : [];
      }));
    }
    const HEAVY = ['@temporalio/client', '@temporalio/workflow', '@azure/storage-blob', '@azure/identity', 'kysely', 'better-sqlite3', 'pg', 'zod'];

    it('--help: commander and nothing else', async () => {
      assert.deepEqual([...(await packagesLoaded(['--help']))], ['commander']);
    });

    it('status: the Temporal client, never the storage SDK or a database driver', async () => {
      const loaded = await packagesLoaded(['status', '--migration-id', '0b8e2f4c-7d1a-4c8e-9f00-123456789abc'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
      assert.ok(loaded.has('@temporalio/client'), [...loaded].join(' '));
      for (const name of ['@azure/storage-blob', '@azure/identity', 'kysely', 'better-sqlite3', 'pg']) assert.ok(!loaded.has(name), `${name} loaded by status`);
    });

    it('an action with sign-in on and a cached token: neither the sign-in library nor zod nor the Temporal client; a gateway out of reach is one line', async () => {
      // A token cache as Microsoft's library writes it (MSAL's cache schema), with a token good for an hour.
      const cacheFile = path.join(dir, 'signed-in', 'token-cache.json');
      const jwt = (claims: Record<string, unknown>) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
      const [home, environment, realm, exp] = ['admin@fabrikam.com', 'localhost:8235', 't-fabrikam', String(Math.floor(Date.now() / 1000) + 3600)];
      const credential = { home_account_id: home, environment, client_id: 't2t-cli', realm };
      mkdirSync(path.dirname(cacheFile), { recursive: true, mode: 0o700 });
      writeFileSync(
        cacheFile,
        JSON.stringify({
          Account: { a: { home_account_id: home, environment, realm, username: home } },
          AccessToken: { t: { ...credential, credential_type: 'AccessToken', target: 'api://t2t/actions', token_type: 'Bearer', expires_on: exp, secret: jwt({ aud: 'api://t2t' }) } },
          IdToken: { i: { ...credential, credential_type: 'IdToken', secret: jwt({ iss: 'https://localhost:8235', tid: realm, preferred_username: home, oid: 'o-1' }) } },
        }),
        { mode: 0o600 },
      );
      const env = { T2T_AUTH: 'on', T2T_TOKEN_CACHE: cacheFile, T2T_GATEWAY_URL: 'http://127.0.0.1:1' };
      const run = await t2t(['approve', '--migration-id', '0b8e2f4c-7d1a-4c8e-9f00-123456789abc'], { env, cwd: dir });
      assert.equal(run.code, 1);
      assert.equal(run.stderr, 't2t: cannot reach the action gateway at http://127.0.0.1:1: is the stack running? (npm start)\n');
      const loaded = await packagesLoaded(['approve', '--migration-id', '0b8e2f4c-7d1a-4c8e-9f00-123456789abc'], env);
      for (const name of ['@azure/msal-node', 'zod', '@temporalio/client', 'jsonwebtoken']) assert.ok(!loaded.has(name), `${name} loaded by a signed-in approve`);
    });

    it('a command line that names a command defines only its module, which defines exactly the commands listed for it', () => {
      const runtime: CommandRuntime = { env: {}, context: () => assert.fail('no command runs'), printer: () => assert.fail('no command runs'), setExitCode: () => undefined };
      const names = (program: Command) => program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
      for (const module of COMMAND_MODULES) {
        const alone = new Command('t2t');
        module.register()(alone, runtime, {});
        assert.deepEqual(names(alone), module.commands);
      }
      const all = names(buildProgram().program);
      assert.deepEqual(all, COMMAND_MODULES.flatMap((m) => m.commands));
      assert.deepEqual(names(buildProgram({ argv: ['--as', 'a@contoso.com', '--json', 'status', '--migration-id', 'x'] }).program), COMMAND_MODULES.find((m) => m.commands.includes('status'))!.commands);
      for (const argv of [[], ['--help'], ['help', 'status'], ['statu'], ['completion', 'bash']]) assert.deepEqual(names(buildProgram({ argv }).program), all, argv.join(' '));
      assert.equal(commandNamed(['--as', 'approve', 'deny']), 'deny');
      assert.equal(commandNamed(['--as=approve', 'deny']), 'deny');
      assert.equal(commandNamed(['--json', '--', 'status']), 'status');
    });

    it('help for one command is the same with its module alone', () => {
      const help = (argv: string[]) => {
        const { program } = buildProgram({ argv });
        const status = program.commands.find((c) => c.name() === 'status')!;
        return status.helpInformation();
      };
      assert.equal(help(['status', '--help']), help([]));
    });

    it('mapping check without a tenant: no Temporal client, storage SDK or database', async () => {
      writeFileSync(path.join(dir, 'usermapping.csv'), 'Source,Destination\na@contoso.com,a@fabrikam.com\n');
      const loaded = await packagesLoaded(['mapping', 'check', '--file', 'usermapping.csv']);
      for (const name of HEAVY.filter((n) => n !== 'zod')) assert.ok(!loaded.has(name), `${name} loaded by mapping check`);
    });
  });

  describe('completion', () => {
    /** What bash offers at the end of `words`, with the script t2t printed loaded. */
    function bashOffers(words: string[]): string[] {
      const script = path.join(dir, 't2t.bash');
      const printed = spawnSync(process.execPath, [CLI, 'completion', 'bash'], { encoding: 'utf8' });
      assert.equal(printed.status, 0, printed.stderr);
      writeFileSync(script, printed.stdout);
      const array = words.map((w) => `'${w}'`).join(' ');
      const run = spawnSync('bash', ['--norc', '-c', `source ${script}; COMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}; _t2t_complete; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      return run.stdout.split('\n').filter(Boolean);
    }

    it('bash: commands, subcommands and options, past global options and their values', function () {
      if (spawnSync('bash', ['--version']).status !== 0) this.skip();
      assert.deepEqual(bashOffers(['t2t', 'st']).sort(), ['stats', 'status', 'storage']);
      assert.deepEqual(bashOffers(['t2t', '--as', 'admin@contoso.com', 'lockbox', '']), ['approve', '--help', '-h']);
      const statusOptions = bashOffers(['t2t', 'status', '--']);
      for (const option of ['--migration-id', '--watch', '--full', '--help']) assert.ok(statusOptions.includes(option), statusOptions.join(' '));
      assert.deepEqual(bashOffers(['t2t', 'status', '--migration-id', '']), [], 'a value is the admin\'s to type');
      assert.ok(bashOffers(['t2t', 'batch', '']).includes('status'));
      assert.ok(bashOffers(['t2t', '']).includes('completion'));
    });

    it('zsh runs the bash script through bashcompinit; fish gets its own', async () => {
      const zsh = await t2t(['completion', 'zsh']);
      assert.equal(zsh.code, 0);
      assert.match(zsh.stdout, /^#compdef t2t\nautoload -U \+X bashcompinit && bashcompinit\n/);
      assert.match(zsh.stdout, /complete -o default -F _t2t_complete t2t/);
      const fish = await t2t(['completion', 'fish']);
      assert.equal(fish.code, 0);
      assert.match(fish.stdout, /^complete -c t2t -n '__fish_use_subcommand' -a 'status' -d 'where a migration stands/m);
      assert.match(fish.stdout, /^complete -c t2t -n '__fish_seen_subcommand_from lockbox; and not __fish_seen_subcommand_from approve' -a 'approve'/m);
      assert.match(fish.stdout, /^complete -c t2t -l json -d /m);
      if (spawnSync('fish', ['--version']).status === 0) {
        const checked = spawnSync('fish', ['--no-execute', '-c', fish.stdout]);
        assert.equal(checked.status, 0, String(checked.stderr));
      }
    });

    it('an unknown shell: one line, exit 1', async () => {
      const run = await t2t(['completion', 'powershell']);
      assert.equal(run.code, 1);
      assert.equal(run.stderr, "t2t: completion: no script for 'powershell' (choose bash, zsh, fish)\n");
    });
  });

  it('a large --json document piped into another program arrives whole', async () => {
    // 60,000 malformed rows: one error each, several megabytes of JSON, far more than a pipe holds.
    const rows = 60_000;
    const lines = ['Source,Destination'];
    for (let i = 0; i < rows; i += 1) lines.push(`not-an-email-${i},u${i}@fabrikam.com`);
    writeFileSync(path.join(dir, 'usermapping.csv'), `${lines.join('\n')}\n`);
    const child = spawn(process.execPath, [CLI, 'mapping', 'check', '--file', 'usermapping.csv', '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    // A reader slower than the writer, as `jq` on a busy machine is: the output is still in flight when the command is done.
    child.stdout.pause();
    setTimeout(() => child.stdout.resume(), 1_000);
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 1, 'errors found: exit 1');
    const output = Buffer.concat(chunks).toString('utf8');
    assert.ok(output.length > 4 * 1024 * 1024, `${output.length} bytes`);
    const document = JSON.parse(output) as { rows: number; errors: unknown[] };
    assert.equal(document.rows, rows);
    assert.equal(document.errors.length, rows);
  });

  describe('progress', () => {
    const terminal = () => {
      let written = '';
      return { stream: { isTTY: true, columns: 100, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream, written: () => written };
    };

    it('on a terminal: one line rewritten in place with rows, rate and errors so far, cleared at the end', () => {
      const tty = terminal();
      const progress = progressLine(false, tty.stream);
      progress.show(rowsProgress(1_234_567, 12, 30_000, 40 * 1024 * 1024));
      progress.done();
      assert.equal(tty.written(), '\r\x1b[2K1,234,567 rows (40.0 MB) · 41,152 rows/s · 12 errors so far\r\x1b[2K');
      assert.equal(bytesProgress(12 * 1024 * 1024, 40 * 1024 * 1024, 1_500), '12.0 MB of 40.0 MB (30%) · 8.0 MB/s');
    });

    it('nothing with --json, nothing when not a terminal', () => {
      const tty = terminal();
      const json = progressLine(true, tty.stream);
      json.show('x');
      json.done();
      const pipe = { isTTY: false, write: () => assert.fail('written to a pipe') } as unknown as NodeJS.WriteStream;
      const piped = progressLine(false, pipe);
      piped.show('x');
      piped.done();
      assert.equal(tty.written(), '');
    });

    it('mapping check in a pipe: stderr stays empty', async () => {
      writeFileSync(path.join(dir, 'usermapping.csv'), 'Source,Destination\na@contoso.com,a@fabrikam.com\n');
      const run = await t2t(['mapping', 'check', '--file', 'usermapping.csv'], { cwd: dir });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, '');
    });
  });
});
