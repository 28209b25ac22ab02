// Sign-in on everywhere, as `npm start` runs: the worker takes only what the gateway signed,
// and every `t2t` command a newcomer runs that changes a migration goes through a real
// gateway with tokens from the real sandbox provider: `t2t storage`, `t2t demo` (with the
// cancel of an earlier demo run), `t2t moveback` and `t2t batch submit`. Each action in
// the histories carries the gateway's proof, with the admin who took it as its user.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { ActionSigner } from '../src/identity/action-signer';
import { checkActionProof, submitBatchProofPayload, submitProofPayload } from '../src/identity/action-proof';
import { batchStatusQuery, batchWorkflowId, migrationWorkflowId, type BatchInput, type MigrationInput, type MigrationStatus } from '../src/contracts';
import type { BatchSubmission } from '../src/client/batch-submission';
import { projectRoot } from '../src/temporal-binaries';
import { useRealServers } from './helpers/servers';
import type { Product } from './helpers/product';
import { startSignedStack, type SignedStack } from './helpers/signed-stack';
import { actionsIn, type ActionInHistory } from './helpers/histories';

const demoWorld = JSON.parse(readFileSync(path.join(projectRoot(), 'examples', 'demo-world.json'), 'utf8')) as { environments: { id: string }[] };
const CLI = path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js');

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** The actions that came as Updates (through the gateway), in order. */
const updatesIn = (events: HistoryEvent[]): ActionInHistory[] => actionsIn(events).filter((a) => a.kind === 'update');

describe('t2t with sign-in on: storage, demo, moveback and batch submit through the gateway @integration', function () {
  this.timeout(600_000);
  let env: TestWorkflowEnvironment;
  let azurite: Parameters<Parameters<typeof useRealServers>[0]>[0]['azurite'];
  useRealServers((s) => ({ env, azurite } = s));

  let product: Product;
  let signer: ActionSigner;
  let cliEnv: NodeJS.ProcessEnv;

  let stack: SignedStack;

  before(async () => {
    stack = await startSignedStack({ env, azurite, world: demoWorld, kid: 'gw-paths' });
    ({ product, signer, cliEnv } = stack);
  });
  after(async () => {
    await stack?.stop();
  });

  function t2t(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: cliEnv }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
    });
  }

  const historyOf = async (workflowId: string, runId?: string) => (await env.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
  const startInput = <T>(events: HistoryEvent[]) => defaultPayloadConverter.fromPayload<T>(events[0].workflowExecutionStartedEventAttributes!.input!.payloads![0]);

  /** Every action of the run carries a proof the gateway's key verifies, for the admin the test expects. */
  function assertSigned(actions: ReturnType<typeof actionsIn>, expected: Record<string, string>) {
    assert.deepEqual(actions.map((a) => a.name), Object.keys(expected));
    for (const { name, arg } of actions) {
      assert.equal(arg.proof?.claims.user, expected[name], name);
      assert.equal(arg.actor, expected[name], name);
      assert.equal(checkActionProof(arg.proof, { action: name, migrationId: arg.proof!.migrationId, payload: arg }, signer.published()).ok, true, name);
    }
  }

  let demoMigration: MigrationStatus;
  let earlierRun: string;

  it("t2t storage: the storage is generated through the gateway for the source tenant's admin; the target's admin is refused there", async () => {
    const submitted = await t2t(['--as', 'admin@contoso.com', 'submit', '--environment', 'env-sales', '--target-tenant', 't-fabrikam', '--json']);
    assert.equal(submitted.code, 0, submitted.stderr);
    earlierRun = (await env.client.workflow.getHandle(migrationWorkflowId('env-sales')).describe()).runId;
    const { targetMigrationId } = JSON.parse(submitted.stdout) as MigrationStatus;
    const approved = await t2t(['--as', 'admin@fabrikam.com', 'approve', '--migration-id', targetMigrationId]);
    assert.equal(approved.code, 0, approved.stderr);

    const other = await t2t(['--as', 'admin@fabrikam.com', 'storage', '--environment', 'env-sales']);
    assert.equal(other.code, 1);
    assert.equal(other.stderr, 't2t: the action gateway refused: admin@fabrikam.com is signed in to tenant t-fabrikam; this action needs an admin of tenant t-contoso\n');
    const storage = await t2t(['--as', 'admin@contoso.com', 'storage', '--environment', 'env-sales', '--json']);
    assert.equal(storage.code, 0, storage.stderr);
    assert.match((JSON.parse(storage.stdout) as { sasUrl: string }).sasUrl, /^https?:\/\//);
    assertSigned(updatesIn(await historyOf(migrationWorkflowId('env-sales'), earlierRun)), { approve: 'admin@fabrikam.com', requestStorage: 'admin@contoso.com' });
  });

  it("t2t demo: cancels the earlier run and takes each step as the demo's admins, through the gateway; the enforcing worker takes them all", async () => {

    const run = await t2t(['demo']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Status:\s+Migrate Environment: Succeeded/);
    assert.equal((await product.controlPlane.getEnvironment('env-sales'))!.tenantId, 't-fabrikam');

    assertSigned(updatesIn(await historyOf(migrationWorkflowId('env-sales'), earlierRun)), {
      approve: 'admin@fabrikam.com',
      requestStorage: 'admin@contoso.com',
      cancel: 'admin@contoso.com',
    });
    const events = await historyOf(migrationWorkflowId('env-sales'));
    const input = startInput<MigrationInput>(events);
    assert.equal(checkActionProof(input.proof, { action: 'submit', migrationId: input.migrationId, payload: submitProofPayload(input) }, signer.published()).ok, true);
    assert.equal(input.proof?.claims.user, 'admin@contoso.com');
    assertSigned(updatesIn(events), { approve: 'admin@fabrikam.com', requestStorage: 'admin@contoso.com', prepare: 'admin@contoso.com', migrate: 'admin@contoso.com' });
    demoMigration = await product.client.status(input.migrationId);
    assert.equal(demoMigration.phase, 'Succeeded');
  });

  it('t2t moveback: the reverse migration is submitted through the gateway, its signed input naming the migration it reverses', async () => {
    const back = await t2t(['--as', 'admin@fabrikam.com', 'moveback', '--migration-id', demoMigration.migrationId, '--json']);
    assert.equal(back.code, 0, back.stderr);
    const reverse = JSON.parse(back.stdout) as MigrationStatus & { reversesMigrationId: string };
    assert.equal(reverse.phase, 'PendingApproval');
    const input = startInput<MigrationInput>(await historyOf(migrationWorkflowId('env-sales')));
    assert.equal(input.migrationId, reverse.migrationId);
    assert.equal(input.reversesMigrationId, demoMigration.migrationId);
    assert.equal(input.proof?.claims.user, 'admin@fabrikam.com');
    assert.equal(checkActionProof(input.proof, { action: 'submit', migrationId: input.migrationId, payload: submitProofPayload(input) }, signer.published()).ok, true);
    assert.equal(reverse.reversesMigrationId, demoMigration.migrationId);
    assert.equal((await product.client.status(reverse.migrationId)).audit.find((a) => a.action === 'submit')?.actor, 'admin@fabrikam.com');
  });

  it("t2t batch submit: the batch starts through the gateway with its signed submit, and its migrations act for the signer; another tenant's admin starts nothing", async () => {
    const args = ['batch', 'submit', '--source-tenant', 't-contoso', '--target-tenant', 't-fabrikam', '--environment', 'env-hr-sandbox', 'env-finance', '--concurrency', '2', '--json'];
    // The shared dev server may hold an earlier suite's closed run of this environment (the demo world's):
    // nothing starting means the latest run is still that one, or there is none.
    const latestRun = (environmentId = 'env-hr-sandbox') =>
      env.client.workflow
        .getHandle(migrationWorkflowId(environmentId))
        .describe()
        .then((d) => d.runId, (err: Error) => (/not found/i.test(err.message) ? 'none' : Promise.reject(err)));
    const runBefore = await latestRun();
    const other = await t2t(['--as', 'admin@fabrikam.com', ...args]);
    assert.equal(other.code, 1);
    assert.equal(other.stderr, 't2t: the action gateway refused: admin@fabrikam.com is signed in to tenant t-fabrikam; this action needs an admin of tenant t-contoso\n');
    assert.equal(await latestRun(), runBefore, 'no migration was started');

    const run = await t2t(['--as', 'admin@contoso.com', ...args]);
    assert.equal(run.code, 0, run.stderr);
    const submitted = JSON.parse(run.stdout) as BatchSubmission;
    assert.deepEqual(submitted.environments.map((e) => e.environmentId), ['env-hr-sandbox']);
    assert.deepEqual(submitted.skipped.map((e) => e.environmentId), ['env-finance'], 'linked to Finance and Operations: not eligible');
    const batch = env.client.workflow.getHandle(batchWorkflowId(submitted.batchId));
    const input = startInput<BatchInput>(await historyOf(batch.workflowId));
    assert.equal(input.submittedBy, 'admin@contoso.com');
    assert.equal(input.proof?.claims.user, 'admin@contoso.com');
    assert.equal(checkActionProof(input.proof, { action: 'submit', migrationId: input.batchId, payload: submitBatchProofPayload(input) }, signer.published()).ok, true);
    for (const e of submitted.environments) {
      const child = env.client.workflow.getHandle(migrationWorkflowId(e.environmentId));
      // The batch starts its migrations after its own start: wait for this one's run (not an earlier suite's).
      while ((await latestRun(e.environmentId)) === runBefore) await new Promise((r) => setTimeout(r, 100));
      const status = await product.client.waitForStatus(child, (s) => s.phase !== 'Submitted', 120_000);
      assert.equal(status.phase, 'PendingApproval', status.reason);
      assert.equal(status.audit.find((a) => a.action === 'submit')?.actor, 'admin@contoso.com');
    }
    assert.equal((await batch.query(batchStatusQuery)).batchId, submitted.batchId);
    await batch.terminate('test done');
  });
});
