// Mocha root setup: one process-wide Temporal runtime, installed once (quiet:
// tests make activities fail on purpose), and the shared servers stopped after
// the whole run.
import './helpers/quiet-grpc';

// Sign-in is on by default in the product (T2T_AUTH): a worker then takes only the gateway's signed
// starts and actions. Most suites are about the migration itself and send raw signals, starts and
// Updates, as the raw-signal design takes them: off for them, unless a run sets it. The suites about
// signed actions turn it on for their own workers (startProduct's `auth` option).
process.env.T2T_AUTH ??= 'off';

import { Runtime, DefaultLogger, LogEntry, makeTelemetryFilterString } from '@temporalio/worker';
import { stopTemporalServers } from './helpers/temporal';
import { stopTestPostgres } from './helpers/postgres';

/** Every log entry of the SDK and of our workflows and activities at INFO and above, for the tests that read logs. */
export const capturedLogs: LogEntry[] = [];

Runtime.install({
  logger: new DefaultLogger('INFO', (entry) => {
    capturedLogs.push(entry);
    if (entry.level === 'ERROR') console.error(`[${entry.level}] ${entry.message}`, entry.meta ?? '');
  }),
  // The SDK core's own warnings (a workflow task already completed elsewhere during
  // a signal flood; the time-skipping server's missing capability) are expected in
  // these tests: core logs errors only. (Forwarding core's logs to this logger instead
  // crashed the process under the 6,000-signal flood: async hook stack corrupted.)
  telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR', other: 'ERROR' }), console: {} } },
});

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopTemporalServers();
    await stopTestPostgres();
  },
};
