// The payload codec as every benchmark runs it: one key for the run, the product's
// encrypting data converter (payloads and failures) on the driving client and the
// same key on the worker process, as a production client and worker would have.
// bench:codec alone also runs a side in clear, to measure what the codec costs.
import { randomBytes } from 'node:crypto';
import { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { AesGcmPayloadCodec } from '../../src/codec/aes-gcm-codec';
import { encryptingDataConverter } from '../../src/codec';
import { parseKeyRing } from '../../src/codec/keys';

export const BENCH_PAYLOAD_KEYS = `k-bench:${randomBytes(32).toString('base64')}`;

export const benchDataConverter: DataConverter = encryptingDataConverter(new AesGcmPayloadCodec(parseKeyRing(BENCH_PAYLOAD_KEYS, 'bench keys')));

/** What a worker process of the benchmark is given: the run's key. */
export const benchWorkerEnv = { T2T_PAYLOAD_KEYS: BENCH_PAYLOAD_KEYS };

/** A Temporal client of the dev server that reads and writes through the codec. */
export function benchClient(env: TestWorkflowEnvironment): Client {
  let client = clients.get(env);
  if (!client) clients.set(env, (client = new Client({ connection: env.connection, namespace: 'default', dataConverter: benchDataConverter })));
  return client;
}

const clients = new WeakMap<TestWorkflowEnvironment, Client>();
