// The gateway's signing key: a file named by T2T_GATEWAY_KEY_FILE (Ed25519,
// PKCS#8 PEM), or in the embedded stack one made on first start in the data
// folder, readable by its owner only. Its id is a fingerprint of the public key,
// so the same key has the same id wherever it is published.
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gatewayKeyFromPem, type GatewayKey } from '../identity/action-signer';

export function keyIdOf(pem: string): string {
  const raw = createPublicKey(pem).export({ format: 'der', type: 'spki' });
  return `gw-${createHash('sha256').update(raw).digest('hex').slice(0, 16)}`;
}

export function loadGatewayKey(options: { keyFile?: string; dataDir: string }): GatewayKey {
  const file = options.keyFile ?? path.join(options.dataDir, 'gateway', 'signing-key.pem');
  if (!existsSync(file)) {
    if (options.keyFile) throw new Error(`T2T_GATEWAY_KEY_FILE: ${file} does not exist`);
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    writeFileSync(file, pem, { mode: 0o600 });
  }
  const pem = readFileSync(file, 'utf8');
  return gatewayKeyFromPem(keyIdOf(pem), pem);
}
