// Connection options for a Temporal cluster or Temporal Cloud, following the
// Temporal CLI's environment conventions: an API key, or mTLS client certificates;
// and, for a cluster that runs Temporal's JWT authorizer, a bearer token that is
// renewed while the process runs (temporal-token.ts, docs/deployment.md).
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import type { Config } from './config';
import { openTemporalToken } from './temporal-token';

/** Options that both the client's Connection and the worker's NativeConnection accept. */
export interface TemporalConnectionOptions {
  address: string;
  /** false: plain gRPC even with a token or an API key (TEMPORAL_TLS=false) */
  tls?: TLSConfig | false;
  apiKey?: string;
  metadata?: Record<string, string>;
}

/** A client Connection's options: its token is asked for at each call. */
export interface ClientConnectionOptions extends Omit<TemporalConnectionOptions, 'apiKey'> {
  apiKey?: string | (() => string);
}

export function temporalConnectionOptions(config: Pick<Config, 'temporalAddress' | 'namespace' | 'temporalToken'>, env: NodeJS.ProcessEnv = process.env): TemporalConnectionOptions {
  const options: TemporalConnectionOptions = { address: config.temporalAddress };
  const apiKey = env.TEMPORAL_API_KEY;
  const cert = env.TEMPORAL_TLS_CERT ?? env.TEMPORAL_TLS_CLIENT_CERT_PATH;
  const key = env.TEMPORAL_TLS_KEY ?? env.TEMPORAL_TLS_CLIENT_KEY_PATH;
  const ca = env.TEMPORAL_TLS_CA ?? env.TEMPORAL_TLS_SERVER_CA_CERT_PATH;
  const serverName = env.TEMPORAL_TLS_SERVER_NAME;
  // A bearer token is a credential: TLS unless TEMPORAL_TLS=false says the channel is protected otherwise.
  const bearer = Boolean(apiKey || config.temporalToken);
  const tlsWanted = bearer || cert || key || ca || env.TEMPORAL_TLS === 'true';
  if (tlsWanted && env.TEMPORAL_TLS !== 'false') {
    options.tls = {
      ...(serverName ? { serverNameOverride: serverName } : {}),
      ...(ca ? { serverRootCACertificate: readFileSync(ca) } : {}),
      ...(cert && key ? { clientCertPair: { crt: readFileSync(cert), key: readFileSync(key) } } : {}),
    };
  } else if (bearer) {
    // The SDK turns TLS on by itself when it sends an API key.
    options.tls = false;
  }
  if (apiKey) {
    options.apiKey = apiKey;
    options.metadata = { 'temporal-namespace': config.namespace };
  }
  return options;
}

/** A client Connection's options with the configured token, fetched first (a problem with it is one line). */
export async function clientConnectionOptions(config: Config, env: NodeJS.ProcessEnv = process.env): Promise<ClientConnectionOptions> {
  const options = temporalConnectionOptions(config, env);
  const token = await openTemporalToken(config.temporalToken);
  return token ? { ...options, apiKey: () => token.current() } : options;
}

/**
 * A worker's NativeConnection options with the configured token, and `follow`, which hands
 * the connection each renewed token (a NativeConnection takes a token, not a function).
 */
export async function workerConnectionOptions(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ options: TemporalConnectionOptions; follow: (connection: { setApiKey: (token: string) => Promise<void> }) => void }> {
  const options = temporalConnectionOptions(config, env);
  const token = await openTemporalToken(config.temporalToken);
  if (!token) return { options, follow: () => undefined };
  return {
    options: { ...options, apiKey: token.current() },
    follow: (connection) =>
      token.onRenew((next) => {
        connection.setApiKey(next).catch((err: unknown) => console.error(`temporal token: the worker's connection did not take the renewed token: ${(err as Error).message}`));
      }),
  };
}
