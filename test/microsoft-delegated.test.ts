// On-behalf-of on the Microsoft back end (docs/identity.md, "The Microsoft back end"):
// a tenant whose admin API refuses app-only tokens for the tenant-to-tenant calls
// takes, for the call made at the moment of an action, the acting admin's own
// token, exchanged by the gateway with Microsoft's on-behalf-of grant and handed
// to the activity outside history: sealed, short-lived, taken once. Through real
// servers: the dev server, a spawned worker with sign-in on, the real sandbox
// provider and gateway, `t2t --as`, a real SQLite control plane, and the HTTPS
// fake of Microsoft's services (its on-behalf-of grant cites Microsoft's docs).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { uploadWithSas } from './helpers/product';
import { freePort } from './helpers/ports';
import { startMicrosoftFakes, trustFakeCa, type MicrosoftFakes } from './fakes/microsoft-services';
import { GraphFakeState, fakeUser } from './fakes/graph-routes';
import { MigrationStorage } from '../src/storage/migration-storage';
import { startProductProcess, stopProductProcess, type ProductProcess } from './helpers/product-processes';
import { projectRoot } from '../src/temporal-binaries';
import { loadConfig } from '../src/config';
import { createControlPlane, openDatabase } from '../src/controlplane/database';
import type { ControlPlane } from '../src/controlplane/control-plane';
import { parseWorld } from '../src/controlplane/world';
import { openDelegatedTokens } from '../src/controlplane/delegated-tokens';
import { startSandboxIdentity } from '../src/identity/sandbox';
import type { LocalProvider } from '../src/identity/local-provider';
import { createTokenVerifier } from '../src/identity/token-verifier';
import { ActionSigner, newGatewayKey } from '../src/identity/action-signer';
import { createGateway } from '../src/gateway/server';
import { gatewayForwarding, type Forwarding } from '../src/gateway/forwarding';
import { loadMicrosoftSettings } from '../src/microsoft/settings';
import { exchangeAdminToken, noDelegatedToken, openToken, sealToken } from '../src/microsoft/delegation';
import { migrationWorkflowId, type MigrationStatus } from '../src/contracts';
import { CONTROL_PLANE_BACKENDS, startBackend } from './helpers/backends';

const CLI = path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js');
const POWER_PLATFORM_ADMIN = '11648597-926c-4cf3-9c36-bcebb0ba8dcc';

const SOURCE = '5a0c0e11-0000-4000-8000-0000000d0b0e';
const TARGET = 'fab0fab0-0000-4000-8000-0000000d0b0f';
const API_APP = 't2t-api-app';
const API_SECRET = 'the-api-app-secret';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A history as text, with every payload's bytes read as UTF-8 (payload encryption is off here). */
function historyText(events: unknown): string {
  return JSON.stringify(events, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('utf8') : value));
}

describe('on-behalf-of: the acting admin\'s own token for the service call of an action (Microsoft back end) @integration', function () {
  this.timeout(300_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  let fakes: MicrosoftFakes;
  let dir: string;
  let signInDir: string;
  let databaseUrl: string;
  let controlPlane: ControlPlane;
  let provider: LocalProvider;
  let forwarding: Forwarding;
  let gateway: FastifyInstance;
  let worker: ProductProcess | undefined;
  let cliEnv: NodeJS.ProcessEnv;
  let untrust: () => void;
  const taskQueue = `t2t-obo-${randomBytes(4).toString('hex')}`;

  useRealServers((servers) => ({ env, azurite } = servers));

  before(async () => {
    const storage = new MigrationStorage(azurite.connectionString);
    const graph = new GraphFakeState();
    graph.setUsers(SOURCE, [fakeUser('admin@contoso.com'), fakeUser('ana@contoso.com')]);
    graph.setUsers(TARGET, [fakeUser('admin@fabrikam.com'), fakeUser('ana@fabrikam.com')]);
    graph.setRoles(SOURCE, 'admin@contoso.com', [POWER_PLATFORM_ADMIN]);
    graph.setRoles(TARGET, 'admin@fabrikam.com', [POWER_PLATFORM_ADMIN]);

    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-obo-'));
    signInDir = mkdtempSync(path.join(os.tmpdir(), 't2t-obo-identity-'));
    databaseUrl = path.join(dir, 'control-plane.db');
    // The sandbox provider signs in the world's users: the two tenants' admins, with the tenants' ids.
    controlPlane = await createControlPlane(databaseUrl);
    await controlPlane.migrateSchema();
    await controlPlane.loadWorld(
      parseWorld({
        tenants: [
          { id: SOURCE, name: 'Contoso', cloud: 'Public', defaultDomain: 'contoso.onmicrosoft.com', users: [{ upn: 'admin@contoso.com' }] },
          { id: TARGET, name: 'Fabrikam', cloud: 'Public', defaultDomain: 'fabrikam.onmicrosoft.com', users: [{ upn: 'admin@fabrikam.com' }] },
        ],
        environments: [],
      }),
    );
    const identityPort = await freePort();
    const signIn = loadConfig({ T2T_DATA_DIR: signInDir, T2T_IDENTITY_PORT: String(identityPort), T2T_TOKEN_CACHE: path.join(signInDir, 'token-cache.json') });
    provider = await startSandboxIdentity(signIn, controlPlane, { port: identityPort });
    const verifier = createTokenVerifier({ issuers: [provider.issuer], audience: 'api://t2t', ca: readFileSync(signIn.signIn.sandboxCertificateFile, 'utf8') });

    fakes = await startMicrosoftFakes({
      tenants: [{ tenantId: SOURCE }, { tenantId: TARGET }],
      apps: [
        { tenantId: SOURCE, clientId: 'contoso-t2t-app', clientSecret: 'contoso-app-secret' },
        { tenantId: TARGET, clientId: 'fabrikam-t2t-app', clientSecret: 'fabrikam-app-secret' },
        // The product API's registration, consented in both tenants: the audience of the admins' tokens.
        { tenantId: SOURCE, clientId: API_APP, clientSecret: API_SECRET, api: 'api://t2t', powerPlatformAdmin: false },
        { tenantId: TARGET, clientId: API_APP, clientSecret: API_SECRET, api: 'api://t2t', powerPlatformAdmin: false },
      ],
      operations: { runningPolls: 1 },
      storageSas: async (_tenantId, environmentId) =>
        (await storage.provision(`obo-${environmentId.toLowerCase().replace(/[^a-z0-9]/g, '')}`.slice(0, 60), 3_600_000)).sasUrl,
      graph,
      // Here the sandbox provider stands in for Entra ID's sign-in: the fake takes its tokens as users' tokens.
      userAssertion: async (token) => {
        const claims = await verifier.verify(`Bearer ${token}`);
        return { tenantId: claims.tenantId, user: claims.user, audience: 'api://t2t' };
      },
    });
    // Contoso's admin API takes only admins' tokens for the tenant-to-tenant calls; Fabrikam's takes the app's.
    fakes.setAppOnlyTenantToTenant(false, SOURCE);
    untrust = trustFakeCa(fakes.ca);

    writeFileSync(path.join(dir, 'delegation.key'), randomBytes(32).toString('base64'));
    writeFileSync(
      path.join(dir, 'tenants.json'),
      JSON.stringify({
        tenants: [
          { tenantId: SOURCE, name: 'Contoso', clientId: 'contoso-t2t-app', clientSecret: 'contoso-app-secret', delegatedCalls: true },
          { tenantId: TARGET, name: 'Fabrikam', clientId: 'fabrikam-t2t-app', clientSecret: 'fabrikam-app-secret' },
        ],
        delegation: { clientId: API_APP, clientSecret: API_SECRET, keyFile: 'delegation.key' },
      }),
    );
    const signer = new ActionSigner([newGatewayKey('gw-obo')]);
    writeFileSync(path.join(dir, 'gateway-keys.json'), JSON.stringify({ keys: signer.published() }));
    const backendEnv = {
      TEMPORAL_ADDRESS: env.address,
      T2T_TASK_QUEUE: taskQueue,
      T2T_DATABASE_URL: databaseUrl,
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      T2T_BACKEND: 'microsoft',
      T2T_MICROSOFT_TENANTS_FILE: path.join(dir, 'tenants.json'),
      T2T_POWERPLATFORM_API_URL: fakes.powerPlatformApiUrl,
      T2T_GRAPH_API_URL: fakes.graphApiUrl,
      T2T_AUTHORITY_HOST: fakes.authorityHost,
      T2T_SERVICE_POLL_INTERVAL: '1h',
      T2T_OPERATION_POLL_SECONDS: '0.2',
      T2T_PAYLOAD_ENCRYPTION: 'off',
      T2T_WORKER_VERSIONING: 'off',
    };
    const workerEnv = {
      PATH: process.env.PATH ?? '',
      ...backendEnv,
      T2T_AUTH: 'on',
      T2T_GATEWAY_PUBLIC_KEYS_FILE: path.join(dir, 'gateway-keys.json'),
      T2T_DATA_DIR: dir,
      NODE_EXTRA_CA_CERTS: fakes.caPath,
    };
    worker = await startProductProcess('the worker', 'dist/src/worker.js', workerEnv, 'serving task queue', 60_000);

    // The gateway as `npm run gateway` runs it, in this process: the same settings as the worker.
    const gatewayConfig = loadConfig({ ...backendEnv, T2T_AUTH: 'on', T2T_DATA_DIR: dir, T2T_IDENTITY_PORT: String(identityPort) });
    forwarding = gatewayForwarding(gatewayConfig, { client: env.client, controlPlane });
    gateway = await createGateway({ verifier, signer, migrations: forwarding.migrations, handOver: forwarding.handOver });
    await gateway.listen({ host: '127.0.0.1', port: 0 });
    cliEnv = {
      PATH: process.env.PATH,
      ...backendEnv,
      T2T_AUTH: 'on',
      T2T_DATA_DIR: signInDir,
      T2T_IDENTITY_PORT: String(identityPort),
      T2T_TOKEN_CACHE: signIn.signIn.tokenCacheFile,
      T2T_GATEWAY_ADDRESS: `127.0.0.1:${(gateway.server.address() as AddressInfo).port}`,
      NODE_EXTRA_CA_CERTS: fakes.caPath,
    };
  });

  after(async () => {
    if (worker) await stopProductProcess(worker);
    await gateway?.close();
    await forwarding?.close();
    await provider?.close();
    await controlPlane?.close();
    await fakes?.stop();
    untrust?.();
    for (const d of [dir, signInDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  function t2t(args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: cliEnv }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      });
    });
  }

  async function status(migrationId: string): Promise<MigrationStatus> {
    const run = await t2t(['status', '--migration-id', migrationId, '--json']);
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout) as MigrationStatus;
  }

  async function storedTokens(): Promise<number> {
    const { db, release } = await openDatabase(databaseUrl);
    try {
      return (await db.selectFrom('delegated_tokens').select(db.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n;
    } finally {
      await release();
    }
  }

  const contosoAdmin = () => fakes.principalOf(SOURCE, 'admin@contoso.com', 'User');
  const t2tCallsIn = (tenantId: string, from: number) =>
    fakes.adminApiCallers.slice(from).filter((c) => c.tenantId.toLowerCase() === tenantId.toLowerCase() && /t2tmigration|createt2t|generateTenantToTenantResourceStorage/i.test(c.path));

  it("a tenant with delegatedCalls: submit, storage and cancel call as the admin, with a token taken once and kept out of history; the other tenant's approve keeps the app's token", async () => {
    const environmentId = randomUUID();
    fakes.addEnvironment(SOURCE, { id: environmentId, name: 'Contoso Delegated' });
    const exchangesBefore = fakes.oboExchanges();
    const from = fakes.adminApiCallers.length;

    const submitted = await t2t(['--as', 'admin@contoso.com', 'submit', '--environment', environmentId, '--target-tenant', TARGET, '--json']);
    assert.equal(submitted.code, 0, `${submitted.stderr}\n${worker?.output ?? ''}`);
    const { migrationId, targetMigrationId, phase } = JSON.parse(submitted.stdout) as MigrationStatus;
    assert.equal(phase, 'PendingApproval');
    const request = fakes.requests().find((r) => r.environmentId === environmentId)!;
    assert.ok(request, 'the request was opened on the service');
    assert.deepEqual(request.createdBy, contosoAdmin(), 'the service records the admin, not the app, as its creator');
    assert.equal(fakes.oboExchanges(), exchangesBefore + 1, 'one exchange for the submit');

    const approved = await t2t(['--as', 'admin@fabrikam.com', 'approve', '--migration-id', targetMigrationId]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.equal(fakes.oboExchanges(), exchangesBefore + 1, 'Fabrikam takes no delegated calls: no exchange');
    const fabrikam = t2tCallsIn(TARGET, from);
    assert.ok(fabrikam.some((c) => c.method === 'POST' && /\/approve$/.test(c.path)), 'the approval was posted');
    assert.ok(fabrikam.every((c) => !c.delegated), "Fabrikam's calls are the app's");

    const storage = await t2t(['--as', 'admin@contoso.com', 'storage', '--environment', environmentId, '--json']);
    assert.equal(storage.code, 0, storage.stderr);
    assert.equal(fakes.oboExchanges(), exchangesBefore + 2);
    assert.equal(await storedTokens(), 0, 'each handed-over token was taken by its call');

    const contoso = t2tCallsIn(SOURCE, from);
    assert.ok(contoso.some((c) => /createt2t$/.test(c.path)) && contoso.some((c) => /generateTenantToTenantResourceStorage$/.test(c.path)));
    for (const call of contoso.filter((c) => c.method === 'POST')) {
      assert.equal(call.delegated, true, `${call.method} ${call.path} with the admin's token`);
      assert.deepEqual(call.actor, contosoAdmin(), `${call.method} ${call.path} as admin@contoso.com`);
    }

    // A retry after the token was taken (the service faulted once): refused with the one line, never the app's token.
    const before = fakes.adminApiCallers.length;
    fakes.failNext('generateTenantToTenantResourceStorage', { status: 503 });
    const retried = await t2t(['--as', 'admin@contoso.com', 'storage', '--environment', environmentId]);
    assert.equal(retried.code, 1, retried.stdout);
    assert.match(retried.stderr, new RegExp(noDelegatedToken(SOURCE).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.equal(retried.stderr.trim().split('\n').length, 1, 'one line');
    assert.ok(t2tCallsIn(SOURCE, before).every((c) => c.delegated), 'no app-only call was tried instead');

    // An exchange Microsoft refuses (here: consent missing) refuses the action at the gateway; the migration is untouched.
    const phaseBefore = (await status(migrationId)).phase;
    fakes.failNext(`POST /${SOURCE}/oauth2/v2.0/token`, {
      status: 400,
      body: { error: 'invalid_grant', error_description: "AADSTS65001: The user or administrator has not consented to use the application with ID 't2t-api-app'." },
    });
    const unexchanged = await t2t(['--as', 'admin@contoso.com', 'cancel', '--migration-id', migrationId]);
    assert.equal(unexchanged.code, 1, unexchanged.stdout);
    assert.match(unexchanged.stderr, new RegExp(`cancel refused: the gateway could not get a token on your behalf for tenant ${SOURCE}: .*AADSTS65001`));
    assert.equal(unexchanged.stderr.trim().split('\n').length, 1, 'one line');
    assert.ok(!unexchanged.stderr.includes(API_SECRET));
    assert.equal((await status(migrationId)).phase, phaseBefore);
    assert.ok(fakes.requests().some((r) => r.environmentId === environmentId), 'nothing was deleted');

    const cancelled = await t2t(['--as', 'admin@contoso.com', 'cancel', '--migration-id', migrationId]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal((await status(migrationId)).phase, 'Cancelled');
    assert.equal(fakes.requests().find((r) => r.environmentId === environmentId), undefined, 'the request was deleted on the service');
    const deleted = fakes.adminApiCallers.slice(before).find((c) => c.method === 'DELETE');
    assert.equal(deleted?.delegated, true);
    assert.equal(await storedTokens(), 0);

    // No admin's token, exchanged or not, is in the migration's history.
    const delegated = [...new Set(fakes.adminApiCallers.slice(from).filter((c) => c.delegated).map((c) => c.token))];
    assert.ok(delegated.length >= 3, 'the delegated tokens the service saw');
    const cache = readFileSync(cliEnv.T2T_TOKEN_CACHE!, 'utf8');
    const adminTokens = [...cache.matchAll(/"secret"\s*:\s*"([^"]{40,})"/g)].map((m) => m[1]);
    assert.ok(adminTokens.length > 0, "the admins' own tokens, from the CLI's cache");
    const text = historyText((await env.client.workflow.getHandle(migrationWorkflowId(environmentId)).fetchHistory()).events);
    assert.ok(text.includes('generateTenantToTenantResourceStorage') || text.includes('createMigrationStorage'), 'the history was read');
    for (const token of [...delegated, ...adminTokens]) assert.ok(!text.includes(token), 'a token is in the history');
    assert.ok(!worker!.output.includes(delegated[0]), 'nor in the worker\'s log');
  });

  it('a whole migration in a tenant with delegatedCalls: prepare and migrate start their operations as the admin, and the migration succeeds', async () => {
    const environmentId = randomUUID();
    fakes.addEnvironment(SOURCE, { id: environmentId, name: 'Contoso Whole' });
    const from = fakes.adminApiCallers.length;
    const submitted = await t2t(['--as', 'admin@contoso.com', 'submit', '--environment', environmentId, '--target-tenant', TARGET, '--json']);
    assert.equal(submitted.code, 0, submitted.stderr);
    const { migrationId, targetMigrationId } = JSON.parse(submitted.stdout) as MigrationStatus;
    const approved = await t2t(['--as', 'admin@fabrikam.com', 'approve', '--migration-id', targetMigrationId]);
    assert.equal(approved.code, 0, approved.stderr);
    const stored = await t2t(['--as', 'admin@contoso.com', 'storage', '--environment', environmentId, '--json']);
    assert.equal(stored.code, 0, stored.stderr);
    const sasUrl = (JSON.parse(stored.stdout) as { sasUrl: string }).sasUrl;
    await uploadWithSas(sasUrl, 'Source,Destination\nana@contoso.com,ana@fabrikam.com\n');
    const prepared = await t2t(['--as', 'admin@contoso.com', 'prepare', '--migration-id', migrationId, '--target-tenant', TARGET, '--mapping-container', sasUrl, '--json']);
    assert.equal(prepared.code, 0, `${prepared.stderr}${prepared.stdout}`);
    assert.equal((JSON.parse(prepared.stdout) as MigrationStatus).phase, 'Prepared');
    const migrated = await t2t(['--as', 'admin@contoso.com', 'migrate', '--migration-id', migrationId, '--target-tenant', TARGET, '--json']);
    assert.equal(migrated.code, 0, `${migrated.stderr}${migrated.stdout}`);
    const final = JSON.parse(migrated.stdout) as MigrationStatus;
    assert.equal(final.phase, 'Succeeded', final.reason);

    const posts = t2tCallsIn(SOURCE, from).filter((c) => c.method === 'POST');
    assert.deepEqual(
      posts.map((c) => c.path.split('/').pop()),
      ['createt2t', 'generateTenantToTenantResourceStorage', 'prepare', 'migrate'],
      'each action made its own call',
    );
    for (const call of posts) assert.deepEqual([call.delegated, call.actor], [true, contosoAdmin()], call.path);
    const tokens = new Set(posts.map((c) => c.token));
    assert.equal(tokens.size, 4, 'a token of its own for each action');
    assert.equal(await storedTokens(), 0);
  });

  it('the exchange is made by the product API\'s app with its secret; a wrong secret is one line naming neither secret nor token', async () => {
    const user = fakesUserToken();
    const settings = { authorityHost: fakes.authorityHost, customAuthority: true };
    const key = randomBytes(32);
    const { token, expiresAt } = await exchangeAdminToken(settings, { clientId: API_APP, clientSecret: API_SECRET, key }, SOURCE, user);
    assert.ok(token && expiresAt > Date.now());
    await assert.rejects(exchangeAdminToken(settings, { clientId: API_APP, clientSecret: 'wrong-secret', key }, SOURCE, user), (err: Error) => {
      assert.match(err.message, /invalid_client|AADSTS7000215/);
      assert.ok(!err.message.includes('wrong-secret') && !err.message.includes(user));
      assert.equal(err.message.split('\n').length, 1);
      return true;
    });
    // A management app is no web API: a token for the product API is not its to exchange.
    await assert.rejects(exchangeAdminToken(settings, { clientId: 'contoso-t2t-app', clientSecret: 'contoso-app-secret', key }, SOURCE, user), /AADSTS50013/);
  });

  /** An admin's token for the product API, as the sandbox provider issued it to `t2t --as` (its cache; the first story signed in). */
  function fakesUserToken(): string {
    const cache = JSON.parse(readFileSync(cliEnv.T2T_TOKEN_CACHE!, 'utf8')) as { AccessToken?: Record<string, { realm: string; secret: string }> };
    const token = Object.values(cache.AccessToken ?? {}).find((t) => t.realm.toLowerCase() === SOURCE.toLowerCase())?.secret;
    assert.ok(token, "admin@contoso.com's cached access token");
    return token;
  }

  it('settings: delegatedCalls needs the delegation block, and a key of 32 bytes; each is one line', () => {
    const write = (name: string, content: unknown) => {
      writeFileSync(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
      return path.join(dir, name);
    };
    const load = (file: string) => () => loadMicrosoftSettings({ T2T_MICROSOFT_TENANTS_FILE: file }, 60_000);
    const tenant = { tenantId: SOURCE, clientId: 'a', clientSecret: 's', delegatedCalls: true };
    assert.throws(load(write('t1.json', { tenants: [tenant] })), /configuration: T2T_MICROSOFT_TENANTS_FILE: file: a tenant has delegatedCalls: the file also needs "delegation"/);
    write('short.key', randomBytes(16).toString('base64'));
    assert.throws(
      load(write('t2.json', { tenants: [tenant], delegation: { clientId: API_APP, clientSecret: 'x', keyFile: 'short.key' } })),
      /delegation\.keyFile: short\.key must hold 32 random bytes in base64/,
    );
    write('good.key', randomBytes(32).toString('base64'));
    const settings = loadMicrosoftSettings({ T2T_MICROSOFT_TENANTS_FILE: write('t3.json', { tenants: [tenant], delegation: { clientId: API_APP, clientSecret: 'x', keyFile: 'good.key' } }) }, 60_000);
    assert.equal(settings.tenants[0].delegatedCalls, true);
    assert.equal(settings.delegation?.key.length, 32);
  });
});

describe('the store of handed-over tokens, in the control plane', () => {
  for (const backend of CONTROL_PLANE_BACKENDS) {
    it(`${backend.name}: a token is handed out once, never after its expiry; a seal opens only for its own action and tenant`, async function () {
      this.timeout(60_000);
      await startBackend(backend);
      const url = await backend.url();
      const plane = await createControlPlane(url);
      await plane.migrateSchema();
      // Twice, as every worker and gateway start does: the table is there once.
      await plane.migrateSchema();
      const store = await openDelegatedTokens(url);
      try {
        const key = randomBytes(32);
        const sealed = sealToken(key, 'the-token', 'action-1', SOURCE);
        assert.ok(!sealed.includes('the-token'));
        assert.equal(openToken(key, sealed, 'action-1', SOURCE.toUpperCase()), 'the-token');
        assert.equal(openToken(key, sealed, 'action-2', SOURCE), undefined);
        assert.equal(openToken(key, sealed, 'action-1', TARGET), undefined);
        assert.equal(openToken(randomBytes(32), sealed, 'action-1', SOURCE), undefined);

        await store.put({ actionId: 'action-1', tenantId: SOURCE, sealed, expiresAt: new Date(Date.now() + 60_000) });
        const [first, second] = await Promise.all([store.take('action-1'), store.take('action-1')]);
        assert.equal([first, second].filter((row) => row?.sealed === sealed).length, 1, 'taken once, even by two at the same moment');
        assert.equal(await store.take('action-1'), undefined);
        await store.put({ actionId: 'action-2', tenantId: SOURCE, sealed, expiresAt: new Date(Date.now() + 60_000) });
        assert.equal(await store.take('action-2', new Date(Date.now() + 120_000)), undefined, 'expired');
        assert.equal(await store.take('action-2'), undefined, 'and gone');
        // A put sweeps the rows past their expiry.
        await store.put({ actionId: 'action-3', tenantId: SOURCE, sealed, expiresAt: new Date(Date.now() - 1000) });
        await store.put({ actionId: 'action-4', tenantId: SOURCE, sealed, expiresAt: new Date(Date.now() + 60_000) });
        const { db, release } = await openDatabase(url);
        try {
          assert.deepEqual((await db.selectFrom('delegated_tokens').select('action_id').execute()).map((r) => r.action_id), ['action-4']);
        } finally {
          await release();
        }
      } finally {
        await store.close();
        await plane.close();
      }
    });
  }
});
