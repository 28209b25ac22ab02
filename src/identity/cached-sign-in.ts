// The signed-in admin's token read straight from the token cache file, without
// Microsoft's library: loading it (and what it loads) cost a signed-in action
// most of its own start. Only a plain case is read here: one account, an
// access token for the product API from the configured client and issuer, good
// for more than the library's own renewal margin. Anything else (nothing
// cached, a token near its end, a cache shaped otherwise) is undefined, and
// the library then answers, refreshing the token or saying to sign in again.
//
// The fields are MSAL's shared token cache schema, which msal-node serialises
// (msal-common's AccountEntity, AccessTokenEntity and IdTokenEntity:
// home_account_id, environment, client_id, realm, target, expires_on in
// seconds, secret).
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { SignInSettings } from '../config';
import type { SignedIn } from './sign-in';

/** msal-node renews a token this long before it expires (its default tokenRenewalOffsetSeconds). */
const RENEWAL_MARGIN_SEC = 300;

interface CachedCredential {
  home_account_id?: string;
  environment?: string;
  client_id?: string;
  realm?: string;
  target?: string;
  token_type?: string;
  expires_on?: string;
  secret?: string;
}

interface CacheFile {
  Account?: Record<string, { home_account_id?: string; environment?: string }>;
  AccessToken?: Record<string, CachedCredential>;
  IdToken?: Record<string, CachedCredential>;
}

function claimsOf(jwt: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export function cachedSignIn(settings: Pick<SignInSettings, 'authority' | 'clientId' | 'api' | 'tokenCacheFile'>, nowMs = Date.now()): SignedIn | undefined {
  const file = settings.tokenCacheFile;
  try {
    // A cache others can read is the library's to refuse, in its words (token-cache.ts).
    if (!existsSync(file) || (process.platform !== 'win32' && statSync(file).mode & 0o077)) return undefined;
    const cache = JSON.parse(readFileSync(file, 'utf8')) as CacheFile;
    const accounts = Object.values(cache.Account ?? {});
    const environment = new URL(settings.authority).host;
    if (accounts.length !== 1 || accounts[0].environment !== environment) return undefined;
    const home = accounts[0].home_account_id;
    const scope = `${settings.api}/actions`.toLowerCase();
    const ours = (c: CachedCredential) => c.home_account_id === home && c.environment === environment && c.client_id === settings.clientId;
    const access = Object.values(cache.AccessToken ?? {}).find(
      (c) => ours(c) && (c.token_type ?? 'Bearer').toLowerCase() === 'bearer' && (c.target ?? '').toLowerCase().split(' ').includes(scope),
    );
    const expiresOnSec = Number(access?.expires_on);
    if (!access?.secret || !Number.isFinite(expiresOnSec) || expiresOnSec - RENEWAL_MARGIN_SEC <= nowMs / 1000) return undefined;
    const idToken = Object.values(cache.IdToken ?? {}).find((c) => ours(c) && c.realm === access.realm);
    const claims = idToken?.secret ? claimsOf(idToken.secret) : undefined;
    if (!claims) return undefined;
    return {
      issuer: String(claims.iss ?? settings.authority),
      tenantId: String(claims.tid ?? access.realm ?? ''),
      user: String(claims.preferred_username ?? ''),
      objectId: String(claims.oid ?? ''),
      expiresOn: new Date(expiresOnSec * 1000),
      accessToken: access.secret,
    };
  } catch {
    return undefined;
  }
}
