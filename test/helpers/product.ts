// The product under test: a worker with the real activities on a real Temporal
// server, a real control-plane database file and a real Azurite, plus the same
// client the `t2t` commands use.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { loadConfig, Config } from '../../src/config';
import { createControlPlane } from '../../src/controlplane/database';
import { parseWorld } from '../../src/controlplane/world';
import type { ControlPlane } from '../../src/controlplane/control-plane';
import { MigrationStorage } from '../../src/storage/migration-storage';
import { createMigrationWorker } from '../../src/worker';
import { refusalPublisher } from '../../src/client/context';
import { openAuditLog, type AuditLog } from '../../src/controlplane/audit-log';
import { MigrationClient } from '../../src/client/migrations';
import { SimulatedMigrationService } from '../../src/service/simulated';
import { RunningAzurite } from './azurite';
import { workflowBundle } from './temporal';
import type { PublishedKey } from '../../src/identity/action-proof';
import { migrationWorkflowId } from '../../src/contracts';

export interface ProductOptions {
  env: TestWorkflowEnvironment;
  azurite: RunningAzurite;
  world: unknown;
  durations?: Partial<Pick<Config, 'approvalTimeoutMs' | 'lockboxTimeoutMs' | 'prepareWindowMs' | 'checkBudgetMs' | 'continueAfterEvents'>>;
  /** wraps the control plane, e.g. to inject faults */
  wrapControlPlane?: (cp: ControlPlane) => ControlPlane;
  /** wraps the audit log the worker writes, e.g. to make its database unavailable for a while */
  wrapAuditLog?: (log: AuditLog) => AuditLog;
  remapBatchSize?: number;
  databaseUrl?: string;
  /** keep what the database holds (a restart), instead of loading the world */
  keepWorld?: boolean;
  taskQueue?: string;
  /** the payload codec's data converter for the worker and the client (src/codec/); none: payloads in clear */
  dataConverter?: DataConverter;
  /** the worker also serves the reconciler's workflow and activities, as the product's worker does */
  reconciler?: boolean;
  /**
   * The Worker Deployment the worker declares a version of (its build id: `buildId`, or the
   * bundle's default). Unset: an unversioned worker, alone on its task queue, as most tests want.
   */
  versioning?: { deploymentName: string; buildId?: string };
  /**
   * Sign-in on for the worker (T2T_AUTH=on): it takes only starts and actions the gateway signed,
   * checked against `keys` (written to its keys file) or the keys a gateway at `gatewayUrl` publishes.
   * Unset: as the test run says (test/setup.ts: off).
   */
  auth?: { keys: PublishedKey[] } | { gatewayUrl: string };
}

export interface Product {
  config: Config;
  auditLog: AuditLog;
  controlPlane: ControlPlane;
  storage: MigrationStorage;
  client: MigrationClient;
  worker: Worker;
  /** runs a worker until the returned function is called */
  startWorker(): Promise<() => Promise<void>>;
  stopWorker(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Ends the world's environments' open migrations: other suites on the shared
 * server may have left some (a demo world's environment ids are fixed). */
export async function terminateOpenMigrations(env: TestWorkflowEnvironment, world: { environments: { id: string }[] }): Promise<void> {
  for (const e of world.environments) await env.client.workflow.getHandle(migrationWorkflowId(e.id)).terminate('a suite of its own').catch(() => undefined);
}

export async function startProduct(options: ProductOptions): Promise<Product> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-product-'));
  const keysFile = path.join(dir, 'gateway-keys.json');
  if (options.auth && 'keys' in options.auth) writeFileSync(keysFile, JSON.stringify({ keys: options.auth.keys }));
  const config: Config = {
    ...loadConfig({
      T2T_DATA_DIR: dir,
      AZURE_STORAGE_CONNECTION_STRING: options.azurite.connectionString,
      T2T_TASK_QUEUE: options.taskQueue ?? `t2t-test-${randomBytes(4).toString('hex')}`,
      ...(options.databaseUrl ? { T2T_DATABASE_URL: options.databaseUrl } : {}),
      ...(options.versioning
        ? { T2T_DEPLOYMENT_NAME: options.versioning.deploymentName, ...(options.versioning.buildId ? { T2T_BUILD_ID: options.versioning.buildId } : {}) }
        : { T2T_WORKER_VERSIONING: 'off' }),
      ...(options.auth
        ? { T2T_AUTH: 'on', ...('keys' in options.auth ? { T2T_GATEWAY_PUBLIC_KEYS_FILE: keysFile } : { T2T_GATEWAY_URL: options.auth.gatewayUrl }) }
        : process.env.T2T_AUTH
          ? { T2T_AUTH: process.env.T2T_AUTH }
          : {}),
    }),
    ...options.durations,
  };
  const realControlPlane = await createControlPlane(config.databaseUrl);
  await realControlPlane.migrateSchema();
  if (!options.keepWorld) await realControlPlane.loadWorld(parseWorld(options.world));
  const controlPlane = options.wrapControlPlane ? options.wrapControlPlane(realControlPlane) : realControlPlane;
  const storage = new MigrationStorage(config.storageConnectionString);
  const auditLog = await openAuditLog(config.databaseUrl);
  const bundle = await workflowBundle();
  const client = options.dataConverter
    ? new Client({ connection: options.env.connection, namespace: options.env.namespace ?? 'default', dataConverter: options.dataConverter })
    : options.env.client;

  let running: { worker: Worker; done: Promise<void> } | undefined;
  const product: Product = {
    config,
    auditLog,
    controlPlane: realControlPlane,
    storage,
    client: new MigrationClient({
      client,
      config,
      service: new SimulatedMigrationService({ controlPlane: realControlPlane, storage, sasValidityMs: config.sasValidityMs, remapBatchSize: config.remapBatchSize }),
      ackTimeoutMs: 120_000,
      auditLog,
      publish: refusalPublisher(client, config),
    }),
    worker: undefined as unknown as Worker,
    async startWorker() {
      const worker = await createMigrationWorker({
        config,
        connection: options.env.nativeConnection,
        controlPlane,
        auditLog: options.wrapAuditLog ? options.wrapAuditLog(auditLog) : auditLog,
        storage,
        workflowBundle: bundle,
        remapBatchSize: options.remapBatchSize,
        ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
        ...(options.reconciler ? { reconciler: { client } } : {}),
      });
      const done = worker.run();
      running = { worker, done };
      product.worker = worker;
      return async () => product.stopWorker();
    },
    async stopWorker() {
      if (!running) return;
      const { worker, done } = running;
      running = undefined;
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
    async stop() {
      await product.stopWorker();
      await auditLog.close();
      await realControlPlane.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await product.startWorker();
  return product;
}

/**
 * What a spawned `t2t` of this product is given: the raw-signal path (sign-in's paths are the
 * signed suites' subject: signed-actions, signed-paths, gateway-forwarding), its Temporal server,
 * task queue, database, data folder and storage.
 */
export function rawClientEnv(p: Product, temporalAddress: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    T2T_AUTH: 'off',
    TEMPORAL_ADDRESS: temporalAddress,
    T2T_TASK_QUEUE: p.config.taskQueue,
    T2T_DATABASE_URL: p.config.databaseUrl,
    T2T_DATA_DIR: p.config.dataDir,
    AZURE_STORAGE_CONNECTION_STRING: p.config.storageConnectionString,
    ...extra,
  };
}

/** Uploads a mapping file with nothing but the SAS URL, as an admin's own tool would. */
export async function uploadWithSas(sasUrl: string, text: string, blobName = 'usermapping.csv'): Promise<void> {
  const container = new ContainerClient(sasUrl);
  const blob: BlockBlobClient = container.getBlockBlobClient(blobName);
  await blob.upload(text, Buffer.byteLength(text));
}

export async function readWithSas(url: string): Promise<string> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url.split('?')[0]}: ${response.status}`);
  return response.text();
}
