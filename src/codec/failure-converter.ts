// The failure converter of every process that encrypts payloads: a failure's
// message and stack trace leave the process as an encoded payload (through the
// payload codec, so encrypted) and Temporal stores "Encoded failure" in their
// place; any SDK client with the codec reads the original message back. A
// failure's message often names a person or an address (a service's refusal).
// Loaded by path (DataConverter.failureConverterPath), as the SDK requires.
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
