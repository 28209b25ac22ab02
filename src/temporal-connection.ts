// Connection options for a Temporal cluster or Temporal Cloud, following the
// Temporal CLI's environment conventions: an API key, or mTLS client certificates.
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import type { Config } from './config';

/** Options that both the client's Connection and the worker's NativeConnection accept. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
  metadata?: Record<string, string>;
}

export function temporalConnectionOptions(config: Pick<Config, 'temporalAddress' | 'namespace'>, env: NodeJS.ProcessEnv = process.env): TemporalConnectionOptions {
  const options: TemporalConnectionOptions = { address: config.temporalAddress };
  const apiKey = env.TEMPORAL_API_KEY;
  const cert = env.TEMPORAL_TLS_CERT ?? env.TEMPORAL_TLS_CLIENT_CERT_PATH;
  const key = env.TEMPORAL_TLS_KEY ?? env.TEMPORAL_TLS_CLIENT_KEY_PATH;
  const ca = env.TEMPORAL_TLS_CA ?? env.TEMPORAL_TLS_SERVER_CA_CERT_PATH;
  const serverName = env.TEMPORAL_TLS_SERVER_NAME;
  const tlsWanted = apiKey || cert || key || ca || env.TEMPORAL_TLS === 'true';
  if (tlsWanted && env.TEMPORAL_TLS !== 'false') {
    options.tls = {
      ...(serverName ? { serverNameOverride: serverName } : {}),
      ...(ca ? { serverRootCACertificate: readFileSync(ca) } : {}),
      ...(cert && key ? { clientCertPair: { crt: readFileSync(cert), key: readFileSync(key) } } : {}),
    };
  }
  if (apiKey) {
    options.apiKey = apiKey;
    options.metadata = { 'temporal-namespace': config.namespace };
  }
  return options;
}
