// The payload codec on its own: what it writes, what it reads back, which keys
// it reads with, how it refuses, where its keys come from, and its HTTP server
// as the Web UI and the Temporal CLI call it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { AesGcmPayloadCodec, KeylessPayloadCodec, COMPRESS_ABOVE_BYTES, encryptionOf } from '../src/codec/aes-gcm-codec';
import { parseKeyRing, dataDirKeysFile } from '../src/codec/keys';
import { payloadProtection } from '../src/codec';
import { startCodecServer, type RunningCodecServer } from '../src/codec/server';
import { loadConfig } from '../src/config';
import { spawn, type ChildProcess } from 'node:child_process';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { projectRoot } from '../src/temporal-binaries';
import { startSandbox, stopSandbox, tokenOf, type Sandbox } from './helpers/identity';
import { freePort } from './helpers/ports';

const keyLine = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('latin1');
const toPayload = (value: unknown) => defaultPayloadConverter.toPayload(value) as Payload;
const fromPayload = (payload: Payload) => defaultPayloadConverter.fromPayload(payload);

describe('payload codec (AES-256-GCM, key ids, compression)', () => {
  const k1 = keyLine('k1');
  const k2 = keyLine('k2');
  const codec = new AesGcmPayloadCodec(parseKeyRing(k1, 'test keys'));
  const secret = { actor: 'admin@contoso.com', sasUrl: 'https://x.blob.core.windows.net/c?sv=1&sr=c&sig=abc%3D' };

  it('encrypts a small payload whole (its metadata too) and reads it back', async () => {
    const [encoded] = await codec.encode([toPayload(secret)]);
    assert.equal(text(encoded.metadata!.encoding), 'binary/encrypted');
    assert.equal(text(encoded.metadata!['encryption-cipher']), 'AES-256-GCM');
    assert.equal(text(encoded.metadata!['encryption-key-id']), 'k1');
    assert.equal(encoded.metadata!['encryption-compression'], undefined, 'too small to compress');
    assert.ok(!text(encoded.data).includes('contoso') && !text(encoded.data).includes('sig=') && !text(encoded.data).includes('json/plain'));
    const [decoded] = await codec.decode([encoded]);
    assert.deepEqual(fromPayload(decoded), secret);
    assert.equal(text(decoded.metadata!.encoding), 'json/plain');
  });

  it('compresses a large payload before encrypting it, and says so in the metadata', async () => {
    const big = { rows: Array.from({ length: 400 }, (_, i) => `user${i}@contoso.com`) };
    const plain = toPayload(big);
    assert.ok(plain.data!.length > COMPRESS_ABOVE_BYTES);
    const [encoded] = await codec.encode([plain]);
    assert.equal(text(encoded.metadata!['encryption-compression']), 'zlib');
    assert.ok(encoded.data!.length < plain.data!.length / 2, `${encoded.data!.length} bytes for ${plain.data!.length}`);
    assert.deepEqual(fromPayload((await codec.decode([encoded]))[0]), big);
  });

  it('uses a fresh nonce each time: the same value never gives the same bytes', async () => {
    const [a, b] = await codec.encode([toPayload(secret), toPayload(secret)]);
    assert.notDeepEqual(Buffer.from(a.data!), Buffer.from(b.data!));
  });

  it('passes a payload without its encoding through untouched (histories written before the codec)', async () => {
    const plain = toPayload(secret);
    const [decoded] = await codec.decode([plain]);
    assert.equal(decoded, plain);
  });

  it('reads payloads of an older key after a rotation, and names a key it does not hold', async () => {
    const [old] = await codec.encode([toPayload(secret)]);
    const rotated = new AesGcmPayloadCodec(parseKeyRing(`${k2}\n${k1}`, 'rotated keys'));
    assert.equal(rotated.encryptKeyId, 'k2');
    assert.deepEqual(fromPayload((await rotated.decode([old]))[0]), secret);
    assert.equal(encryptionOf((await rotated.encode([toPayload(secret)]))[0])?.keyId, 'k2');
    const withoutK1 = new AesGcmPayloadCodec(parseKeyRing(k2, 'new keys'));
    await assert.rejects(withoutK1.decode([old]), /encrypted with key 'k1', which is not among the keys held here \(k2\)/);
  });

  it('refuses an altered payload, and one under another key of the same id', async () => {
    const [encoded] = await codec.encode([toPayload(secret)]);
    const altered = Buffer.from(encoded.data!);
    altered[20] ^= 1;
    await assert.rejects(codec.decode([{ ...encoded, data: altered }]), /failed authentication/);
    const impostor = new AesGcmPayloadCodec(parseKeyRing(keyLine('k1'), 'other keys'));
    await assert.rejects(impostor.decode([encoded]), /failed authentication/);
  });

  it('a process without keys writes plain payloads and stops at an encrypted one with one line', async () => {
    const keyless = new KeylessPayloadCodec();
    const plain = toPayload(secret);
    assert.equal((await keyless.encode([plain]))[0], plain);
    const [encoded] = await codec.encode([plain]);
    await assert.rejects(keyless.decode([encoded]), /encrypted \(key 'k1'\) and no payload keys are configured here: set T2T_PAYLOAD_KEYS_FILE/);
  });
});

describe('payload keys: where they come from, and how a bad one is refused', () => {
  const material = randomBytes(32).toString('base64');

  it('refuses a malformed key ring with one line that never shows key material', () => {
    const cases: [string, RegExp][] = [
      [`bad id!:${material}`, /entry 1 must be <key id>:<base64 of 32 random bytes>/],
      [`k1:${randomBytes(16).toString('base64')}`, /key 'k1' must be the base64 of exactly 32 random bytes/],
      [`k1:${material} k1:${material}`, /key id 'k1' appears twice/],
      ['# only a comment', /holds no key/],
    ];
    for (const [input, expected] of cases) {
      assert.throws(() => parseKeyRing(input, 'T2T_PAYLOAD_KEYS'), (err: Error) => expected.test(err.message) && !err.message.includes(material) && !err.message.includes('\n'));
    }
    assert.throws(() => parseKeyRing(`k1:${material}`, 'T2T_PAYLOAD_KEYS', 'k9'), /T2T_PAYLOAD_KEY_ID: key 'k9' is not among the keys of T2T_PAYLOAD_KEYS \(k1\)/);
  });

  it('a file holds one key a line, with comments; T2T_PAYLOAD_KEY_ID picks the encrypting one', () => {
    const ring = parseKeyRing(`# rotated 2026-12\nk2:${material}\nk1:${randomBytes(32).toString('base64')}  # old\n`, 'keys file', 'k1');
    assert.deepEqual([...ring.keys.keys()], ['k2', 'k1']);
    assert.equal(ring.encryptKeyId, 'k1');
  });

  it('configuration: keys in one place only, and not both off and keys', () => {
    assert.throws(() => loadConfig({ T2T_PAYLOAD_KEYS: `k1:${material}`, T2T_PAYLOAD_KEYS_FILE: '/x' }), /set either it or T2T_PAYLOAD_KEYS_FILE, not both/);
    assert.throws(() => loadConfig({ T2T_PAYLOAD_ENCRYPTION: 'off', T2T_PAYLOAD_KEYS: `k1:${material}` }), /is off while payload keys are configured/);
    assert.throws(() => loadConfig({ T2T_PAYLOAD_ENCRYPTION: 'maybe' }), /T2T_PAYLOAD_ENCRYPTION: must be on or off/);
    assert.throws(() => loadConfig({ T2T_CODEC_CORS_ORIGINS: 'https://ui.contoso.com/path' }), /T2T_CODEC_CORS_ORIGINS: must be origins/);
    assert.equal(loadConfig({}).codecServer.signIn, 'on', 'the codec server on its own asks for a sign-in unless told not to');
    assert.equal(loadConfig({ T2T_CODEC_SIGN_IN: 'off' }).codecServer.signIn, 'off');
    assert.throws(() => loadConfig({ T2T_CODEC_SIGN_IN: 'maybe' }), /T2T_CODEC_SIGN_IN: must be on or off/);
  });

  it('a worker without keys refuses to start; t2t without keys writes in clear; off is said in one line', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-keys-'));
    const config = loadConfig({ T2T_DATA_DIR: dir });
    assert.throws(() => payloadProtection(config, 'worker'), /^PayloadKeyError: payload encryption: no keys: set T2T_PAYLOAD_KEYS_FILE \(or T2T_PAYLOAD_KEYS\), or T2T_PAYLOAD_ENCRYPTION=off/);
    assert.throws(() => payloadProtection(loadConfig({ T2T_DATA_DIR: dir, T2T_PAYLOAD_ENCRYPTION: 'on' }), 'client'), /no keys/);
    const client = payloadProtection(config, 'client');
    assert.ok(client.codec instanceof KeylessPayloadCodec);
    assert.equal(client.ring, undefined);
    const off = payloadProtection(loadConfig({ T2T_DATA_DIR: dir, T2T_PAYLOAD_ENCRYPTION: 'off' }), 'worker');
    assert.equal(off.summary, 'payloads are NOT encrypted (T2T_PAYLOAD_ENCRYPTION=off)');
  });

  it('the embedded stack creates a key in its data folder once; the worker and t2t of that folder find it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-keys-'));
    const config = loadConfig({ T2T_DATA_DIR: dir });
    const first = payloadProtection(config, 'stack');
    assert.match(first.summary, /a new key was created in .*payload-keys: keep it with the data/);
    assert.doesNotMatch(first.summary, /[A-Za-z0-9+/]{40,}/, 'the key itself is not in the line');
    assert.equal(statSync(dataDirKeysFile(dir)).mode & 0o777, 0o600);
    const written = readFileSync(dataDirKeysFile(dir), 'utf8');
    const second = payloadProtection(config, 'stack');
    assert.equal(readFileSync(dataDirKeysFile(dir), 'utf8'), written, 'a second start keeps the key');
    assert.equal(second.ring!.encryptKeyId, first.ring!.encryptKeyId);
    assert.equal(payloadProtection(config, 'worker').ring!.encryptKeyId, first.ring!.encryptKeyId);
    assert.equal(payloadProtection(config, 'client').ring!.encryptKeyId, first.ring!.encryptKeyId);
  });
});

describe('codec server (Temporal remote codec protocol)', () => {
  const ring = parseKeyRing(keyLine('k1'), 'test keys');
  const codec = new AesGcmPayloadCodec(ring);
  const uiOrigin = 'http://localhost:8233';
  const token = randomBytes(24).toString('hex');
  let open: RunningCodecServer;
  let guarded: RunningCodecServer;

  before(async () => {
    open = await startCodecServer({ codec, namespace: 'default', corsOrigins: [uiOrigin], port: 0 });
    guarded = await startCodecServer({ codec, namespace: 'default', corsOrigins: [uiOrigin], authToken: token, port: 0 });
  });
  after(async () => {
    await open?.close();
    await guarded?.close();
  });

  const asJson = (p: Payload) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
    data: Buffer.from(p.data!).toString('base64'),
  });
  const post = (base: string, op: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}/${op}`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', ...headers }, body: JSON.stringify(body) });

  it('decodes what the codec wrote and encodes what it is given, as base64 JSON Payloads', async () => {
    const [encoded] = await codec.encode([toPayload({ actor: 'admin@contoso.com' })]);
    const response = await post(open.url, 'decode', { payloads: [asJson(encoded)] });
    assert.equal(response.status, 200);
    const { payloads } = (await response.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    assert.equal(Buffer.from(payloads[0].metadata.encoding, 'base64').toString(), 'json/plain');
    assert.deepEqual(JSON.parse(Buffer.from(payloads[0].data, 'base64').toString()), { actor: 'admin@contoso.com' });

    const encodedByServer = await post(open.url, 'encode', { payloads: [asJson(toPayload('hello'))] });
    const back = ((await encodedByServer.json()) as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads[0];
    assert.equal(Buffer.from(back.metadata['encryption-key-id'], 'base64').toString(), 'k1');
    const decoded = await codec.decode([{ metadata: Object.fromEntries(Object.entries(back.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])), data: Buffer.from(back.data, 'base64') }]);
    assert.equal(fromPayload(decoded[0]), 'hello');
  });

  it("answers the Web UI's preflight for its origin only, with credentials and Authorization allowed", async () => {
    const ok = await fetch(`${open.url}/decode`, { method: 'OPTIONS', headers: { Origin: uiOrigin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-namespace,authorization' } });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), uiOrigin);
    assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    const other = await fetch(`${open.url}/decode`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(other.status, 403);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const [encoded] = await codec.encode([toPayload('x')]);
    assert.equal((await post(open.url, 'decode', { payloads: [asJson(encoded)] }, { Origin: 'https://evil.example' })).status, 403);
  });

  it('asks for the bearer token when one is configured, and serves only its namespace', async () => {
    const [encoded] = await codec.encode([toPayload('x')]);
    const body = { payloads: [asJson(encoded)] };
    const none = await post(guarded.url, 'decode', body);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await post(guarded.url, 'decode', body, { Authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await post(guarded.url, 'decode', body, { Authorization: `Bearer ${token}` })).status, 200);
    assert.equal((await post(open.url, 'decode', body, { 'X-Namespace': 'other' })).status, 403);
    const bad = await post(open.url, 'decode', { payloads: 'not a list' });
    assert.equal(bad.status, 400);
    // Protobuf's JSON writes an empty Payloads as {} (the Temporal CLI sends those).
    const empty = await post(open.url, 'decode', {});
    assert.equal(empty.status, 200);
    assert.deepEqual(await empty.json(), { payloads: [] });
  });
});

describe("codec server on its own: the gateway's sign-in (serve.js, sandbox provider) @integration", function () {
  this.timeout(120_000);
  const keys = keyLine('k-signin');
  const codec = new AesGcmPayloadCodec(parseKeyRing(keys, 'test keys'));
  const sharedToken = randomBytes(24).toString('hex');
  let sandbox: Sandbox;
  let server: ChildProcess;
  let url: string;
  let adminToken: string;

  /** serve.js as compose and Kubernetes run it, with the sandbox's settings and `env` on top; resolves once it listens. */
  async function serve(env: Record<string, string>): Promise<{ child: ChildProcess; url: string; output: string }> {
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(projectRoot(), 'dist', 'src', 'codec', 'serve.js')], {
      env: { PATH: process.env.PATH ?? '', ...sandbox.env, T2T_CODEC_ADDRESS: `127.0.0.1:${port}`, T2T_PAYLOAD_KEYS: keys, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d) => (output += String(d)));
    child.stderr!.on('data', (d) => (output += String(d)));
    for (let i = 0; i < 300 && !output.includes('listening on'); i++) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return { child, url: `http://127.0.0.1:${port}`, output };
  }

  before(async () => {
    sandbox = await startSandbox();
    adminToken = await tokenOf(sandbox, 'admin@fabrikam.com');
    const started = await serve({ T2T_CODEC_AUTH_TOKEN: sharedToken });
    server = started.child;
    url = started.url;
    assert.match(started.output, /decodes for signed-in admins only \(tokens from https:\/\/localhost:\d+ for api:\/\/t2t\), or the shared T2T_CODEC_AUTH_TOKEN/, started.output);
  });
  after(async () => {
    server?.kill('SIGTERM');
    await stopSandbox(sandbox);
  });

  const decode = async (headers: Record<string, string>, at = url) => {
    const [encoded] = await codec.encode([toPayload({ actor: 'admin@fabrikam.com' })]);
    const body = { payloads: [{ metadata: Object.fromEntries(Object.entries(encoded.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])), data: Buffer.from(encoded.data!).toString('base64') }] };
    const response = await fetch(`${at}/decode`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', ...headers }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as { message?: string; payloads?: { data: string }[] } };
  };

  it('decodes for a signed-in admin whose token the Web UI forwards', async () => {
    const answer = await decode({ Authorization: `Bearer ${adminToken}` });
    assert.equal(answer.status, 200, answer.body.message);
    assert.deepEqual(JSON.parse(Buffer.from(answer.body.payloads![0].data, 'base64').toString()), { actor: 'admin@fabrikam.com' });
  });

  it('refuses without a token, and with a forged one, in one line and decoding nothing (401)', async () => {
    const none = await decode({});
    assert.equal(none.status, 401);
    assert.equal(none.body.payloads, undefined);
    assert.match(none.body.message!, /^sign-in required: no sign-in: send the signed-in admin's token/);
    const claims = { ...decodeJwt(adminToken), preferred_username: 'admin@contoso.com', tid: 't-contoso' };
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: decodeProtectedHeader(adminToken).kid }).sign(privateKey);
    const refused = await decode({ Authorization: `Bearer ${forged}` });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.payloads, undefined);
    assert.equal(refused.body.message, "sign-in required: the token's signature does not verify against the issuer's keys");
    assert.ok(!refused.body.message!.includes('\n'));
  });

  it('still accepts the shared token a tool presents (the Temporal CLI\'s --codec-auth)', async () => {
    assert.equal((await decode({ Authorization: `Bearer ${sharedToken}` })).status, 200);
    assert.equal((await decode({ Authorization: `Bearer ${sharedToken}x` })).status, 401);
  });

  it("accepts a token for the Temporal app's audience when told to (a Web UI signed in for Temporal's authorization), and no other", async () => {
    // The sandbox's tokens are for api://t2t: here that plays the Temporal app, and the product API is another.
    const strict = await serve({ T2T_AUTH_API: 'api://t2t-product' });
    const both = await serve({ T2T_AUTH_API: 'api://t2t-product', T2T_CODEC_TOKEN_AUDIENCE: 'api://t2t' });
    try {
      assert.match(both.output, /for api:\/\/t2t-product or api:\/\/t2t\)/, both.output);
      const refused = await decode({ Authorization: `Bearer ${adminToken}` }, strict.url);
      assert.equal(refused.status, 401);
      assert.equal(refused.body.message, 'sign-in required: the token is not for this codec server (audience api://t2t-product)');
      const accepted = await decode({ Authorization: `Bearer ${adminToken}` }, both.url);
      assert.equal(accepted.status, 200, accepted.body.message);
    } finally {
      strict.child.kill('SIGTERM');
      both.child.kill('SIGTERM');
    }
  });

  it('a production codec server without a reachable issuer certificate refuses to start in one line', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-codec-'));
    const refused = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [path.join(projectRoot(), 'dist', 'src', 'codec', 'serve.js')], {
        env: { PATH: process.env.PATH ?? '', T2T_DATA_DIR: dir, T2T_CODEC_ADDRESS: '127.0.0.1:0', T2T_PAYLOAD_KEYS: keys },
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += String(d)));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^codec server: sign-in: tokens would come from the embedded stack's own provider .* set T2T_AUTH_AUTHORITY .* or T2T_CODEC_SIGN_IN=off .*\n$/);
  });
});
