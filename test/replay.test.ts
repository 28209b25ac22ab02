// Every saved history of a main path replays with the current workflow code: a
// change that would break migrations already running fails here.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { randomBytes } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import { HISTORIES_DIR } from './helpers/histories';
import { workflowBundle } from './helpers/temporal';
import { AesGcmPayloadCodec } from '../src/codec/aes-gcm-codec';
import { parseKeyRing } from '../src/codec/keys';
import { forEachPayload } from '../src/codec/history';

const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
// The product's data converter: histories written before the codec hold plain payloads, which it passes through.
const codec = new AesGcmPayloadCodec(parseKeyRing(`replay:${randomBytes(32).toString('base64')}`, 'replay key'));
const dataConverter = { payloadCodecs: [codec] };
const REQUIRED = ['happy-path', 'denied', 'approval-expired', 'window-expired', 'validation-failed', 'cancelled', 'cancelled-through-temporal', 'cancel-refused-while-migrating', 'continued-as-new', 'batch-migrate-slots', 'batch-waited-for-slot', 'signed-actions', 'signed-key-rotated'];

describe('replay of saved histories', function () {
  this.timeout(120_000);
  const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

  it('has a history for every main path', () => {
    const names = files.map((f) => path.basename(f, '.json'));
    for (const required of REQUIRED) assert.ok(names.includes(required), `test/histories/${required}.json is missing`);
  });

  it('fails on a workflow change that would break running migrations', async () => {
    const changed = await bundleWorkflowCode({ workflowsPath: require.resolve('./fixtures/changed-workflow'), logger: quiet });
    const history = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_DIR, 'happy-path.json'), 'utf8')));
    await assert.rejects(Worker.runReplayHistory({ workflowBundle: changed }, history, 'happy-path'), (err: Error) => err.name === 'DeterminismViolationError');
  });

  for (const file of files) {
    it(`replays ${file} without non-determinism`, async () => {
      const history = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), dataConverter }, history, path.basename(file, '.json'));
    });
  }

  it('replays a history whose payloads are encrypted, through the codec', async () => {
    const history = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_DIR, 'happy-path.json'), 'utf8')));
    let encrypted = 0;
    for (const event of history.events ?? []) {
      // A marker's own data (local activity bookkeeping, patches) is written and read by the SDK's core, never by a codec.
      const details = event.markerRecordedEventAttributes?.details;
      const coreOwned = details ? Object.keys(details).filter((name) => name !== 'result') : [];
      const kept = coreOwned.map((name) => [name, details![name]] as const);
      for (const name of coreOwned) delete details![name];
      forEachPayload(event, (holder, key, payload) => {
        holder[key] = codec.encodeOne(payload as Payload);
        encrypted += 1;
      });
      for (const [name, value] of kept) details![name] = value;
    }
    assert.ok(encrypted > 20, `${encrypted} payloads encrypted`);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), dataConverter }, history, 'happy-path-encrypted');
    // Without the key the same history cannot replay: the payloads really were encrypted.
    await assert.rejects(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, 'happy-path-encrypted-no-key'));
  });
});
