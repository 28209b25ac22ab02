// The action gateway on its own (`npm run gateway`), for compose and clusters:
// tokens from the configured issuer, TLS when T2T_GATEWAY_TLS_CERT and
// T2T_GATEWAY_TLS_KEY name PEM files, verified actions forwarded to the
// configured Temporal (TEMPORAL_ADDRESS and the worker's TLS or API key settings).
import { existsSync, readFileSync } from 'node:fs';
import { loadConfig } from '../config';
import { describeError } from '../errors';
import { createGateway } from './server';
import { gatewayForwarding } from './forwarding';
import { loadGatewayKey } from './keys';
import { createTokenVerifier } from '../identity/token-verifier';
import { ActionSigner } from '../identity/action-signer';

async function main(): Promise<void> {
  const config = loadConfig();
  const { signIn } = config;
  // On its own there is no sandbox provider to trust: the issuer must be named.
  if (signIn.sandbox && !existsSync(signIn.sandboxCertificateFile)) {
    throw new Error(`T2T_AUTH_AUTHORITY: name the issuer of the admins' tokens (Entra ID: https://login.microsoftonline.com/<tenant id>/v2.0); the sandbox provider runs only with the embedded stack (npm start)`);
  }
  const tls = signIn.gatewayTls ? { cert: readFileSync(signIn.gatewayTls.certFile, 'utf8'), key: readFileSync(signIn.gatewayTls.keyFile, 'utf8') } : undefined;
  const verifier = createTokenVerifier({
    issuers: [signIn.authority],
    audience: signIn.api,
    ...(signIn.sandbox ? { ca: readFileSync(signIn.sandboxCertificateFile, 'utf8') } : {}),
  });
  const signer = new ActionSigner([loadGatewayKey({ keyFile: signIn.gatewayKeyFile, dataDir: config.dataDir })]);
  // Actions go on to Temporal with the worker's connection settings and payload codec (gateway/forwarding.ts).
  const forwarding = gatewayForwarding(config);
  const app = await createGateway({ verifier, signer, migrations: forwarding.migrations, batches: forwarding.batches, rehearsals: forwarding.rehearsals, handOver: forwarding.handOver, ...(tls ? { tls } : {}) });
  const i = signIn.gatewayAddress.lastIndexOf(':');
  await app.listen({ host: signIn.gatewayAddress.slice(0, i) || '0.0.0.0', port: Number(signIn.gatewayAddress.slice(i + 1)) });
  console.log(`action gateway on ${tls ? 'https' : 'http'}://${signIn.gatewayAddress}, tokens from ${signIn.authority}, actions to Temporal at ${config.temporalAddress} (namespace ${config.namespace})`);
  const stop = () => void app.close().then(forwarding.close).then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`t2t gateway: ${describeError(err)}`);
    process.exit(1);
  });
}
