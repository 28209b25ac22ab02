// The evidence pack as a file: a tar.gz with one folder, t2t-evidence-<id>/,
// holding the parts, SHA256SUMS, manifest.json (every part with its SHA-256 and
// size) and manifest.sig (the signature of manifest.json's exact bytes). Any tar
// tool opens it; `verify` checks it without unpacking anything to disk.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { UserError } from '../client/user-error';
import type { CollectedEvidence, EvidencePart } from './collect';
import type { Signer, Verifier, SignatureAlgorithm } from './signing';

export const PACK_FORMAT = 't2t-evidence-pack/1';
export const MANIFEST = 'manifest.json';
export const SIGNATURE = 'manifest.sig';
const SUMS = 'SHA256SUMS';
/** Parts `verify` reads as well as hashes: the audit trail's entries and the gateway's keys, for the action proofs. */
export const TRAIL_PART = 'audit/trail.json';
export const GATEWAY_KEYS_PART = 'audit/gateway-keys.json';

export interface ManifestPart {
  name: string;
  sha256: string;
  size: number;
}

export interface Manifest {
  format: string;
  migrationId: string;
  targetMigrationId: string;
  environmentId: string;
  /** "running at <time>, phase X" for a migration that had not ended */
  state: string;
  running: boolean;
  generatedAt: string;
  generatedBy: string | null;
  signature: { algorithm: SignatureAlgorithm; keyId: string; file: string; covers: string };
  parts: ManifestPart[];
}

export interface WrittenPack {
  file: string;
  bytes: number;
  sha256: string;
  manifest: Manifest;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Refuses an --out the pack cannot be written to, before any work is done. */
export function checkOutput(file: string): string {
  const resolved = path.resolve(file);
  const dir = path.dirname(resolved);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`--out: the folder ${dir} does not exist`);
  if (existsSync(resolved)) {
    throw new UserError(`--out: ${resolved} already exists; an evidence pack is never overwritten (choose another name)`);
  }
  return resolved;
}

/** Signs the manifest and writes the archive: to a temporary name first, so that a failure leaves no file at `file`. */
export async function writePack(file: string, evidence: CollectedEvidence, signer: Signer): Promise<WrittenPack> {
  const target = checkOutput(file);
  const { facts } = evidence;
  const parts: EvidencePart[] = [...evidence.parts];
  const listed = parts.map((p) => ({ name: p.name, sha256: sha256(p.data), size: p.data.length }));
  parts.push({ name: SUMS, about: '', data: Buffer.from(listed.map((p) => `${p.sha256}  ${p.name}\n`).join(''), 'utf8') });
  const manifest: Manifest = {
    format: PACK_FORMAT,
    migrationId: facts.migrationId,
    targetMigrationId: facts.targetMigrationId,
    environmentId: facts.environmentId,
    state: facts.state,
    running: facts.running,
    generatedAt: facts.generatedAt,
    generatedBy: facts.generatedBy,
    signature: { algorithm: signer.algorithm, keyId: signer.keyId, file: SIGNATURE, covers: `the exact bytes of ${MANIFEST}` },
    parts: parts.map((p) => ({ name: p.name, sha256: sha256(p.data), size: p.data.length })),
  };
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
  const signature = signer.sign(manifestBytes);

  const top = `t2t-evidence-${facts.migrationId}`;
  const work = await mkdtemp(path.join(os.tmpdir(), 't2t-evidence-'));
  const partial = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(4).toString('hex')}.partial`);
  try {
    const entries = [top];
    const dirs = new Set<string>();
    const files: [string, Buffer][] = [[MANIFEST, manifestBytes], [SIGNATURE, signature], ...parts.map((p): [string, Buffer] => [p.name, p.data])];
    for (const [name, data] of files) {
      const dir = path.posix.dirname(name);
      if (dir !== '.' && !dirs.has(dir)) {
        dirs.add(dir);
        entries.push(`${top}/${dir}`);
        await mkdir(path.join(work, top, dir), { recursive: true });
      }
      await mkdir(path.join(work, top), { recursive: true });
      await writeFile(path.join(work, top, name), data);
      entries.push(`${top}/${name}`);
    }
    await tar.create({ gzip: true, file: partial, cwd: work, portable: true, noDirRecurse: true, mtime: new Date(facts.generatedAt) }, entries);
    // It may name people: readable by its owner only, who hands it on.
    await chmod(partial, 0o600);
    if (existsSync(target)) throw new UserError(`--out: ${target} appeared while the pack was being written; nothing was overwritten`);
    await rename(partial, target);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const { size } = statSync(target);
  const archive = createHash('sha256');
  for await (const chunk of createReadStream(target)) archive.update(chunk as Buffer);
  return { file: target, bytes: size, sha256: archive.digest('hex'), manifest };
}

export interface VerifiedPack {
  parts: number;
  keyId: string;
  manifest: Manifest;
  /** the verified parts' bytes that verify reads further (TRAIL_PART, GATEWAY_KEYS_PART), when present */
  read: Map<string, Buffer>;
}

interface ReadEntry {
  name: string;
  type: string;
  sha256: string;
  size: number;
  data?: Buffer;
}

/**
 * Checks a pack: the manifest's signature with the configured key, then every part against the
 * manifest in its order. The first thing that does not match is the one line of the refusal.
 */
export async function verifyPack(file: string, verifier: Verifier): Promise<VerifiedPack> {
  const resolved = path.resolve(file);
  if (!existsSync(resolved) || !statSync(resolved).isFile()) throw new UserError(`cannot read ${resolved}: no such file`);
  const entries = await readEntries(resolved);
  const tops = new Set(entries.map((e) => e.name.split('/')[0]));
  if (tops.size !== 1) throw new UserError('not an evidence pack: it must hold exactly one folder, t2t-evidence-<migration id>/');
  const top = [...tops][0];
  const byName = new Map<string, ReadEntry>();
  for (const entry of entries) {
    const name = entry.name.slice(top.length + 1);
    if (name === '' || entry.type === 'Directory') continue;
    if (byName.has(name)) throw new UserError(`not verified: '${name}' appears twice in the archive (a tar tool unpacks the last one)`);
    byName.set(name, entry);
  }
  const manifestEntry = byName.get(MANIFEST);
  const signatureEntry = byName.get(SIGNATURE);
  if (!manifestEntry?.data) throw new UserError(`not an evidence pack: no ${MANIFEST} in ${top}/`);
  if (!signatureEntry?.data) throw new UserError(`not verified: no ${SIGNATURE}: the manifest is not signed`);
  if (!verifier.verify(manifestEntry.data, signatureEntry.data)) {
    throw new UserError(`not verified: manifest signature does not match${signerHint(manifestEntry.data, verifier)}`);
  }
  const manifest = parseManifest(manifestEntry.data);
  for (const part of manifest.parts) {
    const entry = byName.get(part.name);
    if (!entry) throw new UserError(`not verified: part '${part.name}' is missing`);
    if (!['File', 'OldFile', 'ContiguousFile'].includes(entry.type)) throw new UserError(`not verified: part '${part.name}' is not a plain file in the archive`);
    if (entry.sha256 !== part.sha256 || entry.size !== part.size) {
      throw new UserError(`not verified: part '${part.name}' was changed (its SHA-256 is not the one in the signed manifest)`);
    }
  }
  const named = new Set([MANIFEST, SIGNATURE, ...manifest.parts.map((p) => p.name)]);
  for (const name of byName.keys()) {
    if (!named.has(name)) throw new UserError(`not verified: '${name}' is in the archive but not in the signed manifest`);
  }
  const read = new Map<string, Buffer>();
  for (const name of [TRAIL_PART, GATEWAY_KEYS_PART]) {
    const data = manifest.parts.some((p) => p.name === name) ? byName.get(name)?.data : undefined;
    if (data) read.set(name, data);
  }
  return { parts: manifest.parts.length, keyId: manifest.signature.keyId, manifest, read };
}

async function readEntries(file: string): Promise<ReadEntry[]> {
  const entries: ReadEntry[] = [];
  const keep = new Set([MANIFEST, SIGNATURE, TRAIL_PART, GATEWAY_KEYS_PART]);
  const reading: Promise<void>[] = [];
  try {
    await tar.list({
      file,
      strict: true,
      onReadEntry: (entry) => {
        const name = entry.path.replace(/^\.\//, '').replace(/\/$/, '');
        const hash = createHash('sha256');
        const chunks: Buffer[] = [];
        const wanted = keep.has(name.split('/').slice(1).join('/'));
        let size = 0;
        entry.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          size += chunk.length;
          if (wanted) chunks.push(chunk);
        });
        reading.push(
          new Promise<void>((resolve) =>
            entry.on('end', () => {
              entries.push({ name, type: entry.type, sha256: hash.digest('hex'), size, ...(wanted ? { data: Buffer.concat(chunks) } : {}) });
              resolve();
            }),
          ),
        );
      },
    });
    await Promise.all(reading);
  } catch (err) {
    throw new UserError(`not a readable evidence pack (tar.gz): ${(err as Error).message.split('\n')[0]}`);
  }
  if (entries.length === 0) throw new UserError('not a readable evidence pack (tar.gz): the archive is empty');
  return entries;
}

function parseManifest(data: Buffer): Manifest {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(data.toString('utf8')) as Manifest;
  } catch {
    throw new UserError(`not an evidence pack: ${MANIFEST} is not JSON`);
  }
  const ok =
    manifest?.format === PACK_FORMAT &&
    Array.isArray(manifest.parts) &&
    manifest.parts.every((p) => typeof p?.name === 'string' && typeof p.sha256 === 'string' && typeof p.size === 'number') &&
    typeof manifest.signature?.keyId === 'string';
  if (!ok) throw new UserError(`not an evidence pack: ${MANIFEST} is not a ${PACK_FORMAT} manifest`);
  return manifest;
}

/** Why a signature may not match when nothing was changed: the pack was signed with another kind of key. */
function signerHint(manifestBytes: Buffer, verifier: Verifier): string {
  try {
    const signature = (JSON.parse(manifestBytes.toString('utf8')) as Manifest).signature;
    if (signature.algorithm !== verifier.algorithm) {
      return ` (the pack says it is signed with ${signature.algorithm}; the key configured here is ${verifier.algorithm})`;
    }
  } catch {
    // An unreadable manifest is reported by the mismatch itself.
  }
  return '';
}
