// Bearer tokens for the Microsoft services, per tenant, from @azure/identity.
// One credential object per tenant, kept for the process's life: the library
// caches each token and renews it near expiry, so asking again is cheap. Sign-in
// failures become one-line MicrosoftServiceErrors that name what to fix and
// never carry a secret or a token.
import {
  ClientCertificateCredential,
  ClientSecretCredential,
  DeviceCodeCredential,
  type TokenCredential,
} from '@azure/identity';
import { accessHint, MicrosoftServiceError } from './errors';
import type { TokenSource } from './http';
import type { MicrosoftSettings, MicrosoftTenantCredential } from './settings';

export { POWER_PLATFORM_SCOPE, GRAPH_SCOPE } from './scopes';

const SIGN_IN = 'Microsoft sign-in' as const;

/** What the library's errors carry: a message, and on older paths a status and the OAuth answer. */
interface LibraryError {
  name?: string;
  message?: string;
  code?: string;
  statusCode?: number;
  errorResponse?: { error?: string; errorDescription?: string };
  cause?: unknown;
}

/** OAuth error words that mean "this tenant, app or credential is not accepted". */
const REFUSED = /\b(invalid_client|unauthorized_client|invalid_tenant|invalid_request|invalid_grant|invalid_scope|unsupported_grant_type|access_denied|consent_required)\b|AADSTS\d+/i;
/** Socket and TLS failures, as Node spells them. */
const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH|CERT_|SELF_SIGNED|UNABLE_TO_VERIFY|socket hang up/i;
/** MSAL's word for "the authority's OpenID configuration could not be read": down, untrusted, or no such tenant. */
const NO_METADATA = /endpoints_resolution_error|Endpoints cannot be resolved/i;

function oneLine(text: string, secrets: readonly string[]): string {
  let line = text.replace(/\s+/g, ' ').trim();
  for (const secret of secrets) if (secret) line = line.split(secret).join('***');
  return line.length > 400 ? `${line.slice(0, 397)}...` : line;
}

/** Everything the library says about a failure, through its causes, to classify it. */
function describe(err: LibraryError): string {
  const parts: string[] = [];
  for (let e: LibraryError | undefined = err, depth = 0; e && depth < 5; e = e.cause as LibraryError | undefined, depth++) {
    parts.push([e.name, e.code, e.errorResponse?.error, e.errorResponse?.errorDescription, e.message].filter(Boolean).join(' '));
  }
  return parts.join(' | ');
}

/**
 * The authority's own words, without the library's timestamps and trace ids:
 * "invalid_client: Error(s): 7000215 - Timestamp: ... - Description: AADSTS7000215: ... - Correlation ID: ..."
 * becomes "invalid_client: AADSTS7000215: ...".
 */
function authorityWords(err: LibraryError): string {
  if (err.errorResponse?.errorDescription) return `${err.errorResponse.error ?? 'error'}: ${err.errorResponse.errorDescription}`;
  const message = err.message ?? String(err);
  const m = /^([\w-]+): .*?Description: (.*?)(?: - (?:Correlation ID|Trace ID):.*)?$/s.exec(message);
  return m ? `${m[1]}: ${m[2]}` : message;
}

/** Asks the authority for the tenant's OpenID configuration ourselves, to tell "unreachable" from "no such tenant". */
async function probeAuthority(authorityHost: string, tenantId: string): Promise<{ refused?: string; unreachable?: string }> {
  const url = `${authorityHost}/${encodeURIComponent(tenantId)}/v2.0/.well-known/openid-configuration`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (response.ok) return {};
    const body = (await response.json().catch(() => ({}))) as { error?: string; error_description?: string };
    return { refused: body.error_description ? `${body.error ?? response.status}: ${body.error_description}` : `HTTP ${response.status}` };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { unreachable: cause?.code ?? cause?.message ?? (err as Error).message };
  }
}

const refused = (tenantId: string, words: string, secrets: readonly string[], status?: number) =>
  new MicrosoftServiceError(SIGN_IN, 'unauthorized', oneLine(`${accessHint(SIGN_IN, 'unauthorized', tenantId)} (${words})`, secrets), status);
const unreachable = (tenantId: string, authorityHost: string, why: string, secrets: readonly string[]) =>
  new MicrosoftServiceError(SIGN_IN, 'network', oneLine(`Microsoft sign-in could not be reached at ${authorityHost} for tenant ${tenantId}: ${why}`, secrets));

/** The library's failure as the product's error for `tenantId`. */
export async function signInError(err: unknown, tenantId: string, authorityHost: string, secrets: readonly string[] = []): Promise<MicrosoftServiceError> {
  if (err instanceof MicrosoftServiceError) return err;
  const e = (err ?? {}) as LibraryError;
  const all = describe(e);
  const words = authorityWords(e);
  if (e.statusCode === 429 || /\bslow_down\b|throttl/i.test(all)) {
    return new MicrosoftServiceError(SIGN_IN, 'throttled', oneLine(`Microsoft sign-in is throttling token requests for tenant ${tenantId} (${words})`, secrets), 429);
  }
  if ((e.statusCode ?? 0) >= 500 || /\b(temporarily_unavailable|server_error)\b/i.test(all)) {
    return new MicrosoftServiceError(SIGN_IN, 'unavailable', oneLine(`Microsoft sign-in had a fault for tenant ${tenantId} (${words})`, secrets), e.statusCode);
  }
  if (NO_METADATA.test(all)) {
    const probe = await probeAuthority(authorityHost, tenantId);
    if (probe.refused) return refused(tenantId, probe.refused, secrets);
    return unreachable(tenantId, authorityHost, probe.unreachable ?? 'its OpenID configuration could not be read', secrets);
  }
  if (/\b(ENOENT|EACCES)\b|PEM-encoded certificate/.test(all)) {
    return new MicrosoftServiceError(SIGN_IN, 'configuration', oneLine(`the certificate of tenant ${tenantId} in T2T_MICROSOFT_TENANTS_FILE cannot be used: ${e.message ?? 'unreadable'}`, secrets));
  }
  if (REFUSED.test(all)) return refused(tenantId, words, secrets, e.statusCode);
  if (UNREACHABLE.test(all)) return unreachable(tenantId, authorityHost, e.message ?? 'no answer', secrets);
  return refused(tenantId, words, secrets, e.statusCode);
}

async function tokenFrom(credential: TokenCredential, tenantId: string, scope: string, authorityHost: string, secrets: readonly string[]): Promise<string> {
  let token;
  try {
    token = await credential.getToken(scope);
  } catch (err) {
    throw await signInError(err, tenantId, authorityHost, secrets);
  }
  if (!token?.token) throw new MicrosoftServiceError(SIGN_IN, 'unauthorized', `${accessHint(SIGN_IN, 'unauthorized', tenantId)} (no token was issued)`);
  return token.token;
}

function credentialFor(tenant: MicrosoftTenantCredential, settings: MicrosoftSettings): TokenCredential {
  const options = { authorityHost: settings.authorityHost, disableInstanceDiscovery: settings.customAuthority };
  if (tenant.certificatePath) return new ClientCertificateCredential(tenant.tenantId, tenant.clientId, { certificatePath: tenant.certificatePath }, options);
  if (tenant.clientSecret) return new ClientSecretCredential(tenant.tenantId, tenant.clientId, tenant.clientSecret, options);
  throw new MicrosoftServiceError(SIGN_IN, 'configuration', `tenant ${tenant.tenantId} in T2T_MICROSOFT_TENANTS_FILE has neither a client secret nor a certificate`);
}

/** App-only tokens for the tenants of the settings, with the credential each one has there. */
export function createTokenSource(settings: MicrosoftSettings): TokenSource {
  const credentials = new Map<string, TokenCredential>();
  const lookup = (tenantId: string) => {
    const key = tenantId.toLowerCase();
    const tenant = settings.tenants.find((t) => t.tenantId.toLowerCase() === key);
    if (!tenant) throw new MicrosoftServiceError(SIGN_IN, 'configuration', `no credential for tenant ${tenantId} in T2T_MICROSOFT_TENANTS_FILE`);
    let credential = credentials.get(key);
    if (!credential) {
      credential = credentialFor(tenant, settings);
      credentials.set(key, credential);
    }
    return { credential, secrets: tenant.clientSecret ? [tenant.clientSecret] : [] };
  };
  return {
    async token(tenantId, scope) {
      const { credential, secrets } = lookup(tenantId);
      return tokenFrom(credential, tenantId, scope, settings.authorityHost, secrets);
    },
  };
}

export interface DeviceCodeOptions {
  tenantId: string;
  clientId: string;
  authorityHost: string;
  customAuthority: boolean;
  /** shows the admin where to go and which code to enter */
  prompt: (message: string) => void;
}

/** Delegated tokens for an admin at a terminal, in one tenant: signs in once, then renews silently. */
export function createDeviceCodeTokenSource(options: DeviceCodeOptions): TokenSource {
  const credential = new DeviceCodeCredential({
    tenantId: options.tenantId,
    clientId: options.clientId,
    authorityHost: options.authorityHost,
    disableInstanceDiscovery: options.customAuthority,
    userPromptCallback: (info) => options.prompt(info.message),
  });
  return {
    async token(tenantId, scope) {
      if (tenantId.toLowerCase() !== options.tenantId.toLowerCase()) {
        throw new MicrosoftServiceError(SIGN_IN, 'configuration', `the device-code sign-in is for tenant ${options.tenantId}, not for tenant ${tenantId}`);
      }
      return tokenFrom(credential, tenantId, scope, options.authorityHost, []);
    },
  };
}
