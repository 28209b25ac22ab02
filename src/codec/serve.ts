// The codec server on its own (compose, Kubernetes): `node dist/src/codec/serve.js`,
// listening on T2T_CODEC_ADDRESS with the product's payload keys. It decodes for a
// signed-in admin only (T2T_CODEC_SIGN_IN, on by default), or for a tool holding
// T2T_CODEC_AUTH_TOKEN.
import { loadConfig } from '../config';
import { describeError } from '../errors';
import { payloadProtection } from './index';
import { splitCodecAddress, startCodecServer } from './server';
import { codecSignIn } from './sign-in';

async function run(): Promise<void> {
  const config = loadConfig();
  if (!config.codecServer.address) throw new Error('codec server: set T2T_CODEC_ADDRESS (host:port, e.g. :8234) to say where it listens');
  const protection = payloadProtection(config, 'worker');
  const signIn = config.codecServer.signIn === 'on' ? codecSignIn(config) : undefined;
  const { authToken } = config.codecServer;
  const { host, port } = splitCodecAddress(config.codecServer.address);
  const server = await startCodecServer({ codec: protection.codec, namespace: config.namespace, corsOrigins: config.codecServer.corsOrigins, authToken, signIn, host, port });
  const who = signIn
    ? `signed-in admins only (tokens from ${config.signIn.authority} for ${signIn.audiences.join(' or ')})${authToken ? ', or the shared T2T_CODEC_AUTH_TOKEN' : ''}`
    : authToken
      ? 'the shared T2T_CODEC_AUTH_TOKEN only (T2T_CODEC_SIGN_IN=off)'
      : 'ANYONE who reaches it (T2T_CODEC_SIGN_IN=off, no T2T_CODEC_AUTH_TOKEN): keep it on loopback';
  console.log(`codec server: ${protection.summary}`);
  console.log(`codec server: listening on ${host}:${port} for namespace ${config.namespace}; Web UI origins ${config.codecServer.corsOrigins.join(', ')}; decodes for ${who}`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop).once('SIGTERM', stop);
}

if (require.main === module) {
  run().catch((err) => {
    console.error(`codec server: ${describeError(err)}`);
    process.exit(1);
  });
}
