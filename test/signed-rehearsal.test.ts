// Rehearsals and submits' ids with sign-in on, as `npm start` runs: the worker starts a
// rehearsal only with the gateway's signed proof (an unsigned or altered start ends at once,
// Refused, nothing copied); `t2t rehearse` goes through a real gateway with a token from the
// real sandbox provider and acts for the signed-in admin; and the gateway refuses to sign a
// submit whose ids a migration already has (a second start reusing a live migration's ids
// could replay the proofs signed for it).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { defaultPayloadConverter } from '@temporalio/common';
import { loadConfig } from '../src/config';
import type { ActionSigner } from '../src/identity/action-signer';
import { checkActionProof, submitRehearsalProofPayload } from '../src/identity/action-proof';
import { signInWithDeviceCode } from '../src/identity/sign-in';
import { completeSandboxDeviceCode } from '../src/identity/sandbox-device-sign-in';
import type { LocalProvider } from '../src/identity/local-provider';
import { migrationWorkflowId, type MigrationStatus, type RehearsalInput, type RehearsalReport } from '../src/contracts';
import { RehearsalClient } from '../src/client/rehearsals';
import { SimulatedMigrationService } from '../src/service/simulated';
import { projectRoot } from '../src/temporal-binaries';
import { useRealServers } from './helpers/servers';
import type { Product } from './helpers/product';
import { startSignedStack, type SignedStack } from './helpers/signed-stack';

const demoWorld = JSON.parse(readFileSync(path.join(projectRoot(), 'examples', 'demo-world.json'), 'utf8')) as { environments: { id: string }[] };
const CLI = path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js');
const DEMO_MAPPING = path.join(projectRoot(), 'examples', 'usermapping.csv');

describe('rehearsals and submit ids with sign-in on @integration', function () {
  this.timeout(600_000);
  let env: TestWorkflowEnvironment;
  let azurite: Parameters<Parameters<typeof useRealServers>[0]>[0]['azurite'];
  useRealServers((s) => ({ env, azurite } = s));

  let product: Product;
  let provider: LocalProvider;
  let signer: ActionSigner;
  let base: string;
  let cliEnv: NodeJS.ProcessEnv;
  let signInDir: string;
  let mappingFile: string;

  let stack: SignedStack;

  before(async () => {
    stack = await startSignedStack({ env, azurite, world: demoWorld, kid: 'gw-rehearse' });
    ({ product, provider, signer, base, cliEnv, signInDir } = stack);
    const folder = path.join(signInDir, 'mapping');
    mkdirSync(folder);
    mappingFile = path.join(folder, 'usermapping.csv');
    copyFileSync(DEMO_MAPPING, mappingFile);
  });
  after(async () => {
    await stack?.stop();
  });

  function t2t(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: cliEnv }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
    });
  }

  function rehearsals(): RehearsalClient {
    const service = new SimulatedMigrationService({ controlPlane: product.controlPlane, storage: product.storage, sasValidityMs: product.config.sasValidityMs, remapBatchSize: product.config.remapBatchSize });
    return new RehearsalClient({ client: env.client, service, taskQueue: product.config.taskQueue, controlPlane: product.controlPlane });
  }

  async function tokenOf(upn: string): Promise<string> {
    const settings = { ...loadConfig({ T2T_DATA_DIR: signInDir }).signIn, authority: provider.issuer, tokenCacheFile: path.join(mkdtempSync(path.join(os.tmpdir(), 't2t-rehearse-token-')), 'cache.json') };
    const ca = readFileSync(loadConfig({ T2T_DATA_DIR: signInDir }).signIn.sandboxCertificateFile, 'utf8');
    return (await signInWithDeviceCode(settings, (prompt) => completeSandboxDeviceCode({ verificationUri: prompt.verificationUri, userCode: prompt.userCode, upn, ca }))).accessToken;
  }

  const startInput = async (workflowId: string) =>
    defaultPayloadConverter.fromPayload<RehearsalInput>((await env.client.workflow.getHandle(workflowId).fetchHistory()).events![0].workflowExecutionStartedEventAttributes!.input!.payloads![0]);

  it('an unsigned rehearsal start, or one whose storage was swapped after signing, ends at once Refused: nothing copied, no activity run', async () => {
    const unsigned = await rehearsals().rehearse({ environmentId: 'env-sales', targetTenantId: 't-fabrikam', actor: 'admin@contoso.com', file: mappingFile });
    assert.equal(unsigned.report.outcome, 'Refused');
    assert.equal(unsigned.report.reason, 'rehearse refused: unsigned: the action carries no gateway proof; nothing was done');
    assert.equal(unsigned.report.copyEnvironmentId, undefined);
    assert.deepEqual(unsigned.report.steps, []);
    assert.deepEqual(await product.controlPlane.listEnvironmentCopies('env-sales'), []);
    const history = (await env.client.workflow.getHandle(unsigned.workflowId).fetchHistory()).events ?? [];
    assert.equal(history.filter((e) => e.activityTaskScheduledEventAttributes).length, 0, 'no activity: no copy, no storage revoked');

    // Signed as the gateway signs, then the storage swapped: the payload is not the one signed.
    const client = rehearsals();
    const plan = await client.plan({ environmentId: 'env-sales', targetTenantId: 't-fabrikam', actor: 'admin@contoso.com' });
    const claims = { issuer: provider.issuer, tenantId: 't-contoso', objectId: 'o-1', user: 'admin@contoso.com', tokenIdHash: 'h' };
    plan.input.proof = signer.sign({ action: 'rehearse', migrationId: plan.input.rehearsalId, payload: submitRehearsalProofPayload(plan.input), claims });
    plan.input.storage = { ...plan.input.storage, containerName: 'another-migrations-container' };
    await client.start(plan);
    const altered = await client.follow(plan.workflowId, plan.input.storage);
    assert.equal(altered.report.outcome, 'Refused');
    assert.equal(altered.report.reason, 'rehearse refused: the payload is not the one the gateway signed; nothing was done');
    assert.deepEqual(await product.controlPlane.listEnvironmentCopies('env-sales'), []);
  });

  it("t2t rehearse goes through the gateway: another tenant's admin starts nothing; the source admin's signed rehearsal runs for them", async () => {
    const args = ['rehearse', '--environment', 'env-sales', '--target-tenant', 't-fabrikam', '--file', mappingFile, '--json'];
    const other = await t2t(['--as', 'admin@fabrikam.com', ...args]);
    assert.equal(other.code, 1);
    assert.equal(other.stderr, 't2t: the action gateway refused: admin@fabrikam.com is signed in to tenant t-fabrikam; this action needs an admin of tenant t-contoso\n');

    const run = await t2t(['--as', 'admin@contoso.com', ...args]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const document = JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as RehearsalReport & { workflowId: string };
    assert.equal(document.outcome, 'Succeeded', document.reason);
    assert.equal(document.copyRemoved, true);
    assert.ok(document.summary!.usersRemapped > 0);
    const input = await startInput(document.workflowId);
    assert.equal(input.requestedBy, 'admin@contoso.com');
    assert.equal(input.proof?.claims.user, 'admin@contoso.com');
    assert.equal(checkActionProof(input.proof, { action: 'rehearse', migrationId: input.rehearsalId, payload: submitRehearsalProofPayload(input) }, signer.published()).ok, true);
    assert.deepEqual(await product.controlPlane.listEnvironmentCopies('env-sales'), []);
    assert.equal((await product.controlPlane.getEnvironment('env-sales'))!.tenantId, 't-contoso', 'the original was not moved');
  });

  it('t2t sign rehearse prints a signed rehearsal start input, alone on stdout, that a plain Temporal start runs for the signer', async () => {
    assert.equal((await t2t(['--as', 'admin@contoso.com', 'login'])).code, 0);
    const signed = await t2t(['sign', 'rehearse', '--environment', 'env-sales', '--target-tenant', 't-fabrikam', '--file', mappingFile]);
    assert.equal(signed.code, 0, signed.stderr);
    assert.equal(signed.stdout.trim().split('\n').length, 1, 'one line: the input');
    const input = JSON.parse(signed.stdout) as RehearsalInput;
    const workflowId = /--workflow-id (\S+)/.exec(signed.stderr)![1];
    const report = await env.client.workflow.execute('rehearseMigration', { taskQueue: product.config.taskQueue, workflowId, args: [{ ...input, requestedBy: 'someone@else.com' }] }) as RehearsalReport;
    assert.equal(report.outcome, 'Succeeded', report.reason);
    assert.equal((await startInput(workflowId)).proof?.claims.user, 'admin@contoso.com');
    assert.deepEqual(await product.controlPlane.listEnvironmentCopies('env-sales'), []);

    // The same signed input started again, under the same workflow id or another: spent, nothing done.
    for (const again of [workflowId, `${workflowId}-again`]) {
      const replayed = (await env.client.workflow.execute('rehearseMigration', { taskQueue: product.config.taskQueue, workflowId: again, args: [input] })) as RehearsalReport;
      assert.equal(replayed.outcome, 'Refused');
      assert.match(String(replayed.reason), /^rehearse refused: this signed start was used already \(by run [0-9a-f-]+\): sign a new one; nothing was done$/);
      const activities = (await env.client.workflow.getHandle(again).fetchHistory()).events!.filter((e) => e.activityTaskScheduledEventAttributes);
      assert.deepEqual(activities, [], 'no activity ran for the spent start');
    }
  });

  it("refuses to sign a submit reusing a migration's ids (409, one line); new ids are signed", async () => {
    const submitted = await t2t(['--as', 'admin@contoso.com', 'submit', '--environment', 'env-hr-sandbox', '--target-tenant', 't-fabrikam', '--json']);
    assert.equal(submitted.code, 0, submitted.stderr);
    const live = JSON.parse(submitted.stdout) as MigrationStatus;
    const token = await tokenOf('admin@contoso.com');
    const askToSign = (migrationId: string, targetMigrationId: string) =>
      fetch(`${base}/v1/proofs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ action: 'submit', migrationId, payload: { environmentId: 'env-hr-sandbox', targetTenantId: 't-fabrikam', targetMigrationId } }),
      });
    const workflowId = migrationWorkflowId('env-hr-sandbox');
    // Visibility is eventually consistent: the live migration shows within moments.
    let reused = await askToSign(live.migrationId, randomUUID());
    for (let i = 0; i < 40 && reused.status === 200; i++) {
      await new Promise((r) => setTimeout(r, 250));
      reused = await askToSign(live.migrationId, randomUUID());
    }
    assert.equal(reused.status, 409);
    assert.equal(((await reused.json()) as { error: string }).error, `submit refused: the id ${live.migrationId} is already used by migration ${workflowId}; a submit gets new ids (t2t sign submit makes them)`);
    const reusedTarget = await askToSign(randomUUID(), live.targetMigrationId);
    assert.equal(reusedTarget.status, 409);
    assert.equal(((await reusedTarget.json()) as { error: string }).error, `submit refused: the id ${live.targetMigrationId} is already used by migration ${workflowId}; a submit gets new ids (t2t sign submit makes them)`);
    const crossed = await askToSign(live.targetMigrationId, randomUUID());
    assert.equal(crossed.status, 409, "a live target id as another's source id");
    const malformed = await askToSign("x' OR 1=1", randomUUID());
    assert.equal(malformed.status, 400);

    const fresh = await askToSign(randomUUID(), randomUUID());
    assert.equal(fresh.status, 200);
    assert.ok(((await fresh.json()) as { proof?: unknown }).proof);
  });
});
