// The payload keys: a key ring of AES-256 keys, each named by a key id, one of
// them the key that encrypts; the others only decrypt (payloads written before a
// rotation). Read from T2T_PAYLOAD_KEYS or T2T_PAYLOAD_KEYS_FILE, or from the key
// file the embedded stack keeps in its data folder. Key material never appears
// in a message: errors name the key id and the line, never the value.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** 1 to 64 characters a header, a file and a shell carry without quoting. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const KEY_BYTES = 32;
/** The key file `npm start` creates in the data folder on its first start. */
export const DATA_DIR_KEYS_FILE = 'payload-keys';

export interface KeyRing {
  /** key id -> 32-byte key */
  keys: ReadonlyMap<string, Buffer>;
  /** the key new payloads are encrypted with */
  encryptKeyId: string;
  /** where the keys came from, for the start-up line (never the keys themselves) */
  source: string;
}

export class PayloadKeyError extends Error {
  override name = 'PayloadKeyError';
}

/**
 * Parses `id:base64key` entries, separated by commas, spaces or new lines; `#` starts a
 * comment in a file. The encrypting key is `encryptKeyId` when given, else the first entry.
 */
export function parseKeyRing(text: string, source: string, encryptKeyId?: string): KeyRing {
  const keys = new Map<string, Buffer>();
  const entries = text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .flatMap((line) => line.split(/[\s,]+/))
    .filter((entry) => entry.length > 0);
  for (const [index, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon) : '';
    if (!KEY_ID_PATTERN.test(id)) {
      throw new PayloadKeyError(`${source}: entry ${index + 1} must be <key id>:<base64 of 32 random bytes>, the key id 1 to 64 of A-Z a-z 0-9 . _ -`);
    }
    const material = entry.slice(colon + 1);
    const key = Buffer.from(material, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(material) || key.length !== KEY_BYTES) {
      throw new PayloadKeyError(`${source}: key '${id}' must be the base64 of exactly ${KEY_BYTES} random bytes (openssl rand -base64 32)`);
    }
    if (keys.has(id)) throw new PayloadKeyError(`${source}: key id '${id}' appears twice`);
    keys.set(id, key);
  }
  if (keys.size === 0) throw new PayloadKeyError(`${source}: holds no key`);
  const encrypting = encryptKeyId ?? [...keys.keys()][0];
  if (!keys.has(encrypting)) {
    throw new PayloadKeyError(`T2T_PAYLOAD_KEY_ID: key '${encrypting}' is not among the keys of ${source} (${[...keys.keys()].join(', ')})`);
  }
  return { keys, encryptKeyId: encrypting, source };
}

export function readKeyRingFile(file: string, encryptKeyId?: string): KeyRing {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PayloadKeyError(`T2T_PAYLOAD_KEYS_FILE: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseKeyRing(text, file, encryptKeyId);
}

/** A new key line, as the key file holds it; the id says when it was made, which tells a rotation's keys apart. */
export function newKeyLine(now = new Date()): string {
  const id = `k${now.toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;
  return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
}

export function dataDirKeysFile(dataDir: string): string {
  return path.join(dataDir, DATA_DIR_KEYS_FILE);
}

/** Creates the data folder's key file with one new key unless it exists; says whether it created it. */
export function ensureDataDirKeyFile(dataDir: string): boolean {
  const file = dataDirKeysFile(dataDir);
  if (existsSync(file)) return false;
  const header = '# Payload keys of this data folder (AES-256, base64): <key id>:<key>. The first one encrypts.\n';
  // 'wx': two stacks starting at once must not each write a key the other cannot read.
  try {
    writeFileSync(file, `${header}${newKeyLine()}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  return true;
}
