// The token a process presents to Temporal's JWT authorizer: from a file that is re-read
// when it changes, or by client credentials renewed before the token expires; and the
// connection options that carry it. The cluster test (test/cluster/batch.cluster.ts)
// shows the real server taking and refusing these tokens.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadConfig, ConfigError } from '../src/config';
import { openTemporalToken, TemporalToken, TemporalTokenError } from '../src/temporal-token';
import { clientConnectionOptions, temporalConnectionOptions, workerConnectionOptions } from '../src/temporal-connection';
import { LeanTemporal } from '../src/client/lean/lean-temporal';

/** Resolves with the next token `token` is renewed to. */
const nextToken = (token: TemporalToken) => new Promise<string>((resolve) => token.onRenew(resolve));

describe('the token presented to Temporal', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-temporal-token-'));
  const opened: TemporalToken[] = [];
  after(() => opened.forEach((t) => t.close()));

  it('is read from T2T_TEMPORAL_TOKEN_FILE and read again when the file changes; a missing file is one line', async () => {
    const file = path.join(dir, 'token');
    writeFileSync(file, 'Bearer first-token\n');
    const token = await openTemporalToken(loadConfig({ T2T_TEMPORAL_TOKEN_FILE: file }).temporalToken, { filePollMs: 20 })!;
    opened.push(token);
    assert.equal(token.current(), 'first-token', 'a "Bearer " prefix and the newline are not part of the token');
    const renewed = nextToken(token);
    writeFileSync(file, 'second-token');
    assert.equal(await renewed, 'second-token');
    assert.equal(token.current(), 'second-token');

    const missing = path.join(dir, 'missing');
    await assert.rejects(openTemporalToken({ file: missing })!, (err: Error) => err instanceof TemporalTokenError && err.message === `T2T_TEMPORAL_TOKEN_FILE: cannot read ${missing} (ENOENT)`);
  });

  it('comes by client credentials, asked for again before it expires; a refused client is one line', async () => {
    const requests: URLSearchParams[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        requests.push(form);
        const ok = form.get('client_secret') === 'secret';
        res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
        res.end(JSON.stringify(ok ? { token_type: 'Bearer', access_token: `token-${requests.length}`, expires_in: 2 } : { error: 'invalid_client', error_description: 'wrong secret\nTrace ID: 1' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/v2.0/token`;
    const env = { T2T_TEMPORAL_TOKEN_URL: tokenUrl, T2T_TEMPORAL_CLIENT_ID: 'worker', T2T_TEMPORAL_CLIENT_SECRET: 'secret', T2T_TEMPORAL_TOKEN_SCOPE: 'api://temporal/.default' };
    try {
      const token = await openTemporalToken(loadConfig(env).temporalToken)!;
      opened.push(token);
      assert.equal(token.current(), 'token-1');
      assert.deepEqual(Object.fromEntries(requests[0]), { grant_type: 'client_credentials', client_id: 'worker', client_secret: 'secret', scope: 'api://temporal/.default' });
      assert.equal(await nextToken(token), 'token-2', 'renewed before its 2 s ran out');

      const secretFile = path.join(dir, 'secret');
      writeFileSync(secretFile, 'wrong\n');
      const refused = loadConfig({ ...env, T2T_TEMPORAL_CLIENT_SECRET: '', T2T_TEMPORAL_CLIENT_SECRET_FILE: secretFile }).temporalToken;
      await assert.rejects(
        openTemporalToken(refused)!,
        (err: Error) => err instanceof TemporalTokenError && err.message === `T2T_TEMPORAL_TOKEN_URL: ${tokenUrl} gave client worker no token for api://temporal/.default (invalid_client: wrong secret)`,
      );
    } finally {
      server.close();
    }
  });

  it('is configured whole or not at all, each way with one line', () => {
    assert.equal(loadConfig({}).temporalToken, undefined);
    assert.deepEqual(loadConfig({ T2T_TEMPORAL_TOKEN_FILE: 'token' }).temporalToken, { file: path.resolve('token') });
    const fail = (env: Record<string, string>, message: string) => assert.throws(() => loadConfig(env), (err: Error) => err instanceof ConfigError && err.message === message);
    fail({ T2T_TEMPORAL_TOKEN_FILE: 'token', T2T_TEMPORAL_CLIENT_ID: 'worker' }, 'configuration: T2T_TEMPORAL_TOKEN_FILE: set either it or client credentials (T2T_TEMPORAL_TOKEN_URL, T2T_TEMPORAL_CLIENT_ID, ...), not both');
    fail({ T2T_TEMPORAL_CLIENT_ID: 'worker', T2T_TEMPORAL_TOKEN_SCOPE: 's' }, 'configuration: T2T_TEMPORAL_TOKEN_URL: required with client credentials for Temporal (docs/deployment.md)');
    fail(
      { T2T_TEMPORAL_TOKEN_URL: 'https://login.example.com/t', T2T_TEMPORAL_CLIENT_ID: 'worker', T2T_TEMPORAL_TOKEN_SCOPE: 's' },
      'configuration: T2T_TEMPORAL_CLIENT_SECRET: set it or T2T_TEMPORAL_CLIENT_SECRET_FILE (one of them) with client credentials for Temporal',
    );
    fail({ T2T_TEMPORAL_TOKEN_URL: 'ftp://x' }, 'configuration: T2T_TEMPORAL_TOKEN_URL: must be an http(s) URL, e.g. https://login.microsoftonline.com/<tenant id>/oauth2/v2.0/token');
  });

  it('rides on the connections: TLS unless TEMPORAL_TLS=false, the current token at each client call, each renewed one handed to the worker\'s connection, never the lean reader', async () => {
    const file = path.join(dir, 'connection-token');
    writeFileSync(file, 'token-a');
    const env = { T2T_TEMPORAL_TOKEN_FILE: file };
    const config = loadConfig(env);
    assert.deepEqual(temporalConnectionOptions(config, env).tls, {}, 'a bearer token asks for TLS');
    assert.equal(temporalConnectionOptions(config, { ...env, TEMPORAL_TLS: 'false' }).tls, false, 'said off, the SDK is told so (it would turn TLS on for a token)');
    assert.equal(temporalConnectionOptions(loadConfig({}), {}).tls, undefined, 'no token, no TLS asked');
    assert.equal(LeanTemporal.open(config, { ...env, TEMPORAL_TLS: 'false' }), undefined, "t2t's lean reader sends no token: the Temporal client's path does");

    const client = await clientConnectionOptions(config, env);
    const worker = await workerConnectionOptions(config, env);
    const token = await openTemporalToken(config.temporalToken, {})!;
    opened.push(token);
    assert.equal(typeof client.apiKey, 'function');
    assert.equal((client.apiKey as () => string)(), 'token-a');
    assert.equal(worker.options.apiKey, 'token-a');
    const handed: string[] = [];
    worker.follow({ setApiKey: async (t) => void handed.push(t) });
    // The file's source polls every 10 s by default; the renewal is driven here as a poll would.
    (token as unknown as { renewed: (t: string) => void }).renewed('token-b');
    assert.equal((client.apiKey as () => string)(), 'token-b');
    assert.deepEqual(handed, ['token-b']);
  });
});
