// The trail proves who acted: each audit entry of a signed action carries the
// gateway's proof (the verified claims of who asked, signed with Ed25519), and
// `t2t evidence verify` checks every one offline against the gateway's published
// keys: given by the auditor (--gateway-keys, what GET /v1/keys answers), or the
// ones the pack was built with (audit/gateway-keys.json).
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AuditEntry } from '../contracts';
import type { SignInSettings } from '../config';
import { proofMessage, type ActionProof, type PublishedKey } from '../identity/action-proof';
import { UserError } from '../client/user-error';
import { GATEWAY_KEYS_PART, TRAIL_PART, type VerifiedPack } from './pack';

export type ProofSignatureCheck = { ok: true } | { ok: false; reason: string };

/** Whether `proof` carries a signature of one of `keys` over exactly what the gateway signs (proofMessage). */
export function verifyProofSignature(proof: ActionProof, keys: readonly PublishedKey[]): ProofSignatureCheck {
  const key = keys.find((k) => k.kid === proof.kid);
  if (!key) return { ok: false, reason: `signed with gateway key ${proof.kid}, which is not among the gateway's keys (${keys.map((k) => k.kid).join(', ') || 'none'})` };
  let valid = false;
  try {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.x }, format: 'jwk' });
    valid = verify(null, proofMessage(proof), publicKey, Buffer.from(proof.signature, 'base64url'));
  } catch {
    valid = false;
  }
  return valid ? { ok: true } : { ok: false, reason: "the gateway's signature does not verify" };
}

/** The gateway's published keys and where they were read. */
export interface GatewayKeySet {
  keys: PublishedKey[];
  source: string;
}

/** Parses `{ keys: [{ kid, x }] }` (GET /v1/keys); a malformed set is one line naming `source`. */
export function parseGatewayKeys(text: string, source: string): GatewayKeySet {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UserError(`${source}: not JSON; the gateway's keys are what GET /v1/keys answers: {"keys":[{"kid":"…","x":"…"}]}`);
  }
  const keys = (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || !keys.every((k) => typeof (k as PublishedKey)?.kid === 'string' && typeof (k as PublishedKey)?.x === 'string')) {
    throw new UserError(`${source}: not a gateway key set; expected what GET /v1/keys answers: {"keys":[{"kid":"…","x":"…"}]}`);
  }
  return { keys: keys.map((k: PublishedKey) => ({ kid: k.kid, x: k.x })), source };
}

export function readGatewayKeysFile(file: string): GatewayKeySet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`--gateway-keys: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseGatewayKeys(text, file);
}

/**
 * The keys a pack is built with: T2T_GATEWAY_PUBLIC_KEYS_FILE when set, else the gateway's GET /v1/keys.
 * Unavailable is not fatal: the pack says so, and its proofs are then checked with --gateway-keys.
 */
export async function gatewayKeysForPack(signIn: Pick<SignInSettings, 'gatewayPublicKeysFile' | 'gatewayUrl'>): Promise<GatewayKeySet | { unavailable: string }> {
  try {
    if (signIn.gatewayPublicKeysFile) return parseGatewayKeys(readFileSync(signIn.gatewayPublicKeysFile, 'utf8'), signIn.gatewayPublicKeysFile);
    const url = `${signIn.gatewayUrl}/v1/keys`;
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    return parseGatewayKeys(await response.text(), url);
  } catch (err) {
    return { unavailable: (err as Error).message.split('\n')[0] };
  }
}

export interface TrailProofs {
  /** entries with a proof that verifies */
  signed: number;
  /** entries without a proof (T2T_AUTH=off, actions from before signed actions, or not sent through the gateway) */
  unsigned: number;
  /** refused entries whose proof does not verify: the workflow refused them for it */
  refusedUnverified: number;
}

/**
 * Checks every entry's proof. An accepted action's proof must verify: the first that does not is
 * the one line of the refusal, naming the entry. A refused action may carry a proof that does not
 * (that is why it was refused); those are counted.
 */
export function checkTrailProofs(entries: readonly AuditEntry[], keys: GatewayKeySet | undefined): TrailProofs {
  const counts: TrailProofs = { signed: 0, unsigned: 0, refusedUnverified: 0 };
  entries.forEach((entry, index) => {
    if (!entry.proof) {
      counts.unsigned += 1;
      return;
    }
    const named = `entry ${index + 1} (${entry.action} by ${entry.actor} at ${entry.at})`;
    if (!keys) {
      throw new UserError(`not verified: ${named} carries the gateway's proof and no gateway keys were given: --gateway-keys <file> (what the gateway's GET /v1/keys answers)`);
    }
    const check = verifyProofSignature(entry.proof, keys.keys);
    const problem = !check.ok
      ? check.reason
      : entry.proof.action !== entry.action
        ? `its proof is for ${entry.proof.action}`
        : // Who acted is the user the gateway verified: an entry naming anyone else was not written from that proof.
          entry.actor.toLowerCase() !== entry.proof.claims.user.toLowerCase()
          ? `its proof was signed for ${entry.proof.claims.user}`
          : undefined;
    if (problem === undefined) counts.signed += 1;
    else if (entry.outcome === 'refused') counts.refusedUnverified += 1;
    else throw new UserError(`not verified: ${named}: ${problem}`);
  });
  return counts;
}

export interface VerifiedProofs extends TrailProofs {
  /** where the keys the proofs were checked against came from; undefined when no entry carries a proof */
  keysFrom?: string;
}

/**
 * The action proofs of a pack whose manifest and parts verified: against the auditor's
 * --gateway-keys when given, else the keys the pack was built with. A pack from before
 * signed actions (no audit/trail.json) has none to check.
 */
export function verifyPackProofs(pack: VerifiedPack, gatewayKeysFile?: string): VerifiedProofs {
  const given = gatewayKeysFile ? readGatewayKeysFile(gatewayKeysFile) : undefined;
  const trail = pack.read.get(TRAIL_PART);
  if (!trail) return { signed: 0, unsigned: 0, refusedUnverified: 0 };
  let entries: AuditEntry[];
  try {
    entries = JSON.parse(trail.toString('utf8')) as AuditEntry[];
    if (!Array.isArray(entries)) throw new Error('not a list');
  } catch {
    throw new UserError(`not verified: ${TRAIL_PART} is not a JSON list of audit entries`);
  }
  const included = pack.read.get(GATEWAY_KEYS_PART);
  const keys = given ?? (included ? { ...parseGatewayKeys(included.toString('utf8'), GATEWAY_KEYS_PART), source: `${GATEWAY_KEYS_PART} (the keys the pack was made with)` } : undefined);
  const counts = checkTrailProofs(entries, keys);
  return { ...counts, ...(counts.signed + counts.refusedUnverified > 0 && keys ? { keysFrom: keys.source } : {}) };
}
