// Mocha root setup: one process-wide Temporal runtime, installed once (quiet:
// tests make activities fail on purpose), and the shared servers stopped after
// the whole run.
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { stopTemporalServers } from './helpers/temporal';
import { stopTestPostgres } from './helpers/postgres';

Runtime.install({ logger: new DefaultLogger('ERROR') });

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopTemporalServers();
    await stopTestPostgres();
  },
};
