// The gateway's signing keys for action proofs: Ed25519 through node:crypto,
// several at once (the newest signs, every listed one verifies) so a key can be
// rotated without a restart: add a key, sign with it, drop the old one once no
// unchecked action carries it.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { proofMessage, payloadDigest, type ActionProof, type ProofClaims, type PublishedKey } from './action-proof';

export interface GatewayKey {
  kid: string;
  privateKey: KeyObject;
}

export function newGatewayKey(kid = `gw-${randomUUID()}`): GatewayKey {
  return { kid, privateKey: generateKeyPairSync('ed25519').privateKey };
}

/** A key from its PKCS#8 PEM (the gateway's key file) and its id. */
export function gatewayKeyFromPem(kid: string, pem: string): GatewayKey {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`gateway key ${kid}: must be an Ed25519 key`);
  return { kid, privateKey };
}

export function publishedKey(key: GatewayKey): PublishedKey {
  const jwk = createPublicKey(key.privateKey).export({ format: 'jwk' });
  return { kid: key.kid, x: String(jwk.x) };
}

export class ActionSigner {
  private keys: GatewayKey[];
  constructor(keys: GatewayKey[]) {
    if (keys.length === 0) throw new Error('the gateway needs at least one signing key');
    this.keys = [...keys];
  }

  /** The key set the workflow and `t2t evidence verify` check against. */
  published(): PublishedKey[] {
    return this.keys.map(publishedKey);
  }

  /** Rotation: the new key signs from now on; the old ones still verify until retired. */
  rotate(key: GatewayKey): void {
    this.keys = [key, ...this.keys.filter((k) => k.kid !== key.kid)];
  }

  retire(kid: string): void {
    if (this.keys.length === 1) throw new Error('cannot retire the only signing key');
    this.keys = this.keys.filter((k) => k.kid !== kid);
  }

  sign(input: { action: string; migrationId: string; payload: Record<string, unknown>; claims: ProofClaims; now?: Date; actionId?: string }): ActionProof {
    const [key] = this.keys;
    const unsigned: Omit<ActionProof, 'signature'> = {
      v: 1,
      kid: key.kid,
      actionId: input.actionId ?? randomUUID(),
      issuedAt: (input.now ?? new Date()).toISOString(),
      action: input.action,
      migrationId: input.migrationId,
      payloadDigest: payloadDigest(input.payload),
      claims: input.claims,
    };
    return { ...unsigned, signature: sign(null, proofMessage(unsigned), key.privateKey).toString('base64url') };
  }
}
