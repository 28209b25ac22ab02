import assert from 'node:assert/strict';
import path from 'node:path';
import { loadConfig, ConfigError, AZURITE_DEVELOPMENT_CONNECTION_STRING } from '../src/config';
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

  it('parses and formats Temporal durations', () => {
    assert.equal(parseDuration('7d'), 604_800_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(formatDuration(parseDuration('1h30m')), '1h30m');
    assert.throws(() => parseDuration('0s'), /longer than zero/);
    assert.throws(() => parseDuration('-5m'), /not a duration/);
  });
});
