// Signing in at the embedded stack's own OpenID Connect provider, through the
// real provider over https and Microsoft's sign-in library: the admin completes
// the device code at the provider's pages as a person would in a browser.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import path from 'node:path';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { signInWithDeviceCode, SIGN_IN_AGAIN } from '../src/identity/sign-in';
import { completeSandboxDeviceCode } from '../src/identity/sandbox-device-sign-in';
import { cli, getJson, startSandbox, stopSandbox, type Sandbox } from './helpers/identity';

describe('sign-in at the sandbox identity provider', function () {
  let sandbox: Sandbox;
  before(async () => {
    sandbox = await startSandbox();
  });
  after(() => stopSandbox(sandbox));

  it('publishes OpenID Connect discovery with device code and PKCE, and public keys only', async () => {
    const { provider, ca, config } = sandbox;
    assert.equal(provider.issuer, config.signIn.authority);
    const discovery = await getJson<Record<string, unknown>>(`${provider.issuer}/.well-known/openid-configuration`, ca);
    assert.equal(discovery.issuer, provider.issuer);
    assert.equal(discovery.device_authorization_endpoint, `${provider.issuer}/oauth2/v2.0/devicecode`);
    assert.ok((discovery.grant_types_supported as string[]).includes('urn:ietf:params:oauth:grant-type:device_code'));
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
    const jwks = await getJson<JSONWebKeySet>(String(discovery.jwks_uri), ca);
    assert.ok(jwks.keys.length >= 1);
    for (const key of jwks.keys) assert.equal((key as Record<string, unknown>).d, undefined, 'no private part is published');
  });

  it('the target admin signs in with a device code and gets a token for the product API that the published keys verify', async () => {
    const { config, provider, ca } = sandbox;
    let shown = '';
    const who = await signInWithDeviceCode(config.signIn, (prompt) => {
      shown = prompt.message;
      return completeSandboxDeviceCode({ verificationUri: prompt.verificationUri, userCode: prompt.userCode, upn: 'admin@fabrikam.com', ca });
    });
    assert.match(shown, /^To sign in, open https:\/\/localhost:\d+\/device in a browser and enter the code [A-Z]{4}-[A-Z]{4}\.$/);
    assert.equal(who.user, 'admin@fabrikam.com');
    assert.equal(who.tenantId, 't-fabrikam');
    const discovery = await getJson<{ jwks_uri: string }>(`${provider.issuer}/.well-known/openid-configuration`, ca);
    const keys = createLocalJWKSet(await getJson<JSONWebKeySet>(discovery.jwks_uri, ca));
    const { payload } = await jwtVerify(who.accessToken, keys, { issuer: provider.issuer, audience: config.signIn.api });
    assert.equal(payload.tid, 't-fabrikam');
    assert.equal(payload.preferred_username, 'admin@fabrikam.com');
    assert.equal(payload.oid, who.objectId);

    const mode = statSync(config.signIn.tokenCacheFile).mode & 0o777;
    assert.equal(mode, 0o600, 'the token cache is readable by its owner only');
    assert.equal(statSync(path.dirname(config.signIn.tokenCacheFile)).mode & 0o777, 0o700);

    const whoami = await cli(sandbox.env, 'whoami', '--json');
    assert.equal(whoami.code, 0, whoami.err);
    const shownDoc = JSON.parse(whoami.out) as Record<string, unknown>;
    assert.equal(shownDoc.user, 'admin@fabrikam.com');
    assert.equal(shownDoc.tenantId, 't-fabrikam');
    assert.deepEqual(shownDoc.roles, ['PowerPlatformAdmin']);
    assert.ok(Date.parse(String(shownDoc.expiresOn)) > Date.now());
    assert.ok(!whoami.out.includes(who.accessToken.split('.')[1]), 'whoami never prints the token');
    const text = await cli(sandbox.env, 'whoami');
    assert.match(text.out, /User: +admin@fabrikam\.com/);
    assert.ok(!/eyJ/.test(text.out), 'no token in the human output either');
  });

  it('in the sandbox, --as signs a world user in; an unknown user is refused in one line', async () => {
    const login = await cli(sandbox.env, '--as', 'admin@contoso.com', 'login', '--json');
    assert.equal(login.code, 0, login.err);
    assert.equal((JSON.parse(login.out) as { user: string }).user, 'admin@contoso.com');
    assert.ok(!/eyJ/.test(login.out));
    const whoami = await cli(sandbox.env, 'whoami', '--json');
    assert.equal((JSON.parse(whoami.out) as { tenantId: string }).tenantId, 't-contoso');

    const stranger = await cli(sandbox.env, '--as', 'nobody@contoso.com', 'login');
    assert.equal(stranger.code, 1);
    assert.match(stranger.err, /^t2t: the sandbox world has no enabled user nobody@contoso\.com\n$/);
  });

  it('with any other issuer, --as is refused in one line', async () => {
    const env = { ...sandbox.env, T2T_AUTH_AUTHORITY: 'https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0' };
    const refused = await cli(env, '--as', 'admin@contoso.com', 'login');
    assert.equal(refused.code, 1);
    assert.match(refused.err, /^t2t: --as signs a world user in at the sandbox's own identity provider only, and the issuer is https:\/\/login\.microsoftonline\.com\/.*\n$/);
  });

  it('logout forgets the admin; whoami then says to sign in', async () => {
    assert.equal((await cli(sandbox.env, '--as', 'admin@fabrikam.com', 'login')).code, 0);
    const logout = await cli(sandbox.env, 'logout');
    assert.equal(logout.code, 0, logout.err);
    assert.match(logout.out, /Signed out/);
    const whoami = await cli(sandbox.env, 'whoami');
    assert.equal(whoami.code, 1);
    assert.equal(whoami.err, 't2t: nobody is signed in: sign in with `t2t login`\n');
  });
});

describe('an expired sign-in', function () {
  let sandbox: Sandbox | undefined;
  after(() => stopSandbox(sandbox));

  it('says in one line to sign in again once the token and its refresh token have lapsed', async () => {
    sandbox = await startSandbox({ accessToken: 1, refreshToken: 2, grant: 2 });
    assert.equal((await cli(sandbox.env, '--as', 'admin@fabrikam.com', 'login')).code, 0);
    let last = await cli(sandbox.env, 'whoami');
    // The lifetimes are seconds long: wait until the provider refuses the refresh, whatever the machine's load.
    for (let i = 0; i < 200 && last.code === 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      last = await cli(sandbox.env, 'whoami');
    }
    assert.equal(last.code, 1);
    assert.equal(last.err, `t2t: ${SIGN_IN_AGAIN}\n`);
  });
});
