// The gateway's proof on an action, and its check: pure and deterministic, so
// the workflow can run it (no node:crypto in the workflow sandbox: Ed25519 and
// SHA-256 come from the audited @noble libraries). The gateway signs, with a key
// id, exactly: the action, its payload's digest, the migration, the verified
// claims, the time and the action id; the workflow checks the signature against
// the published keys it was given in its input, and that the action id has not
// been used before (a replayed action is refused).
import { ed25519 } from '@noble/curves/ed25519';
import { sha256 } from '@noble/hashes/sha2';

/** What the gateway verified about who asked (never the token). */
export interface ProofClaims {
  issuer: string;
  tenantId: string;
  objectId: string;
  user: string;
  authTime?: number;
  tokenIdHash: string;
}

export interface ActionProof {
  v: 1;
  /** which gateway key signed */
  kid: string;
  /** unique per action: a second use of the same proof is a replay */
  actionId: string;
  /** ISO time the gateway signed */
  issuedAt: string;
  action: string;
  migrationId: string;
  /** SHA-256 (hex) of the payload's canonical JSON, without actor and proof */
  payloadDigest: string;
  claims: ProofClaims;
  /** Ed25519 signature (base64url) over proofMessage() */
  signature: string;
}

/** A gateway public key as published: an OKP/Ed25519 JWK's kid and x. */
export interface PublishedKey {
  kid: string;
  x: string;
}

/** JSON with object keys sorted at every level: the same bytes for the same value, wherever it is computed. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

function fromBase64url(text: string): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const out: number[] = [];
  let bits = 0;
  let acc = 0;
  for (const c of text) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error('not base64url');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

/** The payload's digest: what the admin asked for, without who (actor) and without the proof itself. */
export function payloadDigest(payload: Record<string, unknown>): string {
  const { actor: _actor, proof: _proof, ...rest } = payload;
  return hex(sha256(utf8(canonicalJson(rest))));
}

/** The exact bytes the gateway signs. */
export function proofMessage(proof: Omit<ActionProof, 'signature'>): Uint8Array {
  const { v, kid, actionId, issuedAt, action, migrationId, payloadDigest: digest, claims } = proof;
  return utf8(canonicalJson({ v, kid, actionId, issuedAt, action, migrationId, payloadDigest: digest, claims }));
}

export type ProofCheck = { ok: true; proof: ActionProof } | { ok: false; reason: string };

/**
 * Checks a proof for this action on this migration with this payload. `used`:
 * the action ids this migration has already acted on.
 */
export function checkActionProof(
  proof: unknown,
  expected: { action: string; migrationId: string; payload: Record<string, unknown> },
  keys: readonly PublishedKey[],
  used: ReadonlySet<string> = new Set(),
): ProofCheck {
  if (!proof || typeof proof !== 'object') return { ok: false, reason: 'unsigned: the action carries no gateway proof' };
  const p = proof as Partial<ActionProof>;
  if (p.v !== 1 || typeof p.kid !== 'string' || typeof p.signature !== 'string' || typeof p.actionId !== 'string' || !p.claims) {
    return { ok: false, reason: 'the proof is malformed' };
  }
  const key = keys.find((k) => k.kid === p.kid);
  if (!key) return { ok: false, reason: `the proof is signed with key ${p.kid}, which the gateway does not publish` };
  let valid = false;
  try {
    valid = ed25519.verify(fromBase64url(p.signature), proofMessage(p as ActionProof), fromBase64url(key.x));
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, reason: 'the proof\'s signature does not verify' };
  if (p.action !== expected.action) return { ok: false, reason: `the proof is for ${p.action}, not ${expected.action}` };
  if (p.migrationId !== expected.migrationId) return { ok: false, reason: `the proof is for migration ${p.migrationId}` };
  if (p.payloadDigest !== payloadDigest(expected.payload)) return { ok: false, reason: 'the payload is not the one the gateway signed' };
  if (used.has(p.actionId)) return { ok: false, reason: `action ${p.actionId} was already used (a replay)` };
  return { ok: true, proof: p as ActionProof };
}

/**
 * What a signed submit covers: the migration it starts. The proof's migrationId is the input's
 * migrationId; its claims' user is the submitter (the input's submittedBy is replaced by it).
 */
export function submitProofPayload(input: {
  environmentId: string;
  targetTenantId: string;
  targetMigrationId: string;
  reversesMigrationId?: string;
}): Record<string, unknown> {
  const { environmentId, targetTenantId, targetMigrationId, reversesMigrationId } = input;
  return { environmentId, targetTenantId, targetMigrationId, ...(reversesMigrationId ? { reversesMigrationId } : {}) };
}

/**
 * What a batch's signed submit covers: the tenants and every environment it migrates, with the
 * ids its migrations get. The proof's migrationId is the batch's id (batchId); its claims' user
 * is the submitter of the batch and of each of its migrations (they trust the batch that started them).
 */
export function submitBatchProofPayload(input: {
  sourceTenantId: string;
  targetTenantId: string;
  environments: readonly { environmentId: string; migrationId: string; targetMigrationId: string }[];
}): Record<string, unknown> {
  const { sourceTenantId, targetTenantId, environments } = input;
  return {
    sourceTenantId,
    targetTenantId,
    environments: environments.map(({ environmentId, migrationId, targetMigrationId }) => ({ environmentId, migrationId, targetMigrationId })),
  };
}

/**
 * What a rehearsal's signed start covers: the environment it copies, the tenant it rehearses
 * the move to, the copy's id and the container it reads the mapping from (so a start cannot
 * swap in another migration's storage). The proof's migrationId is the rehearsalId; its
 * claims' user is the admin who asked (the input's requestedBy is replaced by it).
 */
export function submitRehearsalProofPayload(input: {
  environmentId: string;
  targetTenantId: string;
  copyEnvironmentId: string;
  storage: { containerName: string; sasUrl: string; expiresOn: string };
}): Record<string, unknown> {
  const { environmentId, targetTenantId, copyEnvironmentId, storage } = input;
  return { environmentId, targetTenantId, copyEnvironmentId, storage: { containerName: storage.containerName, sasUrl: storage.sasUrl, expiresOn: storage.expiresOn } };
}
