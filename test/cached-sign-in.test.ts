// The signed-in admin's token read from the cache file without Microsoft's library
// (a signed-in action's fast path), held to what the library itself answers from
// the same cache, which the library wrote at a real device-code sign-in at the
// sandbox provider; and each case it leaves to the library.
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { cachedSignIn } from '../src/identity/cached-sign-in';
import { currentSignIn, signInWithDeviceCode, type SignedIn } from '../src/identity/sign-in';
import { completeSandboxDeviceCode } from '../src/identity/sandbox-device-sign-in';
import { startSandbox, stopSandbox, type Sandbox } from './helpers/identity';

describe("the signed-in admin's token, read from the cache without the sign-in library", function () {
  this.timeout(60_000);
  let sandbox: Sandbox;
  let signedIn: SignedIn;
  before(async () => {
    sandbox = await startSandbox();
    signedIn = await signInWithDeviceCode(sandbox.config.signIn, (prompt) =>
      completeSandboxDeviceCode({ verificationUri: prompt.verificationUri, userCode: prompt.userCode, upn: 'admin@fabrikam.com', ca: sandbox.ca }),
    );
  });
  after(() => stopSandbox(sandbox));

  it('gives what the library gives from the same cache: the same token, user, tenant, object id and expiry', async () => {
    const settings = sandbox.config.signIn;
    const fromLibrary = await currentSignIn(settings);
    const fromFile = cachedSignIn(settings);
    assert.ok(fromFile, 'a fresh token is read from the file');
    assert.equal(fromFile.accessToken, fromLibrary.accessToken);
    assert.deepEqual(
      { ...fromFile, accessToken: undefined, expiresOn: Math.round(fromFile.expiresOn.getTime() / 1000) },
      { ...fromLibrary, accessToken: undefined, expiresOn: Math.round(fromLibrary.expiresOn.getTime() / 1000) },
    );
    assert.equal(fromFile.user, 'admin@fabrikam.com');
    assert.equal(fromFile.tenantId, 't-fabrikam');
    assert.equal(fromFile.accessToken, signedIn.accessToken);
  });

  it('leaves to the library a token within its renewal margin, another client, API or issuer, and a cache others can read', () => {
    const settings = sandbox.config.signIn;
    const expiresSec = Math.round(signedIn.expiresOn.getTime() / 1000);
    assert.ok(cachedSignIn(settings, (expiresSec - 301) * 1000), 'still good 301 s before its end');
    assert.equal(cachedSignIn(settings, (expiresSec - 299) * 1000), undefined, 'within the library renewal margin (300 s)');
    assert.equal(cachedSignIn({ ...settings, clientId: 'another-app' }), undefined);
    assert.equal(cachedSignIn({ ...settings, api: 'api://another' }), undefined);
    assert.equal(cachedSignIn({ ...settings, authority: 'https://login.example.com/tenant' }), undefined);
    assert.equal(cachedSignIn({ ...settings, tokenCacheFile: `${settings.tokenCacheFile}.missing` }), undefined);
    const file = settings.tokenCacheFile;
    chmodSync(file, 0o644);
    try {
      assert.equal(cachedSignIn(settings), undefined);
    } finally {
      chmodSync(file, 0o600);
    }
    const original = readFileSync(file, 'utf8');
    try {
      writeFileSync(file, '{"Account": ', { mode: 0o600 });
      assert.equal(cachedSignIn(settings), undefined, 'a cache it cannot read');
    } finally {
      writeFileSync(file, original, { mode: 0o600 });
    }
    assert.ok(cachedSignIn(settings));
  });
});

describe('a cached token near its end goes to the library, which renews it', function () {
  this.timeout(60_000);
  let sandbox: Sandbox;
  // Access tokens for 302 s: within the library's 300 s renewal margin two seconds after issue.
  before(async () => {
    sandbox = await startSandbox({ accessToken: 302 });
  });
  after(() => stopSandbox(sandbox));

  it('is not read from the file once within the margin, and the library then gives a new token', async () => {
    const settings = sandbox.config.signIn;
    const first = await signInWithDeviceCode(settings, (prompt) =>
      completeSandboxDeviceCode({ verificationUri: prompt.verificationUri, userCode: prompt.userCode, upn: 'admin@contoso.com', ca: sandbox.ca }),
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(cachedSignIn(settings), undefined);
    const renewed = await currentSignIn(settings);
    assert.notEqual(renewed.accessToken, first.accessToken, 'the library renewed it with the refresh token');
    assert.equal(renewed.user, 'admin@contoso.com');
    const now = cachedSignIn(settings, Date.now() - 5_000);
    assert.equal(now?.accessToken, renewed.accessToken, 'the renewed token is in the file for the next command');
  });
});
