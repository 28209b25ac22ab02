// npm run smoke:microsoft [-- --user <upn>] [--device-code --tenant <id> --client-id <id>] [--migration-status <service migration id>]
//
// --migration-status also prints the service's own status of one migration request
// (GET t2tmigrations/{id}/get, read in the tenant that holds it) as it came, SAS
// signatures blanked: the body whose shape no public source documents.
//
// For an admin with real tenants, before the first migration: checks the Microsoft
// back end's settings, signs in to every configured tenant, lists the requests and
// approvals the Power Platform admin API holds there, and reads one user from
// Microsoft Graph, printing the audience (`aud`) of each token it gets. It changes
// nothing. Each check prints one line, and a failed one
// says what to fix (consent, role, network); the exit code is the number of failures.
import { loadConfig, ConfigError } from '../config';
import { describeMicrosoftSettings, type MicrosoftSettings } from './settings';
import { MicrosoftServiceError } from './errors';
import { callService, type TokenSource } from './http';
import { createDeviceCodeTokenSource, createTokenSource, GRAPH_SCOPE, POWER_PLATFORM_SCOPE } from './tokens';
import { PowerPlatformClient, rawForLog } from './power-platform';

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

interface Check {
  name: string;
  run: () => Promise<string>;
}

function explain(err: unknown): string {
  if (err instanceof MicrosoftServiceError) {
    const what = { network: 'network', unauthorized: 'consent or credential', forbidden: 'role or permission', throttled: 'throttled', unavailable: 'service fault', notFound: 'not found', refused: 'refused', configuration: 'settings', timedOut: 'no end in time' }[err.kind];
    return `${what}: ${err.message}`;
  }
  return (err as Error)?.message?.split('\n')[0] ?? String(err);
}

/** The admin API's audience, as Microsoft's module asks for it (trailing slash included). */
const POWER_PLATFORM_AUDIENCE = 'https://service.powerapps.com/';

/** The `aud` claim of a token, for display only: the payload is decoded, never verified, and the token is never printed. */
export function tokenAudience(token: string): string {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { aud?: unknown };
    return typeof claims.aud === 'string' ? claims.aud : 'no aud claim';
  } catch {
    return 'unknown (the token is not a JWT)';
  }
}

/**
 * A tenant-to-tenant list call with the token the worker uses. Microsoft's own clients make these calls
 * as a signed-in admin (Add-PowerAppsAccount); an app-only token refused here means the service wants one.
 */
async function listCheck(tenantId: string, appOnly: boolean, list: () => Promise<unknown[]>, noun: string): Promise<string> {
  try {
    return `${(await list()).length} ${noun}; the admin API accepts this token for the tenant-to-tenant calls`;
  } catch (err) {
    if (appOnly && err instanceof MicrosoftServiceError && (err.kind === 'unauthorized' || err.kind === 'forbidden')) {
      throw new MicrosoftServiceError(
        err.service,
        err.kind,
        `the admin API refused the app's own token for the tenant-to-tenant calls (${err.message}). If the app is registered with New-PowerAppManagementApp, the service wants a signed-in admin instead: check with -- --device-code --tenant ${tenantId} --client-id <public client app id>; ` +
          `if that passes, set "delegatedCalls": true for this tenant in T2T_MICROSOFT_TENANTS_FILE, so that each action uses the acting admin's own token (on-behalf-of, docs/microsoft.md)`,
        err.status,
      );
    }
    throw err;
  }
}

function checksFor(settings: MicrosoftSettings, tokens: TokenSource, tenantIds: string[], user: string | undefined, appOnly: boolean): Check[] {
  const powerPlatform = new PowerPlatformClient({ baseUrl: settings.powerPlatformApiUrl, tokens, pollIntervalMs: settings.operationPollMs });
  const checks: Check[] = [];
  for (const tenantId of tenantIds) {
    checks.push(
      {
        name: `${tenantId}: sign in to the Power Platform admin API`,
        run: async () => {
          const aud = tokenAudience(await tokens.token(tenantId, POWER_PLATFORM_SCOPE));
          return `token received, aud ${aud}${aud === POWER_PLATFORM_AUDIENCE ? '' : ` (Microsoft's module asks for ${POWER_PLATFORM_AUDIENCE})`}`;
        },
      },
      { name: `${tenantId}: sign in to Microsoft Graph`, run: async () => `token received, aud ${tokenAudience(await tokens.token(tenantId, GRAPH_SCOPE))}` },
      { name: `${tenantId}: list tenant-to-tenant requests (as source)`, run: () => listCheck(tenantId, appOnly, () => powerPlatform.listRequests(tenantId), 'requests') },
      { name: `${tenantId}: list tenant-to-tenant approvals (as target)`, run: () => listCheck(tenantId, appOnly, () => powerPlatform.listApprovals(tenantId), 'approvals') },
      {
        name: `${tenantId}: read ${user ? `user ${user}` : 'one user'} from Microsoft Graph`,
        run: async () => {
          const path = user
            ? `/v1.0/users/${encodeURIComponent(user)}?$select=id,userPrincipalName,accountEnabled,assignedLicenses`
            : '/v1.0/users?$top=1&$select=id,userPrincipalName,accountEnabled,assignedLicenses';
          const answer = await callService(tokens, { service: 'Microsoft Graph', tenantId, scope: GRAPH_SCOPE, method: 'GET', url: `${settings.graphApiUrl}${path}`, accept: [404] });
          // The user may live in another of the tenants: what is checked here is that Graph answers.
          if (answer.status === 404) return 'the directory answered: no such user in this tenant';
          const body = answer.body as { value?: { userPrincipalName?: string }[]; userPrincipalName?: string };
          const upn = user ? body.userPrincipalName : body.value?.[0]?.userPrincipalName;
          return upn ? `found ${upn}` : 'the directory answered, with no user';
        },
      },
    );
  }
  const migrationId = option('--migration-status');
  if (migrationId) {
    checks.push({
      name: `status of migration ${migrationId} (/get, as the service answered)`,
      run: async () => {
        // The request lives in its source tenant: the first tenant whose list holds it is asked.
        for (const tenantId of tenantIds) {
          const listed = await powerPlatform.listRequests(tenantId).catch(() => []);
          if (listed.some((r) => r.id.toLowerCase() === migrationId.toLowerCase())) return `${tenantId}: ${rawForLog(await powerPlatform.getStatus(tenantId, migrationId))}`;
        }
        throw new Error(`no configured tenant lists migration ${migrationId} among its requests`);
      },
    });
  }
  return checks;
}

async function run(): Promise<number> {
  let settings: MicrosoftSettings;
  try {
    const config = loadConfig({ ...process.env, T2T_BACKEND: 'microsoft' });
    settings = config.microsoft!;
  } catch (err) {
    console.log(`✗ settings: ${err instanceof ConfigError ? err.message : explain(err)}`);
    return 1;
  }
  console.log(`✓ settings: ${describeMicrosoftSettings(settings)}`);
  const user = option('--user');
  let tokens: TokenSource;
  let tenantIds: string[];
  const deviceCode = process.argv.includes('--device-code');
  if (deviceCode) {
    const tenantId = option('--tenant');
    const clientId = option('--client-id');
    if (!tenantId || !clientId) {
      console.log('✗ --device-code needs --tenant <id> and --client-id <public client id>');
      return 1;
    }
    tokens = createDeviceCodeTokenSource({ tenantId, clientId, authorityHost: settings.authorityHost, customAuthority: settings.customAuthority, prompt: (message) => console.log(message) });
    tenantIds = [tenantId];
  } else {
    tokens = createTokenSource(settings);
    tenantIds = settings.tenants.map((t) => t.tenantId);
  }
  let failures = 0;
  for (const check of checksFor(settings, tokens, tenantIds, user, !deviceCode)) {
    try {
      console.log(`✓ ${check.name}: ${await check.run()}`);
    } catch (err) {
      failures += 1;
      console.log(`✗ ${check.name}: ${explain(err)}`);
    }
  }
  console.log(failures === 0 ? 'All checks passed; nothing was changed.' : `${failures} checks failed; nothing was changed.`);
  return failures;
}

if (require.main === module) {
  run().then(
    (failures) => process.exit(Math.min(failures, 100)),
    (err) => {
      console.log(`✗ ${explain(err)}`);
      process.exit(1);
    },
  );
}
