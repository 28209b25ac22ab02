// Every payload of a fetched history, decoded in place through a client's payload
// codecs: the SDK decodes what it hands to code (results, query answers) but a
// fetched history comes back as the server stores it. Evidence packs use this to
// include what was recorded, readable, and to say which keys it was written with.
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { History } from '@temporalio/common/lib/proto-utils';
import { encryptionOf } from './aes-gcm-codec';

/** Search attributes are read by the server and never pass through a codec. */
const NOT_ENCODED = new Set(['searchAttributes', 'indexedFields']);

function isPayload(value: object): value is Payload {
  return 'metadata' in value && 'data' in value && typeof (value as Payload).metadata === 'object';
}

/** Calls `visit` with each payload slot of a history object (a holder and its key). */
export function forEachPayload(node: unknown, visit: (holder: Record<string | number, unknown>, key: string | number, payload: Payload) => void): void {
  if (node === null || typeof node !== 'object' || ArrayBuffer.isView(node)) return;
  for (const [key, value] of Object.entries(node)) {
    if (NOT_ENCODED.has(key) || value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) continue;
    if (isPayload(value)) visit(node as Record<string, unknown>, Array.isArray(node) ? Number(key) : key, value);
    else forEachPayload(value, visit);
  }
}

/** Runs every payload of the history through `codecs` (in decode order); returns the key ids they were encrypted with. */
export async function decodeHistoryPayloads(history: History, codecs: PayloadCodec[]): Promise<string[]> {
  const slots: { holder: Record<string | number, unknown>; key: string | number; payload: Payload }[] = [];
  forEachPayload(history, (holder, key, payload) => slots.push({ holder, key, payload }));
  const keyIds = new Set<string>();
  for (const slot of slots) {
    const keyId = encryptionOf(slot.payload)?.keyId;
    if (keyId !== undefined) keyIds.add(keyId);
  }
  let payloads = slots.map((s) => s.payload);
  for (const codec of [...codecs].reverse()) payloads = await codec.decode(payloads);
  slots.forEach((slot, i) => (slot.holder[slot.key] = payloads[i]));
  return [...keyIds].sort();
}
