// The codec server on its own (compose, Kubernetes): `node dist/src/codec/serve.js`,
// listening on T2T_CODEC_ADDRESS with the product's payload keys.
import { loadConfig } from '../config';
import { describeError } from '../errors';
import { payloadProtection } from './index';
import { splitCodecAddress, startCodecServer } from './server';

async function run(): Promise<void> {
  const config = loadConfig();
  if (!config.codecServer.address) throw new Error('codec server: set T2T_CODEC_ADDRESS (host:port, e.g. :8234) to say where it listens');
  const protection = payloadProtection(config, 'worker');
  const { host, port } = splitCodecAddress(config.codecServer.address);
  const server = await startCodecServer({ codec: protection.codec, namespace: config.namespace, corsOrigins: config.codecServer.corsOrigins, authToken: config.codecServer.authToken, host, port });
  console.log(`codec server: ${protection.summary}`);
  console.log(`codec server: listening on ${host}:${port} for namespace ${config.namespace}; Web UI origins ${config.codecServer.corsOrigins.join(', ')}; ${config.codecServer.authToken ? 'bearer token required' : 'no token asked (T2T_CODEC_AUTH_TOKEN unset)'}`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop).once('SIGTERM', stop);
}

if (require.main === module) {
  run().catch((err) => {
    console.error(`codec server: ${describeError(err)}`);
    process.exit(1);
  });
}
