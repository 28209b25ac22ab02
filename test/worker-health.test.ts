// The worker's health endpoint (what Kubernetes' probes ask) and its quiet
// output: readiness follows the SDK Worker's state, a SIGTERM makes the worker
// unready at once while a running activity still finishes, and the SDK's INFO
// lines stay off the terminal.
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { LogLevel, LogMetadata, Logger } from '@temporalio/worker';
import { loadConfig, ConfigError } from '../src/config';
import { startHealthServer, isLive, isReady, READINESS_PATH, LIVENESS_PATH, type WorkerHealthState } from '../src/worker-health';
import { workerLogger } from '../src/worker';
import { projectRoot } from '../src/temporal-binaries';
import { migrationWorkflowId } from '../src/contracts';
import { reconcilerScheduleId } from '../src/reconciler/schedule';
import { devServer } from './helpers/temporal';
import { startTestAzurite } from './helpers/azurite';
import { makeTestWorld } from './helpers/world';
import { startProduct, uploadWithSas } from './helpers/product';
import { freePort } from './helpers/ports';
import { testPostgres } from './helpers/postgres';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function probe(base: string, route: string, method = 'GET'): Promise<{ status: number; body: string }> {
  const response = await fetch(`${base}${route}`, { method });
  return { status: response.status, body: await response.text() };
}

describe('worker health endpoint', () => {
  it('T2T_HEALTH_ADDRESS is off by default, takes host:port, and a bad value is one line naming it', () => {
    assert.equal(loadConfig({}).healthAddress, undefined);
    assert.equal(loadConfig({ T2T_HEALTH_ADDRESS: '0.0.0.0:8080' }).healthAddress, '0.0.0.0:8080');
    assert.equal(loadConfig({ T2T_HEALTH_ADDRESS: ':8080' }).healthAddress, ':8080');
    for (const bad of ['8080', 'localhost', '0.0.0.0:0', '0.0.0.0:70000', 'http://0.0.0.0:8080']) {
      assert.throws(
        () => loadConfig({ T2T_HEALTH_ADDRESS: bad }),
        (err: Error) => err instanceof ConfigError && err.message.startsWith('configuration: T2T_HEALTH_ADDRESS: ') && !err.message.includes('\n'),
        bad,
      );
    }
  });

  it('ready only while RUNNING, alive unless FAILED or STOPPED, across every state of the SDK Worker', async () => {
    let state: WorkerHealthState = 'STARTING';
    const server = await startHealthServer('127.0.0.1:0', () => state);
    const base = `http://${server.address}`;
    try {
      const expected: [WorkerHealthState, number, number][] = [
        ['STARTING', 503, 200],
        ['INITIALIZED', 503, 200],
        ['RUNNING', 200, 200],
        ['STOPPING', 503, 200],
        ['DRAINING', 503, 200],
        ['DRAINED', 503, 200],
        ['STOPPED', 503, 503],
        ['FAILED', 503, 503],
      ];
      for (const [s, ready, live] of expected) {
        state = s;
        const readiness = await probe(base, READINESS_PATH);
        const liveness = await probe(base, LIVENESS_PATH);
        assert.equal(readiness.status, ready, `${READINESS_PATH} in ${s}`);
        assert.equal(liveness.status, live, `${LIVENESS_PATH} in ${s}`);
        assert.deepEqual(JSON.parse(readiness.body), { status: ready === 200 ? 'ok' : 'unavailable', state: s });
        assert.equal(isReady(s), ready === 200);
        assert.equal(isLive(s), live === 200);
      }
      state = 'RUNNING';
      assert.equal((await probe(`${base}`, `${READINESS_PATH}?verbose=1`)).status, 200, 'a query string does not matter');
      const head = await probe(base, READINESS_PATH, 'HEAD');
      assert.deepEqual(head, { status: 200, body: '' });
      assert.equal((await probe(base, '/')).status, 404);
      assert.equal((await probe(base, '/healthz')).status, 404);
      assert.equal((await probe(base, READINESS_PATH, 'POST')).status, 405);
    } finally {
      await server.close();
    }
  });

  it('a port already in use is one line naming T2T_HEALTH_ADDRESS', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
    const { port } = taken.address() as net.AddressInfo;
    try {
      await assert.rejects(startHealthServer(`127.0.0.1:${port}`, () => 'RUNNING'), {
        message: `T2T_HEALTH_ADDRESS 127.0.0.1:${port}: the port is already in use`,
      });
    } finally {
      taken.close();
    }
  });

  it("the worker's logger drops the SDK's INFO lines and keeps its warnings and what workflows and activities log", () => {
    const seen: string[] = [];
    const terminal: Logger = {
      log: (level: LogLevel, message: string) => seen.push(`${level} ${message}`),
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
    };
    const logger = workerLogger(terminal);
    const worker: LogMetadata = { sdkComponent: 'worker', taskQueue: 'q' };
    logger.info('Worker state changed', { ...worker, state: 'RUNNING' });
    logger.debug('Creating worker', worker);
    logger.info('Nexus', { sdkComponent: 'core' });
    logger.info('no component');
    logger.warn('Activity failed', { sdkComponent: 'activity' });
    logger.info('reconciler closed a migration request', { sdkComponent: 'activity' });
    logger.debug('Activity started', { sdkComponent: 'activity' });
    logger.info('a workflow says', { sdkComponent: 'workflow' });
    logger.log('ERROR', 'Failed to initiate shutdown', worker);
    logger.warn('a worker warning', worker);
    assert.deepEqual(seen, [
      'WARN Activity failed',
      'INFO reconciler closed a migration request',
      'INFO a workflow says',
      'ERROR Failed to initiate shutdown',
      'WARN a worker warning',
    ]);
  });
});

describe('worker process: readiness across start and SIGTERM, quiet output @integration', function () {
  this.timeout(300_000);

  it('503 while starting, 200 once polling, 503 from SIGTERM on while the running re-mapping finishes; no SDK INFO lines', async () => {
    const env = await devServer();
    const azurite = await startTestAzurite();
    const users = 3000;
    const w = makeTestWorld({ users });
    // As deployed on a cluster: the control plane on PostgreSQL, where the re-mapping's
    // transactions wait on the network and the worker keeps answering its probes.
    const postgres = await testPostgres();
    const databaseUrl = await postgres.createDatabase(`t2t_${randomBytes(4).toString('hex')}`);
    // This process only drives, as admins' clients would; the work is done by a worker process.
    const p = await startProduct({ env, azurite, world: w.world, databaseUrl });
    await p.stopWorker();
    const healthPort = await freePort();
    const base = `http://127.0.0.1:${healthPort}`;
    let output = '';
    let stdout = '';
    const worker: ChildProcess = spawn(process.execPath, [path.join(projectRoot(), 'dist', 'src', 'worker.js')], {
      env: {
        // Payload encryption is another test's subject (codec.test.ts, payload-encryption.test.ts).
        T2T_PAYLOAD_ENCRYPTION: 'off',
        PATH: process.env.PATH,
        // Signed actions are another test's subject (signed-actions.test.ts): as the test run says (test/setup.ts).
        T2T_AUTH: process.env.T2T_AUTH,
        // Unversioned, as the tests' in-process workers are (test/helpers/product.ts).
        T2T_WORKER_VERSIONING: 'off',
        TEMPORAL_ADDRESS: env.address,
        T2T_TASK_QUEUE: p.config.taskQueue,
        T2T_DATABASE_URL: databaseUrl,
        AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
        T2T_HEALTH_ADDRESS: `127.0.0.1:${healthPort}`,
        T2T_SHUTDOWN_GRACE: '90s',
        T2T_REMAP_BATCH_SIZE: '3',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      output += chunk.toString();
    });
    worker.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    try {
      // From the first answer to RUNNING: every distinct readiness the probe saw, in order.
      const seen: string[] = [];
      const startDeadline = Date.now() + 120_000;
      for (;;) {
        assert.ok(Date.now() < startDeadline, `the worker became ready in time; output:\n${output}`);
        assert.equal(worker.exitCode, null, `the worker is running; output:\n${output}`);
        const answer = await probe(base, READINESS_PATH).catch(() => undefined);
        if (answer) {
          const { state } = JSON.parse(answer.body) as { state: string };
          const entry = `${answer.status} ${state}`;
          if (seen.at(-1) !== entry) seen.push(entry);
          if (answer.status === 200) break;
        }
        await sleep(25);
      }
      assert.equal(seen[0], '503 STARTING', `not ready before the worker exists (seen: ${seen.join(', ')})`);
      assert.equal(seen.at(-1), '200 RUNNING');
      assert.ok(seen.slice(0, -1).every((s) => s.startsWith('503 ')), seen.join(', '));
      assert.equal((await probe(base, LIVENESS_PATH)).status, 200);

      // A migration whose re-mapping of 3,000 users, three per transaction, is running when SIGTERM comes.
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      const handle = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
      await p.client.actOn(handle, 'approve', { actor: w.targetAdmin });
      const storage = await p.client.actOn(handle, 'requestStorage', { actor: w.sourceAdmin });
      await uploadWithSas(storage.status.storage!.sasUrl, w.mappingCsv);
      const prepared = await p.client.actOn(handle, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: storage.status.storage!.sasUrl });
      assert.equal(prepared.status.phase, 'Prepared');
      await p.client.actOn(handle, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      const remapDeadline = Date.now() + 120_000;
      while ((await p.controlPlane.listRemaps(submitted.migrationId)).length < 100) {
        assert.ok(Date.now() < remapDeadline, 're-mapping started');
        await sleep(10);
      }
      const terminatedAt = Date.now();
      worker.kill('SIGTERM');
      let readiness: { status: number; body: string };
      while ((readiness = await probe(base, READINESS_PATH)).status === 200) {
        assert.ok(Date.now() - terminatedAt < 2_000, 'unready within 2 s of SIGTERM');
        await sleep(5);
      }
      const remappedWhenUnready = (await p.controlPlane.listRemaps(submitted.migrationId)).length;
      assert.equal(readiness.status, 503);
      assert.match(JSON.parse(readiness.body).state, /^(STOPPING|DRAINING|DRAINED)$/);
      assert.ok(remappedWhenUnready < users, `unready while the re-mapping still runs (${remappedWhenUnready} of ${users} done)`);
      assert.equal((await probe(base, LIVENESS_PATH)).status, 200, 'a draining worker is alive: no restart');

      assert.equal(await exited, 0, `the worker stops cleanly; output:\n${output}`);
      const stoppedAfterMs = Date.now() - terminatedAt;
      assert.ok(stoppedAfterMs < 90_000, `stopped when its work was done (${stoppedAfterMs} ms), not when the grace ran out`);
      assert.equal((await p.controlPlane.listRemaps(submitted.migrationId)).length, users, 'the stopping worker finished the re-mapping');

      // In the history: the migrate activity (re-mapping is one of its steps), on its first
      // attempt, on this worker process, completed after SIGTERM.
      const history = await handle.fetchHistory();
      const events = history.events ?? [];
      const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'migrateEnvironment');
      assert.ok(scheduled, 'migrateEnvironment was scheduled');
      const started = events.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduled.eventId?.toString());
      const completed = events.find((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === scheduled.eventId?.toString());
      assert.ok(started && completed, 'migrateEnvironment completed');
      assert.equal(started.activityTaskStartedEventAttributes!.attempt, 1, 'on its first attempt: not cancelled and retried');
      assert.equal(completed.activityTaskCompletedEventAttributes!.identity, `${worker.pid}@${os.hostname()}`, 'by the worker that was stopping');
      const completedAt = Number(completed.eventTime!.seconds) * 1000 + Math.floor((completed.eventTime!.nanos ?? 0) / 1e6);
      assert.ok(completedAt > terminatedAt, 'after SIGTERM');

      // What a person sees: our own lines, none of the SDK's INFO lines.
      assert.match(stdout, /^worker: serving task queue '.+' on .+$/m);
      assert.match(stdout, new RegExp(`^worker: health on http://127\\.0\\.0\\.1:${healthPort}/readyz and /livez$`, 'm'));
      assert.match(stdout, /^worker: SIGTERM: stopping; running activities have up to 90s to finish$/m);
      assert.match(stdout, /^worker: stopped$/m);
      assert.doesNotMatch(output, /Worker state changed/);
      assert.doesNotMatch(output, /\[(INFO|DEBUG|TRACE)\].*sdkComponent: '(worker|core)'/);

      // Another worker takes the migration on from there: nothing lost, nothing done twice.
      // (Without the reconciler's Schedule that the worker process made: this one has no reconciler.)
      await env.client.schedule.getHandle(reconcilerScheduleId(p.config.taskQueue)).delete();
      await p.startWorker();
      const final = await p.client.waitForStatus(handle, (s) => s.phase === 'Succeeded' || s.phase === 'Failed', 120_000);
      assert.equal(final.phase, 'Succeeded', final.reason);
      const remaps = await p.controlPlane.listRemaps(submitted.migrationId);
      assert.equal(remaps.length, users);
      assert.ok(remaps.every((r) => r.appliedCount === 1), 'each user re-mapped once');
    } finally {
      if (worker.exitCode === null) worker.kill('SIGKILL');
      await p.stop();
      await azurite.dispose();
    }
  });
});
