// Another Temporal SDK reads and writes the product's payloads from the documented
// format alone: a script written with Temporal's Python SDK (installed from PyPI by
// scripts/install-python-sdk.mjs, part of `npm install`) queries a migration whose
// payloads are encrypted and approves it; the product reads the approval it sent.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Payload } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import { devServer } from './helpers/temporal';
import { startTestAzurite, RunningAzurite } from './helpers/azurite';
import { makeTestWorld } from './helpers/world';
import { startProduct } from './helpers/product';
import { migrationWorkflowId } from '../src/contracts';
import { AesGcmPayloadCodec, encryptionOf } from '../src/codec/aes-gcm-codec';
import { parseKeyRing } from '../src/codec/keys';
import { projectRoot } from '../src/temporal-binaries';

const PYTHON = path.join(projectRoot(), '.python-sdk', 'bin', 'python');

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env, cwd: projectRoot() }, (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
  });
}

describe("Temporal's Python SDK through the product's payload format @integration", function () {
  this.timeout(240_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;

  before(async () => {
    // The install step `npm install` runs; once installed it downloads nothing.
    const installed = await run(process.execPath, [path.join(projectRoot(), 'scripts', 'install-python-sdk.mjs'), '--strict'], { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' });
    assert.equal(installed.code, 0, `the Python SDK could not be installed: ${installed.stderr}`);
    assert.ok(existsSync(PYTHON));
    [env, azurite] = await Promise.all([devServer(), startTestAzurite()]);
  });
  after(async () => {
    await azurite?.dispose();
  });

  it('a Python script queries an encrypted migration and approves it; the approval it sent is encrypted under the same key', async () => {
    const keys = `k-python:${randomBytes(32).toString('base64')}`;
    const codec = new AesGcmPayloadCodec(parseKeyRing(keys, 'test keys'));
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world, dataConverter: { payloadCodecs: [codec] } });
    try {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const workflowId = migrationWorkflowId(w.environmentId);
      const script = await run(PYTHON, [path.join(projectRoot(), 'test', 'python', 'migration_script.py'), env.address, 'default', workflowId, w.targetAdmin], {
        PATH: process.env.PATH ?? '',
        T2T_PAYLOAD_KEYS: keys,
      });
      assert.equal(script.code, 0, script.stderr);
      const answer = JSON.parse(script.stdout) as { phaseBefore: string; targetMigrationId: string; keyIdsRead: string[] };
      assert.deepEqual(answer, { phaseBefore: 'PendingApproval', targetMigrationId: submitted.targetMigrationId, keyIdsRead: ['k-python'] });

      const approved = await p.client.waitForStatus(await p.client.find(submitted.migrationId), (s) => s.phase !== 'PendingApproval', 120_000);
      assert.equal(approved.phase, 'Approved', approved.reason);

      // The signal as Temporal stores it: encrypted by the Python codec, readable by ours.
      const history = await env.client.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution: { workflowId } });
      const signal = history.history!.events!.find((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'approve')!;
      const sent = signal.workflowExecutionSignaledEventAttributes!.input!.payloads![0] as Payload;
      assert.deepEqual(encryptionOf(sent), { keyId: 'k-python', compression: undefined });
      assert.ok(!Buffer.from(sent.data!).toString('latin1').includes(w.targetAdmin));
      const [plain] = await codec.decode([sent]);
      assert.equal((defaultPayloadConverter.fromPayload(plain) as { actor: string }).actor, w.targetAdmin);
    } finally {
      await p.stop();
    }
  });
});
