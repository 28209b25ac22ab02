import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { upToDateWorkflowBundle } from '../src/workflow-bundle';

describe('the workflow bundle built with the project', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-bundle-'));
    mkdirSync(path.join(dir, 'workflows'));
    writeFileSync(path.join(dir, 'workflows', 'migration.js'), '// compiled');
    writeFileSync(path.join(dir, 'contracts.js'), '// compiled');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const at = (file: string, seconds: number) => utimesSync(path.join(dir, file), seconds, seconds);

  it('is used when it is newer than every compiled file', () => {
    writeFileSync(path.join(dir, 'workflows.bundle.js'), '// bundle');
    at('workflows/migration.js', 1000);
    at('contracts.js', 1000);
    at('workflows.bundle.js', 2000);
    assert.equal(upToDateWorkflowBundle(path.join(dir, 'workflows.bundle.js'), dir), path.join(dir, 'workflows.bundle.js'));
  });

  it('is not used when a compiled file, however deep, changed after it: the worker bundles at start', () => {
    writeFileSync(path.join(dir, 'workflows.bundle.js'), '// bundle');
    at('contracts.js', 1000);
    at('workflows.bundle.js', 2000);
    at('workflows/migration.js', 3000);
    assert.equal(upToDateWorkflowBundle(path.join(dir, 'workflows.bundle.js'), dir), undefined);
  });

  it('is not used when it was never built', () => {
    assert.equal(upToDateWorkflowBundle(path.join(dir, 'workflows.bundle.js'), dir), undefined);
  });
});
