// The embedded stack's own evidence key: made once in the data folder, used only
// when no key is configured, and never where the stack did not make one (a
// deployment still refuses to sign until a key is configured).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureSandboxSigningKey, evidenceSettings, sandboxKeyFile } from '../src/evidence/sandbox-key';
import { loadSigner, loadVerifier } from '../src/evidence/signing';

describe('the sandbox evidence key', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 't2t-sandbox-key-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('a data folder without it (a deployment): no key, and signing is refused with the settings to set', () => {
    const settings = evidenceSettings({ dataDir, evidence: {} });
    assert.deepEqual(settings, {});
    assert.throws(() => loadSigner(settings), /^UserError: evidence packs are signed: set T2T_EVIDENCE_HMAC_KEY .* or T2T_EVIDENCE_SIGNING_KEY_FILE/);
  });

  it('made on the first start (owner-only), kept on the next; signs and verifies with Ed25519', () => {
    const first = ensureSandboxSigningKey(dataDir);
    assert.equal(first.created, true);
    assert.equal(first.file, sandboxKeyFile(dataDir));
    assert.equal(statSync(first.file).mode & 0o777, 0o600);
    const pem = readFileSync(first.file, 'utf8');
    const second = ensureSandboxSigningKey(dataDir);
    assert.equal(second.created, false);
    assert.equal(readFileSync(second.file, 'utf8'), pem, 'the key is never replaced: packs signed with it keep verifying');

    const settings = evidenceSettings({ dataDir, evidence: {} });
    assert.equal(settings.signingKeyFile, first.file);
    const signer = loadSigner(settings);
    assert.equal(signer.algorithm, 'Ed25519');
    const data = Buffer.from('manifest');
    assert.ok(loadVerifier(settings).verify(data, signer.sign(data)));
  });

  it('a configured key wins over the sandbox key', () => {
    ensureSandboxSigningKey(dataDir);
    const hmacKey = 'x'.repeat(40);
    assert.deepEqual(evidenceSettings({ dataDir, evidence: { hmacKey } }), { hmacKey });
    assert.equal(loadSigner(evidenceSettings({ dataDir, evidence: { hmacKey } })).algorithm, 'HMAC-SHA256');
  });
});
