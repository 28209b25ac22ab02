// The worker: serves the migration workflow and its activities on the task queue.
import { NativeConnection, Runtime, Worker, WorkerOptions } from '@temporalio/worker';
import { loadConfig, Config } from './config';
import { createActivities } from './activities';
import { createControlPlane } from './controlplane/database';
import type { ControlPlane } from './controlplane/control-plane';
import { MigrationStorage } from './storage/migration-storage';
import { describeError } from './errors';
import { temporalConnectionOptions } from './temporal-connection';

export interface MigrationWorkerOptions {
  config: Config;
  connection: NativeConnection;
  controlPlane: ControlPlane;
  storage?: MigrationStorage;
  /** a pre-built bundle (tests build it once); otherwise the workflows are bundled at start */
  workflowBundle?: WorkerOptions['workflowBundle'];
  remapBatchSize?: number;
  identity?: string;
}

export async function createMigrationWorker(options: MigrationWorkerOptions): Promise<Worker> {
  const { config } = options;
  const storage = options.storage ?? new MigrationStorage(config.storageConnectionString);
  return Worker.create({
    connection: options.connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    ...(options.identity ? { identity: options.identity } : {}),
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: config.maxConcurrentWorkflowTasks,
    // On SIGTERM, running activities get this long to finish before they are
    // cancelled; a cancelled re-mapping resumes from its last heartbeat.
    shutdownGraceTime: config.shutdownGraceMs,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: require.resolve('./workflows') }),
    activities: createActivities({
      controlPlane: options.controlPlane,
      storage,
      sasValidityMs: config.sasValidityMs,
      remapBatchSize: options.remapBatchSize ?? config.remapBatchSize,
    }),
  });
}

/** Process-wide telemetry: Prometheus metrics from the SDK's runtime when an address is configured. */
export function installRuntime(config: Config): void {
  if (!config.metricsAddress) return;
  Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress: config.metricsAddress } } } });
}

async function run(): Promise<void> {
  const config = loadConfig();
  installRuntime(config);
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  const controlPlane = await createControlPlane(config.databaseUrl);
  await controlPlane.migrateSchema();
  const worker = await createMigrationWorker({ config, connection, controlPlane });
  console.log(`worker: serving task queue '${config.taskQueue}' on ${config.temporalAddress} (namespace ${config.namespace})`);
  if (config.metricsAddress) console.log(`worker: Prometheus metrics on http://${config.metricsAddress}/metrics`);
  try {
    await worker.run();
  } finally {
    await controlPlane.close();
    await connection.close();
  }
}

if (require.main === module) {
  run().catch((err) => {
    console.error(`worker: ${describeError(err)}`);
    process.exit(1);
  });
}
