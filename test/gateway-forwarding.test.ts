// The action gateway forwarding to a real migration on the real Temporal dev
// server, with tokens from the real sandbox provider: a verified action reaches
// the workflow with the gateway's proof and the verified admin as its actor; every
// refusal (no token, expired, forged, other audience, another tenant's admin, too
// many requests) stops at the gateway, and the migration's history shows nothing
// new. `t2t` with sign-in on goes the same way, and `t2t sign submit` prints a
// start input the temporal CLI starts as it is.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { defaultPayloadConverter } from '@temporalio/common';
import { loadConfig, type Config } from '../src/config';
import { createGateway } from '../src/gateway/server';
import { gatewayForwarding, type Forwarding } from '../src/gateway/forwarding';
import { createTokenVerifier } from '../src/identity/token-verifier';
import { ActionSigner, newGatewayKey } from '../src/identity/action-signer';
import { checkActionProof, submitProofPayload, type ActionProof } from '../src/identity/action-proof';
import { startSandboxIdentity } from '../src/identity/sandbox';
import type { LocalProvider } from '../src/identity/local-provider';
import { signInWithDeviceCode } from '../src/identity/sign-in';
import { completeSandboxDeviceCode } from '../src/identity/sandbox-device-sign-in';
import { migrationWorkflowId, type MigrationInput, type MigrationStatus } from '../src/contracts';
import { resolveTemporalBinary, projectRoot } from '../src/temporal-binaries';
import { useRealServers } from './helpers/servers';
import { startProduct, terminateOpenMigrations, type Product } from './helpers/product';
import { actionsIn } from './helpers/histories';
import { freePort } from './helpers/ports';

const demoWorld = JSON.parse(readFileSync(path.join(projectRoot(), 'examples', 'demo-world.json'), 'utf8')) as unknown;

describe('the action gateway forwarding to migrations @integration', function () {
  this.timeout(240_000);
  let env: TestWorkflowEnvironment;
  let azurite: Parameters<Parameters<typeof useRealServers>[0]>[0]['azurite'];
  useRealServers((s) => ({ env, azurite } = s));

  let product: Product;
  let identityDir: string;
  let ca: string;
  /** the provider the gateway trusts, one whose tokens expire at once, one that issues tokens for another API */
  let providers: { main: LocalProvider; shortLived: LocalProvider; otherApi: LocalProvider };
  let signInConfig: Config;
  let signer: ActionSigner;
  let forwarding: Forwarding;
  let gateway: FastifyInstance;
  let base: string;

  before(async () => {
    await terminateOpenMigrations(env, demoWorld as { environments: { id: string }[] });
    product = await startProduct({ env, azurite, world: demoWorld });
    // The three providers share a data folder: one localhost certificate to trust, each its own port (issuer).
    identityDir = mkdtempSync(path.join(os.tmpdir(), 't2t-gw-identity-'));
    const configOf = async (extra: NodeJS.ProcessEnv = {}) => loadConfig({ T2T_DATA_DIR: identityDir, T2T_IDENTITY_PORT: String(await freePort()), ...extra });
    const start = async (config: Config, ttl?: { accessToken: number }) => startSandboxIdentity(config, product.controlPlane, { port: config.signIn.sandboxPort, ttl });
    signInConfig = await configOf({ T2T_TOKEN_CACHE: path.join(identityDir, 'home', '.t2t', 'token-cache.json') });
    const main = await start(signInConfig);
    const shortLived = await start(await configOf(), { accessToken: 1 });
    const otherApi = await start(await configOf({ T2T_AUTH_API: 'api://someone-else' }));
    providers = { main, shortLived, otherApi };
    ca = readFileSync(signInConfig.signIn.sandboxCertificateFile, 'utf8');
    const verifier = createTokenVerifier({
      issuers: [main.issuer, shortLived.issuer, otherApi.issuer],
      audience: 'api://t2t',
      ca,
      // no clock skew: the short-lived token is refused as soon as it has expired
      clockToleranceSec: 0,
    });
    signer = new ActionSigner([newGatewayKey('gw-forwarding')]);
    forwarding = gatewayForwarding(product.config, { client: env.client, controlPlane: product.controlPlane, auditLog: product.auditLog });
    gateway = await createGateway({ verifier, signer, migrations: forwarding.migrations, rateLimit: { max: 8, windowMs: 60_000 } });
    await gateway.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await gateway?.close();
    await forwarding?.close();
    for (const p of Object.values(providers ?? {})) await p.close();
    await product?.stop();
  });

  /** A world user's token from one of the providers, signed in by device code at its pages. */
  async function tokenOf(provider: LocalProvider, upn: string): Promise<string> {
    const settings = {
      ...signInConfig.signIn,
      authority: provider.issuer,
      tokenCacheFile: path.join(mkdtempSync(path.join(os.tmpdir(), 't2t-gw-token-')), 'cache.json'),
    };
    const who = await signInWithDeviceCode(settings, (prompt) => completeSandboxDeviceCode({ verificationUri: prompt.verificationUri, userCode: prompt.userCode, upn, ca }));
    return who.accessToken;
  }

  const post = (route: string, body: unknown, token?: string) =>
    fetch(`${base}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });

  const historyOf = async (environmentId: string) => (await env.client.workflow.getHandle(migrationWorkflowId(environmentId)).fetchHistory()).events ?? [];

  let submitted: MigrationStatus;

  it("submits as the source tenant's admin: the migration's input carries the gateway's proof and the verified submitter; another tenant's admin is refused (403) and nothing starts", async () => {
    // The shared dev server may hold an earlier suite's closed run of this environment (the demo world's):
    // nothing starting means the latest run is still that one, or there is none.
    const latestRun = () =>
      env.client.workflow
        .getHandle(migrationWorkflowId('env-sales'))
        .describe()
        .then((d) => d.runId, (err: Error) => (/not found/i.test(err.message) ? 'none' : Promise.reject(err)));
    const runBefore = await latestRun();
    const unsigned = await post('/v1/migrations', { environmentId: 'env-sales', targetTenantId: 't-fabrikam' });
    assert.equal(unsigned.status, 401);
    const targetAdmin = await tokenOf(providers.main, 'admin@fabrikam.com');
    const other = await post('/v1/migrations', { environmentId: 'env-sales', targetTenantId: 't-fabrikam' }, targetAdmin);
    assert.equal(other.status, 403);
    assert.deepEqual(await other.json(), { error: 'admin@fabrikam.com is signed in to tenant t-fabrikam; this action needs an admin of tenant t-contoso' });
    assert.equal(await latestRun(), runBefore, 'no migration was started');

    const sourceAdmin = await tokenOf(providers.main, 'admin@contoso.com');
    const res = await post('/v1/migrations', { environmentId: 'env-sales', targetTenantId: 't-fabrikam' }, sourceAdmin);
    const body = await res.text();
    assert.equal(res.status, 200, body);
    const answer = JSON.parse(body) as { migrationId: string; targetMigrationId: string; status: MigrationStatus };
    submitted = answer.status;
    assert.equal(answer.migrationId, submitted.migrationId);
    assert.equal(answer.targetMigrationId, submitted.targetMigrationId);
    assert.equal(submitted.phase, 'PendingApproval');

    const started = (await historyOf('env-sales'))[0].workflowExecutionStartedEventAttributes!;
    const input = defaultPayloadConverter.fromPayload<MigrationInput>(started.input!.payloads![0]);
    assert.equal(input.migrationId, answer.migrationId);
    assert.equal(input.submittedBy, 'admin@contoso.com');
    const proof = input.proof as ActionProof;
    assert.equal(proof.action, 'submit');
    assert.equal(proof.claims.user, 'admin@contoso.com');
    assert.equal(proof.claims.tenantId, 't-contoso');
    assert.equal(checkActionProof(proof, { action: 'submit', migrationId: input.migrationId, payload: submitProofPayload(input) }, signer.published()).ok, true);
  });

  it('refuses no token, an expired, forged or other-API token (401) and another tenant\'s admin (403) at the forwarding endpoint, then a hammering script (429): the migration\'s history has no new action', async () => {
    const route = `/v1/migrations/${submitted.targetMigrationId}/actions/approve`;
    const before = actionsIn(await historyOf('env-sales'));

    const expired = await tokenOf(providers.shortLived, 'admin@fabrikam.com');
    const otherApi = await tokenOf(providers.otherApi, 'admin@fabrikam.com');
    const fabrikam = await tokenOf(providers.main, 'admin@fabrikam.com');
    const contoso = await tokenOf(providers.main, 'admin@contoso.com');
    const [header, payload] = fabrikam.split('.');
    const exp = Number(decodeJwt(expired).exp) * 1000;
    // Wait for the token's own expiry (a condition on the clock, not a fixed pause).
    while (Date.now() <= exp + 1000) await new Promise((r) => setTimeout(r, 100));

    const refusals: [string, string | undefined, number, RegExp][] = [
      ['no token', undefined, 401, /^no sign-in/],
      ['expired', expired, 401, /^the token has expired: sign in again \(t2t login\)$/],
      ['forged', `${header}.${payload}.${'A'.repeat(342)}`, 401, /signature does not verify/],
      ['other API', otherApi, 401, /^the token is not for this API/],
      ["other tenant's admin", contoso, 403, /^admin@contoso\.com is signed in to tenant t-contoso; this action needs an admin of tenant t-fabrikam$/],
    ];
    for (const [what, token, status, message] of refusals) {
      const res = await post(route, { actor: 'admin@fabrikam.com' }, token);
      assert.equal(res.status, status, what);
      const body = (await res.json()) as { error: string };
      assert.match(body.error, message, what);
      assert.ok(!body.error.includes('\n'), `${what}: one line`);
    }
    // Unverified requests are counted per address: a script without a valid token is stopped.
    const hammered: number[] = [];
    for (let i = 0; i < 5; i++) hammered.push((await post(route, {})).status);
    assert.ok(hammered.includes(429), `a hammering script gets 429 (${hammered.join(', ')})`);
    assert.deepEqual(hammered.slice(hammered.indexOf(429)), hammered.slice(hammered.indexOf(429)).map(() => 429));

    assert.deepEqual(actionsIn(await historyOf('env-sales')), before, 'nothing reached the migration');
  });

  it("forwards the target admin's approve: the workflow receives it with the gateway's proof and the verified admin as actor (a typed actor is ignored); the workflow's own refusal is 409", async () => {
    const fabrikam = await tokenOf(providers.main, 'admin@fabrikam.com');
    const res = await post(`/v1/migrations/${submitted.targetMigrationId}/actions/approve`, { actor: 'mallory@fabrikam.com' }, fabrikam);
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { outcome: string; entry: { actor: string; outcome: string }; status: MigrationStatus };
    assert.equal(answer.outcome, 'accepted');
    assert.equal(answer.entry.actor, 'admin@fabrikam.com');
    assert.notEqual(answer.status.phase, 'PendingApproval');

    const approves = actionsIn(await historyOf('env-sales')).filter((a) => a.name === 'approve');
    assert.equal(approves.length, 1);
    const arg = approves[0].arg as { actor: string; proof: ActionProof; requestId: string };
    assert.equal(arg.actor, 'admin@fabrikam.com');
    assert.equal(arg.proof.claims.user, 'admin@fabrikam.com');
    assert.equal(arg.proof.claims.tenantId, 't-fabrikam');
    // The proof names the migration by the id the admin used (the target migration id here).
    assert.equal(checkActionProof(arg.proof, { action: 'approve', migrationId: submitted.targetMigrationId, payload: arg }, signer.published()).ok, true);

    const unknown = await post('/v1/migrations/00000000-0000-0000-0000-000000000000/actions/approve', {}, fabrikam);
    assert.equal(unknown.status, 404);
    assert.deepEqual(await unknown.json(), { error: "no migration has the id '00000000-0000-0000-0000-000000000000'" });

    const again = await post(`/v1/migrations/${submitted.targetMigrationId}/actions/approve`, {}, fabrikam);
    assert.equal(again.status, 409);
    const refused = (await again.json()) as { outcome: string; error: string };
    assert.equal(refused.outcome, 'refused');
    assert.match(refused.error, /^approve refused: /);
  });

  describe('t2t with sign-in on', function () {
    let cliEnv: NodeJS.ProcessEnv;
    before(() => {
      cliEnv = {
        PATH: process.env.PATH,
        T2T_AUTH: 'on',
        T2T_DATA_DIR: identityDir,
        T2T_IDENTITY_PORT: String(signInConfig.signIn.sandboxPort),
        T2T_TOKEN_CACHE: signInConfig.signIn.tokenCacheFile,
        T2T_GATEWAY_ADDRESS: base.replace('http://', ''),
        T2T_TASK_QUEUE: product.config.taskQueue,
        // Actions must not go straight to Temporal: the CLI is given no way there.
        TEMPORAL_ADDRESS: '127.0.0.1:1',
      };
    });

    function t2t(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
      return new Promise((resolve) => {
        execFile(process.execPath, [path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js'), ...args], { env: { ...cliEnv, ...extra } }, (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
      });
    }

    it('t2t --as <upn> submit and approve go through the gateway: signed in at the sandbox provider, the verified admin acts', async () => {
      const sub = await t2t(['--as', 'admin@contoso.com', 'submit', '--environment', 'env-hr-sandbox', '--target-tenant', 't-fabrikam', '--json']);
      assert.equal(sub.code, 0, sub.stderr);
      const status = JSON.parse(sub.stdout) as MigrationStatus;
      const input = defaultPayloadConverter.fromPayload<MigrationInput>((await historyOf('env-hr-sandbox'))[0].workflowExecutionStartedEventAttributes!.input!.payloads![0]);
      assert.equal(input.proof?.claims.user, 'admin@contoso.com');

      const approved = await t2t(['--as', 'admin@fabrikam.com', 'approve', '--migration-id', status.targetMigrationId, '--json']);
      assert.equal(approved.code, 0, approved.stderr);
      assert.notEqual((JSON.parse(approved.stdout) as MigrationStatus).phase, 'PendingApproval');
      const [approve] = actionsIn(await historyOf('env-hr-sandbox')).filter((a) => a.name === 'approve');
      assert.equal((approve.arg.proof as ActionProof).claims.user, 'admin@fabrikam.com');
      assert.equal(approve.arg.actor, 'admin@fabrikam.com');

      // The workflow's refusal is the admin's one line, as without the gateway.
      const twice = await t2t(['--as', 'admin@fabrikam.com', 'approve', '--migration-id', status.targetMigrationId]);
      assert.equal(twice.code, 1);
      assert.match(twice.stderr, /^t2t: approve refused: [^\n]+\n$/);
    });

    it('refuses --as with any other issuer, and says so when nobody is signed in, in one line each', async () => {
      const entra = await t2t(['--as', 'admin@fabrikam.com', 'approve', '--migration-id', submitted.targetMigrationId], {
        T2T_AUTH_AUTHORITY: 'https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0',
      });
      assert.equal(entra.code, 1);
      assert.match(entra.stderr, /^t2t: --as signs a world user in at the sandbox's own identity provider only, and the issuer is https:\/\/login\.microsoftonline\.com\/[^\n]+\n$/);
      const nobody = await t2t(['approve', '--migration-id', submitted.targetMigrationId], { T2T_TOKEN_CACHE: path.join(identityDir, 'nobody', 'cache.json') });
      assert.equal(nobody.code, 1);
      assert.equal(nobody.stderr, 't2t: nobody is signed in: sign in with `t2t login`\n');
    });

    it('t2t sign submit prints a signed start input, alone on stdout, that `temporal workflow start` starts as it is', async () => {
      assert.equal((await t2t(['--as', 'admin@contoso.com', 'login'])).code, 0);
      const signed = await t2t(['sign', 'submit', '--environment', 'env-finance', '--target-tenant', 't-fabrikam']);
      assert.equal(signed.code, 0, signed.stderr);
      assert.equal(signed.stdout.trim().split('\n').length, 1, 'one line: the input');
      const printed = JSON.parse(signed.stdout) as MigrationInput;
      assert.equal(printed.submittedBy, 'admin@contoso.com');
      assert.equal(printed.environmentId, 'env-finance');
      assert.match(signed.stderr, new RegExp(`--workflow-id ${migrationWorkflowId('env-finance')} `));
      // The start command on stderr names the search attributes `t2t submit` would set: passed on as printed.
      const attributes = [...signed.stderr.matchAll(/--search-attribute '([^']+)'/g)].flatMap((m) => ['--search-attribute', m[1]]);
      assert.equal(attributes.length, 10);

      // Started on a task queue no worker polls: what matters is the input the server holds.
      const workflowId = `${migrationWorkflowId('env-finance')}-signed`;
      const temporalCli = resolveTemporalBinary('temporal')!;
      await new Promise<void>((resolve, reject) =>
        execFile(
          temporalCli,
          ['workflow', 'start', '--address', env.address, '--type', 'tenantMigration', '--task-queue', 'nobody-polls', '--workflow-id', workflowId, ...attributes, '--input', signed.stdout.trim()],
          (error, _out, stderr) => (error ? reject(new Error(stderr)) : resolve()),
        ),
      );
      const handle = env.client.workflow.getHandle(workflowId);
      try {
        const started = ((await handle.fetchHistory()).events ?? [])[0].workflowExecutionStartedEventAttributes!;
        const input = defaultPayloadConverter.fromPayload<MigrationInput>(started.input!.payloads![0]);
        assert.deepEqual(input, printed);
        assert.equal(checkActionProof(input.proof, { action: 'submit', migrationId: input.migrationId, payload: submitProofPayload(input) }, signer.published()).ok, true);
        assert.equal(input.proof?.claims.user, 'admin@contoso.com');
        const { searchAttributes } = await handle.describe();
        assert.deepEqual(searchAttributes.T2TSourceMigrationId, [printed.migrationId]);
        assert.deepEqual(searchAttributes.T2TTargetMigrationId, [printed.targetMigrationId]);
      } finally {
        await handle.terminate('test done');
      }
    });
  });
});
