// Contract tests of the sign-in (tokens.ts) and of PowerPlatformClient against
// the fake of Microsoft's services, over real HTTPS with the fake's own CA and
// the real @azure/identity / MSAL code.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { MicrosoftServiceError } from '../src/microsoft/errors';
import type { TokenSource } from '../src/microsoft/http';
import { MAX_POLL_FAILURES, operationState, PowerPlatformClient, sleepWithHeartbeats, type OperationStarted } from '../src/microsoft/power-platform';
import type { MicrosoftSettings } from '../src/microsoft/settings';
import { createDeviceCodeTokenSource, createTokenSource, GRAPH_SCOPE, POWER_PLATFORM_SCOPE } from '../src/microsoft/tokens';
import { MicrosoftMigrationService, SAS_EXPIRY_SET_BY_SERVICE } from '../src/microsoft/microsoft-service';
import type { OperationContext, ServiceMigration } from '../src/service/migration-service';
import { createAppCertificate, startMicrosoftFakes, trustFakeCa, type MicrosoftFakes } from './fakes/microsoft-services';
import { freePort } from './helpers/ports';

const SOURCE = '11111111-1111-4111-8111-111111111111';
const TARGET = '22222222-2222-4222-8222-222222222222';
const SOURCE_APP = 'aaaaaaaa-0000-4000-8000-000000000001';
const TARGET_APP = 'aaaaaaaa-0000-4000-8000-000000000002';
const WEAK_APP = 'aaaaaaaa-0000-4000-8000-000000000003';
const PUBLIC_APP = 'aaaaaaaa-0000-4000-8000-000000000004';
const SOURCE_SECRET = 'source-secret~value.1234567890';
const SAS = 'https://storage.example.test/t2t-container?sv=2022-11-02&sr=c&sp=racwl&se=2099-01-01T00%3A00%3A00Z&sig=abc';
const run = promisify(execFile);

/** The error a promise rejects with, to assert on its fields. */
async function failure(promise: Promise<unknown>): Promise<MicrosoftServiceError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof MicrosoftServiceError, `expected a MicrosoftServiceError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a failure');
}

describe('Microsoft sign-in and the Power Platform admin API against the fake @integration', function () {
  this.timeout(60_000);
  let fakes: MicrosoftFakes;
  let untrust: () => void;
  let dir: string;
  let certificatePath: string;
  let settings: MicrosoftSettings;
  let tokens: TokenSource;
  let client: PowerPlatformClient;
  let envCounter = 0;

  /** A fresh environment in the source tenant, so each test has its own requests. */
  const newEnvironment = () => {
    const id = `env-${++envCounter}-${Date.now().toString(36)}`;
    fakes.addEnvironment(SOURCE, { id, name: `Contoso ${envCounter}` });
    return id;
  };
  const approvedRequest = async () => {
    const environmentId = newEnvironment();
    const request = await client.submit(SOURCE, environmentId, TARGET);
    fakes.approveExternally(request.id, 'admin@target.example');
    return { environmentId, request };
  };
  const logSince = (mark: number) => fakes.requestLog.slice(mark);
  const app = (tenantId: string, name: string) => fakes.principalOf(tenantId, name, 'ServicePrincipal');
  const user = (tenantId: string, upn: string) => fakes.principalOf(tenantId, upn, 'User');
  /** The `aud` claim of a token (its payload decoded for the test, not verified). */
  const audOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as { aud: string }).aud;

  before(async () => {
    const certificate = await createAppCertificate('CN=t2t target app');
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-pp-test-'));
    certificatePath = path.join(dir, 'target-app.pem');
    writeFileSync(certificatePath, certificate.pem);
    fakes = await startMicrosoftFakes({
      tenants: [{ tenantId: SOURCE }, { tenantId: TARGET }],
      apps: [
        { tenantId: SOURCE, clientId: SOURCE_APP, clientSecret: SOURCE_SECRET, displayName: 't2t source app' },
        { tenantId: TARGET, clientId: TARGET_APP, certificatePem: certificate.certificatePem, displayName: 't2t target app' },
        { tenantId: SOURCE, clientId: WEAK_APP, clientSecret: 'weak-secret', powerPlatformAdmin: false },
        { tenantId: SOURCE, clientId: PUBLIC_APP, publicClient: true },
      ],
      storageSas: () => SAS,
    });
    untrust = trustFakeCa(fakes.ca);
    settings = fakes.settings(
      [
        { tenantId: SOURCE, clientId: SOURCE_APP, clientSecret: SOURCE_SECRET },
        { tenantId: TARGET, clientId: TARGET_APP, certificatePath },
      ],
      20,
    );
    tokens = createTokenSource(settings);
    client = new PowerPlatformClient({ baseUrl: settings.powerPlatformApiUrl, tokens, pollIntervalMs: settings.operationPollMs });
  });

  after(async () => {
    untrust?.();
    await fakes?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    fakes.setOperationBehaviour({ runningPolls: 2, outcome: 'Succeeded', retryAfterSeconds: undefined, answer: 'operation-location', stateShape: 'lifecycle', validation: 'passes' });
    fakes.setPageSize(50);
    fakes.setCreateAnswer('id');
    fakes.clearFaults();
  });

  describe('sign-in', () => {
    it('signs in with a client secret and with a certificate (a signed client assertion)', async () => {
      const fresh = createTokenSource(settings);
      const mark = fakes.requestLog.length;
      const sourceToken = await fresh.token(SOURCE, POWER_PLATFORM_SCOPE);
      const targetToken = await fresh.token(TARGET, POWER_PLATFORM_SCOPE);
      assert.notEqual(sourceToken, targetToken);
      const tokenCalls = logSince(mark).filter((e) => e.path.endsWith('/oauth2/v2.0/token'));
      assert.deepEqual(
        tokenCalls.map((e) => [e.tenantId, e.status]),
        [
          [SOURCE, 200],
          [TARGET, 200],
        ],
      );
      // The tokens are the fake's own, for the right tenant: the API accepts them.
      assert.ok(Array.isArray(await client.listApprovals(TARGET)));
    });

    it('refuses a certificate that is not the one registered for the app', async () => {
      const other = await createAppCertificate('CN=someone else');
      const otherPath = path.join(dir, 'other.pem');
      writeFileSync(otherPath, other.pem);
      const wrong = createTokenSource({ ...settings, tenants: [{ tenantId: TARGET, clientId: TARGET_APP, certificatePath: otherPath }] });
      const err = await failure(wrong.token(TARGET, POWER_PLATFORM_SCOPE));
      assert.equal(err.kind, 'unauthorized');
      assert.match(err.message, /AADSTS700027/);
      assert.doesNotMatch(err.message, /PRIVATE KEY/);
    });

    it('asks the authority once per tenant and audience, then uses the cached token', async () => {
      const fresh = createTokenSource(settings);
      const before = fakes.tokenRequests(SOURCE);
      const seen = new Set<string>();
      for (let i = 0; i < 8; i++) seen.add(await fresh.token(SOURCE, POWER_PLATFORM_SCOPE));
      assert.equal(seen.size, 1);
      assert.equal(fakes.tokenRequests(SOURCE) - before, 1);
      const graphToken = await fresh.token(SOURCE, GRAPH_SCOPE);
      assert.ok(!seen.has(graphToken));
      await fresh.token(SOURCE, GRAPH_SCOPE);
      assert.equal(fakes.tokenRequests(SOURCE) - before, 2);
    });

    it('turns a wrong secret into one unauthorized line without the secret', async () => {
      const wrongSecret = 'not-the-right-secret-0987654321';
      const bad = createTokenSource({ ...settings, tenants: [{ tenantId: SOURCE, clientId: SOURCE_APP, clientSecret: wrongSecret }] });
      const err = await failure(bad.token(SOURCE, POWER_PLATFORM_SCOPE));
      assert.equal(err.service, 'Microsoft sign-in');
      assert.equal(err.kind, 'unauthorized');
      assert.equal(err.retryable, false);
      assert.match(err.message, /check the client id, the secret or certificate/);
      assert.match(err.message, /AADSTS7000215/);
      assert.doesNotMatch(err.message, /\n/);
      assert.ok(!err.message.includes(wrongSecret) && !err.message.includes(SOURCE_SECRET));
      assert.doesNotMatch(err.message, /Trace ID|Timestamp/);
    });

    it('names an unknown app and an unknown tenant as the authority said', async () => {
      const bad = createTokenSource({
        ...settings,
        tenants: [
          { tenantId: SOURCE, clientId: 'no-such-app', clientSecret: 'x' },
          { tenantId: 'contoso-gone.example', clientId: SOURCE_APP, clientSecret: 'x' },
        ],
      });
      const app = await failure(bad.token(SOURCE, POWER_PLATFORM_SCOPE));
      assert.equal(app.kind, 'unauthorized');
      assert.match(app.message, /AADSTS700016/);
      const tenant = await failure(bad.token('contoso-gone.example', POWER_PLATFORM_SCOPE));
      assert.equal(tenant.kind, 'unauthorized');
      assert.match(tenant.message, /AADSTS90002/);
    });

    it('says configuration when the tenants file has no credential for the tenant, without asking anyone', async () => {
      const mark = fakes.requestLog.length;
      const err = await failure(tokens.token('33333333-3333-4333-8333-333333333333', POWER_PLATFORM_SCOPE));
      assert.equal(err.kind, 'configuration');
      assert.equal(err.message, 'no credential for tenant 33333333-3333-4333-8333-333333333333 in T2T_MICROSOFT_TENANTS_FILE');
      assert.equal(fakes.requestLog.length, mark);
    });

    it('says network, retryable, when the authority cannot be reached', async () => {
      const port = await freePort();
      const down = createTokenSource({ ...settings, authorityHost: `https://127.0.0.1:${port}/login` });
      const err = await failure(down.token(SOURCE, POWER_PLATFORM_SCOPE));
      assert.equal(err.kind, 'network');
      assert.equal(err.retryable, true);
      assert.match(err.message, new RegExp(`could not be reached at https://127.0.0.1:${port}/login.*ECONNREFUSED`));
    });

    it('says unavailable, retryable, when the authority keeps failing', async () => {
      // The library retries 5xx itself (three times, with back-off) before it gives up.
      fakes.failNext(`POST /${SOURCE}/oauth2/v2.0/token`, { status: 503, times: 10 });
      const err = await failure(createTokenSource(settings).token(SOURCE, POWER_PLATFORM_SCOPE));
      assert.equal(err.kind, 'unavailable');
      assert.equal(err.retryable, true);
    });

    it('signs an admin in with a device code, then renews silently for another audience', async () => {
      const prompts: string[] = [];
      const deviceTokens = createDeviceCodeTokenSource({
        tenantId: SOURCE,
        clientId: PUBLIC_APP,
        authorityHost: settings.authorityHost,
        customAuthority: true,
        prompt: (message) => {
          prompts.push(message);
          const code = /enter the code (\S+)/.exec(message)?.[1];
          setTimeout(() => fakes.completeDeviceCode(code!, 'admin@source.example'), 100);
        },
      });
      const asAdmin = new PowerPlatformClient({ baseUrl: settings.powerPlatformApiUrl, tokens: deviceTokens, pollIntervalMs: 20 });
      const request = await asAdmin.submit(SOURCE, newEnvironment(), TARGET);
      assert.deepEqual(request.createdBy, user(SOURCE, 'admin@source.example'));
      assert.equal(prompts.length, 1);
      assert.match(prompts[0], /device/);
      await deviceTokens.token(SOURCE, GRAPH_SCOPE);
      assert.equal(prompts.length, 1, 'no second prompt for another audience');
      const wrongTenant = await failure(deviceTokens.token(TARGET, POWER_PLATFORM_SCOPE));
      assert.equal(wrongTenant.kind, 'configuration');
    });

    it('is trusted by a child process through NODE_EXTRA_CA_CERTS, and only then', async () => {
      const tokensModule = require.resolve('../src/microsoft/tokens');
      const script = `
        const { createTokenSource, POWER_PLATFORM_SCOPE } = require(${JSON.stringify(tokensModule)});
        const settings = JSON.parse(process.argv[1]);
        createTokenSource(settings).token(settings.tenants[0].tenantId, POWER_PLATFORM_SCOPE)
          .then((t) => { console.log(t.split('.').length === 3 ? 'token' : 'odd'); })
          .catch((e) => { console.log(e.kind); });`;
      const args = ['-e', script, JSON.stringify({ ...settings, tenants: [settings.tenants[0]] })];
      const trusted = await run(process.execPath, args, { env: { ...process.env, NODE_EXTRA_CA_CERTS: fakes.caPath } });
      assert.equal(trusted.stdout.trim(), 'token');
      const env = { ...process.env };
      delete env.NODE_EXTRA_CA_CERTS;
      const untrusted = await run(process.execPath, args, { env });
      assert.equal(untrusted.stdout.trim(), 'network');
    });
  });

  describe('migration requests and approvals', () => {
    it('submits a request that both tenants then see', async () => {
      const environmentId = newEnvironment();
      const request = await client.submit(SOURCE, environmentId, TARGET);
      assert.match(request.id, /^[0-9a-f-]{36}$/);
      assert.equal(request.environmentId, environmentId);
      assert.equal(request.targetTenantId, TARGET);
      assert.deepEqual(request.createdBy, app(SOURCE, 't2t source app'));
      assert.equal(request.approvalStatus, 'Pending');
      assert.deepEqual((await client.listRequests(SOURCE)).find((r) => r.id === request.id), request);
      const approval = (await client.listApprovals(TARGET)).find((a) => a.sourceMigrationId === request.id);
      assert.ok(approval);
      assert.equal(approval.tenantId, TARGET);
      assert.equal(approval.approvalState, 'Pending');
      assert.equal(approval.environmentName, fakes.environments(SOURCE).find((e) => e.id === environmentId)?.name);
      assert.ok(approval.organizationId);
      assert.deepEqual(approval.createdBy, app(SOURCE, 't2t source app'));
      assert.ok(!Number.isNaN(Date.parse(approval.resourceCreatedTime ?? '')));
      assert.deepEqual((await client.listApprovals(SOURCE)).filter((a) => a.sourceMigrationId === request.id), []);
    });

    for (const shape of ['migrationId', 'name', 'properties', 'empty'] as const) {
      it(`reads the new request's id from an answer shaped '${shape}'`, async () => {
        fakes.setCreateAnswer(shape);
        const environmentId = newEnvironment();
        const request = await client.submit(SOURCE, environmentId, TARGET);
        const held = fakes.requests().filter((r) => r.environmentId === environmentId);
        assert.equal(held.length, 1);
        assert.equal(request.id, held[0].id);
        assert.equal(request.targetTenantId, TARGET);
      });
    }

    it('approves and rejects in the target tenant, and records who acted', async () => {
      const approved = await client.submit(SOURCE, newEnvironment(), TARGET);
      const rejected = await client.submit(SOURCE, newEnvironment(), TARGET);
      const approvals = await client.listApprovals(TARGET);
      await client.approve(TARGET, approvals.find((a) => a.sourceMigrationId === approved.id)!.id);
      await client.reject(TARGET, approvals.find((a) => a.sourceMigrationId === rejected.id)!.id);
      const requests = await client.listRequests(SOURCE);
      assert.deepEqual(
        [approved, rejected].map((r) => requests.find((x) => x.id === r.id)).map((r) => [r?.approvalStatus, r?.approvalActionedBy]),
        [
          ['Approved', app(TARGET, 't2t target app')],
          ['Rejected', app(TARGET, 't2t target app')],
        ],
      );
    });

    it("refuses an approval with the source tenant's token (403, with the role to grant)", async () => {
      const request = await client.submit(SOURCE, newEnvironment(), TARGET);
      const approval = (await client.listApprovals(TARGET)).find((a) => a.sourceMigrationId === request.id)!;
      const err = await failure(client.approve(SOURCE, approval.id));
      assert.equal(err.kind, 'forbidden');
      assert.equal(err.status, 403);
      assert.equal(err.retryable, false);
      assert.match(err.message, /Power Platform administrator role/);
      assert.match(err.message, new RegExp(SOURCE));
      assert.equal(fakes.requests().find((r) => r.id === request.id)?.approvalStatus, 'Pending');
    });

    it('sees a decision taken in the admin center', async () => {
      const request = await client.submit(SOURCE, newEnvironment(), TARGET);
      fakes.approveExternally(request.id, 'admin@target.example');
      const seen = (await client.listRequests(SOURCE)).find((r) => r.id === request.id);
      assert.equal(seen?.approvalStatus, 'Approved');
      assert.deepEqual(seen?.approvalActionedBy, { ...user(TARGET, 'admin@target.example'), type: 'User' });
      const approval = (await client.listApprovals(TARGET)).find((a) => a.sourceMigrationId === request.id);
      assert.equal(approval?.approvalState, 'Approved');
    });

    it('follows nextLink over three pages, for requests and for approvals', async () => {
      const ids = new Set<string>();
      for (let i = 0; i < 7; i++) ids.add((await client.submit(SOURCE, newEnvironment(), TARGET)).id);
      const total = fakes.requests().filter((r) => r.sourceTenantId === SOURCE).length;
      fakes.setPageSize(Math.ceil(total / 3));
      const mark = fakes.requestLog.length;
      const requests = await client.listRequests(SOURCE);
      assert.equal(requests.length, total);
      assert.equal(new Set(requests.map((r) => r.id)).size, total);
      for (const id of ids) assert.ok(requests.some((r) => r.id === id));
      const pages = logSince(mark).filter((e) => e.path.endsWith('/t2tmigrations'));
      assert.equal(pages.length, 3);
      const approvals = await client.listApprovals(TARGET);
      assert.equal(approvals.length, fakes.requests().filter((r) => r.targetTenantId === TARGET).length);
      assert.equal(logSince(mark).filter((e) => e.path.endsWith('/t2tmigrationapprovals')).length, 3);
    });

    it('accepts @odata.nextLink, stops on a nextLink loop, and sends no token to another host', async () => {
      const list = /^GET \/providers\/Microsoft\.BusinessAppPlatform\/t2tmigrations$/;
      const base = `${fakes.powerPlatformApiUrl}/providers/Microsoft.BusinessAppPlatform/t2tmigrations?api-version=2021-04-01`;
      const extra = { id: 'odata-paged', environmentId: 'e', targetTenantId: TARGET };
      fakes.failNext(list, { status: 200, body: { value: [extra], '@odata.nextLink': `${base}&$skiptoken=0` } });
      assert.ok((await client.listRequests(SOURCE)).some((r) => r.id === 'odata-paged'));

      fakes.failNext(list, { status: 200, times: 2, body: { value: [], nextLink: `${base}&$skiptoken=7` } });
      const loop = await failure(client.listRequests(SOURCE));
      assert.match(loop.message, /loop/);

      fakes.failNext(list, { status: 200, body: { value: [], nextLink: 'https://elsewhere.example.net/collect' } });
      const foreign = await failure(client.listRequests(SOURCE));
      assert.equal(foreign.kind, 'refused');
      assert.match(foreign.message, /elsewhere\.example\.net/);
    });

    it('deletes a request; deleting one already gone (400 or 404) is fine, and only a delete reads a 400 so', async () => {
      const request = await client.submit(SOURCE, newEnvironment(), TARGET);
      await client.delete(SOURCE, request.id);
      assert.ok(!(await client.listRequests(SOURCE)).some((r) => r.id === request.id));
      // The fake answers an unknown migration 400, as the service is reported to.
      const mark = fakes.requestLog.length;
      await client.delete(SOURCE, request.id);
      assert.deepEqual(logSince(mark).filter((e) => e.method === 'DELETE').map((e) => e.status), [400]);
      fakes.failNext(/^DELETE .*\/delete$/, { status: 404 });
      await client.delete(SOURCE, request.id.toUpperCase());
      const other = await client.submit(SOURCE, newEnvironment(), TARGET);
      fakes.deleteExternally(other.id);
      await client.delete(SOURCE, other.id);
      const status = await failure(client.getStatus(SOURCE, other.id));
      assert.equal(status.kind, 'refused', 'a read of an unknown migration is not taken for anything but what it says');
      assert.equal(status.status, 400);

      // A 400 for a request that is still there is the service's refusal, not "gone".
      const kept = await client.submit(SOURCE, newEnvironment(), TARGET);
      fakes.failNext(/^DELETE .*\/delete$/, { status: 400 });
      const refused = await failure(client.delete(SOURCE, kept.id));
      assert.equal(refused.kind, 'refused');
      assert.ok((await client.listRequests(SOURCE)).some((r) => r.id === kept.id));
    });

    it('reads principals as objects (id, type), and still takes the older plain strings', async () => {
      const list = /^GET \/providers\/Microsoft\.BusinessAppPlatform\/t2tmigrations$/;
      fakes.failNext(list, {
        status: 200,
        body: {
          value: [
            { id: 'as-strings', environmentId: 'e', targetTenantId: TARGET, createdBy: 'someone@contoso.com', approvalActionedBy: 'other@fabrikam.com' },
            { id: 'as-objects', environmentId: 'e', targetTenantId: TARGET, createdBy: { id: 'c0ffee00-0000-4000-8000-000000000001', type: 'User', displayName: 'Ana' }, approvalActionedBy: null },
          ],
        },
      });
      const [strings, objects] = await client.listRequests(SOURCE);
      assert.deepEqual([strings.createdBy, strings.approvalActionedBy], [{ name: 'someone@contoso.com' }, { name: 'other@fabrikam.com' }]);
      assert.deepEqual([objects.createdBy, objects.approvalActionedBy], [{ id: 'c0ffee00-0000-4000-8000-000000000001', type: 'User', name: 'Ana' }, undefined]);
    });
  });

  describe('storage, prepare and migrate', () => {
    it('hands out the storage SAS and prepares with the container URI without its query', async () => {
      const { environmentId, request } = await approvedRequest();
      const { sharedAccessSignature } = await client.generateStorage(SOURCE, environmentId);
      assert.equal(sharedAccessSignature, SAS);
      const started = await client.startPrepare(SOURCE, request.id, {
        TargetTenantId: TARGET,
        ReadOnlyUserMappingFileContainerUri: sharedAccessSignature,
        NewSecurityGroupId: 'group-1',
      });
      assert.ok('operationUrl' in started && started.operationUrl.startsWith(fakes.powerPlatformApiUrl));
      const polled: unknown[] = [];
      const result = await client.pollOperation(SOURCE, started, { onPoll: (raw) => polled.push(raw) });
      assert.equal(result.status, 'Succeeded');
      assert.equal(result.message, undefined);
      // The state is an object, as the module's WaitUntilFinished reads it ($content.state.id).
      assert.deepEqual(
        polled.map((raw) => (raw as { state: { id: string } }).state),
        [{ id: 'Running' }, { id: 'Running' }, { id: 'Succeeded' }],
      );
      const held = fakes.requests().find((r) => r.id === request.id)!;
      assert.deepEqual(held.prepareBody, {
        TargetTenantId: TARGET,
        ReadOnlyUserMappingFileContainerUri: 'https://storage.example.test/t2t-container',
        NewSecurityGroupId: 'group-1',
      });
      assert.equal(((await client.getStatus(SOURCE, request.id)) as { status: string }).status, 'Validate Tenant To Tenant Migration: Succeeded');
    });

    it('migrates to Succeeded, and reports a failed migrate with the service message', async () => {
      const prepared = async () => {
        const { request } = await approvedRequest();
        const started = await client.startPrepare(SOURCE, request.id, { TargetTenantId: TARGET, ReadOnlyUserMappingFileContainerUri: SAS });
        assert.equal((await client.pollOperation(SOURCE, started)).status, 'Succeeded');
        return request;
      };
      const ok = await prepared();
      assert.equal((await client.pollOperation(SOURCE, await client.startMigrate(SOURCE, ok.id, { TargetTenantId: TARGET }))).status, 'Succeeded');
      assert.ok(fakes.environments(TARGET).some((e) => e.id === ok.environmentId), 'the environment moved to the target tenant');

      const bad = await prepared();
      fakes.setOperationBehaviour({ runningPolls: 1, outcome: 'Failed', failureMessage: 'The target tenant has no Dataverse capacity left' });
      const result = await client.pollOperation(SOURCE, await client.startMigrate(SOURCE, bad.id, { TargetTenantId: TARGET }));
      assert.equal(result.status, 'Failed');
      assert.equal(result.message, 'The target tenant has no Dataverse capacity left');
      assert.equal(operationState(result.raw), 'Failed');
      assert.equal(((await client.getStatus(SOURCE, bad.id)) as { status: string }).status, 'Migrate Environment: Failed');
      assert.ok(fakes.environments(SOURCE).some((e) => e.id === bad.environmentId), 'the environment stayed');
    });

    it('follows a Location header, and takes a 200 answer as done', async () => {
      fakes.setOperationBehaviour({ answer: 'location', runningPolls: 1 });
      const first = await approvedRequest();
      const viaLocation = await client.startPrepare(SOURCE, first.request.id, { TargetTenantId: TARGET, ReadOnlyUserMappingFileContainerUri: SAS });
      assert.ok('operationUrl' in viaLocation);
      assert.equal((await client.pollOperation(SOURCE, viaLocation)).status, 'Succeeded');

      fakes.setOperationBehaviour({ answer: 'done' });
      const second = await approvedRequest();
      const done = await client.startPrepare(SOURCE, second.request.id, { TargetTenantId: TARGET, ReadOnlyUserMappingFileContainerUri: SAS });
      assert.ok('done' in done);
      const mark = fakes.requestLog.length;
      assert.equal((await client.pollOperation(SOURCE, done)).status, 'Succeeded');
      assert.equal(fakes.requestLog.length, mark, 'nothing to poll');
    });

    it('sends GuestAdminUserEmail in the prepare and migrate bodies when given, as the module does', async () => {
      const { request } = await approvedRequest();
      const guest = 'guest.admin@fabrikam.example';
      await client.pollOperation(SOURCE, await client.startPrepare(SOURCE, request.id, { TargetTenantId: TARGET, ReadOnlyUserMappingFileContainerUri: SAS, GuestAdminUserEmail: guest }));
      await client.pollOperation(SOURCE, await client.startMigrate(SOURCE, request.id, { TargetTenantId: TARGET, GuestAdminUserEmail: guest }));
      const held = fakes.requests().find((r) => r.id === request.id)!;
      assert.equal((held.prepareBody as Record<string, string>).GuestAdminUserEmail, guest);
      assert.deepEqual(held.migrateBody, { TargetTenantId: TARGET, GuestAdminUserEmail: guest });
    });

    it('takes the older string states too (status: Running / Succeeded), and waits out a 409 as the provider does', async () => {
      fakes.setOperationBehaviour({ stateShape: 'status-string', runningPolls: 1 });
      const { request } = await approvedRequest();
      const started = await client.startPrepare(SOURCE, request.id, { TargetTenantId: TARGET, ReadOnlyUserMappingFileContainerUri: SAS });
      fakes.failNext(/^GET \/providers\/Microsoft\.BusinessAppPlatform\/operations\//, { status: 409, times: 2 });
      const states: (string | undefined)[] = [];
      const result = await client.pollOperation(SOURCE, started, { onPoll: (raw) => states.push(operationState(raw)) });
      assert.equal(result.status, 'Succeeded');
      assert.deepEqual(states.slice(-2), ['Running', 'Succeeded']);
    });

    it('never polls for ever: an operation with no state ends at its budget with one line naming it and its last answer, logged once', async () => {
      fakes.setOperationBehaviour({ stateShape: 'no-state' });
      const { request } = await approvedRequest();
      const started = await client.startPrepare(SOURCE, request.id, { TargetTenantId: TARGET, ReadOnlyUserMappingFileContainerUri: SAS });
      const unrecognised: unknown[] = [];
      let polls = 0;
      const err = await failure(
        client.pollOperation(SOURCE, started, { what: 'prepare', budgetMs: 600, onPoll: () => polls++, onUnrecognised: (raw) => unrecognised.push(raw) }),
      );
      assert.equal(err.kind, 'timedOut');
      assert.equal(err.retryable, false);
      const operationId = new URL((started as { operationUrl: string }).operationUrl).pathname.split('/').pop()!;
      assert.match(err.message, new RegExp(`prepare operation ${operationId} reported no end within 600ms \\(T2T_OPERATION_BUDGET\\); its last answer: \\{"id":"${operationId}","progress":\\d+\\}`));
      assert.doesNotMatch(err.message, /\n/);
      assert.ok(polls >= 2, `${polls} polls`);
      assert.equal(unrecognised.length, 1, 'the unrecognised answer is told once');

      // A resumed attempt counts from the operation's start: past its budget, it ends without asking again.
      const mark = fakes.requestLog.length;
      const resumed = await failure(client.pollOperation(SOURCE, started, { budgetMs: 60_000, startedAt: Date.now() - 60_000 }));
      assert.equal(resumed.kind, 'timedOut');
      assert.match(resumed.message, /its last answer: none yet/);
      assert.equal(fakes.requestLog.length, mark);
    });

    it('heartbeats while it waits longer than a heartbeat step, so that a long Retry-After is not taken for a lost worker', async () => {
      let beats = 0;
      await sleepWithHeartbeats(230, undefined, () => beats++, 50);
      assert.equal(beats, 4, 'between the five steps of 50, 50, 50, 50 and 30 ms');
      beats = 0;
      await sleepWithHeartbeats(40, undefined, () => beats++, 50);
      assert.equal(beats, 0);
    });

    it("waits the service's Retry-After between polls", async () => {
      fakes.setOperationBehaviour({ runningPolls: 1, retryAfterSeconds: 1 });
      const { request } = await approvedRequest();
      const started = await client.startPrepare(SOURCE, request.id, { TargetTenantId: TARGET, ReadOnlyUserMappingFileContainerUri: SAS });
      assert.equal((started as { retryAfterMs?: number }).retryAfterMs, 1000);
      const at: number[] = [];
      const t0 = Date.now();
      const result = await client.pollOperation(SOURCE, started, { onPoll: () => at.push(Date.now() - t0) });
      assert.equal(result.status, 'Succeeded');
      // 1 s after the 202 for the first poll, 1 s after the Running answer for the second (the poll interval is 20 ms)
      assert.equal(at.length, 2);
      assert.ok(at[0] >= 950, `first poll after ${at[0]} ms`);
      assert.ok(at[1] - at[0] >= 950, `second poll ${at[1] - at[0]} ms after the first`);
    });

    it('waits out 429 and 5xx while polling, and gives up after 20 in a row', async () => {
      const polls = /^GET \/providers\/Microsoft\.BusinessAppPlatform\/operations\//;
      fakes.setOperationBehaviour({ runningPolls: 1 });
      const { request } = await approvedRequest();
      const started = await client.startPrepare(SOURCE, request.id, { TargetTenantId: TARGET, ReadOnlyUserMappingFileContainerUri: SAS });
      fakes.failNext(polls, { status: 429, retryAfterSeconds: 1 });
      fakes.failNext(polls, { status: 503, times: 2 });
      const t0 = Date.now();
      const result = await client.pollOperation(SOURCE, started);
      assert.equal(result.status, 'Succeeded');
      assert.ok(Date.now() - t0 >= 950, 'the 429 Retry-After was waited');

      const again = await approvedRequest();
      const second = await client.startPrepare(SOURCE, again.request.id, { TargetTenantId: TARGET, ReadOnlyUserMappingFileContainerUri: SAS });
      fakes.failNext(polls, { status: 502, times: 100 });
      const mark = fakes.requestLog.length;
      const err = await failure(client.pollOperation(SOURCE, second));
      fakes.clearFaults();
      assert.equal(err.kind, 'unavailable');
      assert.equal(err.status, 502);
      assert.equal(logSince(mark).filter((e) => e.status === 502).length, MAX_POLL_FAILURES);
    });

    it('stops polling when the signal aborts', async () => {
      fakes.setOperationBehaviour({ runningPolls: 1000 });
      const { request } = await approvedRequest();
      const started: OperationStarted = await client.startPrepare(SOURCE, request.id, { TargetTenantId: TARGET, ReadOnlyUserMappingFileContainerUri: SAS });
      const controller = new AbortController();
      let polls = 0;
      const reason = new Error('activity cancelled');
      const polling = client.pollOperation(SOURCE, started, {
        signal: controller.signal,
        onPoll: () => {
          if (++polls === 3) controller.abort(reason);
        },
      });
      await assert.rejects(polling, (err) => err === reason);
      const after = fakes.requestLog.length;
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(fakes.requestLog.length, after);
      assert.equal(polls, 3);
    });

    it('refuses to prepare a request that is not approved (400, refused)', async () => {
      const request = await client.submit(SOURCE, newEnvironment(), TARGET);
      const err = await failure(client.startPrepare(SOURCE, request.id, { TargetTenantId: TARGET, ReadOnlyUserMappingFileContainerUri: SAS }));
      assert.equal(err.kind, 'refused');
      assert.equal(err.status, 400);
      assert.match(err.message, /not approved/);
    });
  });

  describe('failures of a single call', () => {
    it('throttled with retryAfterMs on a 429', async () => {
      fakes.failNext('/createt2t', { status: 429, retryAfterSeconds: 7 });
      const err = await failure(client.submit(SOURCE, newEnvironment(), TARGET));
      assert.equal(err.kind, 'throttled');
      assert.equal(err.retryAfterMs, 7000);
      assert.equal(err.retryable, true);
      assert.equal(err.status, 429);
    });

    it('unavailable, retryable, on a 5xx', async () => {
      fakes.failNext('/generateTenantToTenantResourceStorage', { status: 503 });
      const err = await failure(client.generateStorage(SOURCE, newEnvironment()));
      assert.equal(err.kind, 'unavailable');
      assert.equal(err.retryable, true);
      assert.equal(err.status, 503);
    });

    it("asks for the admin API's audience with its trailing slash; a token without the slash is refused", async () => {
      const token = await createTokenSource(settings).token(SOURCE, POWER_PLATFORM_SCOPE);
      assert.equal(POWER_PLATFORM_SCOPE, 'https://service.powerapps.com//.default');
      assert.equal(audOf(token), 'https://service.powerapps.com/');
      const noSlash: TokenSource = { token: async (tenantId) => fakes.issueToken(tenantId, SOURCE_APP, 'https://service.powerapps.com/.default') };
      const err = await failure(new PowerPlatformClient({ baseUrl: settings.powerPlatformApiUrl, tokens: noSlash, pollIntervalMs: 20 }).listRequests(SOURCE));
      assert.equal(err.kind, 'unauthorized');
      assert.match(err.message, /wrong audience 'https:\/\/service\.powerapps\.com'; expected 'https:\/\/service\.powerapps\.com\/'/);
    });

    it("unauthorized for a token of another audience, naming the management-app registration", async () => {
      const graphTokens: TokenSource = { token: async (tenantId) => fakes.issueToken(tenantId, SOURCE_APP, GRAPH_SCOPE) };
      const wrongAudience = new PowerPlatformClient({ baseUrl: settings.powerPlatformApiUrl, tokens: graphTokens, pollIntervalMs: 20 });
      const err = await failure(wrongAudience.listRequests(SOURCE));
      assert.equal(err.kind, 'unauthorized');
      assert.equal(err.status, 401);
      assert.equal(err.retryable, false);
      assert.match(err.message, /New-PowerAppManagementApp/);
      assert.match(err.message, /wrong audience/);
    });

    it('forbidden for an app that is not a Power Platform management app', async () => {
      const weak = createTokenSource({ ...settings, tenants: [{ tenantId: SOURCE, clientId: WEAK_APP, clientSecret: 'weak-secret' }] });
      const weakClient = new PowerPlatformClient({ baseUrl: settings.powerPlatformApiUrl, tokens: weak, pollIntervalMs: 20 });
      const err = await failure(weakClient.listRequests(SOURCE));
      assert.equal(err.kind, 'forbidden');
      assert.equal(err.retryable, false);
      assert.match(err.message, /Power Platform administrator role/);
    });
  });

  describe('the Microsoft back end on these calls (MicrosoftMigrationService)', () => {
    const operation = (logs: string[] = []): OperationContext => ({ heartbeat: () => undefined, signal: new AbortController().signal, log: (m) => logs.push(m) });
    const migrationOf = (environmentId: string, serviceMigrationId?: string): ServiceMigration => ({
      migrationId: `m-${environmentId}`,
      environmentId,
      sourceTenantId: SOURCE,
      targetTenantId: TARGET,
      ...(serviceMigrationId ? { serviceMigrationId } : {}),
    });

    it('a prepare whose operation ended Succeeded but whose status says "Validation Failed" is a failed prepare, with the report link', async () => {
      const service = MicrosoftMigrationService.fromSettings(settings);
      const { environmentId, request } = await approvedRequest();
      const migration = migrationOf(environmentId, request.id);
      const storage = await service.createStorage(migration);
      fakes.setOperationBehaviour({ runningPolls: 1, validation: 'fails' });
      const mark = fakes.requestLog.length;
      const failed = await service.prepare(migration, storage, operation(), { guestAdmin: 'guest@fabrikam.example' });
      assert.equal(failed.succeeded, false);
      assert.match(String(failed.message), /Validation Failed/);
      assert.equal(failed.errorReportUrl, 'https://storage.example.test/t2t-container/usermapping_errors.csv?sv=2018-03-28&sr=b&si=SASpolicyfake&sig=fake');
      assert.ok(logSince(mark).some((e) => e.method === 'GET' && e.path.endsWith('/get')), 'the status was read after the operation ended');
      assert.equal((fakes.requests().find((r) => r.id === request.id)!.prepareBody as Record<string, string>).GuestAdminUserEmail, 'guest@fabrikam.example');

      fakes.setOperationBehaviour({ validation: 'passes' });
      assert.deepEqual(await service.prepare(migration, storage, operation()), { succeeded: true });
    });

    it('ends a prepare whose operation never reports a state at T2T_OPERATION_BUDGET, the raw answer logged once', async () => {
      const service = MicrosoftMigrationService.fromSettings({ ...settings, operationBudgetMs: 500 });
      const { environmentId, request } = await approvedRequest();
      const migration = migrationOf(environmentId, request.id);
      const storage = await service.createStorage(migration);
      fakes.setOperationBehaviour({ stateShape: 'no-state' });
      const logs: string[] = [];
      await assert.rejects(service.prepare(migration, storage, operation(logs)), (err: Error & { nonRetryable?: boolean }) => {
        assert.match(err.message, /^the Power Platform admin API's prepare operation [0-9a-f-]{36} reported no end within 500ms \(T2T_OPERATION_BUDGET\); its last answer: \{"id"/);
        assert.equal(err.nonRetryable, true);
        return true;
      });
      assert.equal(logs.length, 1);
      assert.match(logs[0], /answered with no state the product can read .* Its answer: \{"id":"[0-9a-f-]{36}","progress":1\}$/);
    });

    it("a stored-access-policy SAS (no se=) reports its expiry as set by the service, never ''", async () => {
      const service = MicrosoftMigrationService.fromSettings(settings);
      fakes.failNext('/generateTenantToTenantResourceStorage', {
        status: 200,
        body: { sharedAccessSignature: 'https://dynamics.blob.core.windows.net/20240604t000000z73e18df430fe40059290dsddc25d783?sv=2018-03-28&sr=c&si=SASpolicyXXRRRX&sig=abc' },
      });
      const storage = await service.createStorage(migrationOf(newEnvironment()));
      assert.equal(storage.expiresOn, SAS_EXPIRY_SET_BY_SERVICE);
      assert.equal((await service.createStorage(migrationOf(newEnvironment()))).expiresOn, '2099-01-01T00:00:00.000Z');
    });

    it('compares environment and migration GUIDs without regard to case', async () => {
      const service = MicrosoftMigrationService.fromSettings(settings);
      const environmentId = newEnvironment();
      const first = await service.submit(migrationOf(environmentId));
      const again = await service.submit(migrationOf(environmentId.toUpperCase()));
      assert.equal(again.serviceMigrationId, first.serviceMigrationId, 'a retried submit reuses the open request');
      assert.equal(fakes.requests().filter((r) => r.environmentId === environmentId).length, 1);
      const upper = migrationOf(environmentId, first.serviceMigrationId.toUpperCase());
      assert.deepEqual(await service.requestState(upper), { state: 'pending' });
      await service.approve(upper);
      assert.equal(fakes.requests().find((r) => r.id === first.serviceMigrationId)?.approvalStatus, 'Approved');
    });

    it('names who acted outside the product through Graph where it can, else gives the principal id and says so', async () => {
      const service = MicrosoftMigrationService.fromSettings(settings);
      const environmentId = newEnvironment();
      const { serviceMigrationId } = await service.submit(migrationOf(environmentId));
      fakes.approveExternally(serviceMigrationId, 'admin@target.example');
      const { id } = user(TARGET, 'admin@target.example');
      // This fake's Graph holds no users: the id stands in, said so.
      assert.deepEqual(await service.requestState(migrationOf(environmentId, serviceMigrationId)), {
        state: 'approved',
        actedBy: `User ${id} (its name could not be read from Microsoft Graph in tenant ${TARGET})`,
      });
    });
  });
});
