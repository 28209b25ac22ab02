// The embedded stack's own evidence signing key: `npm start` makes an Ed25519 key
// pair in the data folder on its first start, so that `t2t evidence` works in the
// sandbox without any setting. Only a key found there is used, and only when no
// key is configured: a deployment (no embedded stack, no such file) still refuses
// to sign until T2T_EVIDENCE_HMAC_KEY or T2T_EVIDENCE_SIGNING_KEY_FILE is set.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { EvidenceSettings } from '../config';

/** The file in the data folder: its name says what it is to whoever lists the folder. */
export const SANDBOX_SIGNING_KEY = 'evidence-signing-key.sandbox.pem';

export function sandboxKeyFile(dataDir: string): string {
  return path.join(path.resolve(dataDir), SANDBOX_SIGNING_KEY);
}

/** Makes the sandbox key unless it exists; says whether it was made now. */
export function ensureSandboxSigningKey(dataDir: string): { file: string; created: boolean } {
  const file = sandboxKeyFile(dataDir);
  if (existsSync(file)) return { file, created: false };
  mkdirSync(path.dirname(file), { recursive: true });
  const { privateKey } = generateKeyPairSync('ed25519');
  // 'wx': never replace a key another start made meanwhile (packs signed with it would no longer verify).
  try {
    writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { file, created: false };
  }
  return { file, created: true };
}

/** The configured evidence keys, or else the sandbox key the embedded stack made in the data folder. */
export function evidenceSettings(config: { evidence?: EvidenceSettings; dataDir: string }): EvidenceSettings {
  const configured = config.evidence ?? {};
  if (configured.hmacKey || configured.signingKeyFile || configured.publicKeyFile) return configured;
  const file = sandboxKeyFile(config.dataDir);
  return existsSync(file) ? { ...configured, signingKeyFile: file } : configured;
}
