// login, whoami, logout: the admin signs in with Microsoft's identity library
// (Entra ID, or the embedded stack's own provider) and the commands act as the
// signed-in admin. No command prints, logs or stores a token anywhere but the
// owner-only cache file. Microsoft's library and jose load only when one of
// these commands runs: other commands start as fast as before.
import { Command, Option } from 'commander';
import type { CommandRuntime } from '../cli';
import { UserError } from '../user-error';
import type { Config } from '../../config';
import type { SignedIn } from '../../identity/sign-in';

export function registerIdentityCommands(program: Command, runtime: CommandRuntime, env: NodeJS.ProcessEnv = process.env): void {
  // The configuration's schema (zod) loads when a command of these runs, not with `t2t --help`.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const config = (): Config => (require('../../config') as typeof import('../../config')).loadConfig(env);

  program
    .command('login')
    .description('sign in (device code; --browser for a browser sign-in on this machine)')
    .addOption(new Option('--browser', 'sign in in a browser on this machine (authorization code with PKCE on a loopback redirect)'))
    .action(async (options: { browser?: boolean }) => {
      const settings = config().signIn;
      const printer = runtime.printer();
      const { signInWithBrowser, signInWithDeviceCode } = await import('../../identity/sign-in');
      const as = (program.opts().as as string | undefined) ?? env.T2T_ADMIN;
      let who: SignedIn;
      if (as) {
        const { signInAs } = await import('../gateway-actions');
        who = await signInAs(settings, as);
      } else if (options.browser) {
        const { openBrowser } = await import('../../identity/open-browser');
        who = await signInWithBrowser(settings, openBrowser);
      } else {
        // The prompt goes to stderr: --json keeps stdout for the one document.
        who = await signInWithDeviceCode(settings, (prompt) => {
          process.stderr.write(`${prompt.message}\n`);
        });
      }
      printer.document(describe(who, await rolesOf(who, runtime)));
      printer.line(`Signed in as ${who.user} (tenant ${who.tenantId}) until ${who.expiresOn.toISOString()}.`);
    });

  program
    .command('whoami')
    .description('who is signed in: tenant, user, roles found, token expiry')
    .action(async () => {
      const { currentSignIn } = await import('../../identity/sign-in');
      const who = await currentSignIn(config().signIn).catch(asUserError);
      const roles = await rolesOf(who, runtime);
      const printer = runtime.printer();
      printer.document(describe(who, roles));
      printer.line(`Issuer:  ${who.issuer}`);
      printer.line(`Tenant:  ${who.tenantId}`);
      printer.line(`User:    ${who.user} (object id ${who.objectId})`);
      printer.line(`Roles:   ${roles.length ? roles.join(', ') : 'none found'}`);
      printer.line(`Expires: ${who.expiresOn.toISOString()}`);
    });

  program
    .command('logout')
    .description('forget the signed-in admin (removes the token cache)')
    .action(async () => {
      const { signOut } = await import('../../identity/sign-in');
      const removed = signOut(config().signIn);
      const printer = runtime.printer();
      printer.document({ signedOut: removed });
      printer.line(removed ? 'Signed out.' : 'Nobody was signed in.');
    });
}

function asUserError(err: unknown): never {
  if (err instanceof Error && err.name === 'SignInError') throw new UserError(err.message);
  throw err;
}

function describe(who: SignedIn, roles: string[]): Record<string, unknown> {
  return { issuer: who.issuer, tenantId: who.tenantId, user: who.user, objectId: who.objectId, roles, expiresOn: who.expiresOn.toISOString() };
}

/**
 * The roles the product finds for the admin: Entra ID's app roles from the
 * token's `roles` claim, and in the sandbox the world's roles for that user.
 */
async function rolesOf(who: SignedIn, runtime: CommandRuntime): Promise<string[]> {
  const { decodeJwt } = await import('jose');
  const claimed = decodeJwt(who.accessToken).roles;
  const roles = new Set(Array.isArray(claimed) ? claimed.map(String) : []);
  const context = runtime.context();
  if (context.config.signIn.sandbox && context.config.backend === 'simulated') {
    const user = await (await context.controlPlane()).getTenantUser(who.tenantId, who.user);
    for (const role of user?.roles ?? []) roles.add(role);
  }
  return [...roles].sort();
}
