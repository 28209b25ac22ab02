// An operator terminates a migration with Temporal's own CLI, outside the product:
// `t2t status` and `t2t batch status` then say Terminated, how, by whom and when,
// in text and in --json, rather than the phase the run stopped in, for ever.
// Real dev server, Azurite, the control-plane file; `temporal` as an operator runs it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, Product, rawClientEnv } from './helpers/product';
import { projectRoot, resolveTemporalBinary } from '../src/temporal-binaries';
import { migrationWorkflowId } from '../src/contracts';

const CLI = path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env, cwd }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('t2t status after a terminate outside the product @integration', function () {
  this.timeout(180_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  let w: TestWorld;
  let p: Product;
  let dir: string;

  useRealServers((servers) => ({ env, azurite } = servers));
  before(async () => {
    w = makeTestWorld({ users: 2, environments: 3 });
    p = await startProduct({ env, azurite, world: w.world });
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-closed-'));
    writeFileSync(path.join(dir, 'world.json'), JSON.stringify(w.world));
  });
  after(async () => {
    await p?.stop();
  });

  const t2t = (args: string[]) =>
    exec(process.execPath, [CLI, ...args], rawClientEnv(p, env.address), dir);

  /** `temporal workflow terminate`, as an operator cleaning up would run it. */
  async function terminate(environmentId: string, reason: string): Promise<void> {
    const temporal = resolveTemporalBinary('temporal');
    assert.ok(temporal, 'the temporal CLI is installed with the project');
    const run = await exec(temporal, ['workflow', 'terminate', '--workflow-id', migrationWorkflowId(environmentId), '--reason', reason, '--address', env.address, '--namespace', 'default'], { PATH: process.env.PATH ?? '' }, dir);
    assert.equal(run.code, 0, run.stderr);
  }

  it('a migration terminated while waiting for approval: Terminated, how, by whom and when, in text and --json', async () => {
    const environmentId = w.environmentIds[0];
    const submitted = await p.client.submit({ environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
    assert.equal(submitted.phase, 'PendingApproval');
    const before = Date.now();
    await terminate(environmentId, 'an operator cleaning up');

    const json = await t2t(['--json', 'status', '--migration-id', submitted.migrationId]);
    assert.equal(json.code, 0, json.stderr);
    const document = JSON.parse(json.stdout) as Record<string, unknown> & { closed: Record<string, string> };
    assert.equal(document.phase, 'Terminated');
    assert.equal(document.status, null, 'no status string of a phase it is no longer in');
    assert.equal(document.closed.how, 'terminated');
    assert.equal(document.closed.reason, 'an operator cleaning up');
    assert.equal(document.closed.whilePhase, 'PendingApproval');
    assert.match(document.closed.by, /^temporal-cli/, 'the identity Temporal recorded for the terminate');
    const at = Date.parse(document.closed.at);
    assert.ok(at >= before - 5_000 && at <= Date.now(), document.closed.at);

    const text = await t2t(['status', '--migration-id', submitted.migrationId]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^ {2}Phase: +Terminated$/m);
    assert.ok(text.stdout.includes(`Closed:    terminated by ${document.closed.by} at ${document.closed.at}: an operator cleaning up (while PendingApproval)`), text.stdout);
    // The target admin's view, by the target migration id, says the same.
    const target = await t2t(['--json', 'status', '--migration-id', submitted.targetMigrationId]);
    assert.equal((JSON.parse(target.stdout) as { phase: string }).phase, 'Terminated');
  });

  it("a batch's child terminated while waiting for people: batch status says Terminated with how and when", async () => {
    const submitted = await t2t(['--json', '--as', w.sourceAdmin, 'batch', 'submit', '--source-tenant', w.source, '--target-tenant', w.target, '--environment', w.environmentIds[1], w.environmentIds[2], '--concurrency', '1']);
    assert.equal(submitted.code, 0, submitted.stderr);
    const batch = JSON.parse(submitted.stdout) as { batchId: string; environments: { environmentId: string; migrationId: string }[] };
    const status = async () => {
      const run = await t2t(['--json', 'batch', 'status', '--batch-id', batch.batchId]);
      assert.equal(run.code, 0, run.stderr);
      return JSON.parse(run.stdout) as { outcomes: { environmentId: string; state: string; phase?: string; reason?: string; closed?: Record<string, string> }[] };
    };
    // Both children started and waiting for approval.
    for (;;) {
      const { outcomes } = await status();
      const open = await Promise.all(batch.environments.map((e) => p.client.status(e.migrationId).then((s) => s.phase, () => undefined)));
      if (outcomes.every((o) => o.state === 'running') && open.every((phase) => phase === 'PendingApproval')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const child = batch.environments[0];
    await terminate(child.environmentId, 'wrong environment in the batch');

    const { outcomes } = await status();
    const terminated = outcomes.find((o) => o.environmentId === child.environmentId)!;
    assert.equal(terminated.state, 'ended');
    assert.equal(terminated.phase, 'Terminated');
    assert.equal(terminated.closed?.how, 'terminated');
    assert.equal(terminated.closed?.reason, 'wrong environment in the batch');
    assert.equal(terminated.closed?.whilePhase, 'PendingApproval');
    assert.ok(!Number.isNaN(Date.parse(terminated.closed?.at ?? '')));
    const other = outcomes.find((o) => o.environmentId !== child.environmentId)!;
    assert.equal(other.state, 'running', 'the other child is untouched');

    const text = await t2t(['batch', 'status', '--batch-id', batch.batchId]);
    const line = text.stdout.split('\n').find((l) => l.includes(child.environmentId)) ?? '';
    assert.match(line, new RegExp(`Terminated — terminated by temporal-cli\\S* at ${terminated.closed!.at.replace(/\./g, '\\.')}: wrong environment in the batch \\(while PendingApproval\\)`));
  });
});
