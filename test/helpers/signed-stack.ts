// Sign-in on, as `npm start` runs it, for a suite: a worker that takes only what the gateway
// signed, the real sandbox provider knowing the world's users, and a real gateway forwarding to
// the migrations, plus the environment a spawned `t2t` needs to go through them.
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig } from '../../src/config';
import { createGateway } from '../../src/gateway/server';
import { gatewayForwarding, type Forwarding } from '../../src/gateway/forwarding';
import { createTokenVerifier } from '../../src/identity/token-verifier';
import { ActionSigner, newGatewayKey } from '../../src/identity/action-signer';
import { startSandboxIdentity } from '../../src/identity/sandbox';
import type { LocalProvider } from '../../src/identity/local-provider';
import { startProduct, terminateOpenMigrations, type Product } from './product';
import type { RunningAzurite } from './azurite';
import { freePort } from './ports';

export interface SignedStack {
  product: Product;
  provider: LocalProvider;
  signer: ActionSigner;
  forwarding: Forwarding;
  gateway: FastifyInstance;
  /** the gateway's http://host:port */
  base: string;
  /** the provider's data folder (its certificate) and the signed-in admin's token cache */
  signInDir: string;
  /** what a spawned `t2t` is given: sign-in on, this provider, this gateway, this worker's task queue */
  cliEnv: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export async function startSignedStack(options: { env: TestWorkflowEnvironment; azurite: RunningAzurite; world: { environments: { id: string }[] }; kid: string }): Promise<SignedStack> {
  const { env, azurite, world } = options;
  await terminateOpenMigrations(env, world);
  const signer = new ActionSigner([newGatewayKey(options.kid)]);
  const product = await startProduct({ env, azurite, world, auth: { keys: signer.published() } });
  const signInDir = mkdtempSync(path.join(os.tmpdir(), `t2t-${options.kid}-identity-`));
  const signIn = loadConfig({ T2T_DATA_DIR: signInDir, T2T_IDENTITY_PORT: String(await freePort()), T2T_TOKEN_CACHE: path.join(signInDir, 'token-cache.json') });
  const provider = await startSandboxIdentity(signIn, product.controlPlane, { port: signIn.signIn.sandboxPort });
  const verifier = createTokenVerifier({ issuers: [provider.issuer], audience: 'api://t2t', ca: readFileSync(signIn.signIn.sandboxCertificateFile, 'utf8') });
  const forwarding = gatewayForwarding(product.config, { client: env.client, controlPlane: product.controlPlane, auditLog: product.auditLog });
  const gateway = await createGateway({ verifier, signer, migrations: forwarding.migrations, batches: forwarding.batches, rehearsals: forwarding.rehearsals });
  await gateway.listen({ host: '127.0.0.1', port: 0 });
  const address = `127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
  return {
    product,
    provider,
    signer,
    forwarding,
    gateway,
    base: `http://${address}`,
    signInDir,
    cliEnv: {
      PATH: process.env.PATH,
      T2T_AUTH: 'on',
      T2T_DATA_DIR: signInDir,
      T2T_IDENTITY_PORT: String(signIn.signIn.sandboxPort),
      T2T_TOKEN_CACHE: signIn.signIn.tokenCacheFile,
      T2T_GATEWAY_ADDRESS: address,
      TEMPORAL_ADDRESS: env.address,
      T2T_TASK_QUEUE: product.config.taskQueue,
      T2T_DATABASE_URL: product.config.databaseUrl,
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
    },
    async stop() {
      await gateway.close();
      await forwarding.close();
      await provider.close();
      await product.stop();
      await terminateOpenMigrations(env, world);
    },
  };
}
