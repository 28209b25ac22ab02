// The gateway's token check against the real sandbox provider: each refusal the
// issue names (no token, expired, forged, wrong audience, other tenant's admin)
// is one line with its status, and a good token yields the verified claims.
import assert from 'node:assert/strict';
import { generateKeyPair, SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { createTokenVerifier, TokenRefused, type TokenVerifier } from '../src/identity/token-verifier';
import { cli, startSandbox, stopSandbox, tokenOf, type Sandbox } from './helpers/identity';

async function refusedWith(promise: Promise<unknown>): Promise<TokenRefused> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof TokenRefused, String(err));
    assert.doesNotMatch(err.message, /\n/, 'one line');
    return err;
  }
  assert.fail('the token was accepted');
}

describe('the gateway verifies the admin\'s token before anything reaches Temporal', function () {
  let sandbox: Sandbox;
  let verifier: TokenVerifier;
  let targetAdminToken: string;

  before(async () => {
    sandbox = await startSandbox();
    verifier = createTokenVerifier({ issuers: [sandbox.provider.issuer], audience: sandbox.config.signIn.api, ca: sandbox.ca });
    targetAdminToken = await tokenOf(sandbox, 'admin@fabrikam.com');
  });
  after(() => stopSandbox(sandbox));

  it('accepts the target admin for the target tenant and keeps the verified claims, not the token', async () => {
    const claims = await verifier.verify(`Bearer ${targetAdminToken}`, 't-fabrikam');
    assert.equal(claims.issuer, sandbox.provider.issuer);
    assert.equal(claims.tenantId, 't-fabrikam');
    assert.equal(claims.user, 'admin@fabrikam.com');
    assert.match(claims.tokenIdHash, /^[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(claims).includes(targetAdminToken));
  });

  it('refuses a request without a token (401)', async () => {
    const refused = await refusedWith(verifier.verify(undefined, 't-fabrikam'));
    assert.equal(refused.status, 401);
    assert.match(refused.message, /no sign-in/);
  });

  it('refuses a forged token: a changed claim, or a key the issuer does not hold (401)', async () => {
    const [header, , signature] = targetAdminToken.split('.');
    const claims = { ...decodeJwt(targetAdminToken), tid: 't-contoso', preferred_username: 'admin@contoso.com' };
    const tampered = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    const changed = await refusedWith(verifier.verify(`Bearer ${tampered}`, 't-contoso'));
    assert.equal(changed.status, 401);
    assert.match(changed.message, /signature does not verify/);

    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: decodeProtectedHeader(targetAdminToken).kid }).sign(privateKey);
    const ownKey = await refusedWith(verifier.verify(`Bearer ${forged}`, 't-contoso'));
    assert.equal(ownKey.status, 401);
    assert.match(ownKey.message, /signature does not verify/);
  });

  it('refuses a token for another API (401) and one from an issuer that is not configured (401)', async () => {
    const otherApi = createTokenVerifier({ issuers: [sandbox.provider.issuer], audience: 'api://someone-else', ca: sandbox.ca });
    const wrongAudience = await refusedWith(otherApi.verify(`Bearer ${targetAdminToken}`, 't-fabrikam'));
    assert.equal(wrongAudience.status, 401);
    assert.equal(wrongAudience.message, 'the token is not for this API (audience api://someone-else)');

    const otherIssuer = createTokenVerifier({ issuers: ['https://login.microsoftonline.com/t-fabrikam/v2.0'], audience: sandbox.config.signIn.api });
    const refused = await refusedWith(otherIssuer.verify(`Bearer ${targetAdminToken}`, 't-fabrikam'));
    assert.equal(refused.status, 401);
    assert.match(refused.message, /is not one of the configured tenants/);
  });

  it("refuses the other tenant's admin for an action that needs the target tenant's (403)", async () => {
    const sourceAdminToken = await tokenOf(sandbox, 'admin@contoso.com');
    const refused = await refusedWith(verifier.verify(`Bearer ${sourceAdminToken}`, 't-fabrikam'));
    assert.equal(refused.status, 403);
    assert.equal(refused.message, 'admin@contoso.com is signed in to tenant t-contoso; this action needs an admin of tenant t-fabrikam');
  });
});

describe('key rotation at the sandbox provider, without a restart', function () {
  let sandbox: Sandbox | undefined;
  after(() => stopSandbox(sandbox));

  it('new tokens carry the new key, older ones still verify, and a signed-in admin stays signed in', async () => {
    sandbox = await startSandbox();
    const verifier = createTokenVerifier({ issuers: [sandbox.provider.issuer], audience: sandbox.config.signIn.api, ca: sandbox.ca, keyRefetchCooldownMs: 0 });
    assert.equal((await cli(sandbox.env, '--as', 'admin@fabrikam.com', 'login')).code, 0);
    const before = await tokenOf(sandbox, 'admin@contoso.com');
    await verifier.verify(`Bearer ${before}`, 't-contoso');

    const kid = await sandbox.provider.rotateKeys();
    const after = await tokenOf(sandbox, 'admin@contoso.com');
    assert.equal(decodeProtectedHeader(after).kid, kid);
    assert.notEqual(decodeProtectedHeader(before).kid, kid);
    assert.equal((await verifier.verify(`Bearer ${after}`, 't-contoso')).user, 'admin@contoso.com', 'the verifier fetched the new key by itself');
    assert.equal((await verifier.verify(`Bearer ${before}`, 't-contoso')).user, 'admin@contoso.com', 'the previous key stays published');
    const whoami = await cli(sandbox.env, 'whoami', '--json');
    assert.equal(whoami.code, 0, whoami.err);
    assert.equal((JSON.parse(whoami.out) as { user: string }).user, 'admin@fabrikam.com');
  });
});

describe('an expired token at the gateway', function () {
  let sandbox: Sandbox | undefined;
  after(() => stopSandbox(sandbox));

  it('is refused (401) once its lifetime has passed, with no clock skew allowed', async () => {
    sandbox = await startSandbox({ accessToken: 1 });
    const verifier = createTokenVerifier({ issuers: [sandbox.provider.issuer], audience: sandbox.config.signIn.api, ca: sandbox.ca, clockToleranceSec: 0 });
    const token = await tokenOf(sandbox, 'admin@fabrikam.com');
    const exp = Number(decodeJwt(token).exp) * 1000;
    // Wait for the token's own expiry (condition on the clock, not a fixed pause).
    while (Date.now() <= exp + 1000) await new Promise((r) => setTimeout(r, 100));
    const refused = await refusedWith(verifier.verify(`Bearer ${token}`, 't-fabrikam'));
    assert.equal(refused.status, 401);
    assert.equal(refused.message, 'the token has expired: sign in again (t2t login)');
  });
});
