// The `t2t` client as an admin runs it: a separate process, against the real dev
// server, real Azurite and the control-plane database file a worker uses.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, Product, rawClientEnv } from './helpers/product';
import { projectRoot } from '../src/temporal-binaries';
import { STATUS, migrationWorkflowId } from '../src/contracts';

const CLI = path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: () => Record<string, unknown>;
}

describe('t2t command-line client @integration', function () {
  this.timeout(180_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  let w: TestWorld;
  let p: Product;
  let dir: string;

  useRealServers((servers) => ({ env, azurite } = servers));
  before(async () => {
    w = makeTestWorld({ users: 3 });
    p = await startProduct({ env, azurite, world: w.world });
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-cli-'));
    writeFileSync(path.join(dir, 'world.json'), JSON.stringify(w.world));
    writeFileSync(path.join(dir, 'usermapping.csv'), w.mappingCsv);
  });
  after(async () => {
    await p?.stop();
  });

  function t2t(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
    const childEnv = rawClientEnv(p, env.address, extraEnv);
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: childEnv, cwd: dir }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) as Record<string, unknown> });
      });
    });
  }

  const as = (upn: string) => ['--as', upn];

  it('drives a whole migration, with --json output parsed at each step', async () => {
    const loaded = await t2t(['world', 'load', 'world.json', '--json']);
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.deepEqual(loaded.json(), { tenants: 3, users: 12, environments: 1 });

    const check = await t2t([...as(w.sourceAdmin), 'mapping', 'check', '--file', 'usermapping.csv', '--target-tenant', w.target, '--environment', w.environmentId, '--json']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.deepEqual(check.json(), { rows: 3, errors: [] });

    const submitted = await t2t([...as(w.sourceAdmin), 'submit', '--environment', w.environmentId, '--target-tenant', w.target, '--json']);
    assert.equal(submitted.code, 0, submitted.stderr);
    const { migrationId, targetMigrationId, phase } = submitted.json() as { migrationId: string; targetMigrationId: string; phase: string };
    assert.equal(phase, 'PendingApproval');

    const approvals = await t2t([...as(w.targetAdmin), 'approvals', '--json']);
    assert.equal(approvals.code, 0, approvals.stderr);
    const listed = (approvals.json().migrations as { migrationId: string; phase: string }[]).find((m) => m.migrationId === targetMigrationId);
    assert.equal(listed?.phase, 'PendingApproval');

    const approved = await t2t([...as(w.targetAdmin), 'approve', '--migration-id', targetMigrationId]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, /Phase:\s+Approved/);

    const requests = await t2t([...as(w.sourceAdmin), 'requests', '--json']);
    assert.ok((requests.json().migrations as { migrationId: string }[]).some((m) => m.migrationId === migrationId));

    const storage = await t2t([...as(w.sourceAdmin), 'storage', '--environment', w.environmentId, '--json']);
    assert.equal(storage.code, 0, storage.stderr);
    const sasUrl = storage.json().sasUrl as string;
    assert.match(sasUrl, /sr=c/);
    assert.match(sasUrl, /si=t2t-upload/);

    const upload = await t2t(['upload', '--sas', sasUrl, '--file', 'usermapping.csv', '--json']);
    assert.equal(upload.code, 0, upload.stderr);
    const containerUri = upload.json().containerUri as string;

    const prepared = await t2t([...as(w.sourceAdmin), 'prepare', '--migration-id', migrationId, '--target-tenant', w.target, '--mapping-container', containerUri, '--json']);
    assert.equal(prepared.code, 0, prepared.stderr);
    assert.equal(prepared.json().phase, 'Prepared');
    assert.equal(prepared.json().status, STATUS.validateSucceeded);
    assert.ok(prepared.json().prepareDeadline);

    const status = await t2t(['status', '--migration-id', targetMigrationId]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /Status:\s+Validate Tenant To Tenant Migration: Succeeded/);
    assert.match(status.stdout, /Migrate before: /);

    const migrated = await t2t([...as(w.sourceAdmin), 'migrate', '--migration-id', migrationId, '--target-tenant', w.target, '--json']);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.equal(migrated.json().phase, 'Succeeded');
    assert.equal(migrated.json().status, STATUS.migrateSucceeded);

    const shown = await t2t(['world', 'show', '--environment', w.environmentId, '--json']);
    const environment = shown.json().environment as { tenantId: string };
    assert.equal(environment.tenantId, w.target);
    const users = shown.json().users as { upn: string; previousUpn: string | null }[];
    assert.ok(users.some((u) => u.upn === w.targetUpn(1) && u.previousUpn === w.sourceUpn(1)));
    assert.equal(shown.json().mappedUserCount, users.filter((u) => u.previousUpn !== null).length);
    assert.ok((shown.json().mappedUserCount as number) > 0);
    const text = await t2t(['world', 'show', '--environment', w.environmentId]);
    assert.ok(text.stdout.includes(`${w.targetUpn(1)}  ← ${w.sourceUpn(1)}`), text.stdout);
    assert.match(text.stdout, new RegExp(`Users \\(${users.length}, ${shown.json().mappedUserCount} re-mapped\\):`));
  });

  it('refusals and mistakes: one line, a non-zero exit, no stack trace', async () => {
    assert.equal((await t2t(['world', 'load', 'world.json'])).code, 0);
    const submitted = await t2t([...as(w.sourceUser), 'submit', '--environment', w.environmentId, '--target-tenant', w.target]);
    assert.equal(submitted.code, 1);
    assert.match(submitted.stderr, /^t2t: submit refused: the caller has none of the roles/);
    assert.equal(submitted.stderr.trim().split('\n').length, 1);

    const noActor = await t2t(['approve', '--migration-id', '00000000-0000-0000-0000-000000000000']);
    assert.equal(noActor.code, 1);
    assert.equal(noActor.stderr, 't2t: who is acting? pass --as <upn> or set T2T_ADMIN\n');

    const unknown = await t2t([...as(w.targetAdmin), 'approve', '--migration-id', '00000000-0000-0000-0000-000000000000']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no migration has the id/);

    const wrongName = path.join(dir, 'mapping.csv');
    writeFileSync(wrongName, 'a@contoso.com,b@fabrikam.com\n');
    const upload = await t2t(['upload', '--sas', 'http://127.0.0.1:1/devstoreaccount1/t2t-x?sv=1', '--file', wrongName]);
    assert.equal(upload.code, 1);
    assert.match(upload.stderr, /^t2t: The User mapping file provided for Tenant To Tenant migration is invalid/);

    const offline = await t2t(['status', '--migration-id', '00000000-0000-0000-0000-000000000000'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(offline.code, 1);
    assert.equal(offline.stderr, 't2t: cannot reach Temporal at 127.0.0.1:1 (namespace default): is the stack running? (npm start)\n');

    // A command that reads the whole configuration (`requests` and `status` read only their own settings).
    const badConfig = await t2t(['submit', '--environment', 'env-x', '--target-tenant', 't-x'], { T2T_PREPARE_WINDOW: 'a week' });
    assert.equal(badConfig.code, 1);
    assert.match(badConfig.stderr, /^t2t: configuration: T2T_PREPARE_WINDOW: /);

    const json = await t2t([...as(w.sourceUser), 'submit', '--environment', w.environmentId, '--target-tenant', w.target, '--json']);
    assert.equal(json.code, 1);
    assert.match(json.json().error as string, /submit refused/);
  });

  it('a refused action through a running migration: target admin trying to migrate', async () => {
    const w2 = makeTestWorld();
    const p2 = await startProduct({ env, azurite, world: w2.world });
    try {
      const run = (args: string[]) =>
        t2t(args, { T2T_TASK_QUEUE: p2.config.taskQueue, T2T_DATABASE_URL: p2.config.databaseUrl });
      const submitted = await run([...as(w2.sourceAdmin), 'submit', '--environment', w2.environmentId, '--target-tenant', w2.target, '--json']);
      const { migrationId } = submitted.json() as { migrationId: string };
      const refused = await run([...as(w2.targetAdmin), 'migrate', '--migration-id', migrationId, '--target-tenant', w2.target]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^t2t: migrate refused: /);
      const mapping = path.join(dir, 'bad', 'usermapping.csv');
      await import('node:fs').then((fs) => fs.mkdirSync(path.dirname(mapping), { recursive: true }));
      writeFileSync(mapping, `Source,Destination\n${w2.sourceUpn(1)},${w2.sourceUpn(1)}\n`);
      const check = await run(['mapping', 'check', '--file', mapping, '--json']);
      assert.equal(check.code, 1);
      assert.deepEqual(check.json(), {
        rows: 1,
        errors: [{ line: 2, source: w2.sourceUpn(1), destination: w2.sourceUpn(1), error: "Target on line '2' is same as source email ID" }],
      });

      await run([...as(w2.targetAdmin), 'approve', '--migration-id', (submitted.json() as { targetMigrationId: string }).targetMigrationId]);
      const uploaded = await run([...as(w2.sourceAdmin), 'upload', '--environment', w2.environmentId, '--file', mapping, '--json']);
      assert.equal(uploaded.code, 0, uploaded.stderr);
      const prepared = await run([...as(w2.sourceAdmin), 'prepare', '--migration-id', migrationId, '--target-tenant', w2.target, '--mapping-container', uploaded.json().containerUri as string]);
      assert.equal(prepared.code, 1);
      assert.match(prepared.stdout, /Status:\s+Validation Failed, Errors are updated on the blob here: http/);
      const out = path.join(dir, 'errors');
      const errors = await run(['errors', '--migration-id', migrationId, '--out', out]);
      assert.equal(errors.code, 0, errors.stderr);
      const [file] = readdirSync(out);
      assert.match(readFileSync(path.join(out, file), 'utf8'), /Target on line '2' is same as source email ID/);

      const cancelled = await run([...as(w2.sourceAdmin), 'delete', '--migration-id', migrationId, '--json']);
      assert.equal(cancelled.json().phase, 'Cancelled');
    } finally {
      await p2.stop();
    }
  });

  it('demo: a complete guided migration on the demo world', async () => {
    const world = JSON.parse(readFileSync(path.join(projectRoot(), 'examples', 'demo-world.json'), 'utf8')) as unknown;
    const demo = await startProduct({ env, azurite, world });
    try {
      const run = await t2t(['demo'], { T2T_TASK_QUEUE: demo.config.taskQueue, T2T_DATABASE_URL: demo.config.databaseUrl });
      assert.equal(run.code, 0, run.stderr);
      for (const step of ['[1] Load the demo world', '[2] Source admin', '[3] Target admin', '[4] Generate the resource storage', '[5] Prepare', '[6] Migrate', '[7] Look at it in the Web UI']) {
        assert.ok(run.stdout.includes(step), step);
      }
      assert.match(run.stdout, /Validate Tenant To Tenant Migration: Succeeded/);
      assert.match(run.stdout, /Status:\s+Migrate Environment: Succeeded/);
      assert.match(run.stdout, /Turn on the flows, child flows before the parent flows/);
      assert.equal((await demo.controlPlane.getEnvironment('env-sales'))!.tenantId, 't-fabrikam');
      // The run closes after its cleanup activities: stopping the worker sooner would leave it open on
      // the shared server, in the way of later suites' runs of the demo world's environments.
      await env.client.workflow.getHandle(migrationWorkflowId('env-sales')).result();
    } finally {
      await demo.stop();
    }
  });

  it('an expired or revoked SAS: upload says so in one line', async () => {
    const w3 = makeTestWorld();
    const p3 = await startProduct({ env, azurite, world: w3.world });
    try {
      const submitted = await p3.client.submit({ environmentId: w3.environmentId, targetTenantId: w3.target, actor: w3.sourceAdmin });
      await p3.client.act(submitted.targetMigrationId, 'approve', { actor: w3.targetAdmin });
      const sasUrl = (await p3.client.act(submitted.migrationId, 'requestStorage', { actor: w3.sourceAdmin })).status.storage!.sasUrl;
      await p3.client.act(submitted.migrationId, 'cancel', { actor: w3.sourceAdmin });
      const upload = await t2t(['upload', '--sas', sasUrl, '--file', 'usermapping.csv']);
      assert.equal(upload.code, 1);
      assert.equal(upload.stderr, 't2t: upload refused by storage (403): the SAS URL is wrong, expired or revoked\n');
    } finally {
      await p3.stop();
    }
  });

  it('has --help on every command', async () => {
    for (const command of [[], ['submit'], ['approve'], ['deny'], ['lockbox', 'approve'], ['storage'], ['upload'], ['prepare'], ['status'], ['errors'], ['migrate'], ['cancel'], ['demo'], ['mapping', 'check'], ['world', 'load'], ['world', 'show'], ['requests'], ['approvals'], ['batch', 'submit'], ['batch', 'status']]) {
      const help = await t2t([...command, '--help']);
      assert.equal(help.code, 0, `${command.join(' ')} --help`);
      assert.match(help.stdout, /Usage: t2t/);
    }
  });
});
