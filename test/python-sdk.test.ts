// Another Temporal SDK reads and writes the product's payloads from the documented
// format alone: a script written with Temporal's Python SDK (installed from PyPI by
// scripts/install-python-sdk.mjs, part of `npm install`) queries a migration whose
// payloads are encrypted and approves it with a payload the action gateway signed;
// the product reads the approval it sent, the gateway's proof intact.
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
import { ActionSigner, newGatewayKey } from '../src/identity/action-signer';
import type { ActionProof } from '../src/identity/action-proof';
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

  it('a Python script queries an encrypted migration and sends it a signed approval; the approval, proof intact, is encrypted under the same key', async () => {
    const keys = `k-python:${randomBytes(32).toString('base64')}`;
    const codec = new AesGcmPayloadCodec(parseKeyRing(keys, 'test keys'));
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world, dataConverter: { payloadCodecs: [codec] } });
    try {
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const workflowId = migrationWorkflowId(w.environmentId);
      // The approve payload as the gateway signs it for `t2t sign approve --migration-id <target migration id>`.
      const signer = new ActionSigner([newGatewayKey('gw-python')]);
      const unsigned = { actor: w.targetAdmin, requestId: `python-${randomBytes(4).toString('hex')}` };
      const claims = { issuer: 'https://localhost:8235', tenantId: w.target, objectId: 'oid-python', user: w.targetAdmin, tokenIdHash: 'f'.repeat(64) };
      const proof = signer.sign({ action: 'approve', migrationId: submitted.targetMigrationId, payload: unsigned, claims });
      const script = await run(PYTHON, [path.join(projectRoot(), 'test', 'python', 'migration_script.py'), env.address, 'default', workflowId, w.targetAdmin], {
        PATH: process.env.PATH ?? '',
        T2T_PAYLOAD_KEYS: keys,
        T2T_SIGNED_ACTION: JSON.stringify({ ...unsigned, proof }),
      });
      assert.equal(script.code, 0, script.stderr);
      const answer = JSON.parse(script.stdout) as { phaseBefore: string; targetMigrationId: string; keyIdsRead: string[] };
      assert.deepEqual(answer, { phaseBefore: 'PendingApproval', targetMigrationId: submitted.targetMigrationId, keyIdsRead: ['k-python'] });

      // Accepted when workflows do not check proofs (T2T_AUTH=off); refused and audited when they do, this
      // test's gateway key not being one the migration was given. Either way the action reached the workflow.
      const handled = await p.client.waitForStatus(await p.client.find(submitted.migrationId), (s) => s.audit.some((e) => e.requestId === unsigned.requestId), 120_000);
      const entry = handled.audit.find((e) => e.requestId === unsigned.requestId)!;
      assert.equal(entry.action, 'approve');
      if (entry.outcome === 'accepted') assert.equal(handled.phase, 'Approved', handled.reason);
      else assert.equal(handled.phase, 'PendingApproval');

      // The signal as Temporal stores it: encrypted by the Python codec, readable by ours.
      const history = await env.client.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution: { workflowId } });
      const signal = history.history!.events!.find((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'approve')!;
      const sent = signal.workflowExecutionSignaledEventAttributes!.input!.payloads![0] as Payload;
      assert.deepEqual(encryptionOf(sent), { keyId: 'k-python', compression: undefined });
      assert.ok(!Buffer.from(sent.data!).toString('latin1').includes(w.targetAdmin));
      assert.ok(!Buffer.from(sent.data!).toString('latin1').includes(proof.signature), 'nor the proof');
      const [plain] = await codec.decode([sent]);
      const received = defaultPayloadConverter.fromPayload(plain) as { actor: string; requestId: string; proof: ActionProof };
      assert.deepEqual(received, { ...unsigned, proof }, 'the signed payload arrived as the gateway signed it');
    } finally {
      await p.stop();
    }
  });
});
