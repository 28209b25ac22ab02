// The sign-in policy a worker gives its workflows (src/activities/auth-policy.ts): from its own
// configuration, the gateway's keys from a file or from the gateway, kept a while, read again on request.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAuthPolicyActivities } from '../src/activities/auth-policy';
import { loadConfig } from '../src/config';

describe('the sign-in policy the worker gives its workflows', () => {
  let server: Server;
  let url: string;
  let served: { kid: string; x: string }[];
  let requests = 0;
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-auth-policy-'));

  before(async () => {
    server = createServer((req, res) => {
      requests += 1;
      if (req.url !== '/v1/keys') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is on unless the configuration says off; off reads no keys at all', async () => {
    assert.equal(loadConfig({}).signIn.auth, 'on');
    const before = requests;
    const off = createAuthPolicyActivities({ auth: 'off', gatewayUrl: url });
    assert.deepEqual(await off.authPolicy(), { enforced: false, keys: [] });
    assert.equal(requests, before);
  });

  it('reads the keys from the gateway, keeps them a while, and reads them again when asked to (a rotated key)', async () => {
    served = [{ kid: 'k1', x: 'AAAA' }];
    const { authPolicy } = createAuthPolicyActivities({ auth: 'on', gatewayUrl: url });
    const before = requests;
    assert.deepEqual(await authPolicy(), { enforced: true, keys: [{ kid: 'k1', x: 'AAAA' }] });
    served = [{ kid: 'k2', x: 'BBBB' }, { kid: 'k1', x: 'AAAA' }];
    assert.deepEqual((await authPolicy()).keys, [{ kid: 'k1', x: 'AAAA' }], 'kept');
    assert.equal(requests, before + 1);
    assert.deepEqual((await authPolicy({ refresh: true })).keys.map((k) => k.kid), ['k2', 'k1'], 'read again');
    assert.equal(requests, before + 2);
  });

  it('reads the keys from a file when one is configured', async () => {
    const file = path.join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify({ keys: [{ kid: 'file-key', x: 'CCCC', use: 'sig' }] }));
    const { authPolicy } = createAuthPolicyActivities({ auth: 'on', gatewayUrl: url, gatewayPublicKeysFile: file });
    assert.deepEqual(await authPolicy(), { enforced: true, keys: [{ kid: 'file-key', x: 'CCCC' }] });
  });

  it('keys that cannot be read: still enforced, no keys, and why in one line', async () => {
    const unreachable = createAuthPolicyActivities({ auth: 'on', gatewayUrl: 'http://127.0.0.1:9' });
    const policy = await unreachable.authPolicy();
    assert.equal(policy.enforced, true);
    assert.deepEqual(policy.keys, []);
    assert.match(String(policy.keysUnavailable), /^the gateway's keys at http:\/\/127\.0\.0\.1:9\/v1\/keys cannot be read \(/);
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, '{"keys": "none"}');
    const bad = await createAuthPolicyActivities({ auth: 'on', gatewayUrl: url, gatewayPublicKeysFile: file }).authPolicy();
    assert.equal(bad.keysUnavailable, `the gateway's keys file ${file}: expected { "keys": [{ "kid": …, "x": … }] }`);
    const missing = await createAuthPolicyActivities({ auth: 'on', gatewayUrl: url, gatewayPublicKeysFile: path.join(dir, 'none.json') }).authPolicy();
    assert.match(String(missing.keysUnavailable), /cannot be read \(ENOENT\)$/);
  });
});
