// The sandbox provider's token-signing keys: made with jose, kept in the data
// folder (owner-readable only) so that tokens stay valid across a restart.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

export function signingKeysPath(dataDir: string): string {
  return path.join(dataDir, 'identity', 'signing-keys.json');
}

export async function newSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  return { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

/** The keys, newest first (the provider signs with the first), made on first use. */
export async function loadSigningKeys(dataDir: string): Promise<{ keys: JWK[] }> {
  const file = signingKeysPath(dataDir);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as { keys: JWK[] };
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const jwks = { keys: [await newSigningKey()] };
  writeFileSync(file, JSON.stringify(jwks), { mode: 0o600 });
  return jwks;
}

/**
 * Rotation: a new key signs from now on; the previous one stays published so the
 * tokens it signed verify until they expire. Older keys are dropped.
 */
export async function rotateSigningKeys(dataDir: string): Promise<{ keys: JWK[] }> {
  const current = await loadSigningKeys(dataDir);
  const jwks = { keys: [await newSigningKey(), current.keys[0]] };
  const file = signingKeysPath(dataDir);
  writeFileSync(`${file}.tmp`, JSON.stringify(jwks), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return jwks;
}

/** The keys the provider signs its cookies with: kept apart from the token keys so a rotation keeps people signed in. */
export function loadCookieKeys(dataDir: string): string[] {
  const file = path.join(dataDir, 'identity', 'cookie-keys.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as string[];
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const keys = [randomBytes(32).toString('base64url')];
  writeFileSync(file, JSON.stringify(keys), { mode: 0o600 });
  return keys;
}
