// Sign-in on (T2T_AUTH=on): the migration and the batch act only on what the gateway signed.
// The test holds the gateway's signer (ActionSigner) and signs as the gateway would after
// verifying an admin's token; everything else goes through the real servers: the worker
// reads the gateway's published keys (a keys file, or GET /v1/keys of a real gateway), starts
// and actions are sent as any Temporal client would (the SDK, or the `temporal` CLI).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import {
  BATCH_WORKFLOW_TYPE,
  MIGRATION_WORKFLOW_TYPE,
  approveSignal,
  approveUpdate,
  requestStorageUpdate,
  batchStatusQuery,
  batchWorkflowId,
  isFinalPhase,
  migrationWorkflowId,
  statusQuery,
  type Action,
  type AuditEntry,
  type BatchInput,
  type MigrationInput,
  type MigrationStatus,
} from '../src/contracts';
import { ActionSigner, newGatewayKey } from '../src/identity/action-signer';
import { submitBatchProofPayload, submitProofPayload, type ActionProof, type ProofClaims } from '../src/identity/action-proof';
import { createGateway } from '../src/gateway/server';
import { TokenRefused, type TokenVerifier } from '../src/identity/token-verifier';
import { resolveTemporalBinary } from '../src/temporal-binaries';
import type { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, type TestWorld } from './helpers/world';
import { startProduct, type Product, type ProductOptions } from './helpers/product';
import { recordHistory } from './helpers/histories';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the gateway verified about an admin (never a token). */
function claimsOf(user: string, tenantId: string): ProofClaims {
  return { issuer: 'https://login.sandbox.test/v2.0', tenantId, objectId: randomUUID(), user, tokenIdHash: randomUUID() };
}

/** An action's payload as `t2t sign` prints it: what the admin asked for, and the gateway's proof over it. */
function signed(signer: ActionSigner, action: Action, migrationId: string, claims: ProofClaims, payload: Record<string, unknown>): Record<string, unknown> & { actor: string; proof: ActionProof } {
  const body = { actor: claims.user, requestId: randomUUID(), ...payload };
  return { ...body, proof: signer.sign({ action, migrationId, payload: body, claims }) };
}

/** The migration's input as the client puts it in; `proof` on top when the test signs it. */
function inputOf(p: Product, w: TestWorld, extra: Partial<MigrationInput> = {}): MigrationInput {
  return {
    migrationId: randomUUID(),
    targetMigrationId: randomUUID(),
    environmentId: w.environmentId,
    targetTenantId: w.target,
    submittedBy: w.sourceAdmin,
    approvalTimeoutMs: p.config.approvalTimeoutMs,
    lockboxTimeoutMs: p.config.lockboxTimeoutMs,
    prepareWindowMs: p.config.prepareWindowMs,
    ...extra,
  };
}

function signedStart(signer: ActionSigner, input: MigrationInput, claims: ProofClaims): MigrationInput {
  return { ...input, proof: signer.sign({ action: 'submit', migrationId: input.migrationId, payload: submitProofPayload(input), claims }) };
}

function temporalCli(env: TestWorkflowEnvironment, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const temporal = resolveTemporalBinary('temporal')!;
  return new Promise((resolve) =>
    execFile(temporal, [...args, '--address', env.address], (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr })),
  );
}

describe('signed actions: the workflow verifies too @integration', function () {
  this.timeout(240_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  useRealServers((servers) => ({ env, azurite } = servers));

  async function withProduct(options: Partial<ProductOptions>, story: (p: Product, w: TestWorld) => Promise<void>, w = makeTestWorld()) {
    const p = await startProduct({ env, azurite, world: w.world, ...options });
    try {
      await story(p, w);
    } finally {
      await p.stop();
    }
  }

  async function start(p: Product, input: MigrationInput): Promise<WorkflowHandle> {
    return env.client.workflow.start(MIGRATION_WORKFLOW_TYPE, { taskQueue: p.config.taskQueue, workflowId: migrationWorkflowId(input.environmentId), args: [input] });
  }

  /** A signed start that the migration took: it waits for the target admin's approval. */
  async function startedSigned(p: Product, w: TestWorld, signer: ActionSigner, extra: Partial<MigrationInput> = {}) {
    const input = inputOf(p, w, extra);
    const handle = await start(p, signedStart(signer, input, claimsOf(w.sourceAdmin, w.source)));
    const status = await p.client.waitForStatus(handle, (s) => s.phase !== 'Submitted', 60_000);
    assert.equal(status.phase, 'PendingApproval', status.reason);
    return { input, handle };
  }

  /** Sent as any Temporal client would, as an Update of its own (the answer is the action's audit entry). */
  async function entryOf(handle: WorkflowHandle, payload: Record<string, unknown>, update = approveUpdate): Promise<AuditEntry> {
    return handle.executeUpdate(update, { args: [payload], updateId: randomUUID() });
  }

  it('a signed start and a signed approve are taken: who acted is the user the gateway verified, and the audit entries keep the proofs', () => {
    const signer = new ActionSigner([newGatewayKey('gw-1')]);
    return withProduct({ auth: { keys: signer.published() } }, async (p, w) => {
      const input = inputOf(p, w, { submittedBy: 'typed-by-anyone@contoso.com' });
      const submitter = claimsOf(w.sourceAdmin, w.source);
      const handle = await start(p, signedStart(signer, input, submitter));
      const pending = await p.client.waitForStatus(handle, (s) => s.phase !== 'Submitted', 60_000);
      assert.equal(pending.phase, 'PendingApproval', pending.reason);
      const submit = pending.audit.find((e) => e.action === 'submit')!;
      assert.equal(submit.actor, w.sourceAdmin, 'the submitter is the proof\'s user, not the name typed in the input');
      assert.equal(submit.proof?.claims.user, w.sourceAdmin);
      assert.equal(submit.proof?.migrationId, input.migrationId);

      // The payload names someone else as actor: the proof's user acts, and the role check runs on them.
      const approve = signed(signer, 'approve', input.targetMigrationId, claimsOf(w.targetAdmin, w.target), {});
      approve.actor = 'someone-else@fabrikam.com';
      const entry = await p.client.actOn(handle, 'approve', approve);
      assert.equal(entry.entry.outcome, 'accepted', entry.entry.reason);
      assert.equal(entry.entry.actor, w.targetAdmin);
      assert.deepEqual(entry.entry.proof, approve.proof);
      assert.equal(entry.status.phase, 'Approved');

      // A proof naming the source migration id is taken as well: each admin signs with the id they know.
      const storage = await p.client.actOn(handle, 'requestStorage', signed(signer, 'requestStorage', input.migrationId, claimsOf(w.sourceAdmin, w.source), {}));
      assert.equal(storage.entry.outcome, 'accepted', storage.entry.reason);

      // The role check runs on the proof's user: a signed cancel by a user with no admin role is refused, whatever the payload says.
      const cancel = signed(signer, 'cancel', input.migrationId, claimsOf(w.sourceUser, w.source), {});
      cancel.actor = w.sourceAdmin;
      const refused = await p.client.actOn(handle, 'cancel', cancel);
      assert.equal(refused.entry.outcome, 'refused');
      assert.equal(refused.entry.actor, w.sourceUser);
      assert.deepEqual(refused.entry.proof, cancel.proof, 'a refused action keeps the proof it carried');

      const cancelled = await p.client.actOn(handle, 'cancel', signed(signer, 'cancel', input.migrationId, claimsOf(w.sourceAdmin, w.source), {}));
      assert.equal(cancelled.status.phase, 'Cancelled');
      const trail = await p.auditLog.list(input.migrationId);
      assert.deepEqual(
        trail.map((e) => [e.action, e.actor, e.outcome]),
        [['submit', w.sourceAdmin, 'accepted'], ['approve', w.targetAdmin, 'accepted'], ['requestStorage', w.sourceAdmin, 'accepted'], ['cancel', w.sourceUser, 'refused'], ['cancel', w.sourceAdmin, 'accepted']],
      );
      await recordHistory(handle, 'signed-actions');
    });
  });

  it('unsigned, forged, and signed for another migration, action or payload: refused and audited, nothing changes', () => {
    const signer = new ActionSigner([newGatewayKey('gw-1')]);
    const impostor = new ActionSigner([newGatewayKey('gw-1')]);
    return withProduct({ auth: { keys: signer.published() } }, async (p, w) => {
      const { input, handle } = await startedSigned(p, w, signer);
      const target = claimsOf(w.targetAdmin, w.target);

      // Raw, as `temporal workflow signal` sends it: refused and recorded.
      await handle.signal(approveSignal, { actor: w.targetAdmin, requestId: 'raw-approve' });
      const afterRaw = await p.client.waitForStatus(handle, (s) => s.audit.some((e) => e.requestId === 'raw-approve'));
      const raw = afterRaw.audit.find((e) => e.requestId === 'raw-approve')!;
      assert.equal(raw.outcome, 'refused');
      assert.equal(raw.reason, 'approve refused: unsigned: the action carries no gateway proof');
      assert.equal(raw.proof, undefined);

      const forged = signed(impostor, 'approve', input.targetMigrationId, target, {});
      const otherMigration = signed(signer, 'approve', randomUUID(), target, {});
      const otherAction = signed(signer, 'deny', input.targetMigrationId, target, {});
      const otherPayload = { ...signed(signer, 'approve', input.targetMigrationId, target, {}), requestId: randomUUID() };
      const cases: [Record<string, unknown>, string][] = [
        [{ actor: w.targetAdmin }, 'approve refused: unsigned: the action carries no gateway proof'],
        [forged, "approve refused: the proof's signature does not verify"],
        [otherMigration, `approve refused: the proof is for migration ${(otherMigration.proof as ActionProof).migrationId}`],
        [otherAction, 'approve refused: the proof is for deny, not approve'],
        [otherPayload, 'approve refused: the payload is not the one the gateway signed'],
      ];
      for (const [payload, reason] of cases) {
        const entry = await entryOf(handle, payload);
        assert.equal(entry.outcome, 'refused');
        assert.equal(entry.reason, reason);
      }
      const status = await handle.query(statusQuery);
      assert.equal(status.phase, 'PendingApproval', 'nothing changed');
      const trail = await p.auditLog.list(input.migrationId);
      const refusals = trail.filter((e) => e.action === 'approve' && e.outcome === 'refused');
      assert.equal(refusals.reduce((n, e) => n + e.count, 0), 6, 'every refusal is in the audit trail (identical ones in a row counted in one)');
      assert.equal(trail.filter((e) => e.outcome === 'accepted' && e.action !== 'submit').length, 0);
      await p.client.actOn(handle, 'cancel', signed(signer, 'cancel', input.migrationId, claimsOf(w.sourceAdmin, w.source), {}));
    });
  });

  it('a signed action used once is refused when sent again, also after the migration continued as new', () => {
    const signer = new ActionSigner([newGatewayKey('gw-1')]);
    return withProduct({ auth: { keys: signer.published() } }, async (p, w) => {
      const { input, handle } = await startedSigned(p, w, signer, { continueAfterEvents: 20 });
      assert.equal((await entryOf(handle, signed(signer, 'approve', input.targetMigrationId, claimsOf(w.targetAdmin, w.target), {}))).outcome, 'accepted');
      // Storage may be asked for again while the migration is Approved: what stops a second use is the proof's id alone.
      const storage = signed(signer, 'requestStorage', input.migrationId, claimsOf(w.sourceAdmin, w.source), {});
      const sendStorage = () => handle.executeUpdate(requestStorageUpdate, { args: [storage], updateId: randomUUID() });
      assert.equal((await sendStorage()).outcome, 'accepted');
      const usedIn = (await handle.describe()).runId;
      const replay = `requestStorage refused: action ${storage.proof.actionId} was already used (a replay)`;
      // Sent again by someone who read it (in history, in the audit trail), as a new Update: a replay. Each refusal
      // lengthens the history past 20 events, and the waiting migration continues as new.
      for (let i = 0; i < 20 && (await handle.describe()).runId === usedIn; i += 1) {
        const again = await sendStorage();
        assert.equal(again.outcome, 'refused');
        assert.equal(again.reason, replay);
        await sleep(200);
      }
      assert.notEqual((await handle.describe()).runId, usedIn, 'the migration continued as new');
      const afterwards = await sendStorage();
      assert.equal(afterwards.reason, replay, 'the used ids are carried into the next run');
      const status = await handle.query(statusQuery);
      assert.equal(status.phase, 'Approved');
      assert.equal(status.audit.filter((e) => e.outcome === 'accepted').length, 3, 'submit, approve, requestStorage: once each');
      await p.client.actOn(handle, 'cancel', signed(signer, 'cancel', input.migrationId, claimsOf(w.sourceAdmin, w.source), {}));
    });
  });

  it('a key rotated at the gateway without a restart: the worker reads the published keys again and takes the new key\'s proofs', async () => {
    const signer = new ActionSigner([newGatewayKey('gw-old')]);
    const verifier = {
      verify: async () => {
        throw new TokenRefused(401, 'no token');
      },
    } as unknown as TokenVerifier;
    const gateway = await createGateway({ verifier, signer });
    await gateway.listen({ host: '127.0.0.1', port: 0 });
    const gatewayUrl = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
    try {
      await withProduct({ auth: { gatewayUrl } }, async (p, w) => {
        const { input, handle } = await startedSigned(p, w, signer);
        signer.rotate(newGatewayKey('gw-new'));
        const approve = signed(signer, 'approve', input.targetMigrationId, claimsOf(w.targetAdmin, w.target), {});
        assert.equal(approve.proof.kid, 'gw-new');
        const entry = await entryOf(handle, approve);
        assert.equal(entry.outcome, 'accepted', entry.reason);
        // A key the gateway never published is still refused, once it has been looked up.
        const unknown = new ActionSigner([newGatewayKey('gw-never')]);
        const refused = await entryOf(handle, signed(unknown, 'requestStorage', input.migrationId, claimsOf(w.sourceAdmin, w.source), {}), requestStorageUpdate);
        assert.equal(refused.reason, 'requestStorage refused: the proof is signed with key gw-never, which the gateway does not publish');
        await p.client.actOn(handle, 'cancel', signed(signer, 'cancel', input.migrationId, claimsOf(w.sourceAdmin, w.source), {}));
        await recordHistory(handle, 'signed-key-rotated');
      });
    } finally {
      await gateway.close();
    }
  });

  it('with the temporal CLI: a start without a signed submit ends at once, doing nothing; a signed start and a signed approve are taken', () => {
    const signer = new ActionSigner([newGatewayKey('gw-1')]);
    return withProduct({ auth: { keys: signer.published() } }, async (p, w) => {
      const workflowId = migrationWorkflowId(w.environmentId);
      const unsigned = inputOf(p, w);
      const started = await temporalCli(env, ['workflow', 'start', '--type', MIGRATION_WORKFLOW_TYPE, '--task-queue', p.config.taskQueue, '--workflow-id', workflowId, '--input', JSON.stringify(unsigned)]);
      assert.equal(started.code, 0, started.stderr);
      const handle = env.client.workflow.getHandle(workflowId);
      const ended = await p.client.waitForStatus(handle, (s) => isFinalPhase(s.phase), 60_000);
      assert.equal(ended.phase, 'Failed');
      assert.equal(ended.reason, 'submit refused: unsigned: the action carries no gateway proof; nothing was done');
      assert.equal(ended.sourceTenantId, undefined, 'not even assessed');
      assert.equal(await p.controlPlane.getRequest(unsigned.migrationId), undefined, 'no request was registered with the service');
      assert.equal((await p.controlPlane.getEnvironment(w.environmentId))?.tenantId, w.source, 'the environment stays in its tenant');
      const trail = await p.auditLog.list(unsigned.migrationId);
      assert.deepEqual(trail.map((e) => [e.action, e.outcome, e.reason]), [['submit', 'refused', ended.reason]], 'the refusal is in the audit trail');

      // A signed start whose input was changed after signing (another target tenant): refused the same way.
      const tampered = { ...signedStart(signer, inputOf(p, w), claimsOf(w.sourceAdmin, w.source)), targetTenantId: w.other };
      const second = await temporalCli(env, ['workflow', 'start', '--type', MIGRATION_WORKFLOW_TYPE, '--task-queue', p.config.taskQueue, '--workflow-id', workflowId, '--input', JSON.stringify(tampered)]);
      assert.equal(second.code, 0, second.stderr);
      const refused = await p.client.waitForStatus(env.client.workflow.getHandle(workflowId), (s) => s.migrationId === tampered.migrationId && isFinalPhase(s.phase), 60_000);
      assert.equal(refused.reason, 'submit refused: the payload is not the one the gateway signed; nothing was done');

      const input = inputOf(p, w);
      const startedSignedRun = await temporalCli(env, [
        'workflow', 'start', '--type', MIGRATION_WORKFLOW_TYPE, '--task-queue', p.config.taskQueue, '--workflow-id', workflowId,
        '--input', JSON.stringify(signedStart(signer, input, claimsOf(w.sourceAdmin, w.source))),
      ]);
      assert.equal(startedSignedRun.code, 0, startedSignedRun.stderr);
      const current = env.client.workflow.getHandle(workflowId);
      const pending = await p.client.waitForStatus(current, (s) => s.migrationId === input.migrationId && s.phase !== 'Submitted', 60_000);
      assert.equal(pending.phase, 'PendingApproval', pending.reason);

      const approve = signed(signer, 'approve', input.targetMigrationId, claimsOf(w.targetAdmin, w.target), {});
      const sent = await temporalCli(env, ['workflow', 'signal', '--workflow-id', workflowId, '--name', 'approve', '--input', JSON.stringify(approve)]);
      assert.equal(sent.code, 0, sent.stderr);
      const approved = await p.client.waitForStatus(current, (s) => s.phase === 'Approved', 60_000);
      const entry = approved.audit.find((e) => e.action === 'approve')!;
      assert.equal(entry.actor, w.targetAdmin);
      assert.equal(entry.proof?.actionId, approve.proof.actionId);
      await p.client.actOn(current, 'cancel', signed(signer, 'cancel', input.migrationId, claimsOf(w.sourceAdmin, w.source), {}));
    });
  });

  it('a batch: started only with a signed submit; its migrations trust it through the parent Temporal records, and act for its signer', () => {
    const signer = new ActionSigner([newGatewayKey('gw-1')]);
    const w = makeTestWorld({ environments: 2 });
    return withProduct(
      { auth: { keys: signer.published() } },
      async (p) => {
        const batchInput = (): BatchInput => ({
          batchId: randomUUID(),
          sourceTenantId: w.source,
          targetTenantId: w.target,
          submittedBy: 'typed-by-anyone@contoso.com',
          environments: w.environmentIds.map((environmentId) => ({ environmentId, migrationId: randomUUID(), targetMigrationId: randomUUID() })),
          concurrency: 1,
          approvalTimeoutMs: p.config.approvalTimeoutMs,
          lockboxTimeoutMs: p.config.lockboxTimeoutMs,
          prepareWindowMs: p.config.prepareWindowMs,
        });
        const startBatch = (input: BatchInput) =>
          env.client.workflow.start(BATCH_WORKFLOW_TYPE, { taskQueue: p.config.taskQueue, workflowId: batchWorkflowId(input.batchId), args: [input] });

        const unsigned = batchInput();
        const refusedBatch = await startBatch(unsigned);
        await assert.rejects(refusedBatch.result(), (err: Error & { cause?: Error }) => {
          assert.equal(err.cause?.message, 'submit refused: unsigned: the action carries no gateway proof; no migration was started');
          return true;
        });
        for (const environmentId of w.environmentIds) {
          await assert.rejects(env.client.workflow.getHandle(migrationWorkflowId(environmentId)).describe(), 'no migration was started');
        }

        const input = batchInput();
        const proof = signer.sign({ action: 'submit', migrationId: input.batchId, payload: submitBatchProofPayload(input), claims: claimsOf(w.sourceAdmin, w.source) });
        const batch = await startBatch({ ...input, proof });
        let children: MigrationStatus[] = [];
        for (let tries = 0; tries < 300; tries += 1) {
          children = await Promise.all(w.environmentIds.map((id) => env.client.workflow.getHandle(migrationWorkflowId(id)).query(statusQuery).catch(() => undefined))).then((s) => s.filter((x): x is MigrationStatus => x !== undefined));
          if (children.length === 2 && children.every((c) => c.phase !== 'Submitted')) break;
          await sleep(200);
        }
        assert.equal(children.length, 2);
        for (const child of children) {
          assert.equal(child.phase, 'PendingApproval', child.reason);
          assert.equal(child.audit.find((e) => e.action === 'submit')?.actor, w.sourceAdmin, 'submitted by the batch\'s signer, not the typed name');
          // Its actions are signed as any migration's.
          const raw = await entryOf(env.client.workflow.getHandle(migrationWorkflowId(child.environmentId)), { actor: w.targetAdmin });
          assert.equal(raw.reason, 'approve refused: unsigned: the action carries no gateway proof');
          await p.client.actOn(env.client.workflow.getHandle(migrationWorkflowId(child.environmentId)), 'cancel', signed(signer, 'cancel', child.migrationId, claimsOf(w.sourceAdmin, w.source), {}));
        }
        await batch.result();
        assert.deepEqual((await batch.query(batchStatusQuery)).summary, { Cancelled: 2 });
      },
      w,
    );
  });

  it('T2T_AUTH=off: raw signals and an unsigned start are taken, as the raw-signal design alone', () =>
    withProduct({}, async (p, w) => {
      assert.equal(p.config.signIn.auth, 'off', 'as test/setup.ts sets it for the run');
      const input = inputOf(p, w);
      const handle = await start(p, input);
      assert.equal((await p.client.waitForStatus(handle, (s) => s.phase !== 'Submitted', 60_000)).phase, 'PendingApproval');
      await handle.signal(approveSignal, { actor: w.targetAdmin, requestId: 'raw-approve' });
      const approved = await p.client.waitForStatus(handle, (s) => s.phase === 'Approved', 60_000);
      assert.equal(approved.audit.find((e) => e.requestId === 'raw-approve')?.outcome, 'accepted');
      await p.client.actOn(handle, 'cancel', { actor: w.sourceAdmin });
    }));
});

describe('signed actions on the time-skipping server @integration', function () {
  this.timeout(240_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  useRealServers((servers) => ({ env, azurite } = servers), 'own time-skipping');

  it('unsigned approvals are refused while the deadline runs; the request still expires at it', async () => {
    const signer = new ActionSigner([newGatewayKey('gw-1')]);
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world, auth: { keys: signer.published() } });
    try {
      const input = inputOf(p, w);
      const handle = await env.client.workflow.start(MIGRATION_WORKFLOW_TYPE, {
        taskQueue: p.config.taskQueue,
        workflowId: migrationWorkflowId(w.environmentId),
        args: [signedStart(signer, input, claimsOf(w.sourceAdmin, w.source))],
      });
      assert.equal((await p.client.waitForStatus(handle, (s) => s.phase !== 'Submitted', 60_000)).phase, 'PendingApproval');
      const refused = await handle.executeUpdate(approveUpdate, { args: [{ actor: w.targetAdmin }], updateId: randomUUID() });
      assert.equal(refused.reason, 'approve refused: unsigned: the action carries no gateway proof');
      await env.sleep(p.config.approvalTimeoutMs + 60_000);
      const final = (await handle.result()) as MigrationStatus;
      assert.equal(final.phase, 'Expired');
      assert.deepEqual(final.audit.slice(0, 2).map((e) => [e.action, e.actor, e.outcome]), [['submit', w.sourceAdmin, 'accepted'], ['approve', w.targetAdmin, 'refused']]);
      assert.equal(final.audit.filter((e) => e.outcome === 'accepted').length, 1, 'nothing but the submit was taken');
    } finally {
      await p.stop();
    }
  });
});
