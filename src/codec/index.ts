// Which payload codec a process of the product uses, decided once when it
// connects to Temporal (docs/deployment.md, "Payload encryption"):
// - T2T_PAYLOAD_ENCRYPTION=off: payloads in clear, said in one line;
// - keys configured (T2T_PAYLOAD_KEYS or T2T_PAYLOAD_KEYS_FILE): they encrypt;
// - otherwise the data folder's key file, which the embedded stack creates on its
//   first start; without one a worker refuses to start (a production worker must not
//   write migrations in clear by accident), and `t2t` writes plain payloads and
//   stops with one line when it meets an encrypted one.
import { existsSync } from 'node:fs';
import type { DataConverter, PayloadCodec } from '@temporalio/common';
import type { Config } from '../config';
import { AesGcmPayloadCodec, KeylessPayloadCodec } from './aes-gcm-codec';
import { dataDirKeysFile, ensureDataDirKeyFile, parseKeyRing, PayloadKeyError, readKeyRingFile, type KeyRing } from './keys';

export type CodecRole = 'worker' | 'stack' | 'client';

export interface PayloadProtection {
  codec: PayloadCodec;
  /** undefined when payloads are not encrypted */
  ring?: KeyRing;
  /** one line for the process's start-up output: where the keys come from, never the keys */
  summary: string;
}

export function payloadProtection(config: Pick<Config, 'payload' | 'dataDir'>, role: CodecRole): PayloadProtection {
  const settings = config.payload;
  if (settings.encryption === 'off') return { codec: new KeylessPayloadCodec(), summary: 'payloads are NOT encrypted (T2T_PAYLOAD_ENCRYPTION=off)' };
  let ring: KeyRing | undefined;
  let created = false;
  if (settings.keys) ring = parseKeyRing(settings.keys, 'T2T_PAYLOAD_KEYS', settings.keyId);
  else if (settings.keysFile) ring = readKeyRingFile(settings.keysFile, settings.keyId);
  else {
    const file = dataDirKeysFile(config.dataDir);
    if (role === 'stack') created = ensureDataDirKeyFile(config.dataDir);
    if (existsSync(file)) ring = readKeyRingFile(file, settings.keyId);
  }
  if (!ring) {
    if (role === 'client' && settings.encryption !== 'on') return { codec: new KeylessPayloadCodec(), summary: 'no payload keys: payloads are written in clear' };
    throw new PayloadKeyError(
      'payload encryption: no keys: set T2T_PAYLOAD_KEYS_FILE (or T2T_PAYLOAD_KEYS), or T2T_PAYLOAD_ENCRYPTION=off to write migrations in clear (docs/deployment.md)',
    );
  }
  const others = ring.keys.size - 1;
  const summary =
    `payloads encrypted with key '${ring.encryptKeyId}'` +
    (others > 0 ? ` (${others} older key${others > 1 ? 's' : ''} decrypt only)` : '') +
    (created ? `; a new key was created in ${ring.source}: keep it with the data, without it these migrations cannot be read` : ` (keys from ${ring.source})`);
  return { codec: new AesGcmPayloadCodec(ring), ring, summary };
}

/** The data converter every client and worker of the product uses. */
export function dataConverterOf(protection: PayloadProtection): DataConverter {
  return protection.ring ? encryptingDataConverter(protection.codec) : { payloadCodecs: [protection.codec] };
}

/** Payloads through `codec`, and failures' messages and stack traces with them (src/codec/failure-converter.ts). */
export function encryptingDataConverter(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath: require.resolve('./failure-converter') };
}

export { PayloadKeyError } from './keys';
