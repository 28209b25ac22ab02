// The embedded stack's identity provider, wired to the control plane's world:
// what `npm start` and the tests start.
import { readFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { AuditLog } from '../controlplane/audit-log';
import type { PublishedKey } from './action-proof';
import type { ControlPlane } from '../controlplane/control-plane';
import { startLocalProvider, type LocalProvider, type LocalProviderOptions, type SandboxUser } from './local-provider';
import { ensureSandboxCertificate } from './sandbox-tls';

/** A world user by name, in whichever tenant has them; read at each sign-in, so a reloaded world counts at once. */
export function worldUserFinder(controlPlane: ControlPlane): (upn: string) => Promise<SandboxUser | undefined> {
  return async (upn) => {
    for (const tenant of await controlPlane.listTenants()) {
      const user = await controlPlane.getTenantUser(tenant.id, upn);
      if (user) return { tenantId: user.tenantId, upn: user.upn, enabled: user.enabled };
    }
    return undefined;
  };
}

/** Starts the provider on localhost at the configured port (0 in tests: any free one). */
export async function startSandboxIdentity(
  config: Config,
  controlPlane: ControlPlane,
  options: { port?: number; ttl?: LocalProviderOptions['ttl'] } = {},
): Promise<LocalProvider> {
  const tls = await ensureSandboxCertificate(config.dataDir);
  return startLocalProvider({
    host: '127.0.0.1',
    port: options.port ?? config.signIn.sandboxPort,
    ttl: options.ttl,
    dataDir: config.dataDir,
    tls,
    findUser: worldUserFinder(controlPlane),
    clientId: config.signIn.clientId,
    api: config.signIn.api,
  });
}

/**
 * The action gateway as the embedded stack runs it: tokens from the configured issuer, the data
 * folder's key, actions forwarded on the stack's own Temporal client, control plane and audit log.
 */
export async function startSandboxGateway(
  config: Config,
  issuer: string,
  opened: { client?: Client; controlPlane?: ControlPlane; auditLog?: AuditLog } = {},
): Promise<{ address: string; keys: PublishedKey[]; close: () => Promise<void> }> {
  const { createGateway } = await import('../gateway/server');
  const { gatewayForwarding } = await import('../gateway/forwarding');
  const { loadGatewayKey } = await import('../gateway/keys');
  const { createTokenVerifier } = await import('./token-verifier');
  const { ActionSigner } = await import('./action-signer');
  const ca = config.signIn.sandbox ? readFileSync(config.signIn.sandboxCertificateFile, 'utf8') : undefined;
  const verifier = createTokenVerifier({ issuers: [issuer], audience: config.signIn.api, ...(ca ? { ca } : {}) });
  const signer = new ActionSigner([loadGatewayKey({ keyFile: config.signIn.gatewayKeyFile, dataDir: config.dataDir })]);
  const forwarding = gatewayForwarding(config, opened);
  const app = await createGateway({ verifier, signer, migrations: forwarding.migrations, batches: forwarding.batches, rehearsals: forwarding.rehearsals, handOver: forwarding.handOver });
  const i = config.signIn.gatewayAddress.lastIndexOf(':');
  const host = config.signIn.gatewayAddress.slice(0, i).replace(/^\[|\]$/g, '');
  await app.listen({ host: host === 'localhost' ? '127.0.0.1' : host, port: Number(config.signIn.gatewayAddress.slice(i + 1)) });
  return {
    address: `http://${config.signIn.gatewayAddress}`,
    keys: signer.published(),
    close: async () => {
      await app.close();
      await forwarding.close();
    },
  };
}
