import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveTemporalBinary, projectRoot } from '../src/temporal-binaries';

describe('Temporal binary resolver', () => {
  it('prefers the explicit variable', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-bin-'));
    const fake = path.join(dir, 'my-temporal');
    writeFileSync(fake, '#!/bin/sh\n');
    chmodSync(fake, 0o755);
    assert.equal(resolveTemporalBinary('temporal', { TEMPORAL_CLI_PATH: fake, PATH: '' }), fake);
  });

  it('refuses an explicit path that is not executable', () => {
    assert.throws(() => resolveTemporalBinary('temporal-test-server', { TEMPORAL_TEST_SERVER_PATH: '/nonexistent/x' }), /TEMPORAL_TEST_SERVER_PATH/);
  });

  it('finds the copy installed by the project into .tools/bin', () => {
    // npm install put both binaries there; nothing is downloaded at test time.
    assert.equal(resolveTemporalBinary('temporal', { PATH: '' }), path.join(projectRoot(), '.tools', 'bin', 'temporal'));
    assert.equal(resolveTemporalBinary('temporal-test-server', { PATH: '' }), path.join(projectRoot(), '.tools', 'bin', 'temporal-test-server'));
  });
});
