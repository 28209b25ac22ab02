// Real Temporal servers for the tests, started once per test run and shared:
// the dev server where visibility and search attributes matter, the
// time-skipping test server for timers. Both come from the local binaries.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ALL_SEARCH_ATTRIBUTES } from '../../src/contracts';
import { testingExecutable } from '../../src/temporal-binaries';
import { ensureSearchAttributes } from '../../src/search-attributes';
import { freePort } from './ports';

let devEnv: Promise<TestWorkflowEnvironment> | undefined;
let devUiPort: number | undefined;
let timeSkippingEnv: Promise<TestWorkflowEnvironment> | undefined;
let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

export function devServer(): Promise<TestWorkflowEnvironment> {
  devEnv ??= (async () => {
    devUiPort = await freePort();
    return TestWorkflowEnvironment.createLocal({
      server: {
        executable: testingExecutable('temporal'),
        ip: '127.0.0.1',
        ui: true,
        uiPort: devUiPort,
        searchAttributes: ALL_SEARCH_ATTRIBUTES,
        extraArgs: ['--log-level', 'error'],
      },
    });
  })();
  return devEnv;
}

/** The dev server's Web UI, for the browser test. */
export async function devServerUi(): Promise<string> {
  await devServer();
  return `http://127.0.0.1:${devUiPort}`;
}

export function timeSkippingServer(): Promise<TestWorkflowEnvironment> {
  timeSkippingEnv ??= startTimeSkippingServer();
  return timeSkippingEnv;
}

async function startTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: testingExecutable('temporal-test-server') },
  });
  await ensureSearchAttributes(env.connection, env.namespace ?? 'default');
  return env;
}

/**
 * A time-skipping server of a suite's own. Time skips only while nothing is outstanding
 * on the server: a workflow another suite left behind (a notification delivery still
 * retrying after its worker stopped, say) would hold every later suite to real time.
 */
export async function ownTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  const env = await startTimeSkippingServer();
  own.push(env);
  return env;
}
const own: TestWorkflowEnvironment[] = [];

export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: quietLogger });
  return bundle;
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};

export async function stopTemporalServers(): Promise<void> {
  const envs = [devEnv, timeSkippingEnv].filter(Boolean) as Promise<TestWorkflowEnvironment>[];
  devEnv = undefined;
  timeSkippingEnv = undefined;
  for (const env of envs) await (await env).teardown();
  // A suite may have torn its own down already.
  for (const env of own.splice(0, own.length)) await env.teardown().catch(() => undefined);
}
