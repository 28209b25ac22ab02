// Signing an admin in with Microsoft's identity library (@azure/msal-node), the
// same code against Entra ID and against the embedded stack's own provider:
// device code by default, browser sign-in (authorization code + PKCE on a
// loopback redirect, which the library runs itself) where a browser exists.
// Tokens stay in the owner-only cache file; nothing here prints or logs one.
import { readFileSync, existsSync } from 'node:fs';
import https from 'node:https';
import {
  PublicClientApplication,
  ProtocolMode,
  InteractionRequiredAuthError,
  ServerError,
  type AccountInfo,
  type AuthenticationResult,
  type DeviceCodeRequest,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from '@azure/msal-node';
import type { SignInSettings } from '../config';
import { fileCachePlugin, removeTokenCache } from './token-cache';

export class SignInError extends Error {
  override name = 'SignInError';
}

export const SIGN_IN_AGAIN = 'your sign-in has expired: sign in again with `t2t login`';
export const NOT_SIGNED_IN = 'nobody is signed in: sign in with `t2t login`';

/** What `whoami` shows: never the token itself. */
export interface SignedIn {
  issuer: string;
  tenantId: string;
  user: string;
  objectId: string;
  expiresOn: Date;
  accessToken: string;
}

/**
 * An https client that trusts the sandbox provider's own certificate (and the
 * usual roots), because Node reads NODE_EXTRA_CA_CERTS only at start-up.
 */
function networkTrusting(ca: string): INetworkModule {
  const send = <T>(method: string, url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> =>
    new Promise((resolve, reject) => {
      const req = https.request(url, { method, headers: options?.headers, ca, timeout: 30_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v ?? '')]));
          try {
            resolve({ status: res.statusCode ?? 0, headers, body: JSON.parse(body || '{}') as T });
          } catch {
            reject(new SignInError(`the identity provider answered ${res.statusCode} with something other than JSON`));
          }
        });
      });
      req.on('timeout', () => req.destroy(new SignInError(`no answer from ${new URL(url).host}`)));
      req.on('error', reject);
      if (options?.body) req.write(options.body);
      req.end();
    });
  return {
    sendGetRequestAsync: (url, options) => send('GET', url, options),
    sendPostRequestAsync: (url, options) => send('POST', url, options),
  };
}

export function createSignInApp(settings: SignInSettings): PublicClientApplication {
  const authority = settings.authority.replace(/\/?$/, '/');
  let networkClient: INetworkModule | undefined;
  if (settings.sandbox) {
    if (!existsSync(settings.sandboxCertificateFile)) {
      throw new SignInError('the sandbox identity provider has not run yet: start the stack (npm start)');
    }
    networkClient = networkTrusting(readFileSync(settings.sandboxCertificateFile, 'utf8'));
  }
  return new PublicClientApplication({
    auth: {
      clientId: settings.clientId,
      authority,
      knownAuthorities: [new URL(authority).host],
    },
    cache: { cachePlugin: fileCachePlugin(settings.tokenCacheFile) },
    system: {
      ...(networkClient ? { networkClient } : {}),
      // Entra ID is Microsoft's own protocol mode; any other issuer is plain OpenID Connect.
      protocolMode: /\.microsoftonline\.(com|us)$|\.chinacloudapi\.cn$/.test(new URL(authority).hostname) ? ProtocolMode.AAD : ProtocolMode.OIDC,
      loggerOptions: { piiLoggingEnabled: false, logLevel: 0, loggerCallback: () => undefined } },
  });
}

export function apiScopes(settings: SignInSettings): string[] {
  return [`${settings.api}/actions`];
}

function signedIn(result: AuthenticationResult, settings: SignInSettings): SignedIn {
  const claims = (result.idTokenClaims ?? {}) as Record<string, unknown>;
  return {
    issuer: String(claims.iss ?? settings.authority),
    tenantId: String(claims.tid ?? result.tenantId ?? ''),
    user: String(claims.preferred_username ?? result.account?.username ?? ''),
    objectId: String(claims.oid ?? result.uniqueId ?? ''),
    expiresOn: result.expiresOn ?? new Date(0),
    accessToken: result.accessToken,
  };
}

export interface DeviceCodePrompt {
  /** the provider's own words: "To sign in, use a web browser to open … and enter the code …" */
  message: string;
  userCode: string;
  verificationUri: string;
}

/**
 * Device-code sign-in. `prompt` shows the code; when it returns a promise that
 * fails (the sandbox's automatic completion), polling stops and that error is thrown.
 */
export async function signInWithDeviceCode(settings: SignInSettings, prompt: (p: DeviceCodePrompt) => void | Promise<void>): Promise<SignedIn> {
  const app = createSignInApp(settings);
  await forgetAccounts(app);
  let failed: unknown;
  const request: DeviceCodeRequest = {
    scopes: apiScopes(settings),
    deviceCodeCallback: (response) => {
      // Entra ID words the prompt itself; a plain OpenID Connect provider leaves it to the client.
      const message = response.message || `To sign in, open ${response.verificationUri} in a browser and enter the code ${response.userCode}.`;
      const shown = prompt({ message, userCode: response.userCode, verificationUri: response.verificationUri });
      shown?.catch((err: unknown) => {
        failed = err;
        request.cancel = true;
      });
    },
  };
  const result = await app.acquireTokenByDeviceCode(request).catch((err: unknown) => {
    throw failed ?? err;
  });
  if (failed) throw failed;
  if (!result) throw new SignInError('the sign-in was not completed');
  return signedIn(result, settings);
}

export async function signInWithBrowser(settings: SignInSettings, openBrowser: (url: string) => Promise<void>): Promise<SignedIn> {
  const app = createSignInApp(settings);
  await forgetAccounts(app);
  const result = await app.acquireTokenInteractive({
    scopes: apiScopes(settings),
    openBrowser,
    // Both pages are shown as they are (the library fills in nothing): the command says why.
    successTemplate: 'Signed in to t2t: you can close this page and go back to the command.',
    errorTemplate: 'The sign-in to t2t did not complete: the command says why. You can close this page.',
  }).catch((err: unknown) => {
    // The provider's refusal at the redirect (the person cancelled, a policy): its own words, first line only
    // (Entra ID's description goes on with trace and correlation ids).
    if (err instanceof ServerError) throw new SignInError(`the sign-in was refused (${err.errorCode}): ${firstLine(err.errorMessage) || 'no reason given'}`);
    throw err;
  });
  return signedIn(result, settings);
}

function firstLine(text: string | undefined): string {
  return (text ?? '').split(/\r?\n/)[0].trim();
}

/** One admin at a time per cache: signing in as someone else replaces the previous one. */
async function forgetAccounts(app: PublicClientApplication): Promise<void> {
  const cache = app.getTokenCache();
  for (const account of await cache.getAllAccounts()) await cache.removeAccount(account);
}

async function onlyAccount(app: PublicClientApplication): Promise<AccountInfo> {
  const accounts = await app.getTokenCache().getAllAccounts();
  if (accounts.length === 0) throw new SignInError(NOT_SIGNED_IN);
  return accounts[0];
}

/** The signed-in admin's token for the product API, refreshed silently while the sign-in lasts. */
export async function currentSignIn(settings: SignInSettings): Promise<SignedIn> {
  const app = createSignInApp(settings);
  const account = await onlyAccount(app);
  try {
    return signedIn(await app.acquireTokenSilent({ account, scopes: apiScopes(settings) }), settings);
  } catch (err) {
    // invalid_grant: the provider no longer honours the refresh token (lapsed or revoked).
    if (err instanceof InteractionRequiredAuthError || (err as { errorCode?: string }).errorCode === 'invalid_grant') throw new SignInError(SIGN_IN_AGAIN);
    throw err;
  }
}

export function signOut(settings: SignInSettings): boolean {
  return removeTokenCache(settings.tokenCacheFile);
}
