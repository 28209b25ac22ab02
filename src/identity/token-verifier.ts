// Verifying an admin's token at the edge, before anything reaches Temporal:
// signature against the issuer's published keys (found through discovery,
// cached, fetched again when an unknown key id appears, so a provider's key
// rotation needs no restart here), issuer one of the configured tenants',
// audience the product's API, expiry with a small clock skew, and the tenant
// claim matching the tenant whose role the action needs. Each refusal is one line.
import { createHash } from 'node:crypto';
import https from 'node:https';
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTPayload } from 'jose';

/** 401: who is asking is not established; 403: established, but not an admin of that tenant. */
export class TokenRefused extends Error {
  override name = 'TokenRefused';
  constructor(
    readonly status: 401 | 403,
    message: string,
  ) {
    super(message);
  }
}

/** What the product keeps of a verified token: never the token itself. */
export interface VerifiedClaims {
  issuer: string;
  tenantId: string;
  objectId: string;
  user: string;
  /** when the admin signed in (seconds since the epoch), when the token says */
  authTime?: number;
  /** SHA-256 of the token's own id: ties an action to one token without keeping it */
  tokenIdHash: string;
  roles: string[];
}

export interface TokenVerifierOptions {
  /** the accepted issuers, one per configured tenant (Entra ID: https://login.microsoftonline.com/<tenant id>/v2.0) */
  issuers: string[];
  /** the product API's identifier */
  audience: string;
  /** seconds of clock difference tolerated on exp/nbf/iat */
  clockToleranceSec?: number;
  /** a certificate to trust for the issuers' https endpoints (the sandbox provider's) */
  ca?: string;
  /** least time between two fetches of an issuer's keys for an unknown key id (default 30 s) */
  keyRefetchCooldownMs?: number;
}

function trustingFetch(ca: string) {
  return (url: string, options: { headers: Headers; signal: AbortSignal }): Promise<Response> =>
    new Promise((resolve, reject) => {
      const req = https.get(url, { ca, headers: Object.fromEntries(options.headers), signal: options.signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500, headers: { 'content-type': String(res.headers['content-type'] ?? '') } })));
      });
      req.on('error', reject);
    });
}

export function createTokenVerifier(options: TokenVerifierOptions) {
  const fetcher = options.ca ? trustingFetch(options.ca) : (url: string, init: { headers: Headers; signal: AbortSignal }) => fetch(url, init);
  const keySets = new Map<string, Promise<ReturnType<typeof createRemoteJWKSet>>>();
  const issuers = new Set(options.issuers.map((i) => i.replace(/\/$/, '')));

  /** The issuer's keys, found through its discovery document once and then cached by jose. */
  const keysOf = (issuer: string) => {
    let keys = keySets.get(issuer);
    if (!keys) {
      keys = (async () => {
        const res = await fetcher(`${issuer}/.well-known/openid-configuration`, { headers: new Headers(), signal: AbortSignal.timeout(10_000) });
        if (res.status !== 200) throw new Error(`discovery at ${issuer} answered ${res.status}`);
        const { jwks_uri: jwksUri } = (await res.json()) as { jwks_uri?: string };
        if (!jwksUri) throw new Error(`discovery at ${issuer} names no jwks_uri`);
        return createRemoteJWKSet(new URL(jwksUri), { cacheMaxAge: 10 * 60_000, cooldownDuration: options.keyRefetchCooldownMs ?? 30_000, [customFetch]: fetcher });
      })();
      keys.catch(() => keySets.delete(issuer));
      keySets.set(issuer, keys);
    }
    return keys;
  };

  return {
    /** Checks a request's Authorization header; `tenantId`: the tenant whose admin the action needs. */
    async verify(authorization: string | undefined, tenantId?: string): Promise<VerifiedClaims> {
      const token = /^Bearer ([A-Za-z0-9\-_.]+)$/.exec(authorization ?? '')?.[1];
      if (!token) throw new TokenRefused(401, 'no sign-in: send the signed-in admin\'s token (t2t login)');
      let unverifiedIssuer: string | undefined;
      try {
        const [, body] = token.split('.');
        unverifiedIssuer = (JSON.parse(Buffer.from(body ?? '', 'base64url').toString('utf8')) as JWTPayload).iss;
      } catch {
        throw new TokenRefused(401, 'the token is not a JSON Web Token');
      }
      if (!unverifiedIssuer || !issuers.has(unverifiedIssuer.replace(/\/$/, ''))) {
        throw new TokenRefused(401, `the token's issuer ${unverifiedIssuer ?? '(none)'} is not one of the configured tenants'`);
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, await keysOf(unverifiedIssuer.replace(/\/$/, '')), {
          issuer: unverifiedIssuer,
          audience: options.audience,
          clockTolerance: options.clockToleranceSec ?? 60,
          requiredClaims: ['exp', 'tid'],
        }));
      } catch (err) {
        throw new TokenRefused(401, refusal(err, options.audience));
      }
      const claims: VerifiedClaims = {
        issuer: String(payload.iss),
        tenantId: String(payload.tid),
        objectId: String(payload.oid ?? payload.sub ?? ''),
        user: String(payload.preferred_username ?? payload.upn ?? payload.email ?? ''),
        ...(typeof payload.auth_time === 'number' ? { authTime: payload.auth_time } : {}),
        tokenIdHash: createHash('sha256').update(String(payload.jti ?? payload.uti ?? token)).digest('hex'),
        roles: Array.isArray(payload.roles) ? payload.roles.map(String) : [],
      };
      if (tenantId !== undefined && claims.tenantId !== tenantId) {
        throw new TokenRefused(403, `${claims.user} is signed in to tenant ${claims.tenantId}; this action needs an admin of tenant ${tenantId}`);
      }
      return claims;
    },
  };
}

export type TokenVerifier = ReturnType<typeof createTokenVerifier>;

function refusal(err: unknown, audience: string): string {
  if (err instanceof errors.JWTExpired) return 'the token has expired: sign in again (t2t login)';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the token\'s signature does not verify against the issuer\'s keys';
  if (err instanceof errors.JWKSNoMatchingKey) return 'the token is signed with a key the issuer does not publish';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return `the token is not for this API (audience ${audience})`;
    return `the token's ${err.claim} claim is not acceptable: ${err.reason}`;
  }
  if (err instanceof errors.JOSEError) return `the token does not verify (${err.code})`;
  return `the token could not be checked: ${(err as Error).message}`;
}
