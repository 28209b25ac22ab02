// The embedded stack's own OpenID Connect provider: oidc-provider (a certified
// implementation) configured to know the world file's users, so that the same
// sign-in (Microsoft's library) and the same token checks run in the sandbox,
// in the tests and against Microsoft Entra ID. Its endpoints sit on Entra ID's
// paths (/oauth2/v2.0/token, /oauth2/v2.0/devicecode) because Microsoft's
// library derives the device-code endpoint from the token endpoint's path.
// Sandbox only: a world user signs in by naming themself, with no password.
import { createHash } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { loadCookieKeys, loadSigningKeys, rotateSigningKeys } from './provider-keys';
import { renderPage, escapeHtml, readForm } from './provider-pages';

/** A world user as the provider needs them: the control plane answers this in the sandbox. */
export interface SandboxUser {
  tenantId: string;
  upn: string;
  enabled: boolean;
}

export interface LocalProviderOptions {
  /** host:port to listen on; port 0 picks a free one */
  host: string;
  port: number;
  /** where the signing keys are kept (the data folder) */
  dataDir: string;
  tls: { cert: string; key: string };
  findUser: (upn: string) => Promise<SandboxUser | undefined>;
  clientId: string;
  /** the product API's identifier: the access tokens' audience */
  api: string;
  /** token lifetimes in seconds; shorter ones let a test see a sign-in expire */
  ttl?: { accessToken?: number; refreshToken?: number; grant?: number };
}

export interface LocalProvider {
  issuer: string;
  /** signs with a new key from now on, the previous one still published; no restart, no one signed out */
  rotateKeys: () => Promise<string>;
  close: () => Promise<void>;
}

/** The directory object id a world user signs in with: stable per tenant and name, as Entra's `oid` is. */
export function sandboxObjectId(tenantId: string, upn: string): string {
  const h = createHash('sha256').update(`${tenantId}\n${upn.toLowerCase()}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The scope a client asks for to reach the product's API, as Entra ID names an app's delegated scope. */
export function apiScope(api: string): string {
  return `${api}/actions`;
}

function configuration(options: LocalProviderOptions, jwks: Configuration['jwks'], cookieKeys: string[]): Configuration {
  const { clientId, api, findUser } = options;
  const claimsOf = (user: SandboxUser) => ({
    sub: sandboxObjectId(user.tenantId, user.upn),
    oid: sandboxObjectId(user.tenantId, user.upn),
    tid: user.tenantId,
    preferred_username: user.upn,
    name: user.upn,
  });
  return {
    clients: [
      {
        client_id: clientId,
        client_name: 't2t',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
        // Loopback redirects: RFC 8252 lets a native client's port vary; oidc-provider allows it for native clients.
        redirect_uris: ['http://localhost', 'http://127.0.0.1'],
      },
    ],
    jwks,
    routes: {
      authorization: '/oauth2/v2.0/authorize',
      token: '/oauth2/v2.0/token',
      device_authorization: '/oauth2/v2.0/devicecode',
      code_verification: '/device',
      jwks: '/discovery/v2.0/keys',
      userinfo: '/oidc/userinfo',
      end_session: '/oauth2/v2.0/logout',
    },
    claims: { openid: ['sub', 'oid', 'tid'], profile: ['preferred_username', 'name'] },
    findAccount: async (_ctx, id) => {
      const user = await findUser(id);
      if (!user || !user.enabled) return undefined;
      return { accountId: id, claims: async () => claimsOf(user) };
    },
    extraTokenClaims: async (_ctx, token) => {
      const accountId = (token as { accountId?: string }).accountId;
      const user = accountId ? await findUser(accountId) : undefined;
      if (!user) return undefined;
      const { oid, tid, preferred_username, name } = claimsOf(user);
      return { oid, tid, preferred_username, name, scp: 'actions' };
    },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx, form, _out, err) => {
          ctx.body = renderPage('Sign in to t2t', `${err ? '<p>That code was not accepted; check it and try again.</p>' : '<p>Enter the code the command shows.</p>'}${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
        },
        userCodeConfirmSource: async (ctx, form, _client, _info, userCode) => {
          ctx.body = renderPage('Sign in to t2t', `<p>Sign in the <code>t2t</code> command that shows the code <code>${escapeHtml(userCode)}</code>?</p>${form}<button type="submit" form="op.deviceConfirmForm">Continue</button>`);
        },
        successSource: async (ctx) => {
          ctx.body = renderPage('Signed in', '<p>You are signed in; go back to the command.</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => api,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== api) throw new Error(`unknown resource ${resource}`);
          return { scope: apiScope(api), audience: api, accessTokenFormat: 'jwt', accessTokenTTL: options.ttl?.accessToken ?? 3600, jwt: { sign: { alg: 'RS256' } } };
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = renderPage('Sign out', `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = renderPage('Signed out', '<p>You are signed out.</p>');
        },
      },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = renderPage('Sign-in failed', `<p>${escapeHtml(String(out.error_description ?? out.error))}</p>`);
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 3600,
      IdToken: 3600, DeviceCode: 600, Interaction: 600, Session: 8 * 3600, Grant: options.ttl?.grant ?? 8 * 3600, RefreshToken: options.ttl?.refreshToken ?? 8 * 3600 },
    cookies: { keys: cookieKeys },
  };
}

/** The sign-in page: a world user names themself; consent is implied for the product's own client. */
async function interaction(provider: Provider, options: LocalProviderOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'consent') {
    const accountId = details.session?.accountId;
    if (!accountId) throw new Error('no signed-in user for consent');
    const grant = details.grantId ? (await provider.Grant.find(details.grantId))! : new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    grant.addOIDCScope('openid profile offline_access');
    grant.addResourceScope(options.api, apiScope(options.api));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  if (req.method === 'POST') {
    const form = await readForm(req);
    if (form.has('cancel')) {
      // The client hears it as Entra ID says it: access_denied, at its redirect.
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the sign-in was cancelled at the sign-in page' }, { mergeWithLastSubmission: false });
      return;
    }
    const upn = (form.get('login') ?? '').trim();
    const user = upn ? await options.findUser(upn) : undefined;
    if (user?.enabled) {
      await provider.interactionFinished(req, res, { login: { accountId: user.upn } }, { mergeWithLastSubmission: false });
      return;
    }
    sendHtml(res, 200, loginPage(details.uid, upn ? `No enabled user ${upn} in the sandbox world.` : 'Enter your user name.'));
    return;
  }
  sendHtml(res, 200, loginPage(details.uid));
}

function loginPage(uid: string, problem?: string): string {
  return renderPage(
    'Sign in to t2t (sandbox)',
    `${problem ? `<p>${escapeHtml(problem)}</p>` : '<p>Sandbox sign-in: enter a user name from the world file.</p>'}
<form id="login" method="post" action="/interaction/${escapeHtml(uid)}"><input type="text" name="login" autofocus autocomplete="username" placeholder="admin@contoso.com"><button type="submit">Sign in</button><button type="submit" name="cancel" value="yes" formnovalidate>Cancel</button></form>`,
  );
}

function sendHtml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * Microsoft's library asks for a device-code token with `grant_type=device_code`,
 * the short name Entra ID accepts; RFC 8628 (and oidc-provider) name it
 * `urn:ietf:params:oauth:grant-type:device_code`. The body is read here and handed
 * on already read, which oidc-provider takes as `req.body`.
 */
async function withStandardGrantName(req: IncomingMessage): Promise<void> {
  const form = await readForm(req);
  if (form.get('grant_type') === 'device_code') form.set('grant_type', 'urn:ietf:params:oauth:grant-type:device_code');
  (req as IncomingMessage & { body?: string }).body = form.toString();
}

/**
 * Entra ID issues a refresh token whenever a sign-in asks for `offline_access`;
 * oidc-provider, as OpenID Connect says, only when it also asks for consent
 * (`prompt=consent`), which Microsoft's library does not. Without it a browser
 * sign-in would lapse with its first access token. Consent is implied for the
 * product's own client in the sandbox, so the provider asks for it itself: the
 * person sees nothing more. Microsoft's library sends the person here by GET.
 */
function withConsentForOfflineAccess(req: IncomingMessage): void {
  const url = new URL(req.url ?? '/', 'https://localhost');
  if (!(url.searchParams.get('scope') ?? '').split(' ').includes('offline_access')) return;
  const prompts = new Set((url.searchParams.get('prompt') ?? '').split(' ').filter(Boolean));
  if (prompts.has('none') || prompts.has('consent')) return;
  prompts.add('consent');
  url.searchParams.set('prompt', [...prompts].join(' '));
  req.url = `${url.pathname}${url.search}`;
}

export async function startLocalProvider(options: LocalProviderOptions): Promise<LocalProvider> {
  const jwks = await loadSigningKeys(options.dataDir);
  const server = https.createServer({ cert: options.tls.cert, key: options.tls.key });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `https://localhost:${port}`;
  const cookieKeys = loadCookieKeys(options.dataDir);
  const create = (keys: Configuration['jwks']) => {
    const made = new Provider(issuer, configuration(options, keys, cookieKeys));
    made.proxy = false;
    return made;
  };
  // Replaced whole on rotation: oidc-provider takes its keys at construction, and its
  // in-memory store (sessions, grants, device codes) is shared by every instance.
  let provider = create(jwks);
  let handle = provider.callback();
  server.on('request', (req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      interaction(provider, options, req, res).catch((err: unknown) => {
        if (!res.headersSent) sendHtml(res, 400, renderPage('Sign-in failed', `<p>${escapeHtml((err as Error).message)}</p>`));
        else res.end();
      });
      return;
    }
    if (req.method === 'POST' && req.url?.split('?')[0] === '/oauth2/v2.0/token') {
      withStandardGrantName(req)
        .then(() => void handle(req, res))
        .catch(() => {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'invalid_request', error_description: 'unreadable request body' }));
        });
      return;
    }
    if (req.method === 'GET' && req.url?.split('?')[0] === '/oauth2/v2.0/authorize') withConsentForOfflineAccess(req);
    void handle(req, res);
  });
  return {
    issuer,
    rotateKeys: async () => {
      const rotated = await rotateSigningKeys(options.dataDir);
      provider = create(rotated);
      handle = provider.callback();
      return String(rotated.keys[0].kid);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type { KoaContextWithOIDC };
