// The real servers an integration suite drives, set up by one shared pair of mocha hooks:
// the shared Temporal dev server (or a time-skipping server of the suite's own, for timers)
// and an Azurite of the suite's own, started before its tests and stopped after them.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startTestAzurite, type RunningAzurite } from './azurite';
import { devServer, ownTimeSkippingServer } from './temporal';

export interface RealServers {
  env: TestWorkflowEnvironment;
  azurite: RunningAzurite;
}

/**
 * Registers the suite's `before` and `after` hooks (call it inside `describe`); `take` receives the
 * servers before the suite's own `before` hooks run, which are registered after this call.
 */
export function useRealServers(take: (servers: RealServers) => void, temporal: 'dev' | 'own time-skipping' = 'dev'): void {
  let azurite: RunningAzurite | undefined;
  before(async function () {
    this.timeout(120_000);
    const [env, started] = await Promise.all([temporal === 'dev' ? devServer() : ownTimeSkippingServer(), startTestAzurite()]);
    azurite = started;
    take({ env, azurite });
  });
  after(async () => {
    await azurite?.dispose();
  });
}
