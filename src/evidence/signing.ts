// How an evidence pack's manifest is signed and checked: HMAC-SHA256 with a
// shared secret, or Ed25519 with a key pair (the private key signs, anyone with
// the public key verifies). The signature covers the exact bytes of
// manifest.json, so that `openssl` can check it without the product.
import { createHash, createHmac, createPrivateKey, createPublicKey, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { EvidenceSettings } from '../config';
import { UserError } from '../client/user-error';

export type SignatureAlgorithm = 'HMAC-SHA256' | 'Ed25519';

export interface Signer {
  algorithm: SignatureAlgorithm;
  keyId: string;
  sign(data: Buffer): Buffer;
}

export interface Verifier {
  algorithm: SignatureAlgorithm;
  keyId: string;
  verify(data: Buffer, signature: Buffer): boolean;
}

const HMAC_KEY = 'T2T_EVIDENCE_HMAC_KEY';
const SIGNING_KEY_FILE = 'T2T_EVIDENCE_SIGNING_KEY_FILE';
const PUBLIC_KEY_FILE = 'T2T_EVIDENCE_PUBLIC_KEY_FILE';

/** The signer configured for `t2t evidence`; one line naming the setting when there is none or it is unusable. */
export function loadSigner(settings: EvidenceSettings = {}): Signer {
  if (settings.hmacKey) return hmac(settings.hmacKey, settings.keyId);
  if (settings.signingKeyFile) {
    const privateKey = readKey(SIGNING_KEY_FILE, settings.signingKeyFile, 'private');
    const keyId = settings.keyId ?? ed25519KeyId(createPublicKey(privateKey));
    return { algorithm: 'Ed25519', keyId, sign: (data) => sign(null, data, privateKey) };
  }
  if (settings.publicKeyFile) {
    throw new UserError(`evidence packs are signed with a private key: ${SIGNING_KEY_FILE} is not set (${PUBLIC_KEY_FILE} only verifies)`);
  }
  throw new UserError(`evidence packs are signed: set ${HMAC_KEY} (a secret of 32 characters or more) or ${SIGNING_KEY_FILE} (an Ed25519 private key, PEM)`);
}

/** The verifier configured for `t2t evidence verify`: the HMAC key, the public key, or the public half of the private key. */
export function loadVerifier(settings: EvidenceSettings = {}): Verifier {
  if (settings.hmacKey) {
    const signer = hmac(settings.hmacKey, settings.keyId);
    return {
      algorithm: signer.algorithm,
      keyId: signer.keyId,
      verify: (data, signature) => {
        const expected = signer.sign(data);
        return signature.length === expected.length && timingSafeEqual(signature, expected);
      },
    };
  }
  const publicKey = settings.publicKeyFile
    ? readKey(PUBLIC_KEY_FILE, settings.publicKeyFile, 'public')
    : settings.signingKeyFile
      ? createPublicKey(readKey(SIGNING_KEY_FILE, settings.signingKeyFile, 'private'))
      : undefined;
  if (!publicKey) {
    throw new UserError(`verifying needs the key the pack was signed with: set ${HMAC_KEY}, or ${PUBLIC_KEY_FILE} (the Ed25519 public key, PEM)`);
  }
  return {
    algorithm: 'Ed25519',
    keyId: settings.keyId ?? ed25519KeyId(publicKey),
    verify: (data, signature) => {
      try {
        return verify(null, data, publicKey, signature);
      } catch {
        return false;
      }
    },
  };
}

function hmac(key: string, keyId: string | undefined): Signer {
  return {
    algorithm: 'HMAC-SHA256',
    // A hash of the key names it without revealing it: the key is a secret of 32 characters or more.
    keyId: keyId ?? `hmac-sha256:${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 16)}`,
    sign: (data) => createHmac('sha256', Buffer.from(key, 'utf8')).update(data).digest(),
  };
}

/** `ed25519:` and the first 16 hex digits of the SHA-256 of the raw 32-byte public key. */
export function ed25519KeyId(publicKey: KeyObject): string {
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return `ed25519:${createHash('sha256').update(raw).digest('hex').slice(0, 16)}`;
}

function readKey(variable: string, file: string, kind: 'private' | 'public'): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`configuration: ${variable}: cannot read ${file}${code === 'ENOENT' ? ': no such file' : code ? ` (${code})` : ''}`);
  }
  let key: KeyObject;
  try {
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch {
    throw new UserError(`configuration: ${variable}: ${file} is not a PEM ${kind} key (openssl genpkey -algorithm ed25519 makes one)`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new UserError(`configuration: ${variable}: ${file} is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key; evidence packs are signed with Ed25519`);
  }
  return key;
}
