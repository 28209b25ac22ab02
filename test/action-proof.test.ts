// The gateway's signature on an action and the workflow-side check: signed with
// node:crypto at the gateway, checked with the pure @noble implementation the
// workflow runs; every way an action can be wrong is refused with its reason.
import assert from 'node:assert/strict';
import { checkActionProof, canonicalJson, type ActionProof } from '../src/identity/action-proof';
import { ActionSigner, newGatewayKey } from '../src/identity/action-signer';

const claims = { issuer: 'https://localhost:8235', tenantId: 't-fabrikam', objectId: 'oid-1', user: 'admin@fabrikam.com', tokenIdHash: 'ab'.repeat(32) };
const approve = { action: 'approve', migrationId: 'tm-123', payload: { actor: 'admin@fabrikam.com', note: 'ok' } };

describe('action proofs: the gateway signs, the workflow checks', () => {
  const signer = new ActionSigner([newGatewayKey('gw-1')]);

  it('a proof the gateway signed verifies against its published keys', () => {
    const proof = signer.sign({ ...approve, claims });
    const checked = checkActionProof(proof, approve, signer.published());
    assert.deepEqual(checked, { ok: true, proof });
    assert.equal(proof.kid, 'gw-1');
  });

  it('refuses an unsigned action, a forged signature and a key the gateway does not publish', () => {
    assert.deepEqual(checkActionProof(undefined, approve, signer.published()), { ok: false, reason: 'unsigned: the action carries no gateway proof' });
    const proof = signer.sign({ ...approve, claims });
    const forged: ActionProof = { ...proof, claims: { ...claims, tenantId: 't-contoso' } };
    assert.deepEqual(checkActionProof(forged, approve, signer.published()), { ok: false, reason: "the proof's signature does not verify" });
    const other = new ActionSigner([newGatewayKey('gw-1')]).sign({ ...approve, claims });
    assert.deepEqual(checkActionProof(other, approve, signer.published()), { ok: false, reason: "the proof's signature does not verify" });
    const unknown = new ActionSigner([newGatewayKey('gw-x')]).sign({ ...approve, claims });
    assert.deepEqual(checkActionProof(unknown, approve, signer.published()), { ok: false, reason: 'the proof is signed with key gw-x, which the gateway does not publish' });
  });

  it('refuses a proof used for another action, another migration or another payload', () => {
    const proof = signer.sign({ ...approve, claims });
    assert.equal(checkActionProof(proof, { ...approve, action: 'deny' }, signer.published()).ok, false);
    assert.deepEqual(checkActionProof(proof, { ...approve, migrationId: 'tm-999' }, signer.published()), { ok: false, reason: 'the proof is for migration tm-123' });
    assert.deepEqual(checkActionProof(proof, { ...approve, payload: { actor: 'admin@fabrikam.com', note: 'changed' } }, signer.published()), {
      ok: false,
      reason: 'the payload is not the one the gateway signed',
    });
    // who is named as actor is not what is signed: the verified claims are
    assert.equal(checkActionProof(proof, { ...approve, payload: { actor: 'someone@else.com', note: 'ok' } }, signer.published()).ok, true);
  });

  it('refuses a replay: the same proof after its action id was used', () => {
    const proof = signer.sign({ ...approve, claims });
    assert.equal(checkActionProof(proof, approve, signer.published(), new Set()).ok, true);
    assert.deepEqual(checkActionProof(proof, approve, signer.published(), new Set([proof.actionId])), { ok: false, reason: `action ${proof.actionId} was already used (a replay)` });
  });

  it('rotates without a restart: the new key signs, the old still verifies until retired', () => {
    const rotating = new ActionSigner([newGatewayKey('old')]);
    const before = rotating.sign({ ...approve, claims });
    rotating.rotate(newGatewayKey('new'));
    const after = rotating.sign({ ...approve, claims });
    assert.equal(after.kid, 'new');
    assert.equal(checkActionProof(before, approve, rotating.published()).ok, true);
    assert.equal(checkActionProof(after, approve, rotating.published()).ok, true);
    rotating.retire('old');
    assert.deepEqual(checkActionProof(before, approve, rotating.published()), { ok: false, reason: 'the proof is signed with key old, which the gateway does not publish' });
    assert.equal(checkActionProof(after, approve, rotating.published()).ok, true);
  });

  it('canonical JSON does not depend on key order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } }), canonicalJson({ a: { c: null, d: [1, { y: 2, z: 1 }] }, b: 1 }));
  });
});

describe('the proof check inside a workflow @integration', function () {
  this.timeout(180_000);

  it('runs in the workflow sandbox and gives the same answers there', async () => {
    const { devServer } = await import('./helpers/temporal');
    const { Worker } = await import('@temporalio/worker');
    const env = await devServer();
    const taskQueue = `proof-${Date.now()}`;
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowsPath: require.resolve('./fixtures/proof-workflow') });
    const signer = new ActionSigner([newGatewayKey('gw-1')]);
    const proof = signer.sign({ ...approve, claims });
    const run = (input: { proof: unknown; used: string[] }) =>
      env.client.workflow.execute('checkProofWorkflow', {
        taskQueue,
        workflowId: `proof-${Math.random().toString(36).slice(2)}`,
        args: [{ ...input, expected: approve, keys: signer.published() }],
      });
    await worker.runUntil(async () => {
      assert.deepEqual(await run({ proof, used: [] }), { ok: true, proof });
      assert.deepEqual(await run({ proof, used: [proof.actionId] }), { ok: false, reason: `action ${proof.actionId} was already used (a replay)` });
      assert.deepEqual(await run({ proof: { ...proof, migrationId: 'tm-999' }, used: [] }), { ok: false, reason: "the proof's signature does not verify" });
      assert.deepEqual(await run({ proof: undefined, used: [] }), { ok: false, reason: 'unsigned: the action carries no gateway proof' });
    });
  });
});
