// What someone who can read Temporal but holds no payload key sees of a finished
// migration: its raw history through Temporal's own gRPC API, without the codec,
// holds no person's address and no SAS signature; search attributes carry ids
// only. The Temporal CLI shows it decoded through the product's codec server, and
// a worker without the migrations' key stops at start with one line.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { temporal } from '@temporalio/proto';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld } from './helpers/world';
import { startProduct, Product, uploadWithSas } from './helpers/product';
import { migrationWorkflowId, STATUS } from '../src/contracts';
import { AesGcmPayloadCodec } from '../src/codec/aes-gcm-codec';
import { parseKeyRing } from '../src/codec/keys';
import { decodeHistoryPayloads } from '../src/codec/history';
import { encryptingDataConverter } from '../src/codec';
import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { startCodecServer, type RunningCodecServer } from '../src/codec/server';
import { projectRoot, resolveTemporalBinary } from '../src/temporal-binaries';

type History = temporal.api.history.v1.IHistory;

/**
 * Every string of a history, with the bytes behind each base64 one (the messages' JSON writes
 * bytes as base64), so that an address anywhere in it, in a payload or not, would show.
 */
const asText = (history: unknown) =>
  JSON.stringify(history, (_key, value: unknown) =>
    typeof value === 'string' && value.length >= 4 && value.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(value)
      ? `${value} ${Buffer.from(value, 'base64').toString('latin1')}`
      : value,
  );

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** The encoding and the data of the start event's input in `temporal workflow show --output json`. */
function startInput(stdout: string): { encoding: string; data: string } {
  const shown = JSON.parse(stdout) as { events: { workflowExecutionStartedEventAttributes?: { input: { payloads: { metadata: { encoding: string }; data: string }[] } } }[] };
  const payload = shown.events[0].workflowExecutionStartedEventAttributes!.input.payloads[0];
  return { encoding: Buffer.from(payload.metadata.encoding, 'base64').toString(), data: Buffer.from(payload.data, 'base64').toString('latin1') };
}

describe('payloads encrypted in Temporal (raw history, CLI, worker start) @integration', function () {
  this.timeout(240_000);
  const keys = `k-test-${randomBytes(2).toString('hex')}:${randomBytes(32).toString('base64')}`;
  const ring = parseKeyRing(keys, 'test keys');
  const codec = new AesGcmPayloadCodec(ring);
  const token = randomBytes(24).toString('hex');
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  let codecServer: RunningCodecServer;
  let p: Product;

  useRealServers((servers) => ({ env, azurite } = servers));
  before(async () => {
    codecServer = await startCodecServer({ codec, namespace: 'default', corsOrigins: [], authToken: token, port: 0 });
  });
  after(async () => {
    await p?.stop();
    await codecServer?.close();
  });

  async function rawHistory(workflowId: string, runId: string): Promise<History> {
    const events: NonNullable<History['events']> = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await env.client.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution: { workflowId, runId }, nextPageToken });
      events.push(...(page.history?.events ?? []));
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    return { events };
  }

  it("a finished migration's raw history holds no address and no sig=; search attributes carry ids only; the CLI decodes it through the codec server", async () => {
    const w = makeTestWorld({ users: 3 });
    p = await startProduct({ env, azurite, world: w.world, dataConverter: { payloadCodecs: [codec] } });
    const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
    await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
    const storage = await p.client.act(submitted.migrationId, 'requestStorage', { actor: w.sourceAdmin });
    const sasUrl = storage.status.storage!.sasUrl;
    assert.match(sasUrl, /sig=/);
    await uploadWithSas(sasUrl, w.mappingCsv);
    const prepared = await p.client.act(submitted.migrationId, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: sasUrl });
    assert.equal(prepared.status.phase, 'Prepared', prepared.status.reason);
    await p.client.act(submitted.migrationId, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
    const final = await p.client.waitForStatus(await p.client.find(submitted.migrationId), (s) => s.phase === 'Succeeded' || s.phase === 'Failed', 120_000);
    assert.equal(final.phase, 'Succeeded', final.reason);

    const workflowId = migrationWorkflowId(w.environmentId);
    // The raw service call: the SDK's describe would decode the memo, which is encrypted too.
    const description = await env.client.workflowService.describeWorkflowExecution({ namespace: 'default', execution: { workflowId } });
    const raw = await rawHistory(workflowId, description.workflowExecutionInfo!.execution!.runId!);
    const text = asText(raw);
    const people = [w.sourceAdmin, w.targetAdmin, ...[0, 1, 2].flatMap((i) => [w.sourceUpn(i), w.targetUpn(i)])];
    for (const address of people) assert.ok(!text.includes(address), `${address} is not readable in the raw history`);
    assert.ok(!text.includes('sig='), 'no SAS signature in the raw history');
    assert.ok(!text.includes(sasUrl.split('?')[0]), 'not even the container URL');
    assert.ok(text.includes('binary/encrypted') && text.includes(ring.encryptKeyId), 'the payloads say how they are encrypted and with which key');

    // The same history through the codec: the check above could see them.
    const keyIds = await decodeHistoryPayloads(raw, [codec]);
    assert.deepEqual(keyIds, [ring.encryptKeyId]);
    const decoded = asText(raw);
    assert.ok(decoded.includes(w.sourceAdmin) && decoded.includes('sig='), 'decoded, the actor and the SAS are there');

    // Search attributes stay readable, and are ids only.
    assert.ok(!asText(description).includes(w.sourceAdmin), 'nor in the memo or anything else the description holds');
    const attributes = description.workflowExecutionInfo?.searchAttributes?.indexedFields ?? {};
    const values = Object.entries(attributes).map(([name, payload]) => [name, Buffer.from(payload.data ?? new Uint8Array()).toString('utf8')]);
    assert.ok(values.some(([name, value]) => name === 'T2TPhase' && value === '"Succeeded"'), JSON.stringify(values));
    assert.ok(values.some(([name, value]) => name === 'T2TEnvironmentId' && value === JSON.stringify(w.environmentId)));
    // Ours; the server's own (BuildIds) name the SDK's package, '@temporalio/worker@…'.
    const ours = values.filter(([name]) => name.startsWith('T2T'));
    assert.ok(ours.length >= 5, JSON.stringify(ours));
    for (const [name, value] of ours) assert.doesNotMatch(value, /@|sig=|binary\/encrypted/, `${name} is an id, in clear`);

    // `temporal workflow show` decodes through the codec server with its token, and not without it.
    const temporalCli = resolveTemporalBinary('temporal')!;
    const show = ['workflow', 'show', '--address', env.address, '--namespace', 'default', '--workflow-id', workflowId, '--output', 'json'];
    const decodedShow = await run(temporalCli, [...show, '--codec-endpoint', codecServer.url, '--codec-auth', `Bearer ${token}`]);
    assert.equal(decodedShow.code, 0, decodedShow.stderr);
    const input = startInput(decodedShow.stdout);
    assert.equal(input.encoding, 'json/plain');
    assert.equal(JSON.parse(input.data).submittedBy, w.sourceAdmin, 'the CLI shows the decoded input');
    assert.equal(JSON.parse(input.data).targetMigrationId, submitted.targetMigrationId);
    assert.ok(asText(JSON.parse(decodedShow.stdout)).includes('sig='), 'and the SAS it handed out');
    const plainShow = await run(temporalCli, show);
    assert.equal(plainShow.code, 0, plainShow.stderr);
    assert.equal(startInput(plainShow.stdout).encoding, 'binary/encrypted', 'without the codec server: ciphertext');
    assert.ok(!asText(JSON.parse(plainShow.stdout)).includes(w.sourceAdmin));
  });

  it("a failed activity's message is encrypted in the raw history; the migration still shows it, decoded", async () => {
    const w = makeTestWorld({ users: 1 });
    const secret = `relink refused for ${w.sourceAdmin} (ticket ${randomBytes(4).toString('hex')})`;
    let fail = true;
    const failing = await startProduct({
      env,
      azurite,
      world: w.world,
      dataConverter: encryptingDataConverter(codec),
      wrapControlPlane: (cp) =>
        new Proxy(cp, {
          get(target, prop, receiver) {
            const value: unknown = Reflect.get(target, prop, receiver);
            if (prop !== 'relinkEnvironment' || typeof value !== 'function') return value;
            return async (...args: unknown[]) => {
              if (fail) {
                fail = false;
                throw ApplicationFailure.nonRetryable(secret, 'InjectedFault');
              }
              return (value as (...a: unknown[]) => unknown).apply(target, args);
            };
          },
        }),
    });
    try {
      const submitted = await failing.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      await failing.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
      const storage = await failing.client.act(submitted.migrationId, 'requestStorage', { actor: w.sourceAdmin });
      await uploadWithSas(storage.status.storage!.sasUrl, w.mappingCsv);
      const prepared = await failing.client.act(submitted.migrationId, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: storage.status.storage!.sasUrl });
      assert.equal(prepared.status.phase, 'Prepared', prepared.status.reason);
      await failing.client.act(submitted.migrationId, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      const failed = await failing.client.waitForStatus(await failing.client.find(submitted.migrationId), (s) => s.phase === 'Succeeded' || s.phase === 'Failed' || s.status === STATUS.migrateFailed, 120_000);
      assert.equal(failed.status, STATUS.migrateFailed, `${failed.phase}: ${failed.reason}`);
      assert.ok(failed.reason?.includes(secret), `the product shows the decoded reason: ${failed.reason}`);

      const workflowId = migrationWorkflowId(w.environmentId);
      const description = await env.client.workflowService.describeWorkflowExecution({ namespace: 'default', execution: { workflowId } });
      const raw = await rawHistory(workflowId, description.workflowExecutionInfo!.execution!.runId!);
      const failures = (raw.events ?? []).flatMap((e) => (e.activityTaskFailedEventAttributes?.failure ? [e.activityTaskFailedEventAttributes.failure] : []));
      assert.ok(failures.length >= 1, 'the activity failed for good');
      const text = asText(raw);
      assert.ok(!text.includes('relink refused') && !text.includes(w.sourceAdmin), 'no message text in clear anywhere in the raw history');
      for (const failure of failures) {
        assert.equal(failure.message, 'Encoded failure');
        assert.equal(failure.stackTrace, '');
        assert.equal(Buffer.from(failure.encodedAttributes!.metadata!.encoding!).toString(), 'binary/encrypted');
      }
      // With the key: the message and stack trace the activity raised.
      const [attributes] = await codec.decode([failures.at(-1)!.encodedAttributes as Payload]);
      const decoded = defaultPayloadConverter.fromPayload(attributes) as { message: string; stack_trace: string };
      assert.ok(decoded.message.includes(secret), decoded.message);
    } finally {
      await failing.stop();
    }
  });

  it('a worker without the key of an open migration stops at start with one line, and so does one with no keys at all', async () => {
    const w = makeTestWorld({ users: 1 });
    const open = await startProduct({ env, azurite, world: w.world, dataConverter: { payloadCodecs: [codec] } });
    try {
      await open.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      await open.stopWorker();
      const otherKeys = `k-other:${randomBytes(32).toString('base64')}`;
      const worker = await run(process.execPath, [path.join(projectRoot(), 'dist', 'src', 'worker.js')], {
        PATH: process.env.PATH ?? '',
        // Signed actions are another test's subject (signed-actions.test.ts): as the test run says (test/setup.ts).
        T2T_AUTH: process.env.T2T_AUTH ?? 'off',
        TEMPORAL_ADDRESS: env.address,
        T2T_TASK_QUEUE: open.config.taskQueue,
        T2T_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 't2t-keyless-worker-')),
        AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
        T2T_PAYLOAD_KEYS: otherKeys,
      });
      assert.equal(worker.code, 1);
      const lines = worker.stderr.trim().split('\n');
      assert.equal(lines.length, 1, worker.stderr);
      assert.equal(
        lines[0],
        `worker: payload encryption: open migration ${migrationWorkflowId(w.environmentId)} is encrypted with key '${ring.encryptKeyId}', which this worker does not hold (k-other): add it to the payload keys (docs/deployment.md)`,
      );
      assert.ok(!worker.stderr.includes(otherKeys.split(':')[1]) && !worker.stdout.includes(otherKeys.split(':')[1]), 'no key material printed');

      const noKeys = await run(process.execPath, [path.join(projectRoot(), 'dist', 'src', 'worker.js')], {
        PATH: process.env.PATH ?? '',
        // Signed actions are another test's subject (signed-actions.test.ts): as the test run says (test/setup.ts).
        T2T_AUTH: process.env.T2T_AUTH ?? 'off',
        TEMPORAL_ADDRESS: env.address,
        T2T_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 't2t-keyless-worker-')),
      });
      assert.equal(noKeys.code, 1);
      assert.match(noKeys.stderr, /^worker: payload encryption: no keys: set T2T_PAYLOAD_KEYS_FILE \(or T2T_PAYLOAD_KEYS\), or T2T_PAYLOAD_ENCRYPTION=off to write migrations in clear \(docs\/deployment.md\)\n$/);
    } finally {
      await open.stop();
    }
  });
});
