// Every saved history of a main path replays with the current workflow code: a
// change that would break migrations already running fails here.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { HISTORIES_DIR } from './helpers/histories';
import { workflowBundle } from './helpers/temporal';

const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const REQUIRED = ['happy-path', 'denied', 'approval-expired', 'window-expired', 'validation-failed', 'cancelled', 'cancelled-through-temporal', 'cancel-refused-while-migrating', 'continued-as-new', 'batch-migrate-slots', 'batch-waited-for-slot'];

describe('replay of saved histories', function () {
  this.timeout(120_000);
  const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

  it('has a history for every main path', () => {
    const names = files.map((f) => path.basename(f, '.json'));
    for (const required of REQUIRED) assert.ok(names.includes(required), `test/histories/${required}.json is missing`);
  });

  it('fails on a workflow change that would break running migrations', async () => {
    const changed = await bundleWorkflowCode({ workflowsPath: require.resolve('./fixtures/changed-workflow'), logger: quiet });
    const history = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_DIR, 'happy-path.json'), 'utf8')));
    await assert.rejects(Worker.runReplayHistory({ workflowBundle: changed }, history, 'happy-path'), (err: Error) => err.name === 'DeterminismViolationError');
  });

  for (const file of files) {
    it(`replays ${file} without non-determinism`, async () => {
      const history = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, path.basename(file, '.json'));
    });
  }
});
