// The action gateway over real HTTP, with tokens from the real sandbox provider:
// refusals are one line with their status, a script hammering it gets 429, and
// a verified action gets a proof that the workflow's check accepts.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { createGateway } from '../src/gateway/server';
import { createTokenVerifier } from '../src/identity/token-verifier';
import { ActionSigner, newGatewayKey } from '../src/identity/action-signer';
import { checkActionProof, type PublishedKey } from '../src/identity/action-proof';
import { cli, startSandbox, stopSandbox, tokenOf, type Sandbox } from './helpers/identity';
import { ApproveSchema } from '../src/contracts';
import type { MigrationClient } from '../src/client/migrations';

describe('the action gateway', function () {
  let sandbox: Sandbox;
  let gateway: FastifyInstance;
  let base: string;
  let targetAdminToken: string;

  before(async () => {
    sandbox = await startSandbox();
    const verifier = createTokenVerifier({ issuers: [sandbox.provider.issuer], audience: sandbox.config.signIn.api, ca: sandbox.ca });
    gateway = await createGateway({ verifier, signer: new ActionSigner([newGatewayKey('gw-test')]), rateLimit: { max: 5, windowMs: 60_000 } });
    await gateway.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
    targetAdminToken = await tokenOf(sandbox, 'admin@fabrikam.com');
  });
  after(async () => {
    await gateway?.close();
    await stopSandbox(sandbox);
  });

  const approve = { action: 'approve', migrationId: 'tm-1', tenantId: 't-fabrikam', payload: { actor: 'admin@fabrikam.com' } };
  const post = (body: unknown, token?: string) =>
    fetch(`${base}/v1/proofs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });

  it('signs a verified admin\'s action: the proof names who, and the workflow\'s check accepts it', async () => {
    const res = await post(approve, targetAdminToken);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(!text.includes(targetAdminToken.split('.')[1]), 'the token is not echoed');
    const { proof } = JSON.parse(text) as { proof: { claims: { user: string; tenantId: string } } };
    assert.equal(proof.claims.user, 'admin@fabrikam.com');
    assert.equal(proof.claims.tenantId, 't-fabrikam');
    const { keys } = (await (await fetch(`${base}/v1/keys`)).json()) as { keys: PublishedKey[] };
    assert.equal(checkActionProof(proof, approve, keys).ok, true);
  });

  it('refuses no token and a forged token (401), another tenant\'s admin (403), each in one line', async () => {
    const none = await post(approve);
    assert.equal(none.status, 401);
    assert.match(((await none.json()) as { error: string }).error, /^no sign-in/);

    const [h, p] = targetAdminToken.split('.');
    const forged = await post(approve, `${h}.${p}.${'A'.repeat(342)}`);
    assert.equal(forged.status, 401);
    assert.match(((await forged.json()) as { error: string }).error, /signature does not verify/);

    const other = await post({ ...approve, tenantId: 't-contoso' }, targetAdminToken);
    assert.equal(other.status, 403);
    assert.equal(((await other.json()) as { error: string }).error, 'admin@fabrikam.com is signed in to tenant t-fabrikam; this action needs an admin of tenant t-contoso');
  });

  it('rate-limits per identity: a script hammering a refused action stops with 429, another admin is not affected', async () => {
    const sourceAdminToken = await tokenOf(sandbox, 'admin@contoso.com');
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await post({ ...approve, tenantId: 't-fabrikam' }, sourceAdminToken)).status);
    assert.deepEqual(statuses.slice(0, 5), [403, 403, 403, 403, 403]);
    assert.deepEqual(statuses.slice(5), [429, 429, 429]);
    const limited = await post(approve, sourceAdminToken);
    assert.match(((await limited.json()) as { error: string }).error, /^too many requests/);
    // the target admin has used fewer than five requests of their own
    assert.equal((await post(approve, targetAdminToken)).status, 200);
  });

  it("a fault behind it (Temporal refusing the gateway's own call, say) is a 500 for the caller, and the log has the reason Temporal's client wraps as a cause", async () => {
    const verifier = createTokenVerifier({ issuers: [sandbox.provider.issuer], audience: sandbox.config.signIn.api, ca: sandbox.ca });
    // Temporal's client says "Update-With-Start failed" and keeps the server's reason as its cause.
    const refused = new Error('Update-With-Start failed', { cause: new Error('7 PERMISSION_DENIED: Request unauthorized.') });
    const migrations = { planSubmission: () => Promise.reject(refused) } as unknown as MigrationClient;
    const failing = await createGateway({ verifier, signer: new ActionSigner([newGatewayKey('gw-fault')]), migrations: async () => migrations });
    await failing.listen({ host: '127.0.0.1', port: 0 });
    const logged: string[] = [];
    const original = console.error;
    console.error = (line: unknown) => void logged.push(String(line));
    try {
      const res = await fetch(`http://127.0.0.1:${(failing.server.address() as AddressInfo).port}/v1/migrations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenOf(sandbox, 'admin@contoso.com')}` },
        body: JSON.stringify({ environmentId: 'env-sales', targetTenantId: 't-fabrikam' }),
      });
      assert.equal(res.status, 500);
      assert.deepEqual(await res.json(), { error: 'the gateway failed; see its log' });
    } finally {
      console.error = original;
      await failing.close();
    }
    assert.deepEqual(logged, ['gateway: POST /v1/migrations: Update-With-Start failed: caused by: 7 PERMISSION_DENIED: Request unauthorized.']);
  });

  it('t2t sign prints a payload signed for the signed-in admin, that the approve signal\'s schema takes and the workflow\'s check accepts', async () => {
    const env: NodeJS.ProcessEnv = { ...sandbox.env, T2T_GATEWAY_ADDRESS: base.replace('http://', '') };
    const notSignedIn = await cli({ ...env, T2T_TOKEN_CACHE: `${env.T2T_TOKEN_CACHE}.none` }, 'sign', 'approve', '--migration-id', 'tm-7');
    assert.equal(notSignedIn.code, 1);
    assert.equal(notSignedIn.err, 't2t: nobody is signed in: sign in with `t2t login`\n');

    assert.equal((await cli(env, '--as', 'admin@fabrikam.com', 'login')).code, 0);
    const signed = await cli(env, 'sign', 'approve', '--migration-id', 'tm-7');
    assert.equal(signed.code, 0, signed.err);
    assert.equal(signed.out.trim().split('\n').length, 1, 'one line, for a shell to pass to the temporal CLI');
    const payload = JSON.parse(signed.out) as Record<string, unknown> & { proof: unknown };
    assert.equal(payload.actor, 'admin@fabrikam.com');
    assert.equal(ApproveSchema.safeParse(payload).success, true);
    const { keys } = (await (await fetch(`${base}/v1/keys`)).json()) as { keys: PublishedKey[] };
    assert.equal(checkActionProof(payload.proof, { action: 'approve', migrationId: 'tm-7', payload }, keys).ok, true);
    assert.equal(checkActionProof(payload.proof, { action: 'approve', migrationId: 'tm-8', payload }, keys).ok, false);

    // requestStorage (`t2t storage`'s action), which the gateway signs as any other: for a source admin (one the rate limit has not met)
    assert.equal((await cli(env, '--as', 'global@contoso.com', 'login')).code, 0);
    const storage = await cli(env, 'sign', 'requestStorage', '--migration-id', 'mig-7');
    assert.equal(storage.code, 0, storage.err);
    const storagePayload = JSON.parse(storage.out) as Record<string, unknown> & { proof: { claims: { user: string } } };
    assert.equal(storagePayload.actor, 'global@contoso.com');
    assert.equal(storagePayload.proof.claims.user, 'global@contoso.com');
    assert.equal(checkActionProof(storagePayload.proof, { action: 'requestStorage', migrationId: 'mig-7', payload: storagePayload }, keys).ok, true);
    assert.equal(checkActionProof(storagePayload.proof, { action: 'approve', migrationId: 'mig-7', payload: storagePayload }, keys).ok, false);
  });
});

describe('the action gateway over TLS', function () {
  let sandbox: Sandbox;
  let gateway: FastifyInstance;
  after(async () => {
    await gateway?.close();
    await stopSandbox(sandbox);
  });

  it('serves https with the configured certificate and refuses plain http', async () => {
    sandbox = await startSandbox();
    const { readFileSync } = await import('node:fs');
    const https = await import('node:https');
    const verifier = createTokenVerifier({ issuers: [sandbox.provider.issuer], audience: sandbox.config.signIn.api, ca: sandbox.ca });
    // The sandbox's localhost certificate stands in for the deployment's.
    const key = readFileSync(`${sandbox.config.dataDir}/identity/tls-key.pem`, 'utf8');
    gateway = await createGateway({ verifier, signer: new ActionSigner([newGatewayKey()]), tls: { cert: sandbox.ca, key } });
    await gateway.listen({ host: '127.0.0.1', port: 0 });
    const port = (gateway.server.address() as AddressInfo).port;
    const status = await new Promise<number>((resolve, reject) =>
      https.get(`https://localhost:${port}/healthz`, { ca: sandbox.ca }, (res) => resolve(res.statusCode ?? 0)).on('error', reject),
    );
    assert.equal(status, 200);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
  });
});

describe('a signed payload sent with the temporal CLI @integration', function () {
  this.timeout(180_000);
  let sandbox: Sandbox;
  let gateway: FastifyInstance;
  let signer: ActionSigner;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    sandbox = await startSandbox();
    const verifier = createTokenVerifier({ issuers: [sandbox.provider.issuer], audience: sandbox.config.signIn.api, ca: sandbox.ca });
    signer = new ActionSigner([newGatewayKey('gw-cli')]);
    gateway = await createGateway({ verifier, signer });
    await gateway.listen({ host: '127.0.0.1', port: 0 });
    env = { ...sandbox.env, T2T_GATEWAY_ADDRESS: `127.0.0.1:${(gateway.server.address() as AddressInfo).port}` };
  });
  after(async () => {
    await gateway?.close();
    await stopSandbox(sandbox);
  });

  it('is acted on once; the same payload again (a replay) and an unsigned one are refused', async () => {
    const { devServer } = await import('./helpers/temporal');
    const { Worker } = await import('@temporalio/worker');
    const { resolveTemporalBinary } = await import('../src/temporal-binaries');
    const { execFile } = await import('node:child_process');
    const temporalEnv = await devServer();
    const taskQueue = `gate-${Date.now()}`;
    const workflowId = `tm-gate-${Math.random().toString(36).slice(2)}`;
    const worker = await Worker.create({ connection: temporalEnv.nativeConnection, taskQueue, workflowsPath: require.resolve('./fixtures/proof-workflow') });
    const temporal = resolveTemporalBinary('temporal')!;
    const signal = (input: string) =>
      new Promise<void>((resolve, reject) =>
        execFile(temporal, ['workflow', 'signal', '--address', temporalEnv.address, '--workflow-id', workflowId, '--name', 'approve', '--input', input], (error, _out, stderr) =>
          error ? reject(new Error(stderr)) : resolve(),
        ),
      );

    assert.equal((await cli(env, '--as', 'admin@fabrikam.com', 'login')).code, 0);
    const signed = await cli(env, 'sign', 'approve', '--migration-id', workflowId);
    assert.equal(signed.code, 0, signed.err);

    await worker.runUntil(async () => {
      const handle = await temporalEnv.client.workflow.start('approvalGateWorkflow', { taskQueue, workflowId, args: [{ keys: signer.published(), expect: 3 }] });
      await signal(signed.out.trim());
      await signal(signed.out.trim());
      await signal(JSON.stringify({ actor: 'admin@fabrikam.com' }));
      const outcomes = (await handle.result()) as Array<{ ok: boolean; reason?: string; proof?: { claims: { user: string } } }>;
      assert.equal(outcomes[0].ok, true);
      assert.equal(outcomes[0].proof?.claims.user, 'admin@fabrikam.com');
      assert.match(String(outcomes[1].reason), /already used \(a replay\)$/);
      assert.equal(outcomes[2].reason, 'unsigned: the action carries no gateway proof');
    });
  });
});
