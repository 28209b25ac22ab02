// The worker: serves the migration workflow and its activities on the task queue.
import { DefaultLogger, NativeConnection, Runtime, Worker, WorkerOptions, bundleWorkflowCode, type LogLevel, type Logger, type LogMetadata } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { loadConfig, Config } from './config';
import { createActivities } from './activities';
import { workerNotifications } from './activities/notification-activities';
import { createControlPlane } from './controlplane/database';
import type { ControlPlane } from './controlplane/control-plane';
import { MigrationStorage } from './storage/migration-storage';
import type { MigrationService } from './service/migration-service';
import { openMigrationService, type OpenedService } from './service';
import { describeError } from './errors';
import { openAuditLog, type AuditLog } from './controlplane/audit-log';
import { clientConnectionOptions, workerConnectionOptions } from './temporal-connection';
import { ensureReconcilerSchedule, ensureSchedule, reconcilerScheduleId } from './reconciler/schedule';
import { stallCheckScheduleId, stallCheckScheduleOptions } from './operations/stall-schedule';
import { upToDateWorkflowBundle } from './workflow-bundle';
import { deploymentVersion } from './versioning/build-id';
import { routeToVersion } from './versioning/routing';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import { startHealthServer, READINESS_PATH, LIVENESS_PATH, type HealthServer } from './worker-health';
import { dataConverterOf, payloadProtection } from './codec';
import { checkKeysOfOpenMigrations } from './codec/key-check';

export interface MigrationWorkerOptions {
  config: Config;
  connection: NativeConnection;
  /** the simulated back end's control plane (also read by the CLI); unused on Microsoft's */
  controlPlane: ControlPlane;
  /** the migrations' audit trail, in the control-plane database whichever the back end */
  auditLog: AuditLog;
  /** a back end of the caller's (tests); otherwise the one the configuration names */
  service?: MigrationService;
  storage?: MigrationStorage;
  /** a pre-built bundle (tests build it once); otherwise the workflows are bundled at start, quietly */
  workflowBundle?: WorkerOptions['workflowBundle'];
  remapBatchSize?: number;
  identity?: string;
  /**
   * Serves the reconciler's activities (they describe migrations' workflows with this client).
   * Only on the simulated back end, whose requests live in our control plane; ignored otherwise.
   */
  reconciler?: { client: Client };
  /** Serves the stall check's activity, which lists and signals migrations with this client. */
  stallCheck?: { client: Client };
  /** the payload codec's data converter (src/codec/); the same one every client of these migrations uses */
  dataConverter?: DataConverter;
}

export async function createMigrationWorker(options: MigrationWorkerOptions): Promise<Worker> {
  const { config } = options;
  const remapBatchSize = options.remapBatchSize ?? config.remapBatchSize;
  const opened: OpenedService = options.service
    ? { service: options.service }
    : await openMigrationService({ ...config, remapBatchSize }, { controlPlane: options.controlPlane, storage: options.storage });
  const prebuilt = upToDateWorkflowBundle();
  const workflowBundle =
    options.workflowBundle ?? (prebuilt ? { codePath: prebuilt } : await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), logger: bundlerLogger() }));
  const version = deploymentVersion(config.versioning, workflowBundle);
  return Worker.create({
    connection: options.connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    ...(options.identity ? { identity: options.identity } : {}),
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: config.maxConcurrentWorkflowTasks,
    // A bounded cache keeps memory flat however many migrations wait; one evicted replays when it next wakes.
    ...(config.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: config.maxCachedWorkflows } : {}),
    // On SIGTERM, running activities get this long to finish before they are
    // cancelled; a cancelled re-mapping resumes from its last heartbeat.
    shutdownGraceTime: config.shutdownGraceMs,
    workflowBundle,
    // Each workflow type declares its own behaviour (src/workflows/index.ts); pinned is the safe
    // default for one that forgot: it never meets code other than its own.
    ...(version ? { workerDeploymentOptions: { version, useWorkerVersioning: true, defaultVersioningBehavior: 'PINNED' as const } } : {}),
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
    activities: createActivities({
      service: opened.service,
      auditLog: options.auditLog,
      reconciler:
        opened.simulated && options.reconciler
          ? { controlPlane: options.controlPlane, storage: options.storage ?? new MigrationStorage(config.storageConnectionString), client: options.reconciler.client }
          : undefined,
      // Reminders, escalations and notifications; their counters go to the runtime's Prometheus endpoint.
      notifications: workerNotifications(config, options.controlPlane),
      stalls: options.stallCheck ? { client: options.stallCheck.client, config } : undefined,
      signIn: config.signIn,
    }),
  });
}

/** The Worker Deployment version a worker declares, or undefined when it runs unversioned. */
export function deploymentVersionOf(worker: Worker): WorkerDeploymentVersion | undefined {
  const options = worker.options.workerDeploymentOptions;
  return options?.useWorkerVersioning ? options.version : undefined;
}

/**
 * Once the worker polls: makes its version current when `when` allows (a fresh namespace for a
 * worker; always for the embedded stack's only worker) and says where new migrations go.
 * A failure is reported, not fatal: the migrations already pinned to this version still run.
 */
export async function announceVersion(client: Client, worker: Worker, when: 'if-none' | 'always'): Promise<void> {
  const version = deploymentVersionOf(worker);
  if (!version) return;
  const name = `${version.deploymentName}.${version.buildId}`;
  try {
    const { outcome, current } = await routeToVersion(client, version, { when });
    if (outcome === 'made-current') console.log(`worker: version ${name} is now current: new migrations start on it`);
    else if (outcome === 'already-current') console.log(`worker: version ${name} is current`);
    else if (outcome === 'another-is-current')
      console.log(`worker: version ${name} serves the migrations pinned to it; ${current!.deploymentName}.${current!.buildId} is current (switch with \`temporal worker deployment set-current-version\`)`);
    else console.log(`worker: the server has no Worker Versioning: version ${name} is not used for routing`);
  } catch (err) {
    console.warn(`worker: could not make version ${name} current: ${describeError(err)}`);
  }
}

/**
 * The bundler logs webpack's whole build report at info, a screenful of module
 * sizes that tells a person starting the worker nothing; its warnings and
 * errors still go to the runtime's logger.
 */
function bundlerLogger(): Logger {
  const logger = Runtime.instance().logger;
  const drop = () => undefined;
  return {
    log: (level, message, meta) => (level === 'WARN' || level === 'ERROR' ? logger.log(level, message, meta) : undefined),
    trace: drop,
    debug: drop,
    info: drop,
    warn: (message, meta) => logger.warn(message, meta),
    error: (message, meta) => logger.error(message, meta),
  };
}

const SEVERITY: Record<LogLevel, number> = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };

/**
 * The runtime's logger in a process that runs the worker: what our workflows
 * and activities log at INFO and above, and the SDK's own warnings and errors,
 * on stderr. The SDK's INFO lines ("Worker state changed", ...) tell a person
 * nothing that the worker's own lines do not say already.
 */
export function workerLogger(terminal: Logger = new DefaultLogger('INFO')): Logger {
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => {
    const ours = meta?.sdkComponent === 'workflow' || meta?.sdkComponent === 'activity';
    if (SEVERITY[level] >= (ours ? SEVERITY.INFO : SEVERITY.WARN)) terminal.log(level, message, meta);
  };
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

// A process that runs the worker without installing a runtime of its own (the
// embedded stack of `npm start`) gets the same quiet logger when its first
// connection creates the runtime. One that has a runtime already (the tests
// install theirs before loading this module) keeps its own, also when the SDK
// re-creates it later from its remembered options.
if (Runtime.instantiator === undefined) Runtime.defaultOptions = { ...Runtime.defaultOptions, logger: workerLogger() };

/** Process-wide runtime of the worker process: the quiet logger, and Prometheus metrics when an address is configured. */
export function installRuntime(config: Config): void {
  Runtime.install({
    logger: workerLogger(),
    ...(config.metricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: config.metricsAddress } } } } : {}),
  });
}

async function run(): Promise<void> {
  const config = loadConfig();
  installRuntime(config);
  // Answers from the start: not ready (503) until the worker polls, alive unless it failed.
  let worker: Worker | undefined;
  const health: HealthServer | undefined = config.healthAddress ? await startHealthServer(config.healthAddress, () => worker?.getState() ?? 'STARTING') : undefined;
  try {
    // The keys are checked before anything connects: a bad or missing key is one line, at start.
    const protection = payloadProtection(config, 'worker');
    const dataConverter = dataConverterOf(protection);
    const native = await workerConnectionOptions(config);
    const connection = await NativeConnection.connect(native.options);
    native.follow(connection);
    const controlPlane = await createControlPlane(config.databaseUrl);
    await controlPlane.migrateSchema();
    const auditLog = await openAuditLog(config.databaseUrl);
    const clientConnection = await Connection.connect(await clientConnectionOptions(config));
    const client = new Client({ connection: clientConnection, namespace: config.namespace, dataConverter });
    await checkKeysOfOpenMigrations(client, config.taskQueue, protection.ring);
    console.log(`worker: ${protection.summary}`);
    // Microsoft's back end keeps the requests on Microsoft's side; closing those of workflows
    // that ended without finishing them (deleting them on the service) is not built yet.
    const reconciles = config.backend === 'simulated';
    worker = await createMigrationWorker({ config, connection, controlPlane, auditLog, dataConverter, stallCheck: { client }, ...(reconciles ? { reconciler: { client } } : {}) });
    if (reconciles) await startReconciler(client, config);
    else console.log('worker: no reconciler on the Microsoft back end: requests of terminated migrations are not closed on the service');
    await startStallCheck(client, config);
    const version = deploymentVersionOf(worker);
    console.log(
      `worker: serving task queue '${config.taskQueue}' on ${config.temporalAddress} (namespace ${config.namespace})` +
        (version ? ` as version ${version.deploymentName}.${version.buildId}` : ', unversioned'),
    );
    if (config.metricsAddress) console.log(`worker: Prometheus metrics on http://${config.metricsAddress}/metrics`);
    if (health) console.log(`worker: health on http://${health.address}${READINESS_PATH} and ${LIVENESS_PATH}`);
    // Worker.run() stops on SIGINT/SIGTERM by itself: polling ends at once (not ready from
    // then on), running activities get T2T_SHUTDOWN_GRACE to finish.
    const stopping = (signal: NodeJS.Signals) =>
      console.log(`worker: ${signal}: stopping; running activities have up to ${Math.round(config.shutdownGraceMs / 1000)}s to finish`);
    process.once('SIGINT', stopping).once('SIGTERM', stopping);
    try {
      const running = worker.run();
      running.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
      const becomeCurrent = config.versioning?.becomeCurrent;
      if (becomeCurrent === 'if-none' || becomeCurrent === 'always') await announceVersion(client, worker, becomeCurrent);
      await running;
      console.log('worker: stopped');
    } finally {
      await auditLog.close();
      await controlPlane.close();
      await clientConnection.close();
      await connection.close();
    }
  } finally {
    await health?.close();
  }
}

/** Makes sure the stall check's Schedule exists; a failure is reported, not fatal. The embedded stack calls it too. */
export async function startStallCheck(client: Client, config: Config): Promise<void> {
  const scheduleId = stallCheckScheduleId(config.taskQueue);
  try {
    await ensureSchedule(client, stallCheckScheduleOptions(config));
    console.log(`worker: stall check Schedule '${scheduleId}' runs every ${Math.round(config.stall.checkIntervalMs / 1000)}s`);
  } catch (err) {
    console.warn(`worker: the stall check Schedule '${scheduleId}' could not be created or updated: ${describeError(err)}`);
  }
}

/** Makes sure the reconciler's Schedule exists; a failure is reported, not fatal. The embedded stack can call it too. */
export async function startReconciler(client: Client, config: Config): Promise<void> {
  const scheduleId = reconcilerScheduleId(config.taskQueue);
  try {
    await ensureReconcilerSchedule(client, config);
    console.log(`worker: reconciler Schedule '${scheduleId}' runs every ${Math.round(config.reconcileIntervalMs / 1000)}s`);
  } catch (err) {
    // A safety net, not a reason to stop serving migrations (e.g. an API key without the right to manage Schedules).
    console.warn(`worker: the reconciler Schedule '${scheduleId}' could not be created or updated: ${describeError(err)}`);
  }
}

if (require.main === module) {
  run().catch((err) => {
    console.error(`worker: ${describeError(err)}`);
    process.exit(1);
  });
}
