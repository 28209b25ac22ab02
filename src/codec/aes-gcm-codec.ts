// The payload codec: each payload, serialised whole (its metadata with it), is
// compressed when that pays and then encrypted with AES-256-GCM under the key
// ring's encrypting key. The outer payload says only how to undo that: the
// encoding, the cipher, the key id and the compression (docs/payload-format.md,
// which another Temporal SDK follows to read and write the same payloads).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { WireCodec, type WireTypes } from '../wire-format';
import type { KeyRing } from './keys';

export const ENCODING = 'binary/encrypted';
export const CIPHER = 'AES-256-GCM';
export const METADATA = {
  encoding: 'encoding',
  cipher: 'encryption-cipher',
  keyId: 'encryption-key-id',
  compression: 'encryption-compression',
} as const;
export const COMPRESSION = 'zlib';
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
/** Below this many bytes deflate saves too little to be worth its time. */
export const COMPRESS_ABOVE_BYTES = 1024;

const utf8 = (text: string) => new TextEncoder().encode(text);
const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/**
 * Temporal's Payload message (temporal/api/common/v1/message.proto), every field with its
 * number and type: encrypted is the message as the server would store it. Described here and
 * written in protobuf's wire format by src/wire-format.ts, rather than taken from
 * @temporalio/proto, which builds a reflection of Temporal's whole API when it loads (about
 * 0.1 s of CPU for each `t2t` command), or protobufjs, which generates its coders at each
 * start (about 20 ms); a test holds the bytes to @temporalio/proto's.
 */
export const PAYLOAD_TYPES: WireTypes = {
  Payload: {
    fields: {
      metadata: { keyType: 'string', type: 'bytes', id: 1 },
      data: { type: 'bytes', id: 2 },
      externalPayloads: { rule: 'repeated', type: 'ExternalPayloadDetails', id: 3 },
    },
  },
  ExternalPayloadDetails: { fields: { sizeBytes: { type: 'int64', id: 1 } } },
};

const payloadMessage = new WireCodec(PAYLOAD_TYPES);

export class PayloadDecodeError extends Error {
  override name = 'PayloadDecodeError';
}

/** What a payload's metadata says about its encryption, without decrypting it; undefined for a plain payload. */
export function encryptionOf(payload: Payload): { keyId: string; compression?: string } | undefined {
  if (text(payload.metadata?.[METADATA.encoding]) !== ENCODING) return undefined;
  return { keyId: text(payload.metadata?.[METADATA.keyId]) ?? '', compression: text(payload.metadata?.[METADATA.compression]) };
}

export class AesGcmPayloadCodec implements PayloadCodec {
  constructor(private readonly ring: KeyRing) {}

  get encryptKeyId(): string {
    return this.ring.encryptKeyId;
  }

  keyIds(): string[] {
    return [...this.ring.keys.keys()];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encodeOne(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decodeOne(payload));
  }

  encodeOne(payload: Payload): Payload {
    const serialised = payloadMessage.encode('Payload', payload);
    const compressed = serialised.length > COMPRESS_ABOVE_BYTES ? deflateSync(serialised) : undefined;
    // Kept only when it is smaller: an already compressed file gains nothing.
    const useCompressed = compressed !== undefined && compressed.length < serialised.length;
    const key = this.ring.keys.get(this.ring.encryptKeyId)!;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    const body = Buffer.concat([cipher.update(useCompressed ? compressed : serialised), cipher.final()]);
    return {
      metadata: {
        [METADATA.encoding]: utf8(ENCODING),
        [METADATA.cipher]: utf8(CIPHER),
        [METADATA.keyId]: utf8(this.ring.encryptKeyId),
        ...(useCompressed ? { [METADATA.compression]: utf8(COMPRESSION) } : {}),
      },
      data: Buffer.concat([nonce, body, cipher.getAuthTag()]),
    };
  }

  /** A payload without our encoding passes through untouched: histories written before the codec still replay. */
  decodeOne(payload: Payload): Payload {
    const encryption = encryptionOf(payload);
    if (!encryption) return payload;
    const cipherName = text(payload.metadata?.[METADATA.cipher]);
    if (cipherName !== CIPHER) throw new PayloadDecodeError(`payload encrypted with '${cipherName}', which this codec does not know (only ${CIPHER})`);
    const key = this.ring.keys.get(encryption.keyId);
    if (!key) {
      throw new PayloadDecodeError(
        `payload encrypted with key '${encryption.keyId}', which is not among the keys held here (${this.keyIds().join(', ')}): add it to the payload keys (docs/deployment.md)`,
      );
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < NONCE_BYTES + TAG_BYTES) throw new PayloadDecodeError(`payload under key '${encryption.keyId}' is too short to be encrypted data`);
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, NONCE_BYTES));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadDecodeError(`payload under key '${encryption.keyId}' failed authentication: altered, or encrypted with another key of the same id`);
    }
    if (encryption.compression !== undefined && encryption.compression !== COMPRESSION) {
      throw new PayloadDecodeError(`payload compressed with '${encryption.compression}', which this codec does not know (only ${COMPRESSION})`);
    }
    const serialised = encryption.compression ? inflateSync(plain) : plain;
    return payloadMessage.decode('Payload', serialised) as Payload;
  }
}

/**
 * A codec for a process that holds no keys (a `t2t` without configured keys): it writes
 * payloads as they are and reads plain ones, and an encrypted one fails with a line that says why.
 */
export class KeylessPayloadCodec implements PayloadCodec {
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads;
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    for (const payload of payloads) {
      const encryption = encryptionOf(payload);
      if (encryption) {
        throw new PayloadDecodeError(
          `this migration's payloads are encrypted (key '${encryption.keyId}') and no payload keys are configured here: set T2T_PAYLOAD_KEYS_FILE or T2T_PAYLOAD_KEYS (docs/deployment.md)`,
        );
      }
    }
    return payloads;
  }
}
