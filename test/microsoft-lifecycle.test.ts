// Whole migrations on the Microsoft back end, exactly as on the simulated one:
// the real dev server, the worker and `t2t` as separate processes configured by
// the environment alone, and a local HTTPS fake of Microsoft's services (sign-in,
// the Power Platform admin API, Microsoft Graph) trusted through
// NODE_EXTRA_CA_CERTS. The mapping file lives in an Azurite container whose SAS
// the fake hands out as Microsoft's storage would.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { readWithSas, uploadWithSas } from './helpers/product';
import { startMicrosoftFakes, MicrosoftFakes } from './fakes/microsoft-services';
import { GraphFakeState, fakeUser } from './fakes/graph-routes';
import { MigrationStorage } from '../src/storage/migration-storage';
import { startProductProcess, stopProductProcess, type ProductProcess } from './helpers/product-processes';
import { projectRoot } from '../src/temporal-binaries';
import { STATUS, type MigrationStatus } from '../src/contracts';

const CLI = path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js');
const POWER_PLATFORM_ADMIN = '11648597-926c-4cf3-9c36-bcebb0ba8dcc';

const SOURCE = '5a0c0e11-0000-4000-8000-00000000c0de';
const TARGET = 'fab0fab0-0000-4000-8000-00000000fab0';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: () => Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('migrations on the Microsoft back end (HTTPS fakes of its services) @integration', function () {
  this.timeout(240_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  let fakes: MicrosoftFakes;
  let graph: GraphFakeState;
  let storage: MigrationStorage;
  let dir: string;
  let worker: ProductProcess | undefined;
  let workerEnv: Record<string, string>;
  const taskQueue = `t2t-ms-${randomBytes(4).toString('hex')}`;
  let environmentCount = 0;

  useRealServers((servers) => ({ env, azurite } = servers));
  before(async () => {
    storage = new MigrationStorage(azurite.connectionString);
    graph = new GraphFakeState();
    graph.setUsers(SOURCE, [
      fakeUser('admin@contoso.com'),
      fakeUser('ana@contoso.com'),
      fakeUser('ben@contoso.com'),
      fakeUser('cho@contoso.com'),
    ]);
    graph.setUsers(TARGET, [
      fakeUser('admin@fabrikam.com'),
      fakeUser('ana@fabrikam.com'),
      fakeUser('ben@fabrikam.com'),
      fakeUser('cho@fabrikam.com', { licensed: false }),
      fakeUser('other.admin@fabrikam.com'),
    ]);
    graph.setRoles(SOURCE, 'admin@contoso.com', [POWER_PLATFORM_ADMIN]);
    graph.setRoles(TARGET, 'admin@fabrikam.com', [POWER_PLATFORM_ADMIN]);
    fakes = await startMicrosoftFakes({
      tenants: [{ tenantId: SOURCE }, { tenantId: TARGET }],
      apps: [
        { tenantId: SOURCE, clientId: 'contoso-t2t-app', clientSecret: 'contoso-app-secret' },
        { tenantId: TARGET, clientId: 'fabrikam-t2t-app', clientSecret: 'fabrikam-app-secret' },
      ],
      operations: { runningPolls: 2 },
      // Microsoft's storage stands in as an Azurite container with its own SAS.
      storageSas: async (_tenantId, environmentId) =>
        (await storage.provision(`ms-${environmentId.toLowerCase().replace(/[^a-z0-9]/g, '')}`.slice(0, 60), 3_600_000)).sasUrl,
      graph,
    });
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-microsoft-'));
    writeFileSync(
      path.join(dir, 'tenants.json'),
      JSON.stringify({
        tenants: [
          { tenantId: SOURCE, name: 'Contoso', clientId: 'contoso-t2t-app', clientSecret: 'contoso-app-secret' },
          { tenantId: TARGET, name: 'Fabrikam', clientId: 'fabrikam-t2t-app', clientSecretFile: 'fabrikam-secret.txt' },
        ],
      }),
    );
    writeFileSync(path.join(dir, 'fabrikam-secret.txt'), 'fabrikam-app-secret\n');
    workerEnv = {
      PATH: process.env.PATH ?? '',
      // Signed actions are another test's subject (signed-actions.test.ts): as the test run says (test/setup.ts).
      T2T_AUTH: process.env.T2T_AUTH ?? 'off',
      // Payload encryption is another test's subject (payload-encryption.test.ts); this one reads the status with a plain client.
      T2T_PAYLOAD_ENCRYPTION: 'off',
      // Unversioned, as the tests' in-process workers are (test/helpers/product.ts).
      T2T_WORKER_VERSIONING: 'off',
      TEMPORAL_ADDRESS: env.address,
      T2T_TASK_QUEUE: taskQueue,
      T2T_DATA_DIR: dir,
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      T2T_BACKEND: 'microsoft',
      T2T_MICROSOFT_TENANTS_FILE: path.join(dir, 'tenants.json'),
      T2T_POWERPLATFORM_API_URL: fakes.powerPlatformApiUrl,
      T2T_GRAPH_API_URL: fakes.graphApiUrl,
      T2T_AUTHORITY_HOST: fakes.authorityHost,
      T2T_SERVICE_POLL_INTERVAL: '1s',
      T2T_OPERATION_POLL_SECONDS: '0.2',
      NODE_EXTRA_CA_CERTS: fakes.caPath,
    };
    worker = await startProductProcess('the worker', 'dist/src/worker.js', workerEnv, 'serving task queue', 60_000);
  });

  after(async () => {
    if (worker) await stopProductProcess(worker);
    await fakes?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function t2t(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: { ...workerEnv, ...extraEnv }, cwd: dir }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) as Record<string, unknown> });
      });
    });
  }

  /** A fresh environment in the source tenant, so that each story has its own migration. */
  function newEnvironment(): string {
    environmentCount += 1;
    const id = randomUUID();
    fakes.addEnvironment(SOURCE, { id, name: `Contoso Sales ${environmentCount}` });
    return id;
  }

  async function submit(environmentId: string): Promise<{ migrationId: string; targetMigrationId: string }> {
    const submitted = await t2t(['--as', 'admin@contoso.com', 'submit', '--environment', environmentId, '--target-tenant', TARGET, '--json']);
    assert.equal(submitted.code, 0, submitted.stderr);
    const json = submitted.json() as { migrationId: string; targetMigrationId: string; phase: string };
    assert.equal(json.phase, 'PendingApproval');
    return json;
  }

  async function status(migrationId: string): Promise<MigrationStatus> {
    const run = await t2t(['status', '--migration-id', migrationId, '--json']);
    assert.equal(run.code, 0, run.stderr);
    return run.json() as unknown as MigrationStatus;
  }

  async function waitFor(migrationId: string, done: (s: MigrationStatus) => boolean, timeoutMs = 30_000): Promise<MigrationStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = await status(migrationId);
      if (done(current)) return current;
      assert.ok(Date.now() < deadline, `still ${current.phase}: ${current.reason ?? ''}`);
      await sleep(500);
    }
  }

  const requestOf = (environmentId: string) => fakes.requests().find((r) => r.environmentId === environmentId);

  it('drives a whole migration through the service: submit, approve, storage, prepare (202 + polling), migrate', async () => {
    const environmentId = newEnvironment();
    const { migrationId, targetMigrationId } = await submit(environmentId);
    const request = requestOf(environmentId);
    assert.ok(request, 'createt2t was called');
    assert.equal(request.targetTenantId, TARGET);
    assert.equal(request.approvalStatus, 'Pending');

    const approvals = await t2t(['--as', 'admin@fabrikam.com', 'approvals', '--json']);
    assert.equal(approvals.code, 0, `approvals: ${approvals.stderr}`);
    assert.ok((approvals.json().migrations as { migrationId: string }[]).some((m) => m.migrationId === targetMigrationId));

    const approved = await t2t(['--as', 'admin@fabrikam.com', 'approve', '--migration-id', targetMigrationId, '--json']);
    assert.equal(approved.code, 0, `approve: ${approved.stderr}`);
    assert.equal(approved.json().phase, 'Approved');
    assert.equal(requestOf(environmentId)!.approvalStatus, 'Approved', 'the approval reached the service');
    assert.ok(
      fakes.requestLog.some((e) => e.service === 'power-platform' && e.method === 'POST' && /approve$/.test(e.path) && e.tenantId?.toLowerCase() === TARGET),
      "approved with the target tenant's token",
    );

    const stored = await t2t(['--as', 'admin@contoso.com', 'storage', '--environment', environmentId, '--json']);
    assert.equal(stored.code, 0, `storage: ${stored.stderr}`);
    const sasUrl = stored.json().sasUrl as string;
    assert.match(sasUrl, /^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/ms-/, "the SAS the service generated, not one of the product's own");
    await uploadWithSas(sasUrl, 'Source,Destination\nana@contoso.com,ana@fabrikam.com\nben@contoso.com,ben@fabrikam.com\n');

    const typo = await t2t(['--as', 'admin@contoso.com', 'prepare', '--migration-id', migrationId, '--target-tenant', TARGET, '--mapping-container', sasUrl, '--guest-admin', 'guest.admin.fabrikam.com']);
    assert.equal(typo.code, 1);
    assert.equal(typo.stderr.trim(), "t2t: --guest-admin 'guest.admin.fabrikam.com' is not an email address (the guest admin's address in the target tenant, e.g. admin@fabrikam.com)");
    assert.equal(requestOf(environmentId)!.prepareBody, undefined, 'nothing was sent');

    const prepared = await t2t(['--as', 'admin@contoso.com', 'prepare', '--migration-id', migrationId, '--target-tenant', TARGET, '--mapping-container', sasUrl, '--guest-admin', 'guest.admin@fabrikam.com', '--json']);
    assert.equal(prepared.code, 0, `prepare: ${prepared.stderr}${prepared.stdout}`);
    assert.equal(prepared.json().phase, 'Prepared');
    const prepareBody = requestOf(environmentId)!.prepareBody as Record<string, string>;
    assert.equal(prepareBody.TargetTenantId, TARGET);
    assert.equal(prepareBody.GuestAdminUserEmail, 'guest.admin@fabrikam.com', 'sent as the module sends it');
    assert.equal(prepareBody.ReadOnlyUserMappingFileContainerUri, sasUrl.split('?')[0], 'the container URI without its SAS');
    assert.ok(fakes.requestLog.filter((e) => /\/operations\//.test(e.path)).length >= 3, 'the operation was polled until it finished');
    assert.ok(fakes.requestLog.some((e) => e.service === 'graph' && /\$batch/.test(e.path)), 'the directory checks went to Graph');

    const migrated = await t2t(['--as', 'admin@contoso.com', 'migrate', '--migration-id', migrationId, '--target-tenant', TARGET, '--guest-admin', 'guest.admin@fabrikam.com', '--json']);
    assert.equal(migrated.code, 0, `migrate: ${migrated.stderr}${migrated.stdout}`);
    const final = migrated.json() as unknown as MigrationStatus;
    assert.equal(final.phase, 'Succeeded', final.reason);
    assert.equal(final.status, STATUS.migrateSucceeded);
    assert.equal(final.backend, 'microsoft');
    assert.equal(final.serviceMigrationId, request.id);
    assert.ok(final.unknown?.some((u) => u.startsWith('user and mailbox counts')), 'says what it could not know');
    assert.ok(final.summary!.checklist.some((i) => i.kind === 'deleteOrphanedRecord'));
    assert.deepEqual(requestOf(environmentId)!.migrateBody, { TargetTenantId: TARGET, GuestAdminUserEmail: 'guest.admin@fabrikam.com' });

    const shown = await t2t(['status', '--migration-id', migrationId]);
    assert.match(shown.stdout, /Not known on the microsoft service:/);
    assert.doesNotMatch(shown.stdout, /Users re-mapped: 0/, 'no made-up counts');
    // Tokens are cached: a whole migration asks each tenant for a token once per audience and process.
    assert.ok(fakes.tokenRequests(SOURCE) <= 2 * 20, `token requests: ${fakes.tokenRequests(SOURCE)}`);
  });

  it("the product's validation finds a destination without a licence in Graph, and the service is not asked to prepare", async () => {
    const environmentId = newEnvironment();
    const { migrationId, targetMigrationId } = await submit(environmentId);
    assert.equal((await t2t(['--as', 'admin@fabrikam.com', 'approve', '--migration-id', targetMigrationId])).code, 0);
    const stored = await t2t(['--as', 'admin@contoso.com', 'storage', '--environment', environmentId, '--json']);
    const sasUrl = stored.json().sasUrl as string;
    await uploadWithSas(sasUrl, 'ana@contoso.com,ana@fabrikam.com\ncho@contoso.com,cho@fabrikam.com\n');
    const prepared = await t2t(['--as', 'admin@contoso.com', 'prepare', '--migration-id', migrationId, '--target-tenant', TARGET, '--mapping-container', sasUrl, '--json']);
    const json = prepared.json() as unknown as MigrationStatus & { errorReportUrl: string };
    assert.equal(json.phase, 'ValidationFailed');
    assert.match(String(json.status), /^Validation Failed, Errors are updated on the blob here: /);
    const report = await readWithSas(json.errorReportUrl);
    assert.match(report, /cho@fabrikam\.com/);
    assert.equal(requestOf(environmentId)!.prepareBody, undefined, "the service's prepare was not called");
  });

  it("the service's validation fails after its prepare operation ended Succeeded: ValidationFailed, no seven-day window, the service's report linked", async () => {
    const environmentId = newEnvironment();
    const { migrationId, targetMigrationId } = await submit(environmentId);
    assert.equal((await t2t(['--as', 'admin@fabrikam.com', 'approve', '--migration-id', targetMigrationId])).code, 0);
    const sasUrl = (await t2t(['--as', 'admin@contoso.com', 'storage', '--environment', environmentId, '--json'])).json().sasUrl as string;
    await uploadWithSas(sasUrl, 'Source,Destination\nana@contoso.com,ana@fabrikam.com\n');
    fakes.setOperationBehaviour({ validation: 'fails' });
    try {
      const prepared = await t2t(['--as', 'admin@contoso.com', 'prepare', '--migration-id', migrationId, '--target-tenant', TARGET, '--mapping-container', sasUrl, '--json']);
      const json = prepared.json() as unknown as MigrationStatus & { errorReportUrl?: string };
      assert.equal(prepared.code, 1);
      assert.equal(json.phase, 'ValidationFailed', json.reason);
      assert.ok(!json.prepareDeadline, 'the seven-day window is not opened');
      const report = `${sasUrl.split('?')[0]}/usermapping_errors.csv?sv=2018-03-28&sr=b&si=SASpolicyfake&sig=fake`;
      assert.equal(json.status, `Validation Failed, Errors are updated on the blob here: ${report}`);
      assert.match(String(json.reason), /refused the mapping after its prepare operation ended: Validation Failed, Errors are updated on the blob here$/);
      assert.equal(requestOf(environmentId)!.stage, 'ValidationFailed');
      const refused = await t2t(['--as', 'admin@contoso.com', 'migrate', '--migration-id', migrationId, '--target-tenant', TARGET]);
      assert.equal(refused.code, 1, 'no migrate without a successful prepare');
    } finally {
      fakes.setOperationBehaviour({ validation: 'passes' });
    }
  });

  it('an approval made in Microsoft\'s admin center is noticed, and who acted is recorded', async () => {
    const environmentId = newEnvironment();
    const { migrationId } = await submit(environmentId);
    // The service names who acted by principal id and type; the product reads the name from Graph.
    fakes.approveExternally(requestOf(environmentId)!.id, 'other.admin@fabrikam.com');
    assert.equal(requestOf(environmentId)!.approvalActionedBy?.id, graph.user(TARGET, 'other.admin@fabrikam.com')!.id);
    await waitFor(migrationId, (s) => s.phase === 'Approved');
    const approved = await env.client.workflow.getHandle(`t2t-${environmentId}`).query<MigrationStatus>('status');
    const entry = approved.audit.find((e) => e.action === 'approve');
    assert.equal(entry?.actor, 'other.admin@fabrikam.com');
    assert.equal(entry?.outcome, 'accepted');
    assert.match(String(entry?.note), /outside the product/);
  });

  it('a denial made outside the product ends the migration Denied', async () => {
    const environmentId = newEnvironment();
    const { migrationId } = await submit(environmentId);
    fakes.rejectExternally(requestOf(environmentId)!.id, 'other.admin@fabrikam.com');
    const denied = await waitFor(migrationId, (s) => s.phase === 'Denied');
    assert.match(String(denied.reason), /outside the product/);
  });

  it('a request deleted with PowerShell while the migration waits for its mapping ends it Cancelled', async () => {
    const environmentId = newEnvironment();
    const { migrationId, targetMigrationId } = await submit(environmentId);
    assert.equal((await t2t(['--as', 'admin@fabrikam.com', 'approve', '--migration-id', targetMigrationId])).code, 0);
    fakes.deleteExternally(requestOf(environmentId)!.id);
    const cancelled = await waitFor(migrationId, (s) => s.phase === 'Cancelled');
    assert.match(String(cancelled.reason), /deleted on the migration service/);
    // The environment is free again: a new request can be submitted.
    await submit(environmentId);
  });

  it('t2t cancel deletes the request on the service', async () => {
    const environmentId = newEnvironment();
    const { migrationId } = await submit(environmentId);
    const cancelled = await t2t(['--as', 'admin@contoso.com', 'cancel', '--migration-id', migrationId, '--json']);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal(cancelled.json().phase, 'Cancelled');
    assert.equal(requestOf(environmentId), undefined, 'the request is gone from the service');
  });

  it('throttling (429 + Retry-After) on submit is waited out and retried; a 403 on approve refuses it with the missing role named', async () => {
    const environmentId = newEnvironment();
    fakes.failNext(/POST \/providers\/Microsoft\.BusinessAppPlatform\/environments\/[^/]+\/createt2t/, { status: 429, retryAfterSeconds: 1, times: 1 });
    const started = Date.now();
    const { targetMigrationId } = await submit(environmentId);
    const creates = fakes.requestLog.filter((e) => /createt2t$/.test(e.path) && e.path.includes(environmentId));
    assert.deepEqual(creates.map((e) => e.status).slice(-2), [429, 200]);
    assert.ok(Date.now() - started >= 1_000, 'waited for Retry-After');
    assert.equal(fakes.requests().filter((r) => r.environmentId === environmentId).length, 1, 'one request, not two');

    fakes.failNext(/POST \/providers\/Microsoft\.BusinessAppPlatform\/t2tmigrationapprovals\/[^/]+\/approve/, { status: 403, times: 1 });
    const refused = await t2t(['--as', 'admin@fabrikam.com', 'approve', '--migration-id', targetMigrationId]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^t2t: .*Power Platform administrator role.*New-PowerAppManagementApp/);
    assert.equal(refused.stderr.trim().split('\n').length, 1, 'one line');
    assert.equal(requestOf(environmentId)!.approvalStatus, 'Pending', 'nothing changed');
  });

  it('a stranger is refused: the role is read from Graph', async () => {
    const environmentId = newEnvironment();
    const refused = await t2t(['--as', 'ana@contoso.com', 'submit', '--environment', environmentId, '--target-tenant', TARGET]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^t2t: submit refused: the caller has none of the roles/);
    assert.equal(requestOf(environmentId), undefined);
  });

  it('the smoke check signs in, lists and reads one user, changing nothing; a wrong secret is named as consent or credential', async () => {
    const smoke = (extraEnv: Record<string, string> = {}, extraArgs: string[] = []) =>
      new Promise<Run>((resolve) => {
        execFile(process.execPath, [path.join(projectRoot(), 'dist', 'src', 'microsoft', 'smoke.js'), '--user', 'admin@contoso.com', ...extraArgs], { env: { ...workerEnv, ...extraEnv }, cwd: dir }, (error, stdout, stderr) => {
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr, json: () => ({}) });
        });
      });
    const before = JSON.stringify(fakes.requests());
    const writes = () => fakes.requestLog.filter((e) => e.service === 'power-platform' && e.method !== 'GET').length;
    const writesBefore = writes();
    const ok = await smoke();
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, new RegExp(`✓ ${SOURCE}: list tenant-to-tenant requests \\(as source\\): \\d+ requests; the admin API accepts this token for the tenant-to-tenant calls`));
    assert.match(ok.stdout, new RegExp(`✓ ${SOURCE}: sign in to the Power Platform admin API: token received, aud https://service\\.powerapps\\.com/\n`));
    assert.match(ok.stdout, /sign in to Microsoft Graph: token received, aud https:\/\/graph\.microsoft\.com\n/);
    assert.doesNotMatch(ok.stdout, /eyJ/, 'no token is printed');
    assert.match(ok.stdout, /found admin@contoso\.com/);
    assert.match(ok.stdout, /All checks passed; nothing was changed\./);
    assert.equal(JSON.stringify(fakes.requests()), before);
    assert.equal(writes(), writesBefore, 'no write to the admin API');

    const known = fakes.requests().find((r) => r.sourceTenantId === SOURCE)!;
    const withStatus = await smoke({}, ['--migration-status', known.id.toUpperCase()]);
    assert.equal(withStatus.code, 0, withStatus.stdout);
    assert.match(withStatus.stdout, new RegExp(`✓ status of migration ${known.id.toUpperCase()} \\(/get, as the service answered\\): ${SOURCE}: \\{.*"status":"`));

    fakes.setAppOnlyTenantToTenant(false);
    try {
      const wantsAdmin = await smoke();
      assert.equal(wantsAdmin.code, 4, wantsAdmin.stdout);
      assert.match(wantsAdmin.stdout, new RegExp(`✗ ${SOURCE}: list tenant-to-tenant requests \\(as source\\): role or permission: the admin API refused the app's own token for the tenant-to-tenant calls .*the service wants a signed-in admin instead: check with -- --device-code --tenant ${SOURCE}`));
      assert.match(wantsAdmin.stdout, /set "delegatedCalls": true for this tenant in T2T_MICROSOFT_TENANTS_FILE, so that each action uses the acting admin's own token/, 'the switch is suggested');
      assert.equal(writes(), writesBefore, 'still no write');
    } finally {
      fakes.setAppOnlyTenantToTenant(true);
    }

    writeFileSync(path.join(dir, 'wrong-secret.txt'), 'not-the-secret');
    writeFileSync(
      path.join(dir, 'wrong-tenants.json'),
      JSON.stringify({ tenants: [{ tenantId: TARGET, clientId: 'fabrikam-t2t-app', clientSecretFile: 'wrong-secret.txt' }] }),
    );
    const failed = await smoke({ T2T_MICROSOFT_TENANTS_FILE: path.join(dir, 'wrong-tenants.json') });
    assert.notEqual(failed.code, 0);
    assert.match(failed.stdout, new RegExp(`✗ ${TARGET}: sign in to the Power Platform admin API: consent or credential: `));
    assert.doesNotMatch(failed.stdout, /not-the-secret/);
  });

  it('a bad tenants file stops the worker and the client with one line', async () => {
    writeFileSync(path.join(dir, 'bad-tenants.json'), JSON.stringify({ tenants: [{ tenantId: SOURCE, clientId: 'x' }] }));
    const run = await t2t(['requests'], { T2T_MICROSOFT_TENANTS_FILE: path.join(dir, 'bad-tenants.json') });
    assert.equal(run.code, 1);
    assert.equal(run.stderr.trim(), 't2t: configuration: T2T_MICROSOFT_TENANTS_FILE: tenants.0: give exactly one of clientSecret, clientSecretFile or certificatePath');
    const http = await t2t(['requests'], { T2T_GRAPH_API_URL: 'http://127.0.0.1:1' });
    assert.match(http.stderr, /^t2t: configuration: T2T_GRAPH_API_URL must use https/);
  });
});
