import assert from 'node:assert/strict';
import path from 'node:path';
import os from 'node:os';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadActingConfig, loadConfig, loadConnectionConfig, loadListingConfig, ConfigError, AZURITE_DEVELOPMENT_CONNECTION_STRING } from '../src/config';
import { parseDuration, formatDuration } from '../src/duration';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    assert.equal(config.temporalAddress, 'localhost:7233');
    assert.equal(config.namespace, 'default');
    assert.equal(config.taskQueue, 'tenant-migrations');
    assert.equal(config.storageConnectionString, AZURITE_DEVELOPMENT_CONNECTION_STRING);
    assert.equal(config.dataDir, path.resolve('.data'));
    assert.equal(config.databaseUrl, path.resolve('.data', 'control-plane.sqlite'));
    assert.equal(config.approvalTimeoutMs, 7 * 86_400_000);
    assert.equal(config.lockboxTimeoutMs, 12 * 3_600_000);
    assert.equal(config.prepareWindowMs, 7 * 86_400_000);
    assert.equal(config.uiPort, 8233);
  });

  it('chooses the back end: simulated by default, microsoft with a valid tenants file, a clear line otherwise', () => {
    assert.equal(loadConfig({}).backend, 'simulated');
    assert.equal(loadConfig({}).servicePollMs, 300_000);
    assert.throws(() => loadConfig({ T2T_BACKEND: 'azure' }), (err: Error) => err instanceof ConfigError && err.message === 'configuration: T2T_BACKEND: must be one of simulated, microsoft');
    assert.throws(
      () => loadConfig({ T2T_BACKEND: 'microsoft' }),
      (err: Error) => err instanceof ConfigError && /^configuration: T2T_MICROSOFT_TENANTS_FILE: the Microsoft back end needs a tenants file/.test(err.message),
    );
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-config-'));
    const file = path.join(dir, 'tenants.json');
    writeFileSync(file, JSON.stringify({ tenants: [{ tenantId: 'contoso.onmicrosoft.com', clientId: 'app', clientSecret: 's3cret' }] }));
    const config = loadConfig({ T2T_BACKEND: 'microsoft', T2T_MICROSOFT_TENANTS_FILE: file, T2T_SERVICE_POLL_INTERVAL: '30s' });
    assert.equal(config.microsoft!.powerPlatformApiUrl, 'https://api.bap.microsoft.com');
    assert.equal(config.microsoft!.graphApiUrl, 'https://graph.microsoft.com');
    assert.equal(config.microsoft!.customAuthority, false);
    assert.equal(config.microsoft!.tenants[0].clientSecret, 's3cret');
    assert.equal(config.servicePollMs, 30_000);
    assert.equal(config.microsoft!.operationBudgetMs, 12 * 3_600_000, "prepare and migrate operations get 12h by default");
    assert.equal(loadConfig({ T2T_BACKEND: 'microsoft', T2T_MICROSOFT_TENANTS_FILE: file, T2T_OPERATION_BUDGET: '3h' }).microsoft!.operationBudgetMs, 3 * 3_600_000);
    assert.throws(
      () => loadConfig({ T2T_BACKEND: 'microsoft', T2T_MICROSOFT_TENANTS_FILE: file, T2T_OPERATION_BUDGET: '30h' }),
      (err: Error) => err instanceof ConfigError && err.message === 'configuration: T2T_OPERATION_BUDGET: must be between 1m and 23h (the workflow gives the step 24h)',
    );
    assert.throws(
      () => loadConfig({ T2T_BACKEND: 'microsoft', T2T_MICROSOFT_TENANTS_FILE: file, T2T_AUTHORITY_HOST: 'http://127.0.0.1:8443' }),
      (err: Error) => err instanceof ConfigError && /T2T_AUTHORITY_HOST must use https/.test(err.message),
    );
    writeFileSync(file, JSON.stringify({ tenants: [{ tenantId: 't', clientId: 'app', certificatePath: 'missing.pem' }] }));
    assert.throws(
      () => loadConfig({ T2T_BACKEND: 'microsoft', T2T_MICROSOFT_TENANTS_FILE: file }),
      (err: Error) => err instanceof ConfigError && err.message === 'configuration: T2T_MICROSOFT_TENANTS_FILE: tenants.0.certificatePath: cannot read missing.pem' && !err.message.includes('s3cret'),
    );
  });

  it('reads every variable', () => {
    const config = loadConfig({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_NAMESPACE: 'migrations',
      T2T_TASK_QUEUE: 'q',
      T2T_DATA_DIR: '/tmp/t2t-data',
      T2T_DATABASE_URL: 'postgres://u:p@db/t2t',
      T2T_APPROVAL_TIMEOUT: '90s',
      T2T_LOCKBOX_TIMEOUT: '15m',
      T2T_PREPARE_WINDOW: '1h30m',
    });
    assert.equal(config.temporalAddress, 'temporal.internal:7233');
    assert.equal(config.namespace, 'migrations');
    assert.equal(config.taskQueue, 'q');
    assert.equal(config.databaseUrl, 'postgres://u:p@db/t2t');
    assert.equal(config.approvalTimeoutMs, 90_000);
    assert.equal(config.lockboxTimeoutMs, 900_000);
    assert.equal(config.prepareWindowMs, 5_400_000);
  });

  it('rejects a bad duration with one line naming the variable', () => {
    assert.throws(() => loadConfig({ T2T_PREPARE_WINDOW: 'seven days' }), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, 'configuration: T2T_PREPARE_WINDOW: "seven days" is not a duration (use e.g. 90s, 15m, 12h, 7d)');
      return true;
    });
  });

  it('rejects a bad address and a connection string without a key', () => {
    assert.throws(() => loadConfig({ TEMPORAL_ADDRESS: 'localhost' }), /^ConfigError: configuration: TEMPORAL_ADDRESS: must be host:port/);
    assert.throws(
      () => loadConfig({ AZURE_STORAGE_CONNECTION_STRING: 'BlobEndpoint=https://x.blob.core.windows.net;SharedAccessSignature=sv=1' }),
      /AZURE_STORAGE_CONNECTION_STRING: must be an account connection string/,
    );
  });

  it("the connection's reader (t2t's lean paths) gives what loadConfig gives for its variables, and the same line for a bad one", () => {
    const pick = (env: NodeJS.ProcessEnv) => {
      const c = loadConfig(env);
      return { temporalAddress: c.temporalAddress, namespace: c.namespace, dataDir: c.dataDir, databaseUrl: c.databaseUrl, payload: c.payload };
    };
    const good: NodeJS.ProcessEnv[] = [
      {},
      { TEMPORAL_ADDRESS: '[::1]:7233', TEMPORAL_NAMESPACE: 'prod', T2T_DATA_DIR: 'd', T2T_DATABASE_URL: 'postgres://x/y', T2T_PAYLOAD_KEYS_FILE: 'k.json', T2T_PAYLOAD_KEY_ID: 'k-2' },
      { T2T_PAYLOAD_ENCRYPTION: 'off', TEMPORAL_ADDRESS: '', T2T_DATA_DIR: '/var/t2t' },
      { T2T_PAYLOAD_ENCRYPTION: 'on', T2T_PAYLOAD_KEYS: 'k1:AAAA' },
    ];
    for (const env of good) assert.deepEqual(loadConnectionConfig(env), pick(env), JSON.stringify(env));
    const bad: NodeJS.ProcessEnv[] = [
      { TEMPORAL_ADDRESS: 'localhost' },
      { TEMPORAL_ADDRESS: 'http://localhost:7233' },
      { T2T_PAYLOAD_ENCRYPTION: 'yes' },
      { T2T_PAYLOAD_KEY_ID: 'a b' },
      { T2T_PAYLOAD_KEYS: 'k1:AAAA', T2T_PAYLOAD_KEYS_FILE: 'k.json' },
      { T2T_PAYLOAD_ENCRYPTION: 'off', T2T_PAYLOAD_KEYS_FILE: 'k.json' },
    ];
    for (const env of bad) {
      const line = (() => {
        try {
          loadConfig(env);
        } catch (err) {
          return (err as Error).message;
        }
        return assert.fail(`loadConfig accepted ${JSON.stringify(env)}`);
      })();
      assert.throws(() => loadConnectionConfig(env), (err: Error) => err instanceof ConfigError && err.message === line, JSON.stringify(env));
    }
    // Another variable's mistake stops the commands that read it, not a read of a status.
    assert.throws(() => loadConfig({ T2T_SMTP_URL: 'not a url' }), ConfigError);
    assert.deepEqual(loadConnectionConfig({ T2T_SMTP_URL: 'not a url' }), pick({}));
  });

  it("t2t requests' reader: what loadConfig gives for its variables where it reads them; the whole schema otherwise", () => {
    for (const env of [{}, { T2T_STALL_AFTER: '36h', TEMPORAL_NAMESPACE: 'prod' }, { T2T_BACKEND: 'simulated', T2T_SMTP_URL: 'not a url' }] as NodeJS.ProcessEnv[]) {
      const c = loadConfig({ ...env, T2T_SMTP_URL: undefined });
      const expected = { temporalAddress: c.temporalAddress, namespace: c.namespace, dataDir: c.dataDir, databaseUrl: c.databaseUrl, payload: c.payload, backend: c.backend, stall: { limitMs: c.stall.limitMs, minSamples: c.stall.minSamples } };
      assert.deepEqual(loadListingConfig(env), expected, JSON.stringify(env));
    }
    for (const env of [{ T2T_BACKEND: 'microsoft' }, { T2T_BACKEND: 'azure' }, { T2T_STALL_AFTER: 'a day' }, { T2T_STALL_MIN_SAMPLES: '5' }]) {
      assert.equal(loadListingConfig(env), undefined, JSON.stringify(env));
    }
    assert.throws(() => loadListingConfig({ TEMPORAL_ADDRESS: 'localhost' }), /^ConfigError: configuration: TEMPORAL_ADDRESS: must be host:port/);
  });

  it("an action's sign-in reader: what loadConfig gives for the sign-in settings where each is plainly valid; the whole schema otherwise", () => {
    const good: NodeJS.ProcessEnv[] = [
      {},
      { T2T_AUTH: 'off', T2T_DATA_DIR: 'd' },
      { T2T_AUTH_AUTHORITY: 'https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0', T2T_AUTH_CLIENT_ID: 'app', T2T_AUTH_API: 'api://x' },
      { T2T_IDENTITY_PORT: '9443', T2T_AUTH_AUTHORITY: 'https://localhost:9443/', T2T_TOKEN_CACHE: 'c.json', T2T_GATEWAY_ADDRESS: '127.0.0.1:9000' },
      { T2T_GATEWAY_URL: 'https://gateway.example.com/', T2T_AUTH: '' },
      // another variable's mistake is not an action's reader's to report
      { T2T_SMTP_URL: 'not a url' },
    ];
    for (const env of good) {
      const { signIn } = loadConfig({ ...env, T2T_SMTP_URL: undefined });
      assert.deepEqual(loadActingConfig(env), { signIn }, JSON.stringify(env));
    }
    const notPlain: NodeJS.ProcessEnv[] = [
      { T2T_AUTH: 'yes' },
      { T2T_IDENTITY_PORT: '0' },
      { T2T_IDENTITY_PORT: '80a' },
      { T2T_AUTH_AUTHORITY: 'http://login.example.com' },
      { T2T_GATEWAY_URL: 'ftp://x' },
      { T2T_GATEWAY_ADDRESS: 'nohostport' },
    ];
    for (const env of notPlain) {
      assert.equal(loadActingConfig(env), undefined, JSON.stringify(env));
      assert.throws(() => loadConfig(env), ConfigError, `the whole schema says the line for ${JSON.stringify(env)}`);
    }
  });

  it('parses and formats Temporal durations', () => {
    assert.equal(parseDuration('7d'), 604_800_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(formatDuration(parseDuration('1h30m')), '1h30m');
    assert.throws(() => parseDuration('0s'), /longer than zero/);
    assert.throws(() => parseDuration('-5m'), /not a duration/);
  });

  it('declares a Worker Deployment version by default; names, build ids and the switch are checked with one line', () => {
    assert.deepEqual(loadConfig({}).versioning, { deploymentName: 't2t-worker', becomeCurrent: 'if-none' });
    assert.deepEqual(loadConfig({ T2T_DEPLOYMENT_NAME: 'contoso_t2t', T2T_BUILD_ID: '0.2.0+sha.1a2b', T2T_BECOME_CURRENT: 'never' }).versioning, {
      deploymentName: 'contoso_t2t',
      buildId: '0.2.0+sha.1a2b',
      becomeCurrent: 'never',
    });
    assert.equal(loadConfig({ T2T_WORKER_VERSIONING: 'off', T2T_BUILD_ID: '1' }).versioning, undefined);
    const refused = (env: Record<string, string>, message: RegExp) =>
      assert.throws(() => loadConfig(env), (err: Error) => err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'));
    refused({ T2T_WORKER_VERSIONING: 'yes' }, /^configuration: T2T_WORKER_VERSIONING: must be on or off$/);
    refused({ T2T_DEPLOYMENT_NAME: 't2t.worker' }, /^configuration: T2T_DEPLOYMENT_NAME: .*no dot/);
    refused({ T2T_BUILD_ID: '0.1 beta' }, /^configuration: T2T_BUILD_ID: .*without spaces/);
    refused({ T2T_BUILD_ID: '__unversioned__' }, /^configuration: T2T_BUILD_ID: .*not starting with __/);
    refused({ T2T_BECOME_CURRENT: 'sometimes' }, /^configuration: T2T_BECOME_CURRENT: must be if-none, always or never$/);
  });
});
