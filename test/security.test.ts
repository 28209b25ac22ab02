// Least privilege and bad input, checked the way an outsider would try them:
// plain HTTP against the storage emulator, raw signals from the real
// `temporal` CLI, and the `t2t` client with broken files.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { startTestAzurite, RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, Product, uploadWithSas } from './helpers/product';
import { projectRoot, resolveTemporalBinary } from '../src/temporal-binaries';
import { migrationWorkflowId, statusQuery } from '../src/contracts';

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
  });
}

describe('least privilege and bad input @integration', function () {
  this.timeout(180_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;

  useRealServers((servers) => ({ env, azurite } = servers));
  after(async () => azurite?.dispose());

  async function approvedWithStorage(p: Product, w: TestWorld) {
    const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
    await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
    const storage = await p.client.act(submitted.migrationId, 'requestStorage', { actor: w.sourceAdmin });
    return { submitted, sasUrl: storage.status.storage!.sasUrl, containerName: storage.status.storage!.containerName };
  }

  it('the container SAS allows only what the admin needs, and only on its own container', async () => {
    const a = makeTestWorld();
    const p = await startProduct({ env, azurite, world: a.world });
    // a second migration of another environment, in another product instance sharing the storage
    const b = makeTestWorld();
    const q = await startProduct({ env, azurite, world: b.world });
    try {
      const first = await approvedWithStorage(p, a);
      const second = await approvedWithStorage(q, b);
      const blob = (sas: string, name: string) => sas.replace('?', `/${name}?`);

      assert.equal((await fetch(blob(first.sasUrl, 'usermapping.csv'), { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: a.mappingCsv })).status, 201, 'upload');
      assert.equal((await fetch(blob(first.sasUrl, 'usermapping.csv'))).status, 200, 'read back');
      assert.equal((await fetch(`${first.sasUrl}&restype=container&comp=list`)).status, 200, 'list');
      assert.equal((await fetch(blob(first.sasUrl, 'usermapping.csv'), { method: 'DELETE' })).status, 403, 'no delete');
      assert.equal((await fetch(`${first.sasUrl}&restype=container`, { method: 'DELETE' })).status, 403, 'no container delete');

      // the first migration's SAS on the second migration's container
      const foreign = first.sasUrl.replace(first.containerName, second.containerName);
      assert.equal((await fetch(`${foreign}&restype=container&comp=list`)).status, 403, "cannot list another migration's container");
      assert.equal((await fetch(blob(foreign, 'usermapping.csv'), { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'x' })).status, 403, "cannot write another migration's container");
      // and no account-level rights
      const account = first.sasUrl.replace(`/${first.containerName}?`, '/?').replace('?', '?comp=list&');
      assert.equal((await fetch(account)).status, 403, 'cannot list the account');

      // the SAS stops working when the migration ends
      await p.client.act(first.submitted.migrationId, 'cancel', { actor: a.sourceAdmin });
      assert.equal((await fetch(blob(first.sasUrl, 'usermapping.csv'))).status, 403, 'revoked at the end');
      await q.client.act(second.submitted.migrationId, 'cancel', { actor: b.sourceAdmin });
    } finally {
      await p.stop();
      await q.stop();
    }
  });

  it('the container SAS expires', async () => {
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world });
    try {
      p.config.sasValidityMs = 3_000;
      await p.stopWorker();
      await p.startWorker();
      const { sasUrl, submitted } = await approvedWithStorage(p, w);
      await uploadWithSas(sasUrl, w.mappingCsv);
      await new Promise((r) => setTimeout(r, 4_000));
      const expired = await fetch(sasUrl.replace('?', '/usermapping.csv?'));
      assert.equal(expired.status, 403);
      await p.client.act(submitted.migrationId, 'cancel', { actor: w.sourceAdmin });
    } finally {
      await p.stop();
    }
  });

  it('signals with a missing or wrong-typed payload, sent with the temporal CLI, are refused and recorded; the workflow goes on', async () => {
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world });
    try {
      await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const temporal = resolveTemporalBinary('temporal')!;
      const workflowId = migrationWorkflowId(w.environmentId);
      const signal = (name: string, input?: string) =>
        run(temporal, ['workflow', 'signal', '--address', env.address, '--workflow-id', workflowId, '--name', name, ...(input === undefined ? [] : ['--input', input])], process.env);
      for (const [name, input] of [['approve', undefined], ['approve', '"admin@fabrikam.com"'], ['approve', '{"actor": 42}'], ['deny', '{"actor":"admin@fabrikam.com","reason":["x"]}'], ['prepare', '[1,2,3]']] as const) {
        const sent = await signal(name, input);
        assert.equal(sent.code, 0, sent.stderr);
      }
      const handle = env.client.workflow.getHandle(workflowId);
      const status = await p.client.waitForStatus(handle, (s) => s.audit.filter((e) => e.outcome === 'refused').length >= 5, 30_000);
      assert.equal(status.phase, 'PendingApproval', 'nothing changed');
      const refusals = status.audit.filter((e) => e.outcome === 'refused').map((e) => e.reason!);
      assert.equal(refusals.length, 5);
      for (const reason of refusals) assert.match(reason, /refused: invalid payload: /);
      assert.equal((await handle.describe()).status.name, 'RUNNING');

      // a well-formed approval through the same route still works
      const approved = await signal('approve', JSON.stringify({ actor: w.targetAdmin }));
      assert.equal(approved.code, 0);
      const after = await p.client.waitForStatus(handle, (s) => s.phase === 'Approved', 30_000);
      assert.equal(after.phase, 'Approved');
      await p.client.actOn(handle, 'cancel', { actor: w.sourceAdmin });
    } finally {
      await p.stop();
    }
  });

  it('a malformed world file gets one line and leaves the control plane as it was', async () => {
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world });
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-world-'));
    try {
      const cli = path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js');
      const childEnv = { PATH: process.env.PATH, T2T_AUTH: 'off', T2T_DATABASE_URL: p.config.databaseUrl, TEMPORAL_ADDRESS: env.address };
      const before = await run(process.execPath, [cli, 'world', 'show', '--json'], childEnv);
      const cases: [string, string, RegExp][] = [
        ['bad-json.json', '{"tenants": [', /^t2t: world file: not valid JSON/],
        ['bad-type.json', JSON.stringify({ ...(w.world as object), environments: [{ ...(w.world as { environments: object[] }).environments[0], type: 'Prod' }] }), /^t2t: world file: environments\[0\]\.type: must be one of Production, Sandbox, Default, Developer, Trial, Teams/],
        ['bad-tenant.json', JSON.stringify({ ...(w.world as object), environments: [{ ...(w.world as { environments: object[] }).environments[0], tenantId: 't-nope' }] }), /^t2t: world file: environments\[0\]\.tenantId: no tenant has the id "t-nope"/],
      ];
      for (const [name, content, expected] of cases) {
        writeFileSync(path.join(dir, name), content);
        const loaded = await run(process.execPath, [cli, 'world', 'load', path.join(dir, name)], childEnv);
        assert.equal(loaded.code, 1, name);
        assert.match(loaded.stderr, expected);
        assert.equal(loaded.stderr.trim().split('\n').length, 1, 'one line');
      }
      const missing = await run(process.execPath, [cli, 'world', 'load', path.join(dir, 'nope.json')], childEnv);
      assert.match(missing.stderr, /^t2t: world file: cannot read .*nope\.json: no such file/);
      const after = await run(process.execPath, [cli, 'world', 'show', '--json'], childEnv);
      assert.equal(after.stdout, before.stdout, 'the control plane is unchanged');
    } finally {
      await p.stop();
    }
  });

  it('keeps email addresses out of workflow ids, search attributes and the current details', async () => {
    const w = makeTestWorld();
    const p = await startProduct({ env, azurite, world: w.world });
    try {
      await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const handle = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
      const denied = await p.client.actOn(handle, 'deny', { actor: w.targetAdmin, reason: `ask ${w.targetAdmin} first` });
      assert.equal(denied.status.phase, 'Denied');
      const description = await handle.describe();
      const visible = JSON.stringify({
        id: handle.workflowId,
        searchAttributes: description.raw.workflowExecutionInfo?.searchAttributes,
        metadata: description.raw.executionConfig?.userMetadata,
        currentDetails: ((await handle.query('__temporal_workflow_metadata')) as { currentDetails?: string }).currentDetails,
      });
      assert.doesNotMatch(visible, /@(contoso|fabrikam)\.com/);
      assert.ok(visible.includes('<user>'), 'the reason is shown with the address replaced');
      assert.equal((await handle.query(statusQuery)).reason, `ask ${w.targetAdmin} first`, 'the audit keeps the whole reason');
    } finally {
      await p.stop();
    }
  });
});

describe('logs and reports', function () {
  this.timeout(60_000);

  it('no email address in logs at info level or above', async () => {
    const { capturedLogs } = await import('./setup');
    // other test files of the run have driven whole migrations through this process's workers by now
    assert.ok(capturedLogs.length > 0, 'the logs were captured');
    for (const entry of capturedLogs) {
      assert.doesNotMatch(`${entry.message} ${JSON.stringify(entry.meta ?? {})}`, /[\w.+-]+@(contoso|fabrikam|northwind)[\w.-]*\.com/, entry.message);
    }
  });

  it('a report is invisible until its upload is committed whole', async () => {
    const { MigrationStorage } = await import('../src/storage/migration-storage');
    const { PassThrough } = await import('node:stream');
    const azurite = await startTestAzurite();
    try {
      const storage = new MigrationStorage(azurite.connectionString);
      await storage.provision('t2t-report-test', 60_000);
      const body = new PassThrough();
      const upload = storage.writeStream('t2t-report-test', 'validation/round-1-errors.csv', body, 'text/csv');
      body.write(`Line,Source,Destination,Error\r\n${'2,a,b,c\r\n'.repeat(700_000)}`);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await storage.exists('t2t-report-test', 'validation/round-1-errors.csv'), false, 'not visible while blocks are staged');
      body.end('3,d,e,f\r\n');
      await upload;
      const stream = (await storage.openVersion('t2t-report-test', 'validation/round-1-errors.csv'))!.body as AsyncIterable<Buffer>;
      let bytes = 0;
      for await (const chunk of stream) bytes += chunk.length;
      assert.equal(bytes, 'Line,Source,Destination,Error\r\n'.length + 700_000 * 9 + 9, 'the whole report, once committed');
      assert.equal(await storage.exists('t2t-report-test', 'validation/round-1-errors.csv'), true);
    } finally {
      await azurite.dispose();
    }
  });
});
